/* The study's live view on its results page: one card per session live now (the participant's current
   expression, a rolling chart, someone else in view, the camera check, its task and the time in it,
   notes), pushed by the server over the WebSocket /api/studies/{id}/live (docs/protocol.md; the login
   cookie is the researcher's token: when it no longer works, the page says "Log in again"). An ended
   session's card says so for a few seconds, then leaves: the session is in the sessions table. */
'use strict';

(() => {
  const { config, showMessage, reload, labelOf } = window.studyPage;
  const $ = (id) => document.getElementById(id);
  const CLASSES = config.classes;
  const WINDOW_S = 20;      // seconds in a card's rolling chart
  const ENDED_KEEP_MS = 4000;  // an ended session's card stays this long
  const cards = new Map();  // session id -> card
  let captions = 0;  // the cards' table captions get ids of their own
  let ws = null, retryMs = 1000, serverOffset = 0;  // serverOffset: server clock - this clock (s)

  const nowS = () => Date.now() / 1000 + serverOffset;
  const clock = (s) => {
    s = Math.max(0, Math.floor(s));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = String(s % 60).padStart(2, '0');
    return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
  };
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };

  function setState(state, text) {
    $('live-state').dataset.state = state;
    $('live-state').textContent = text;
  }

  function showEmpty() {  // "nobody is taking part" only when no card is shown, not beside an ended one
    $('no-live').hidden = cards.size > 0;
  }

  class Card {
    constructor(id, started) {
      this.id = id;
      this.started = started;
      this.live = true;
      this.task = null;
      this.taskStarted = null;
      this.lastT = null;      // the newest result's stream time, and when it came (performance.now())
      this.lastAt = 0;
      this.root = el('article', 'live-card');
      this.root.dataset.session = id;
      this.root.dataset.state = 'live';
      this.root.dataset.results = '0';
      const head = el('header');
      this.title = el('strong', '', `started ${new Date(started * 1000).toISOString().slice(11, 19)} UTC`);
      head.append(this.title);
      this.badge = el('span', 'live-badge', 'live');
      head.append(this.badge);
      this.current = el('p', 'live-current');
      this.emoji = el('span', 'live-emoji');
      this.label = el('span', 'live-label', 'waiting for results…');
      this.confidence = el('span', 'live-confidence');
      this.current.append(this.emoji, this.label, this.confidence);
      this.taskLine = el('p', 'live-task');
      this.others = el('p', 'live-others');
      this.others.hidden = true;
      this.canvas = el('canvas', 'live-chart');
      this.canvas.width = 480;
      this.canvas.height = 160;
      this.canvas.setAttribute('role', 'img');
      this.canvas.setAttribute('aria-label', `The participant's expressions over the last ${WINDOW_S} seconds`);
      this.chart = new RollingChart(this.canvas, CLASSES, WINDOW_S);
      // the chart's text alternative: the shares as a table (static/shares.js), refreshed by tick()
      this.tableBox = el('details', 'chart-table');
      this.tableBox.append(el('summary', '', 'The chart as a table'));
      this.table = el('table');
      const caption = el('caption', '', `The participant's face: each expression's probability now and its mean `
        + `over the last ${WINDOW_S} seconds`);
      caption.id = `live-caption-${++captions}`;
      this.canvas.setAttribute('aria-describedby', caption.id);
      const headRow = el('tr');
      for (const name of ['Expression', 'Now', `Mean, last ${WINDOW_S} s`]) {
        const th = el('th', '', name);
        th.scope = 'col';
        headRow.append(th);
      }
      this.table.append(caption, el('thead'), el('tbody'));
      this.table.tHead.append(headRow);
      this.tableBox.append(this.table);
      this.form = el('form', 'live-note');
      this.input = el('input');
      this.input.maxLength = 2000;
      this.input.placeholder = 'What happened?';
      this.input.setAttribute('aria-label', 'Note or marker for this session (stored with the stream time)');
      const add = el('button', '', 'Add note/marker');
      add.type = 'submit';
      this.form.append(this.input, add);
      this.form.addEventListener('submit', (e) => { e.preventDefault(); this.sendNote(); });
      this.notes = el('ul', 'notes');
      this.root.append(head, this.current, this.taskLine, this.others, this.canvas, this.tableBox, this.form, this.notes);
      $('live-cards').appendChild(this.root);
      this.tick();
    }

    setTask(task, startedAt) {
      this.task = task;
      this.taskStarted = task === null ? null : startedAt;
      this.root.dataset.task = task === null ? '' : String(task);
      this.tick();
    }

    result(message) {
      this.root.dataset.results = String(+this.root.dataset.results + 1);
      this.root.dataset.frame = String(message.frame);
      const faces = message.faces || [];
      const main = faces.find((f) => f.participant) || null;  // the participant's face, never someone else's
      const others = faces.length - (main ? 1 : 0);
      this.others.hidden = !others && !message.check;
      this.others.textContent = message.check && message.check.state !== 'passed'
        ? `Camera check: ${message.check.guidance}`
        : (others ? `Someone else in view (${others} other face${others === 1 ? '' : 's'})` : '');
      this.root.dataset.others = String(others);
      this.emoji.textContent = main ? config.emoji[main.label] || '' : '';
      this.label.textContent = main ? main.label : 'no face';
      this.confidence.textContent = main ? `${Math.round(100 * main.probs[main.label])}%` : '';
      this.root.dataset.label = main ? main.label : '';
      if (message.timestamp !== null && message.timestamp !== undefined) {
        if (this.lastT !== null && message.timestamp < this.lastT - 1) this.chart.clear();  // a new stream
        this.chart.push(message.timestamp, main ? main.probs : null);
        this.lastT = message.timestamp;
        this.lastAt = performance.now();
      }
    }

    note(data) {
      const li = el('li', '', `${data.time_s.toFixed(1)} s: ${data.text}`);
      this.notes.prepend(li);
      while (this.notes.children.length > 5) this.notes.lastChild.remove();
      if (this.pending !== undefined && data.text === this.pending) { this.input.value = ''; this.pending = undefined; }
    }

    sendNote() {
      const text = this.input.value.trim();
      if (!text || !ws || ws.readyState !== WebSocket.OPEN) return;
      this.pending = text;
      ws.send(JSON.stringify({ type: 'note', session: this.id, text }));
    }

    end() {
      if (!this.live) return;
      this.live = false;
      this.root.dataset.state = 'ended';
      this.badge.textContent = 'ended';
      this.form.querySelectorAll('input, button').forEach((e) => { e.disabled = true; });
      this.tick();
      setTimeout(() => this.remove(), ENDED_KEEP_MS);
      showEmpty();
    }

    remove() {
      this.root.remove();
      if (cards.get(this.id) === this) cards.delete(this.id);
      showEmpty();
    }

    tick() {
      const { latest, mean } = this.chart.summary();
      sharesTable(this.table, [{ values: this.live ? latest : null }, { values: mean }], CLASSES, config.emoji);
      const label = labelOf(this.id);  // S1, S2, ... once the sessions table has it
      if (label && !this.title.textContent.startsWith(label)) this.title.textContent = `${label} · ${this.title.textContent}`;
      if (!this.live) { this.taskLine.textContent = 'The session has ended.'; return; }
      const inSession = `${clock(nowS() - this.started)} in the session`;
      this.taskLine.textContent = this.task === null
        ? `No task running · ${inSession}`
        : `Task ${this.task + 1}. ${config.tasks[this.task] || ''} · ${clock(nowS() - this.taskStarted)} in it · ${inSession}`;
    }

    draw() {
      if (this.lastT === null) { this.chart.draw(0); return; }
      const since = this.live ? Math.min(2, (performance.now() - this.lastAt) / 1000) : 0;
      this.chart.draw(this.lastT + since);
    }
  }

  function card(id, started) {
    let c = cards.get(id);
    if (!c) {
      c = new Card(id, started === undefined ? nowS() : started);
      cards.set(id, c);
      showEmpty();
    }
    return c;
  }

  function onSnapshot(snap) {
    const live = new Set(snap.sessions.map((s) => s.id));
    for (const [id, c] of cards) if (!live.has(id) && c.live) c.remove();
    for (const s of snap.sessions) {
      const c = card(s.id, s.started);
      c.setTask(s.task, s.task_started);
      if (s.last) c.result(s.last);
    }
    showEmpty();
  }

  function onEvent(ev) {
    serverOffset = ev.at - Date.now() / 1000;  // its delay (< 1 s) counts as clock offset: fine for a ticking clock
    const d = ev.data;
    if (ev.kind === 'started') { card(ev.session, d.started); reload(); return; }
    if (ev.kind === 'ended') { const c = cards.get(ev.session); if (c) c.end(); reload(); return; }
    const c = card(ev.session);
    if (!c.live) return;
    if (ev.kind === 'result') {
      c.result(d.message);
      if (d.task !== c.task && d.task !== null && d.task !== undefined) c.setTask(d.task, ev.at);
    } else if (ev.kind === 'marker') {
      if (d.event === 'start') c.setTask(d.task, ev.at);
      else if (d.task === c.task) c.setTask(null);
    } else if (ev.kind === 'note') {
      c.note(d);
    }
  }

  function connect() {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    ws = new WebSocket(`${scheme}://${location.host}/api/studies/${encodeURIComponent(config.study)}/live`);
    ws.addEventListener('open', () => { setState('connected', 'connected'); retryMs = 1000; });
    ws.addEventListener('message', (e) => {
      const msg = JSON.parse(e.data);
      if (msg.type === 'snapshot') onSnapshot(msg);
      else if (msg.type === 'event') onEvent(msg);
      else if (msg.type === 'error') { $('live-error').textContent = msg.message; $('live-error').hidden = false; }
    });
    ws.addEventListener('close', async () => {
      // refused (401: the login expired, was ended, or its token revoked)? then say so, do not retry
      let loggedOut = false;
      try { loggedOut = (await fetch('/api/researcher', { credentials: 'same-origin' })).status === 401; } catch (e) { /* offline */ }
      if (loggedOut) {
        $('live-state').dataset.state = 'logged-out';
        $('live-state').replaceChildren('not logged in: ');
        const link = el('a', '', 'Log in again');
        link.href = `/login?next=${encodeURIComponent(location.pathname)}`;
        link.id = 'login-again';
        $('live-state').append(link);
        return;
      }
      setState('disconnected', `reconnecting in ${Math.round(retryMs / 1000)} s…`);
      setTimeout(connect, retryMs);
      retryMs = Math.min(15000, retryMs * 2);
    });
  }

  let lastDraw = 0;
  function frame(now) {
    if (now - lastDraw > 100) {
      lastDraw = now;
      for (const c of cards.values()) c.draw();
    }
    requestAnimationFrame(frame);
  }
  setInterval(() => { for (const c of cards.values()) c.tick(); }, 1000);
  $('live-error').addEventListener('click', () => { $('live-error').hidden = true; });
  try { connect(); } catch (e) { showMessage(e.message); }
  requestAnimationFrame(frame);
  window.liveView = { cards };
})();
