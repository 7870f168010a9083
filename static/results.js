/* A study's results for the researcher: its sessions, and per session the timeline chart with the task
   markers, the per-task table, downloads and delete (the JSON API, with the login cookie). */
'use strict';

(() => {
  const config = JSON.parse(document.getElementById('config').textContent);
  const $ = (id) => document.getElementById(id);
  const CLASSES = config.classes;
  const pct = (p) => `${Math.round(p * 100)}%`;

  function showMessage(text) { $('message').textContent = text; $('message').hidden = false; }
  async function api(path, options) {
    const resp = await fetch(path, { credentials: 'same-origin', ...options });
    if (resp.status === 401) { location.href = `/login?next=${encodeURIComponent(location.pathname)}`; throw new Error('login'); }
    if (!resp.ok && resp.status !== 204) throw new Error((await resp.json()).error || resp.statusText);
    return resp.status === 204 ? null : resp.json();
  }
  function cell(row, text, cls) {
    const td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    row.appendChild(td);
    return td;
  }

  /* The whole session on one time axis (time_s), the seven probabilities of the main face, task markers. */
  function drawTimeline(canvas, timeline, markers, tasks) {
    const frame = chartFrame(canvas);
    const { ctx, left, top, w, h } = frame;
    ctx.lineWidth = 1;
    ctx.strokeStyle = '#333';
    percentGrid(frame, 0.25, '16px system-ui, sans-serif');
    const end = Math.max(1, ...timeline.map((p) => p[0]), ...markers.map((m) => m.time_s));
    const xOf = (t) => left + w * (t / end);
    ctx.fillStyle = '#bbb';
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    const step = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600].find((s) => end / s <= 10) || 1200;
    for (let s = 0; s <= end; s += step) ctx.fillText(`${s}s`, xOf(s), top + h + 6);
    ctx.lineWidth = 2;
    CLASSES.forEach((cls, i) => {
      ctx.strokeStyle = EXPRESSION_COLORS[cls];
      ctx.beginPath();
      let pen = false;
      for (const [t, probs] of timeline) {
        if (!probs) { pen = false; continue; }
        const x = xOf(t), y = top + h * (1 - probs[i]);
        if (pen) ctx.lineTo(x, y); else ctx.moveTo(x, y);
        pen = true;
      }
      ctx.stroke();
    });
    ctx.font = '15px system-ui, sans-serif';
    ctx.textAlign = 'left';
    for (const m of markers) {
      const x = xOf(m.time_s);
      ctx.strokeStyle = m.event === 'start' ? '#fff' : '#888';
      ctx.setLineDash(m.event === 'start' ? [] : [6, 4]);
      ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + h); ctx.stroke();
      ctx.setLineDash([]);
      if (m.event === 'start') {
        ctx.fillStyle = '#fff';
        ctx.fillText(`▶ ${m.task + 1}. ${tasks[m.task] || ''}`.slice(0, 40), x + 4, top + 4);
      }
    }
    canvas.dataset.points = String(timeline.length);
    canvas.dataset.markers = String(markers.length);
    Object.assign(canvas.dataset, { plotLeft: String(left), plotWidth: String(w), end: String(end) });
    return { left, top, w, h, end };  // CSS pixels of the plot, and the time at its right edge
  }

  function taskTable(rows) {
    const head = $('task-table').querySelector('thead');
    head.replaceChildren();
    const hr = head.insertRow();
    for (const t of ['Task', 'Frames', 'With a face', ...CLASSES.map((c) => `${config.emoji[c]} ${c}`)]) {
      const th = document.createElement('th'); th.textContent = t; hr.appendChild(th);
    }
    const body = $('task-table').querySelector('tbody');
    body.replaceChildren();
    for (const r of rows) {
      const tr = body.insertRow();
      tr.dataset.task = r.task === null ? '' : String(r.task);
      cell(tr, r.task === null ? r.title : `${r.task + 1}. ${r.title}`);
      cell(tr, String(r.frames), 'num');
      cell(tr, String(r.frames_with_face), 'num');
      for (const c of CLASSES) {
        const td = cell(tr, `${pct(r.shares[c])} (${r.mean_probs[c].toFixed(2)})`, 'num');
        td.dataset.class = c;
        td.title = `share of the frames labelled ${c} (mean probability of ${c})`;
      }
    }
  }

  async function showSession(id, row) {
    for (const tr of document.querySelectorAll('#sessions tbody tr')) tr.classList.toggle('selected', tr === row);
    const s = await api(`/api/sessions/${encodeURIComponent(id)}`);
    $('session').hidden = false;
    $('session').dataset.session = id;
    $('session-title').textContent = `Session of ${s.started.replace('T', ' ').slice(0, 19)} (${s.frames} frames)`;
    $('export-csv').href = `/api/sessions/${encodeURIComponent(id)}/export.csv`;
    $('export-json').href = `/api/sessions/${encodeURIComponent(id)}/export.json`;
    $('export-moments').href = `/api/sessions/${encodeURIComponent(id)}/moments.csv`;
    const draw = () => drawTimeline($('timeline'), s.timeline, s.markers, s.study.tasks);
    const plot = draw();
    taskTable(s.tasks);
    $('session-notes').replaceChildren(...s.notes.map((n) => {
      const li = document.createElement('li');
      li.textContent = `${n.time_s.toFixed(1)} s (${n.utc.slice(11, 19)} UTC): ${n.text}`;
      return li;
    }));
    $('no-notes').hidden = s.notes.length > 0;
    // the screen recording, the cursor, the moments (player.js); redraw: the chart at its new size
    document.dispatchEvent(new CustomEvent('session-shown', { detail: { session: s, plot, redraw: draw } }));
    return s;
  }

  async function load() {
    const study = await api(`/api/studies/${encodeURIComponent(config.study)}`);
    $('participant-url').textContent = $('participant-url').href = study.participant_url;
    $('export-study').href = `/api/studies/${encodeURIComponent(config.study)}/export.csv`;
    $('no-sessions').hidden = study.sessions.length > 0;
    $('sessions').hidden = study.sessions.length === 0;
    const body = $('sessions').querySelector('tbody');
    body.replaceChildren();
    for (const s of study.sessions) {
      const tr = body.insertRow();
      tr.dataset.session = s.id;
      cell(tr, s.started.replace('T', ' ').slice(0, 19));
      cell(tr, s.live ? 'live now' : (s.ended || '').replace('T', ' ').slice(11, 19));
      cell(tr, String(s.frames), 'num');
      cell(tr, String(s.faces), 'num');
      const top = CLASSES.reduce((a, b) => (s.shares[b] > s.shares[a] ? b : a));
      cell(tr, s.faces ? `${config.emoji[top]} ${top} ${pct(s.shares[top])}` : '–');
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'show';
      button.textContent = 'Show';
      button.addEventListener('click', () => showSession(s.id, tr).catch((e) => showMessage(e.message)));
      tr.insertCell().appendChild(button);
    }
  }

  $('delete-session').addEventListener('click', async () => {
    if (!confirm('Delete this session and everything recorded in it?')) return;
    await api(`/api/sessions/${encodeURIComponent($('session').dataset.session)}`, { method: 'DELETE' });
    $('session').hidden = true;
    await load();
  });
  $('delete-study').addEventListener('click', async () => {
    if (!confirm('Delete this study, all its sessions and their data?')) return;
    await api(`/api/studies/${encodeURIComponent(config.study)}`, { method: 'DELETE' });
    location.href = '/studies';
  });
  for (const list of [$('legend'), $('compare-legend')]) {  // the session's timeline; the comparison
    list.replaceChildren(...CLASSES.map((c) => {
      const li = document.createElement('li');
      li.innerHTML = `<span class="swatch" style="background:${EXPRESSION_COLORS[c]}"></span>`;
      li.append(`${config.emoji[c]} ${c}`);
      return li;
    }));
  }
  let reloading = null;
  /* A session started or ended (observe.js): reload the sessions table, at most once a second. */
  function reload() {
    if (reloading) return;
    reloading = setTimeout(() => {
      reloading = null;
      load().catch((e) => showMessage(e.message));
      document.dispatchEvent(new Event('study-changed'));  // the comparison (compare.js) reloads too
    }, 1000);
  }
  /* Show a session (from the hotspots): its row selected, its view open; then `then(session)`. */
  async function openSession(id) {
    const row = [...document.querySelectorAll('#sessions tbody tr')].find((tr) => tr.dataset.session === id);
    return showSession(id, row || null);
  }
  window.studyPage = { config, api, cell, showMessage, reload, pct, openSession };
  load().catch((e) => showMessage(e.message));
})();
