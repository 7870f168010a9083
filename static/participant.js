/* A participant's visit: consent, then camera -> WebRTC -> server with the study's token; the camera
   check (the server's verdict rides on each result: one face, large and lit enough, held 2 s); in a study
   that records the screen, the screen to share (screenrec.js); tasks with Start/Done (task markers on /ws,
   docs/protocol.md); live feedback if the study shows it; a thank-you. "Stop and delete my data" at every
   step withdraws: the stream and the screen recording end and the session's data is deleted. */
'use strict';

(() => {
  const config = JSON.parse(document.getElementById('config').textContent);
  const $ = (id) => document.getElementById(id);
  const chart = $('chart') ? new RollingChart($('chart'), config.classes, 30) : null;
  const announcer = $('announcer') ? new Announcer($('announcer')) : null;  // static/announce.js
  let ws = null, pc = null, stream = null, sessionId = null, finished = false, offered = false;
  let results = 0, t0 = null, checkOver = false, checkStarted = null;
  let sessionReady = null, sessionArrived = () => {};
  let screenPending = Boolean(config.screen), screen = null;  // the screen step not done yet; the recording

  function showMessage(text) { $('message').textContent = text; $('message').hidden = false; }
  function setState(state, text) { $('stream-state').dataset.state = state; $('stream-state').textContent = text || state; }
  const send = (msg) => ws && ws.readyState === WebSocket.OPEN && (ws.send(JSON.stringify(msg)), true);
  const items = () => [...document.querySelectorAll('#tasks li')];

  // ---------- consent ----------
  $('decline').addEventListener('click', () => { $('consent').hidden = true; $('declined').hidden = false; $('withdraw').hidden = true; });
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
    if (finished) { stopCamera(); return; }  // stopped while the camera was being asked for
    $('consent').hidden = true;
    $('study').hidden = false;
    $('video').srcObject = stream;
    connect();
  });

  // ---------- WebSocket and WebRTC ----------
  function connect() {
    setState('connecting', 'connecting…');
    sessionReady = new Promise((resolve) => { sessionArrived = resolve; });
    ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
    ws.onopen = offer;
    ws.onmessage = (ev) => handle(JSON.parse(ev.data));
    ws.onclose = () => {
      sessionArrived(sessionId);
      if (finished) return;
      setState('disconnected');
      showMessage('The connection to the server was lost. What was recorded until now is kept. Reload the page to start again (a new session).');
      stopCamera();
      if (screen) screen.stop('closed');
    };
  }

  async function offer() {
    pc = new RTCPeerConnection({ iceServers: (config.ice_servers || []).map((u) => ({ urls: u })) });
    pc.onconnectionstatechange = () => pc && setState(pc.connectionState);
    for (const track of stream.getVideoTracks()) pc.addTrack(track, stream);
    const sdp = await offerSdp(pc);
    offered = send({ type: 'offer', sdp, study: config.study, consent: true });
  }

  function handle(msg) {
    switch (msg.type) {
      case 'session':
        sessionId = msg.id;
        document.body.dataset.session = msg.id;
        sessionArrived(msg.id);
        break;
      case 'answer':
        pc.setRemoteDescription({ type: 'answer', sdp: msg.sdp });
        $('inferring').hidden = false;  // the camera is being analysed: say so, as a recording light does
        checkStarted = performance.now();
        break;
      case 'result': onResult(msg); break;
      case 'pace': applyPace(pc, msg.max_fps); break;
      case 'marked': onMarked(msg); break;
      case 'error':
        if (!sessionId) sessionArrived(null);
        showMessage(`Server: ${msg.message}`);
        break;
      default: break;
    }
  }

  function onResult(msg) {
    results += 1;
    document.body.dataset.results = String(results);
    if (msg.check) onCheck(msg.check);
    if (!chart) return;
    const now = performance.now() / 1000;
    if (t0 === null) t0 = now;
    const mine = msg.faces.find((f) => f.participant) || null;  // the participant's face, never someone else's
    chart.push(now - t0, mine ? mine.probs : null);
    $('current-label').dataset.label = mine ? mine.label : '';
    $('current-label').textContent = mine ? mine.label : 'no face';
    $('current-emoji').textContent = mine ? config.emoji[mine.label] || '' : '';
    if (announcer) announcer.say(mine ? mine.label : 'no face');
  }

  // ---------- the camera check ----------
  function onCheck(check) {
    if (checkOver) return;
    const box = $('check');
    box.dataset.state = check.state;
    box.dataset.problem = check.problem || '';
    $('check-guidance').textContent = check.guidance;
    $('check-progress').style.width = `${Math.min(100, (100 * check.held_s) / check.need_s)}%`;
    if (check.state === 'passed') {
      checkOver = true;
      $('check-guidance').textContent = screenPending ? '✓ Camera check passed: now the screen to share.'
        : '✓ Camera check passed: you can start the tasks.';
      $('check-help').hidden = true;
      $('check-skip').hidden = true;
      showTasks();
    } else if (checkStarted !== null && performance.now() - checkStarted > 1000 * config.check_help_s) {
      $('check-help').hidden = false;
      if (config.check_required) {
        $('check-help').textContent = 'This study needs the camera check before the tasks. Follow the hint above '
          + '(light, distance, only you in view). If it does not work, you can stop with “Stop and delete my data”.';
      } else {
        $('check-help').textContent = 'The check has not passed yet. Follow the hint above, or continue without it '
          + '(the researcher will see that the check did not pass).';
        $('check-skip').hidden = false;
      }
    }
  }
  $('check-skip').addEventListener('click', () => {
    checkOver = true;
    $('check').dataset.state = 'skipped';
    $('check-guidance').textContent = 'Continued without a passed camera check.';
    $('check-help').hidden = true;
    $('check-skip').hidden = true;
    showTasks();
  });
  function showTasks() {  // after the camera check: the screen to share first, in a study that records it
    if (screenPending) {
      $('screen-step').hidden = false;
      return;
    }
    $('task-panel').hidden = false;
    enableTasks();
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
    showTasks();
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
      if (finished) { shared.getTracks().forEach((t) => t.stop()); return; }  // withdrawn meanwhile
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
    const next = items().find((li) => li.dataset.state !== 'done');
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
  function endStream() {
    finished = true;
    send({ type: 'stop' });
    stopCamera();
    if (ws) ws.close();
  }
  function finish() {
    endStream();
    setState('idle', 'finished');
    $('study').hidden = true;
    $('thanks').hidden = false;
    if (screen) screen.stop('finished');  // the last chunks go on being sent: the state says when it is saved
  }

  // ---------- stop and delete my data: at any moment ----------
  function askWithdraw() {
    $('confirm-withdraw').hidden = false;
    $('withdraw-yes').focus();
  }
  $('withdraw').addEventListener('click', askWithdraw);
  $('delete-data').addEventListener('click', askWithdraw);
  $('withdraw-no').addEventListener('click', () => { $('confirm-withdraw').hidden = true; });
  $('withdraw-yes').addEventListener('click', async () => {
    $('withdraw-yes').disabled = true;
    const wasStreaming = offered;
    if (screen) screen.abandon();  // nothing more is sent; the server deletes what it has with the session
    endStream();
    const id = sessionId || (wasStreaming && sessionReady ? await Promise.race([
      sessionReady, new Promise((r) => setTimeout(() => r(null), 5000))]) : null);
    if (id) {
      const resp = await fetch(`/api/participant/${encodeURIComponent(config.study)}/sessions/${encodeURIComponent(id)}`,
        { method: 'DELETE' });
      if (resp.status !== 204 && resp.status !== 404) {
        const why = (await resp.json().catch(() => ({}))).error || `the server answered ${resp.status}`;
        showMessage(`Could not delete your data: ${why}.${resp.status === 503 ? '' : ' Please try again.'}`);
        $('withdraw-yes').disabled = false;
        return;
      }
    } else {
      $('withdrawn-text').textContent = 'Nothing was recorded. You can close this page.';
    }
    for (const id of ['consent', 'declined', 'study', 'thanks', 'confirm-withdraw', 'message', 'withdraw']) $(id).hidden = true;
    setState('idle', 'stopped');
    $('withdrawn').hidden = false;
    document.body.dataset.withdrawn = id ? 'deleted' : 'nothing';
  });

  let lastTable = 0;
  function draw() {
    if (chart) {
      chart.draw(t0 === null ? 0 : performance.now() / 1000 - t0);
      if (performance.now() - lastTable > 1000) {  // the chart's text alternative, once a second
        lastTable = performance.now();
        const { latest, mean } = chart.summary();
        sharesTable($('chart-table'), [{ values: finished ? null : latest }, { values: mean }], config.classes, config.emoji);
      }
    }
    if (!finished) setTimeout(draw, 150);
  }
  draw();
  window.addEventListener('pagehide', () => {
    if (screen) screen.beacon();
    if (!finished && ws) ws.close();
  });
})();
