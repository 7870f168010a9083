/* The participant's screen recording (docs/studies.md, "Screen recording"): the shared screen, window or tab
   recorded in this browser (MediaRecorder, WebM) and sent to the server in chunks of CHUNK_S seconds, one
   request each, numbered from 0, one after the other and tried again until the server has it (a chunk
   sent twice is stored once). The server only stores the bytes. Used by participant.js:

     const rec = new ScreenRecording(base, chunkSeconds, onChange);  // base: /api/participant/T/sessions/S/screen
     await rec.start(displayStream);     // throws if this browser cannot record WebM
     await rec.stop('finished');         // the last chunk sent, then the end call (how many chunks)
     rec.abandon();                      // withdrawn: nothing more is sent
     rec.beacon();                       // the tab is closing: the end call as a beacon

   onChange(state, text): 'recording', 'saving', 'saved', 'stopped' (the participant stopped sharing),
   'error' (the server refused: a limit, a full disk; `text` says so for the participant). */
'use strict';

class ScreenRecording {
  constructor(base, chunkSeconds, onChange) {
    this.base = base;
    this.chunkMs = Math.max(1, chunkSeconds) * 1000;
    this.onChange = onChange || (() => {});
    this.queue = [];  // [seq, blob] not yet stored on the server
    this.next = 0;  // the next chunk's number
    this.stored = 0;
    this.sending = null;
    this.recorder = null;
    this.state = 'idle';
    this.ended = false;  // the end call was made (or must not be)
  }

  static mimeType() {
    if (!window.MediaRecorder) return null;
    return ['video/webm;codecs=vp9', 'video/webm;codecs=vp8', 'video/webm']
      .find((m) => MediaRecorder.isTypeSupported(m)) || null;
  }

  setState(state, text) {
    this.state = state;
    this.onChange(state, text || '');
  }

  async start(stream) {
    const mimeType = ScreenRecording.mimeType();
    if (!mimeType) throw new Error('this browser cannot record the screen as WebM');
    this.stream = stream;
    // a key frame every 5 s: a seek decodes at most 5 s of frames; every 2 s would double the megabytes
    // of a quiet screen (bench/screen_recording.py)
    this.recorder = new MediaRecorder(stream, {
      mimeType, videoBitsPerSecond: 1000000, videoKeyFrameIntervalDuration: 5000,
    });
    this.recorder.ondataavailable = (ev) => {
      if (ev.data && ev.data.size > 0 && !this.ended) { this.queue.push([this.next++, ev.data]); this.pump(); }
    };
    const started = new Promise((resolve, reject) => {
      this.recorder.onstart = resolve;
      this.recorder.onerror = (ev) => reject(ev.error || new Error('the recorder failed'));
    });
    for (const track of stream.getVideoTracks()) {
      track.addEventListener('ended', () => { if (this.state === 'recording') this.stop('stopped'); });
    }
    // the recording's first frame is the track's next one: now, not when the "start" event comes (that
    // is dispatched later, a few hundred ms on a busy computer)
    const at = performance.now();
    // when it started and how long it recorded, on the page's clock (tests compare the file's duration)
    document.body.dataset.screenStartedAt = String(at);
    this.recorder.onstop = () => {
      document.body.dataset.screenRecordedMs = String(Math.round(performance.now() - at));
    };
    this.recorder.start(this.chunkMs);
    await started;
    this.setState('recording');
    // the server stamps the start on the session's clock: say how long ago the recorder started
    this.startCall = this.send('POST', this.base, () => JSON.stringify({ since_ms: Math.round(performance.now() - at) }),
      { 'Content-Type': 'application/json' });
    this.pump();
  }

  /* One request, tried again (network errors, 5xx, 409 "not started yet") with back-off; a refusal the
     participant must know about (a limit, a full disk, the session gone) throws with the server's text. */
  async send(method, url, body, headers) {
    for (let attempt = 0; ; attempt += 1) {
      if (this.ended === 'abandoned') throw new Error('abandoned');
      let resp = null;
      try {
        resp = await fetch(url, { method, body: body(), headers, credentials: 'same-origin' });
      } catch (e) { resp = null; }
      if (resp && resp.ok) return resp.json();
      if (resp && resp.status !== 409 && resp.status !== 429 && resp.status < 500) {
        let text = resp.statusText;
        try { text = (await resp.json()).error || text; } catch (e) { /* not JSON */ }
        const err = new Error(text);
        err.status = resp.status;
        throw err;
      }
      if (resp && resp.status === 409) {
        let text = '';
        try { text = (await resp.json()).error || ''; } catch (e) { /* not JSON */ }
        if (!text.includes('not started')) { const err = new Error(text); err.status = 409; throw err; }
      }
      if (attempt >= 8) throw new Error('the server did not take the screen recording (no connection)');
      await new Promise((r) => setTimeout(r, Math.min(8000, 400 * 2 ** attempt)));
    }
  }

  pump() {
    if (this.sending || !this.startCall) return;
    this.sending = (async () => {
      try {
        await this.startCall;
        while (this.queue.length) {
          const [seq, blob] = this.queue[0];
          await this.send('PUT', `${this.base}/${seq}`, () => blob, { 'Content-Type': 'video/webm' });
          this.queue.shift();
          this.stored += 1;
          document.body.dataset.screenChunks = String(this.stored);
        }
      } catch (e) {
        if (e.message !== 'abandoned') this.fail(e);
      } finally {
        this.sending = null;
      }
    })();
  }

  /* The server refused the recording (a limit, a full disk, the session gone): it stops here; the
     camera and the tasks go on. */
  fail(e) {
    this.queue = [];
    this.ended = this.ended || 'failed';
    this.stopTracks();
    this.setState('error', e.status === 413 || e.status === 507 ? e.message
      : `Your screen is no longer recorded (${e.message}). Your expressions still are: go on with the tasks.`);
  }

  stopTracks() {
    if (this.recorder && this.recorder.state !== 'inactive') this.recorder.stop();
    if (this.stream) this.stream.getTracks().forEach((t) => t.stop());
  }

  /* Stop recording; the last chunk and every waiting one are sent, then the end call. */
  async stop(reason) {
    if (!this.recorder || this.ended) return;
    const last = new Promise((resolve) => this.recorder.addEventListener('stop', resolve, { once: true }));
    const wasRecording = this.recorder.state !== 'inactive';
    this.stopTracks();
    if (wasRecording) await last;
    await new Promise((r) => setTimeout(r, 0));  // the final dataavailable comes before onstop; let it queue
    this.setState(reason === 'stopped' ? 'stopped' : 'saving');
    while (this.sending || this.queue.length) {
      if (!this.sending) this.pump();
      await this.sending;
      if (this.state === 'error') return;
    }
    if (this.ended) return;
    this.ended = true;
    try {
      await this.send('POST', `${this.base}/end`, () => JSON.stringify({ chunks: this.next, reason }),
        { 'Content-Type': 'application/json' });
      if (reason !== 'stopped') this.setState('saved');
    } catch (e) { this.fail(e); }
  }

  abandon() {
    this.ended = 'abandoned';
    this.queue = [];
    this.stopTracks();
  }

  beacon() {
    if (!this.recorder || this.ended) return;
    this.ended = true;
    navigator.sendBeacon(`${this.base}/end`, new Blob([JSON.stringify({ reason: 'closed' })], { type: 'application/json' }));
    this.stopTracks();
  }
}
