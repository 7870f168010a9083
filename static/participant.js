/* A participant's visit: consent, then camera -> WebRTC -> server with the study's token; in a study that
   records the screen, the screen to share (screenrec.js) before the tasks; tasks with Start/Done (task
   markers on /ws, docs/protocol.md), live feedback if the study shows it, and at the end a thank-you
   with "delete my data". */
'use strict';

(() => {
  const config = JSON.parse(document.getElementById('config').textContent);
  const $ = (id) => document.getElementById(id);
  const chart = $('chart') ? new RollingChart($('chart'), config.classes, 30) : null;
  const announcer = $('announcer') ? new Announcer($('announcer')) : null;  // static/announce.js
  let ws = null, pc = null, stream = null, sessionId = null, finished = false;
  let results = 0, t0 = null;
  let screenPending = Boolean(config.screen), screen = null;  // the screen step not done yet; the recording

  function showMessage(text) { $('message').textContent = text; $('message').hidden = false; }
  function setState(state, text) { $('stream-state').dataset.state = state; $('stream-state').textContent = text || state; }
  const send = (msg) => ws && ws.readyState === WebSocket.OPEN && (ws.send(JSON.stringify(msg)), true);
  const items = () => [...document.querySelectorAll('#tasks li')];

  // ---------- consent ----------
  $('decline').addEventListener('click', () => { $('consent').hidden = true; $('declined').hidden = false; });
  $('agree').addEventListener('click', async () => {
    $('agree').disabled = true;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.RTCPeerConnection) {
      showMessage('This browser cannot stream a camera (no getUserMedia or WebRTC): use a current Chrome, Edge, Firefox or Safari, over https://.');
      $('agree').disabled = false;
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
    } catch (e) {
      showMessage(e.name === 'NotAllowedError'
        ? 'Camera access was refused. Allow the camera for this site and press “I agree” again.'
        : `The camera could not start (${e.name}: ${e.message}).`);
      $('agree').disabled = false;
      return;
    }
    $('consent').hidden = true;
    $('study').hidden = false;
    $('video').srcObject = stream;
    connect();
  });

  // ---------- WebSocket and WebRTC ----------
  function connect() {
    setState('connecting', 'connecting…');
    ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
    ws.onopen = offer;
    ws.onmessage = (ev) => handle(JSON.parse(ev.data));
    ws.onclose = () => {
      if (finished) return;
      setState('disconnected');
      showMessage('The connection to the server was lost. Reload the page to continue (a new session starts).');
      stopCamera();
      if (screen) screen.stop('closed');
    };
  }

  async function offer() {
    pc = new RTCPeerConnection({ iceServers: (config.ice_servers || []).map((u) => ({ urls: u })) });
    pc.onconnectionstatechange = () => pc && setState(pc.connectionState);
    for (const track of stream.getVideoTracks()) pc.addTrack(track, stream);
    const sdp = await offerSdp(pc);
    send({ type: 'offer', sdp, study: config.study, consent: true });
  }

  function handle(msg) {
    switch (msg.type) {
      case 'session':
        sessionId = msg.id;
        document.body.dataset.session = msg.id;
        break;
      case 'answer':
        pc.setRemoteDescription({ type: 'answer', sdp: msg.sdp });
        $('inferring').hidden = false;  // the camera is being analysed: say so, as a recording light does
        enableTasks();
        break;
      case 'result': onResult(msg); break;
      case 'pace': applyPace(pc, msg.max_fps); break;
      case 'marked': onMarked(msg); break;
      case 'error': showMessage(`Server: ${msg.message}`); break;
      default: break;
    }
  }

  function onResult(msg) {
    results += 1;
    document.body.dataset.results = String(results);
    if (screenPending && $('screen-step').hidden) $('screen-step').hidden = false;  // the camera works: now the screen
    if (!chart) return;
    const now = performance.now() / 1000;
    if (t0 === null) t0 = now;
    const main = msg.faces[0];
    chart.push(now - t0, main ? main.probs : null);
    $('current-label').dataset.label = main ? main.label : '';
    $('current-label').textContent = main ? main.label : 'no face';
    $('current-emoji').textContent = main ? config.emoji[main.label] || '' : '';
    if (announcer) announcer.say(main ? main.label : 'no face');
  }

  // ---------- the screen, in a study that records it ----------
  function screenState(state, text) {
    const labels = { recording: 'recording', saving: 'saving…', saved: 'saved', stopped: 'stopped', error: 'not recorded' };
    $('screen-state').dataset.state = state;
    $('screen-state').textContent = labels[state] || state;
    if (state === 'stopped') showMessage('You stopped sharing your screen: it is no longer recorded. The tasks go on without it.');
    if (state === 'error') showMessage(text);
  }
  function screenDone() {
    screenPending = false;
    $('screen-step').hidden = true;
    enableTasks();
  }
  if (config.screen) {
    $('skip-screen').addEventListener('click', screenDone);
    $('share-screen').addEventListener('click', async () => {
      $('share-screen').disabled = true;
      $('message').hidden = true;
      if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia || !ScreenRecording.mimeType()) {
        showMessage('This browser cannot record a screen (use a current Chrome, Edge or Firefox on a computer): continue without sharing.');
        $('share-screen').disabled = false;
        return;
      }
      let shared;
      try {
        shared = await navigator.mediaDevices.getDisplayMedia({
          video: { frameRate: { ideal: 10, max: 15 }, width: { max: 1920 }, height: { max: 1080 } },
          audio: false, selfBrowserSurface: 'exclude', surfaceSwitching: 'include', monitorTypeSurfaces: 'include',
        });
      } catch (e) {
        showMessage(e.name === 'NotAllowedError'
          ? 'Screen sharing was cancelled. Press “Share my screen” again, or continue without sharing.'
          : `Your screen could not be shared (${e.name}: ${e.message}). Try again, or continue without sharing.`);
        $('share-screen').disabled = false;
        return;
      }
      const base = `/api/participant/${encodeURIComponent(config.study)}/sessions/${encodeURIComponent(sessionId)}/screen`;
      screen = new ScreenRecording(base, config.screen_chunk_s, screenState);
      try {
        await screen.start(shared);
      } catch (e) {
        shared.getTracks().forEach((t) => t.stop());
        screen = null;
        showMessage(`Your screen could not be recorded (${e.message}): continue without sharing.`);
        $('share-screen').disabled = false;
        return;
      }
      screenDone();
    });
  }

  // ---------- tasks: one at a time, in order ----------
  function enableTasks() {
    const next = screenPending ? null : items().find((li) => li.dataset.state !== 'done');
    for (const li of items()) {
      li.querySelector('.start').disabled = li !== next || li.dataset.state === 'running';
      li.querySelector('.done').disabled = li.dataset.state !== 'running';
    }
  }
  for (const li of items()) {
    const task = Number(li.dataset.task);
    li.querySelector('.start').addEventListener('click', () => {
      li.querySelector('.start').disabled = true;
      send({ type: 'marker', task, event: 'start' });
    });
    li.querySelector('.done').addEventListener('click', () => {
      li.querySelector('.done').disabled = true;
      send({ type: 'marker', task, event: 'end' });
    });
  }
  function onMarked(msg) {
    const li = items()[msg.task];
    li.dataset.state = msg.event === 'start' ? 'running' : 'done';
    enableTasks();
    if (items().every((x) => x.dataset.state === 'done')) finish();
  }

  // ---------- the end ----------
  function stopCamera() {
    if (pc) { pc.close(); pc = null; }
    if (stream) { stream.getTracks().forEach((t) => t.stop()); stream = null; }
    $('video').srcObject = null;
    $('inferring').hidden = true;
  }
  function finish() {
    finished = true;
    send({ type: 'stop' });
    stopCamera();
    if (ws) ws.close();
    setState('idle', 'finished');
    $('study').hidden = true;
    $('thanks').hidden = false;
    if (screen) screen.stop('finished');  // the last chunks go on being sent: the state says when it is saved
  }
  $('delete-data').addEventListener('click', async () => {
    $('delete-data').disabled = true;
    if (screen) screen.abandon();
    const resp = await fetch(`/api/participant/${encodeURIComponent(config.study)}/sessions/${encodeURIComponent(sessionId)}`,
      { method: 'DELETE' });
    if (resp.status === 204) { $('deleted').hidden = false; $('delete-data').hidden = true; }
    else { showMessage(`Could not delete: ${(await resp.json()).error}`); $('delete-data').disabled = false; }
  });

  function draw() {
    if (chart) chart.draw(t0 === null ? 0 : performance.now() / 1000 - t0);
    if (!finished) setTimeout(draw, 150);
  }
  draw();
  window.addEventListener('pagehide', () => {
    if (screen) screen.beacon();
    if (!finished && ws) ws.close();
  });
})();
