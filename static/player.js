/* A session's screen recording played beside its expression timeline (results page): a cursor on the
   timeline follows playback, clicking the timeline or a task label above it (results.js) seeks the video,
   the participant's expression at that moment is shown over the player, and the session's moments are
   listed, each playing from 3 s before it. One clock: the session's stream time (results' time_s); the recording's
   second v is the stream's second offset_s + v (GET /api/sessions/{id}: "screen"). Without a recording
   the cursor and the expression follow clicks on the timeline and the moments. */
'use strict';

(() => {
  const { config } = window.studyPage;
  const $ = (id) => document.getElementById(id);
  const video = $('screen-video');
  video.muted = true;  // a screen recording has no sound; muted, it may play when a script asks
  const KIND_TEXT = { negative: 'negative onset', surprise: 'surprise peak', smile: 'smile' };
  let session = null, plot = null, redraw = null, times = [], offset = null, cursorAt = null;

  const clock = (t) => `${Math.floor(t / 60)}:${String(Math.floor(t % 60)).padStart(2, '0')}`;
  const recorded = () => Boolean(session && session.screen && session.screen.status === 'ready' && offset !== null);

  /* The participant's expression at stream time t: the nearest analysed frame before it (within 0.5 s). */
  function expressionAt(t) {
    let lo = 0, hi = times.length - 1, found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (times[mid] <= t + 1e-6) { found = mid; lo = mid + 1; } else hi = mid - 1;
    }
    if (found < 0 || t - times[found] > 0.5) return null;
    return session.timeline[found][1];
  }

  function showExpression(t) {
    const probs = expressionAt(t);
    const box = $('player-expression');
    if (!probs) {
      box.dataset.label = '';
      $('player-emoji').textContent = '';
      $('player-label').textContent = 'no face';
      $('player-prob').textContent = '';
    } else {
      const k = probs.indexOf(Math.max(...probs));
      const label = config.classes[k];
      box.dataset.label = label;
      $('player-emoji').textContent = config.emoji[label];
      $('player-label').textContent = label;
      $('player-prob').textContent = `${Math.round(probs[k] * 100)}%`;
    }
    box.dataset.time = t.toFixed(2);
  }

  /* The cursor at stream time t, over the timeline's plot (CSS pixels of the canvas). */
  function place(t) {
    cursorAt = t;
    const cursor = $('timeline-cursor');
    if (!plot) return;
    const x = plot.left + plot.w * Math.min(1, Math.max(0, t / plot.end));
    const canvas = $('timeline');
    cursor.style.left = `${canvas.offsetLeft + x}px`;
    cursor.style.top = `${canvas.offsetTop + plot.top}px`;
    cursor.style.height = `${plot.h}px`;
    cursor.hidden = false;
    cursor.dataset.time = t.toFixed(3);
    showExpression(t);
  }

  /* Go to stream time t: the video there (and playing, if asked), or the cursor alone without a recording. */
  function seek(t, play) {
    if (recorded()) {
      const v = Math.max(0, Math.min(t - offset, (video.duration || session.screen.duration_s || 0)));
      video.currentTime = v;
      place(offset + v);
      if (play) video.play().catch(() => {});
    } else {
      place(Math.max(0, t));
    }
  }

  function follow() {
    if (recorded()) place(offset + video.currentTime);
    if (!video.paused && !video.ended) requestAnimationFrame(follow);
  }
  video.addEventListener('error', () => {
    if (video.getAttribute('src')) $('screen-note').textContent = 'The screen recording could not be loaded: reload the page to try again.';
  });
  video.addEventListener('play', () => requestAnimationFrame(follow));
  video.addEventListener('seeked', follow);
  video.addEventListener('timeupdate', follow);

  /* A click on the timeline: that moment (or the task marker within 8 px of the click). */
  $('timeline').addEventListener('click', (ev) => {
    if (!session || !plot) return;
    const rect = $('timeline').getBoundingClientRect();
    const x = ev.clientX - rect.left;
    let t = ((x - plot.left) / plot.w) * plot.end;
    for (const m of session.markers) {
      if (Math.abs(plot.left + (m.time_s / plot.end) * plot.w - x) <= 8) t = m.time_s;
    }
    if (t >= 0 && t <= plot.end) seek(t, false);
  });

  function screenNote(s) {
    const r = s.screen;
    if (!r) return config.screen ? 'No screen recording: the participant did not share their screen.' : '';
    if (r.status === 'ready') {
      const extra = r.missing ? ` ${r.missing} chunk(s) never arrived: the video jumps there.` : '';
      return `Screen recording: ${clock(r.duration_s)}, ${(r.size / 1048576).toFixed(1)} MB, from ${clock(offset || 0)} of the session.${extra}`;
    }
    if (r.status === 'failed') return `The screen recording could not be saved: ${r.error}`;
    return 'The screen is being recorded: it can be played once the session has ended.';
  }

  function momentList(s) {
    $('no-moments').hidden = s.moments.length > 0;
    $('moments').replaceChildren(...s.moments.map((m) => {
      const li = document.createElement('li');
      li.dataset.kind = m.kind;
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'moment';
      b.dataset.at = String(m.start_s);
      const task = m.task === null ? 'outside tasks' : `task ${m.task}`;
      b.textContent = `${clock(m.start_s)} ${config.emoji[m.expression]} ${KIND_TEXT[m.kind]}`
        + `${m.kind === 'negative' ? ` (${m.expression})` : ''}, ${m.length_s.toFixed(1)} s, +${Math.round(m.strength * 100)}% · ${task}`;
      b.title = `${m.task === null ? '' : `${m.task}. ${m.title}: `}strength ${m.strength.toFixed(2)} above the participant's baseline; plays from ${clock(m.play_from_s)}`;
      b.addEventListener('click', () => seek(m.play_from_s, true));
      li.appendChild(b);
      return li;
    }));
  }

  function baselineNote(s) {
    const b = s.baseline;
    if (!b) return 'No baseline: the participant\'s face was never found, so no moments.';
    return b.source === 'camera check'
      ? `Baseline: the participant's face during the camera check (${b.frames} frames, ${clock(b.from_s)}–${clock(b.to_s)}).`
      : `Baseline: the participant's first seconds with a face (${b.frames} frames, ${clock(b.from_s)}–${clock(b.to_s)}; no passed camera check).`;
  }

  document.addEventListener('session-shown', (ev) => {
    ({ session, plot, redraw } = ev.detail);
    times = session.timeline.map((p) => p[0]);
    offset = session.screen && session.screen.offset_s !== null && session.screen.offset_s !== undefined
      ? session.screen.offset_s : null;
    const playable = recorded();
    $('player-stage').hidden = !playable;
    $('player').dataset.recording = playable ? 'ready' : (session.screen ? session.screen.status : 'none');
    if (playable) {
      if (video.dataset.session !== session.id) {
        video.src = session.screen.url;
        video.dataset.session = session.id;
      }
    } else {
      video.removeAttribute('src');
      delete video.dataset.session;
      video.load();
    }
    $('screen-note').textContent = screenNote(session);
    // without a recording to play (or to explain), the moments take the player's room
    $('player-main').hidden = !playable && !$('screen-note').textContent;
    $('moments-hint').textContent = playable
      ? 'Each plays the screen recording from 3 s before it.' : 'Each moves the cursor on the timeline to 3 s before it.';
    momentList(session);
    $('baseline-note').textContent = baselineNote(session);
    place(playable ? offset : (times[0] || 0));
    const pending = window.studyPage.pendingSeek;
    if (pending && pending.session === session.id) {
      window.studyPage.pendingSeek = null;
      const go = () => seek(pending.at, true);
      if (playable && video.readyState < 1) video.addEventListener('loadedmetadata', go, { once: true }); else go();
    }
  });
  window.addEventListener('resize', () => {
    if (!redraw) return;
    plot = redraw();
    if (cursorAt !== null) place(cursorAt);
  });
  window.studyPage.seek = seek;
})();
