/* The live page: camera -> WebRTC -> server; results over the /ws WebSocket (docs/protocol.md). */
'use strict';

(() => {
  const config = JSON.parse(document.getElementById('config').textContent);
  const CLASSES = config.classes, EMOJI = config.emoji;
  const $ = (id) => document.getElementById(id);
  const video = $('video'), overlay = $('overlay'), chartCanvas = $('chart');
  const chart = new RollingChart(chartCanvas, CLASSES, 30);
  const announcer = new Announcer($('announcer'));  // the main face's expression, for screen readers
  // less motion when the visitor asks for it: the chart moves once a second instead of ten times
  const reducedMotion = window.matchMedia ? window.matchMedia('(prefers-reduced-motion: reduce)') : { matches: false };

  let ws = null, reconnectDelay = 1000, pingTimer = null, rttMs = null;
  let pc = null, stream = null, streaming = false, answered = false;
  let latest = null, latestAt = 0;          // the result on display and when it arrived (performance.now())
  // (no hold of its own: the server holds a briefly missed face for up to 0.5 s, marked "held", and
  // ends every face at a shot cut; the overlay, the readout and the class view show the same faces)
  let mainId = null;                        // the main face (chart, readout): kept while the server reports it
  let sessionStart = 0, sessionStartedAt = null;
  let timeline = [];                        // every result of the session, for the downloads
  const arrivals = [];                      // arrival times of the last results, for results/s
  const store = {                           // the camera and mirror choices, remembered in this browser
    get(key) { try { return localStorage.getItem(`fer.${key}`); } catch (e) { return null; } },
    set(key, value) { try { localStorage.setItem(`fer.${key}`, value); } catch (e) { /* private mode */ } },
  };
  let mirrored = store.get('mirror') !== 'off';  // a mirror by default: what a person facing a camera expects
  // other scripts (static/classview.js) follow the stream through these events on window
  const emit = (name, detail) => window.dispatchEvent(new CustomEvent(`fer:${name}`, { detail }));

  // ---------- messages and status ----------
  function showMessage(text, kind = 'error') {
    const box = $('message');
    box.textContent = text;
    box.dataset.kind = kind;
    box.hidden = false;
  }
  function clearMessage(kind) {
    const box = $('message');
    if (!kind || box.dataset.kind === kind) { box.hidden = true; box.textContent = ''; }
  }
  function setState(id, state, text) {
    const el = $(id);
    el.dataset.state = state;
    el.textContent = text || state;
  }
  function setButtons() {
    document.body.classList.toggle('streaming', streaming);
    $('inferring').hidden = !streaming;  // people in view are told, as by a recording light
    $('start').disabled = streaming;
    $('stop').disabled = !streaming;
    $('download-csv').disabled = $('download-json').disabled = timeline.length === 0;
  }

  // ---------- WebSocket ----------
  function connect() {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
    setState('conn-state', 'connecting', 'connecting…');
    ws = new WebSocket(url);
    ws.onopen = () => {
      reconnectDelay = 1000;
      setState('conn-state', 'connected');
      clearMessage('server');
      clearInterval(pingTimer);
      pingTimer = setInterval(() => send({ type: 'ping', t: performance.now() }), 2000);
      send({ type: 'ping', t: performance.now() });
    };
    ws.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      handle(msg);
    };
    ws.onclose = () => {
      clearInterval(pingTimer);
      setState('conn-state', 'disconnected');
      if (streaming) stopStream(false);
      showMessage(`The server is gone (no connection to ${location.host}). Reconnecting…`, 'server');
      setTimeout(connect, reconnectDelay);
      reconnectDelay = Math.min(reconnectDelay * 2, 10000);
    };
  }
  function send(msg) {
    if (ws && ws.readyState === WebSocket.OPEN) { ws.send(JSON.stringify(msg)); return true; }
    return false;
  }
  function handle(msg) {
    switch (msg.type) {
      case 'answer':
        answered = true;
        if (pc) pc.setRemoteDescription({ type: 'answer', sdp: msg.sdp })
          .catch((e) => { showMessage(`WebRTC: cannot use the server's answer (${e.message})`); stopStream(true); });
        break;
      case 'result': onResult(msg); break;
      case 'pace': applyPace(pc, msg.max_fps); break;
      case 'state':
        if (streaming) setState('stream-state', msg.state);
        break;
      case 'pong':
        if (typeof msg.t === 'number') rttMs = performance.now() - msg.t;
        break;
      case 'error':
        showMessage(`Server: ${msg.message}`);
        if (streaming && !answered) stopStream(false);  // the offer was refused: nothing will come
        break;
      default: break;  // hello, stopped
    }
  }

  // ---------- camera and WebRTC ----------
  async function startStream() {
    clearMessage();
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      showMessage(window.isSecureContext
        ? 'This browser cannot use a camera (no getUserMedia).'
        : 'Browsers allow the camera only on https:// pages or http://localhost: open this page over HTTPS (python -m server --cert … --key …).');
      return;
    }
    if (!window.RTCPeerConnection) {
      showMessage('This browser has no WebRTC (RTCPeerConnection is missing): use a current Chrome, Edge, Firefox or Safari.');
      return;
    }
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      showMessage('Not connected to the server yet: wait for “Server: connected” and press Start again.', 'server');
      return;
    }
    $('start').disabled = true;
    try {
      stream = await openCamera($('camera').value);
    } catch (e) {
      const why = {
        NotAllowedError: 'Camera access was refused. Allow the camera for this site (camera icon in the address bar) and press Start again.',
        SecurityError: 'Camera access was refused by the browser’s security settings.',
        NotFoundError: 'No camera was found. Plug one in and press Start again.',
        OverconstrainedError: 'No camera was found that can film at least a small video.',
        NotReadableError: 'The camera is busy (used by another application?). Close it there and press Start again.',
      }[e.name] || `The camera could not start (${e.name}: ${e.message}).`;
      showMessage(why, 'camera');
      stream = null;
      setButtons();
      return;
    }
    video.srcObject = stream;
    cameraStarted(stream);
    pc = new RTCPeerConnection({ iceServers: (config.ice_servers || []).map((u) => ({ urls: u })) });
    pc.onconnectionstatechange = () => {
      if (!pc) return;
      setState('stream-state', pc.connectionState);
      if (pc.connectionState === 'failed') {
        showMessage('The video connection to the server failed (WebRTC). A firewall may block it; press Start to try again.');
        stopStream(true);
      }
    };
    for (const track of stream.getVideoTracks()) {
      watchTrack(track);
      pc.addTrack(track, stream);
    }
    streaming = true;
    answered = false;
    timeline = [];
    chart.clear();
    sessionStart = performance.now();
    sessionStartedAt = new Date();
    $('stage-hint').hidden = true;
    $('session-summary').hidden = true;
    emit('start', {});
    setButtons();
    setState('stream-state', 'negotiating');
    try {
      const sdp = await offerSdp(pc);
      if (!pc) return;
      if (!send({ type: 'offer', sdp })) throw new Error('the server connection closed');
    } catch (e) {
      showMessage(`Could not start the video connection: ${e.message}`);
      stopStream(true);
    }
  }

  // ---------- camera choice (remembered) and mirror ----------
  function videoConstraints(deviceId) {
    const v = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 } };
    if (deviceId) v.deviceId = { exact: deviceId };
    return { video: v, audio: false };
  }
  async function openCamera(deviceId) {
    try {
      return await navigator.mediaDevices.getUserMedia(videoConstraints(deviceId));
    } catch (e) {
      // the remembered camera is gone (unplugged, another computer): any camera will do
      if (deviceId && (e.name === 'OverconstrainedError' || e.name === 'NotFoundError')) {
        return navigator.mediaDevices.getUserMedia(videoConstraints(''));
      }
      throw e;
    }
  }
  function watchTrack(track) {
    track.addEventListener('ended', () => {
      if (!streaming || !stream || !stream.getVideoTracks().includes(track)) return;
      showMessage('The camera stopped (unplugged, or taken by another application). Press Start to try again.', 'camera');
      stopStream(true);
    });
  }
  function cameraStarted(s) {
    const track = s.getVideoTracks()[0];
    const id = track && track.getSettings ? track.getSettings().deviceId : '';
    if (id) store.set('camera', id);
    listCameras(id);  // names are known once the camera is allowed
  }
  async function listCameras(selected) {
    const select = $('camera');
    if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) { select.disabled = true; return; }
    let cams = [];
    try {
      cams = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'videoinput');
    } catch (e) { return; }
    const want = selected || store.get('camera') || select.value;
    const options = [new Option('Default camera', '')];
    cams.forEach((d, i) => { if (d.deviceId) options.push(new Option(d.label || `Camera ${i + 1}`, d.deviceId)); });
    select.replaceChildren(...options);
    select.value = options.some((o) => o.value === want) ? want : '';
    select.dataset.cameras = String(cams.length);
  }
  async function switchCamera() {
    const id = $('camera').value;
    if (id) store.set('camera', id);
    if (!streaming) return;
    // Another camera while streaming starts a new session with it: the server's WebRTC stack
    // (aiortc) stops decoding when the browser replaces a track in place (aiortc/aiortc#228).
    stopStream(true);
    await startStream();
  }
  function setMirror(on) {
    mirrored = on;
    $('mirror').checked = on;
    $('stage').classList.toggle('mirrored', on);
    store.set('mirror', on ? 'on' : 'off');
  }

  function stopStream(tellServer) {
    const wasStreaming = streaming;
    if (tellServer) send({ type: 'stop' });
    if (pc) { pc.onconnectionstatechange = null; pc.close(); pc = null; }
    if (stream) { stream.getTracks().forEach((t) => t.stop()); stream = null; }
    video.srcObject = null;
    streaming = false;
    latest = mainId = null;
    setState('stream-state', 'idle');
    $('fps').textContent = '–';
    $('latency').textContent = '–';
    $('stage-hint').hidden = false;
    showReadout(null);  // the camera is off: nothing is claimed about anyone
    chart.points = [];  // the chart of a finished session is blank, its summary stays below
    setButtons();
    if (wasStreaming) {
      showSessionSummary();
      emit('stop', {});
    }
  }

  /* After Stop: how long the session was and the share of face time per expression. */
  function showSessionSummary() {
    if (!timeline.length) return;
    const { shares, faceSeconds, inView, faces, seconds } = sessionShares(timeline, CLASSES);  // static/shares.js
    const box = $('session-summary');
    const span = seconds >= 60 ? `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s` : `${seconds.toFixed(0)} s`;
    const several = faces > 1 ? ` (${faces} faces: ${faceSeconds.toFixed(0)} s of face time together)` : '';
    $('session-text').textContent = faceSeconds
      ? `${span}, a face in view for ${inView.toFixed(0)} s${several}. Share of face time per expression:`
      : `${span}, no face in view.`;
    renderShares($('session-shares'), faceSeconds ? shares : {}, CLASSES, EMOJI);
    $('session-shares').hidden = !faceSeconds;
    box.hidden = false;
    // it is what the visitor came for: on a phone it is below the video, brought into view
    // (and given the focus that the disabled Stop button lost, for keyboards and screen readers)
    const active = document.activeElement;
    if (!document.body.classList.contains('present') && (!active || active === document.body || active === $('stop'))) {
      box.focus({ preventScroll: true });
    }
    if (!document.body.classList.contains('present')) box.scrollIntoView({ block: 'nearest' });
  }

  // ---------- results ----------
  function onResult(msg) {
    if (!streaming) return;
    const now = performance.now();
    latest = msg;
    latestAt = now;
    arrivals.push(now);
    while (arrivals.length && arrivals[0] < now - 1000) arrivals.shift();
    const t = (now - sessionStart) / 1000;
    timeline.push({ t: +t.toFixed(3), timestamp: msg.timestamp, frame: msg.frame, utc: msg.utc, faces: msg.faces });
    emit('result', { t, faces: msg.faces });
    if (timeline.length === 1) setButtons();
    const main = mainFace(msg.faces);
    chart.push(t, main ? main.probs : null);
    $('chart').dataset.mainFace = main ? String(main.id) : '';
    showReadout(msg.faces, main);
    $('fps').textContent = String(arrivals.length);
    const latency = msg.latency_ms + (rttMs === null ? 0 : rttMs / 2);
    $('latency').textContent = `${Math.round(latency)} ms`;
    $('latency').dataset.processingMs = String(msg.processing_ms);
  }

  // The server reports only confirmed faces (held ones too, at their last box), largest first.
  // The main face stays the same face while it is reported; when it is gone, the largest takes over.
  function mainFace(faces) {
    const main = faces.find((f) => f.id === mainId) || faces[0] || null;
    if (main) mainId = main.id;
    return main;
  }

  function showReadout(faces, main) {
    const label = $('current-label');
    announcer.say(!faces ? 'camera off' : main ? main.label : 'no face');
    if (!faces) {  // idle: the camera is off
      label.dataset.label = '';
      label.textContent = 'camera off';
      $('current-emoji').textContent = '';
      $('current-confidence').textContent = '';
    } else if (main) {
      label.dataset.label = main.label;
      label.textContent = main.label;
      $('current-emoji').textContent = EMOJI[main.label] || '';
      $('current-confidence').textContent = `${Math.round(main.probs[main.label] * 100)}%`;
    } else {
      label.dataset.label = '';
      label.textContent = 'no face';
      $('current-emoji').textContent = '';
      $('current-confidence').textContent = '';
    }
    const list = $('faces');
    list.replaceChildren(...(faces || []).map((f) => {
      const li = document.createElement('li');
      li.dataset.faceId = String(f.id);
      li.dataset.label = f.label;
      li.dataset.source = f.source || (f.held ? 'held' : 'detected');
      li.textContent = `#${f.id} ${EMOJI[f.label] || ''} ${f.label} ${Math.round(f.probs[f.label] * 100)}%`;
      return li;
    }));
  }

  // ---------- drawing ----------
  /* The boxes, then the labels where static/overlay.js places them: never over each other or the
   * "inferring" indicator, never off the picture. */
  function drawOverlay() {
    const dpr = window.devicePixelRatio || 1;
    const cw = Math.round(overlay.clientWidth * dpr), ch = Math.round(overlay.clientHeight * dpr);
    if (overlay.width !== cw || overlay.height !== ch) { overlay.width = cw; overlay.height = ch; }
    const ctx = overlay.getContext('2d');
    ctx.clearRect(0, 0, cw, ch);
    const stale = performance.now() - latestAt > 1500;
    overlay.dataset.faces = latest && !stale ? String(latest.faces.length) : '0';
    overlay.dataset.labels = '[]';  // where each label was drawn, in CSS pixels (the browser tests check them)
    overlay.dataset.held = '[]';  // which faces are drawn as not found in this frame (held: dashed, faded)
    if (!latest || stale || !latest.width || !video.videoWidth) return;
    const big = document.body.classList.contains('present');  // labels for the back of a classroom
    // where the video's picture sits inside the element (object-fit: contain), mirrored like a mirror
    const scale = Math.min(cw / video.videoWidth, ch / video.videoHeight);
    const pw = video.videoWidth * scale, ph = video.videoHeight * scale;
    const ox = (cw - pw) / 2, oy = (ch - ph) / 2;
    const sx = pw / latest.width, sy = ph / latest.height;
    const lineWidth = Math.max(3, 4 * dpr);
    const fontOf = (size) => `bold ${size}px "FER Emoji", system-ui, sans-serif`;
    const faces = latest.faces.map((f) => {
      const [x, y, w, h] = f.box;
      const bw = w * sx, bh = h * sy;
      const box = [ox + (mirrored ? pw - (x + w) * sx : x * sx), oy + y * sy, bw, bh];
      const pct = `${Math.round(f.probs[f.label] * 100)}%`;
      // as large as the face allows (larger when presenting)
      const size = Math.max((big ? 30 : 22) * dpr, Math.min((big ? 72 : 48) * dpr, bw / (big ? 3.5 : 5)));
      return { face: f, box, size, text: `${EMOJI[f.label] || ''} ${f.label} ${pct}`, short: `${EMOJI[f.label] || ''} ${pct}` };
    });
    const keepFree = [];
    const indicator = $('inferring');
    if (!indicator.hidden) {
      const r = indicator.getBoundingClientRect(), o = overlay.getBoundingClientRect();
      keepFree.push([(r.left - o.left) * dpr - 4, (r.top - o.top) * dpr - 4, r.width * dpr + 8, r.height * dpr + 8]);
    }
    const measure = (text, size) => { ctx.font = fontOf(size); return ctx.measureText(text).width; };
    const spots = placeLabels(faces, [ox, oy, pw, ph], keepFree, measure, (big ? 22 : 15) * dpr);  // static/overlay.js
    ctx.lineWidth = lineWidth;
    const held = faces.map((f) => (f.face.source ? f.face.source !== 'detected' : !!f.face.held));
    faces.forEach((f, i) => {
      ctx.globalAlpha = held[i] ? 0.6 : 1;
      ctx.setLineDash(held[i] ? [3 * lineWidth, 2 * lineWidth] : []);
      ctx.strokeStyle = EXPRESSION_COLORS[f.face.label] || '#fff';
      ctx.strokeRect(...f.box);
    });
    ctx.setLineDash([]);
    const labels = [];
    spots.forEach((spot, i) => {
      if (!spot) return;
      ctx.globalAlpha = held[i] ? 0.6 : 1;
      ctx.fillStyle = EXPRESSION_COLORS[faces[i].face.label] || '#fff';
      ctx.fillRect(spot.x, spot.y, spot.w, spot.h);
      ctx.font = fontOf(spot.size);
      ctx.fillStyle = '#000';
      ctx.textBaseline = 'middle';
      ctx.fillText(spot.text, spot.x + spot.size * 0.3, spot.y + spot.size * 0.72);
      labels.push([spot.x / dpr, spot.y / dpr, spot.w / dpr, spot.h / dpr].map((v) => Math.round(v * 10) / 10));
    });
    ctx.globalAlpha = 1;
    overlay.dataset.labels = JSON.stringify(labels);
    overlay.dataset.held = JSON.stringify(held);
    overlay.dataset.picture = JSON.stringify([ox / dpr, oy / dpr, pw / dpr, ph / dpr].map((v) => Math.round(v * 10) / 10));
  }

  /* The chart's text alternative (the table under it): the main face's probabilities now and
   * their mean over the chart's 30 seconds, once a second. */
  function updateChartTable() {
    const { latest: now, mean } = chart.summary();
    sharesTable($('chart-table'), [{ values: streaming ? now : null }, { values: mean }], CLASSES, EMOJI);  // static/shares.js
  }

  let lastChartDraw = 0, lastTable = 0;
  function frame(now) {
    drawOverlay();
    if (now - lastChartDraw > (reducedMotion.matches ? 1000 : 100)) {
      lastChartDraw = now;
      chartCanvas.dataset.draws = String(Number(chartCanvas.dataset.draws || 0) + 1);
      chart.draw(streaming ? (now - sessionStart) / 1000 : (chart.points.length ? chart.points[chart.points.length - 1].t : 0));
      if (streaming && now - latestAt > 1000) {
        $('fps').textContent = String(arrivals.filter((a) => a > now - 1000).length);
      }
    }
    if (now - lastTable > 1000) { lastTable = now; updateChartTable(); }
    requestAnimationFrame(frame);
  }

  // ---------- downloads (built in the browser from the session's results) ----------
  function download(name, type, text) {
    const url = URL.createObjectURL(new Blob([text], { type }));
    const a = document.createElement('a');
    a.href = url;
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }
  function stamp() {
    return (sessionStartedAt || new Date()).toISOString().replace(/[:.]/g, '-').slice(0, 19);
  }
  // The app's one row schema (ml/schema.py), its columns given by the server: one row per face per
  // analysed frame, and a row with only frame, time_s and utc for a frame without a face.
  function timelineCsv() {
    const columns = config.columns;
    const rows = [columns.join(',')];
    for (const r of timeline) {
      const time = r.timestamp === null || r.timestamp === undefined ? r.t : r.timestamp;
      const base = { frame: r.frame ?? '', time_s: Number(time).toFixed(3), utc: r.utc || '' };
      const faces = r.faces.length ? r.faces : [null];
      for (const f of faces) {
        const row = { ...base };
        if (f) {
          Object.assign(row, { face: f.id, source: f.source || (f.held ? 'held' : 'detected'),
            x: f.box[0], y: f.box[1], w: f.box[2], h: f.box[3], label: f.label, confidence: f.probs[f.label].toFixed(4) });
          for (const c of CLASSES) row[c] = f.probs[c].toFixed(4);
        }
        rows.push(columns.map((c) => (row[c] === undefined ? '' : row[c])).join(','));
      }
    }
    return rows.join('\n') + '\n';
  }
  $('download-csv').addEventListener('click', () => download(`expressions-${stamp()}.csv`, 'text/csv', timelineCsv()));
  $('download-json').addEventListener('click', () => download(`expressions-${stamp()}.json`, 'application/json',
    JSON.stringify({ started: sessionStartedAt && sessionStartedAt.toISOString(), model: config.model,
      classes: CLASSES, results: timeline }, null, 1)));

  $('start').addEventListener('click', startStream);
  $('camera').addEventListener('change', switchCamera);
  $('mirror').addEventListener('change', () => setMirror($('mirror').checked));
  if (navigator.mediaDevices && navigator.mediaDevices.addEventListener) {
    navigator.mediaDevices.addEventListener('devicechange', () => listCameras($('camera').value));
  }
  $('stop').addEventListener('click', () => stopStream(true));
  window.addEventListener('pagehide', () => { if (streaming) stopStream(true); });
  for (const li of document.querySelectorAll('#legend li')) {
    li.querySelector('.swatch').style.background = EXPRESSION_COLORS[li.dataset.class];
  }
  if (!window.RTCPeerConnection) {
    showMessage('This browser has no WebRTC (RTCPeerConnection is missing): live analysis needs a current Chrome, Edge, Firefox or Safari.');
  }
  setButtons();
  setMirror(mirrored);
  listCameras();
  // the overlay draws the emoji on a canvas: load their font (static/fonts) before the first label
  if (document.fonts) document.fonts.load('16px "FER Emoji"', Object.values(EMOJI).join('')).catch(() => {});
  chart.draw(0);
  connect();
  requestAnimationFrame(frame);
  window.liveApp = { chart, announcer, get timeline() { return timeline; }, timelineCsv };
})();
