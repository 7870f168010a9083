/* A study's results for the researcher: its settings, the glossary, its sessions (status, camera check,
   figures, data quality), and per session the timeline of the participant's face with the task markers,
   the per-task table (with valence, expressiveness and moments), downloads and delete (the JSON API, with
   the login cookie); the screen recording, cursor and moments: player.js; hotspots: hotspots.js. Every
   figure comes from the server's one definition (server/studies/definitions.py, moments.py); this page
   only shows it. */
'use strict';

(() => {
  const config = JSON.parse(document.getElementById('config').textContent);
  const $ = (id) => document.getElementById(id);
  const CLASSES = config.classes;
  const base = `/api/studies/${encodeURIComponent(config.study)}`;
  const pct = (p) => `${Math.round(p * 100)}%`;
  const seconds = (s) => `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const when = (iso) => (iso || '').replace('T', ' ').slice(0, 19);
  let study = null, sessions = [], refresh = null, shown = null;

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
  function header(table, titles) {
    const head = table.querySelector('thead');
    head.replaceChildren();
    const hr = head.insertRow();
    for (const [text, title, cls] of titles) {
      const th = document.createElement('th');
      th.textContent = text;
      if (title) th.title = title;
      if (cls) th.className = cls;
      hr.appendChild(th);
    }
  }
  const glossary = Object.fromEntries(config.glossary.map((g) => [g.key, g]));
  const explain = (key) => `${glossary[key].name} (${glossary[key].unit}): ${glossary[key].text}`;
  const expressionHeads = () => CLASSES.map((c) => [`${config.emoji[c]} ${c}`,
    `${c}: share of the frames with the participant's face labelled ${c} (its mean probability, 0-1)`, 'num']);
  function expressionCells(tr, r) {
    for (const c of CLASSES) {
      const td = cell(tr, r.frames_with_face ? `${pct(r.shares[c])} (${r.mean_probs[c].toFixed(2)})` : '–', 'num');
      td.dataset.class = c;
      td.dataset.share = String(r.shares[c]);
    }
  }
  const figureHeads = () => [
    ['Frames', explain('frames'), 'num'], ['With the face', explain('face_share'), 'num'],
    ['Face time', explain('face_s'), 'num'], ['Someone else', explain('other_s'), 'num']];
  /* someone else in view: seconds, and how many other faces (where known) */
  const otherText = (r) => (r.other_s ? `${seconds(r.other_s)}${r.other_faces ? ` (${r.other_faces})` : ''}` : '–');
  function figureCells(tr, r) {
    cell(tr, String(r.frames), 'num').dataset.figure = 'frames';
    const share = cell(tr, r.frames ? `${pct(r.face_share)} (${r.frames_with_face})` : '–', 'num');
    share.dataset.figure = 'frames_with_face';
    share.dataset.value = String(r.frames_with_face);
    cell(tr, seconds(r.face_s), 'num').dataset.figure = 'face_s';
    cell(tr, otherText(r), 'num').dataset.figure = 'other_s';
  }

  /* The glossary, from the server's definitions. */
  $('glossary-list').replaceChildren(...config.glossary.flatMap((g) => {
    const dt = document.createElement('dt');
    dt.textContent = `${g.name} (${g.unit})`;
    const dd = document.createElement('dd');
    dd.textContent = g.text;
    return [dt, dd];
  }), ...Object.entries(config.statuses).filter(([k]) => k !== 'live').flatMap(([k, text]) => {
    const dt = document.createElement('dt');
    dt.textContent = `Status ${k}`;
    const dd = document.createElement('dd');
    dd.textContent = text;
    return [dt, dd];
  }));

  /* ---------- the settings ---------- */
  const ranges = { min_face_share: [0, 1, 0.05], min_face_px: [0, 2000, 1], min_brightness: [0, 255, 1], max_other_s: [0, 86400, 0.5] };
  $('quality-fields').append(...config.quality.map((q) => {
    const label = document.createElement('label');
    label.textContent = `${q.key.replaceAll('_', ' ')}: ${q.text} (default ${q.default}; empty: no threshold)`;
    const input = document.createElement('input');
    input.type = 'number';
    input.id = `quality-${q.key}`;
    [input.min, input.max, input.step] = ranges[q.key].map(String);
    label.appendChild(input);
    return label;
  }));
  function showSettings() {
    $('close-study').textContent = study.closed ? 'Reopen the study' : 'Close the study';
    $('max-sessions').value = study.max_sessions ?? '';
    $('retention-days').value = study.retention_days ?? '';
    $('check-required').checked = study.check_required;
    for (const q of config.quality) $(`quality-${q.key}`).value = study.quality[q.key] ?? '';
    const state = [];
    state.push(study.closed ? `closed since ${when(study.closed)} UTC` : 'open');
    if (study.max_sessions) state.push(`${study.sessions_counted} of at most ${study.max_sessions} participants`);
    if (study.retention_days) state.push(`sessions kept ${study.retention_days} days`);
    $('study-state').textContent = `(${state.join(' · ')})`;
    $('study-state').dataset.state = study.closed ? 'closed' : 'open';
  }
  async function patch(change) {
    study = { ...study, ...(await api(base, { method: 'PATCH', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(change) })) };
    await load();
  }
  $('close-study').addEventListener('click', () => patch({ closed: !study.closed }).catch((e) => showMessage(e.message)));
  $('settings-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const number = (id) => ($(id).value.trim() === '' ? null : Number($(id).value));
    const change = {
      max_sessions: number('max-sessions'), retention_days: number('retention-days'),
      check_required: $('check-required').checked,
      quality: Object.fromEntries(config.quality.map((q) => [q.key, number(`quality-${q.key}`)])),
    };
    try {
      await patch(change);
      $('message').hidden = true;
      $('settings-saved').textContent = 'Saved.';
      setTimeout(() => { $('settings-saved').textContent = ''; }, 3000);
    } catch (e) { showMessage(e.message); }
  });

  /* ---------- the session's timeline: the participant's face, task markers ---------- */
  function drawTimeline(canvas, timeline, markers) {
    const frame = chartFrame(canvas);
    const { ctx, left, top, w, h } = frame;
    ctx.lineWidth = 1;
    ctx.strokeStyle = '#333';
    percentGrid(frame, 0.25);
    const end = Math.max(1, ...timeline.map((p) => p[0]), ...markers.map((m) => m.time_s));
    const xOf = (t) => left + w * (t / end);
    ctx.fillStyle = '#bbb';
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    const step = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600].find((s) => end / s <= Math.max(3, w / 90)) || 1200;
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
    for (const m of markers) {
      const x = xOf(m.time_s);
      ctx.strokeStyle = m.event === 'start' ? '#fff' : '#888';
      ctx.setLineDash(m.event === 'start' ? [] : [6, 4]);
      ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + h); ctx.stroke();
      ctx.setLineDash([]);
    }
    taskLabels(markers, xOf, left + w);
    canvas.dataset.points = String(timeline.length);
    canvas.dataset.markers = String(markers.length);
    Object.assign(canvas.dataset, { plotLeft: String(left), plotWidth: String(w), end: String(end) });
    return { left, top, w, h, end };  // CSS pixels of the plot, and the time at its right edge
  }

  /* Task labels above the chart, as text: each from its start marker to the next start (or the chart's
     end); a title too long for its room ends in an ellipsis, whole on hover, and on tap below the chart;
     a click also plays the screen recording from the task's start (player.js). */
  function taskLabels(markers, xOf, right) {
    const starts = markers.filter((m) => m.event === 'start');
    const box = $('timeline-tasks');
    box.replaceChildren(...starts.map((m, i) => {
      const x = xOf(m.time_s);
      const next = i + 1 < starts.length ? xOf(starts[i + 1].time_s) : right;
      const label = document.createElement('button');
      label.type = 'button';
      label.className = 'task-label';
      label.textContent = `▶ ${m.task}. ${m.title}`;
      label.title = `Task ${m.task}. ${m.title}`;
      label.style.left = `${x}px`;
      label.style.maxWidth = `${Math.max(14, next - x - 4)}px`;
      label.dataset.task = String(m.task);
      label.addEventListener('click', () => {
        $('timeline-caption').textContent = label.title;
        if (window.studyPage.seek) window.studyPage.seek(m.time_s, false);
      });
      return label;
    }));
  }

  /* valence, expressiveness and the moments of a task (moments.py) */
  const signed = (v) => (v === null ? '–' : `${v > 0 ? '+' : ''}${v.toFixed(2)}`);
  const insightHeads = () => [['Valence', explain('valence'), 'num'], ['Expressiveness', explain('expressiveness'), 'num'],
    ['Moments', `${explain('moments')} Shown as negative onsets / surprise peaks / smiles.`, 'num']];
  function insightCells(tr, r) {
    const v = cell(tr, signed(r.valence), 'num');
    v.dataset.figure = 'valence';
    v.dataset.value = String(r.valence);
    const e = cell(tr, r.expressiveness === null ? '–' : r.expressiveness.toFixed(2), 'num');
    e.dataset.figure = 'expressiveness';
    e.dataset.value = String(r.expressiveness);
    cell(tr, `${r.moments.negative} / ${r.moments.surprise} / ${r.moments.smile}`, 'num').dataset.figure = 'moments';
  }
  function taskTable(rows) {
    header($('task-table'), [['Task'], ...figureHeads(), ...insightHeads(), ...expressionHeads()]);
    const body = $('task-table').querySelector('tbody');
    body.replaceChildren();
    for (const r of rows) {
      const tr = body.insertRow();
      tr.dataset.task = r.task === null ? '' : String(r.task);
      const name = cell(tr, r.task === null ? r.title : `${r.task}. ${r.title}`, 'task-name');
      name.title = name.textContent;
      figureCells(tr, r);
      insightCells(tr, r);
      expressionCells(tr, r);
    }
  }

  function flagsText(s) {
    return s.flags.length ? s.flags.map((f) => `⚠ ${f.text}`).join('; ') : '✓ OK';
  }

  async function showSession(id, row) {
    for (const tr of document.querySelectorAll('#sessions tbody tr')) tr.classList.toggle('selected', tr === row);
    const s = await api(`/api/sessions/${encodeURIComponent(id)}`);
    $('session').hidden = false;
    $('session').dataset.session = id;
    $('session').dataset.status = s.status;
    $('session-title').textContent = `${s.label}: ${when(s.started)} UTC · ${s.status} · ${s.frames} frames analysed`;
    $('export-csv').href = `/api/sessions/${encodeURIComponent(id)}/export.csv`;
    $('export-json').href = `/api/sessions/${encodeURIComponent(id)}/export.json`;
    $('export-moments').href = `/api/sessions/${encodeURIComponent(id)}/moments.csv`;
    $('session-flags').hidden = !s.flags.length;
    $('session-flags').textContent = flagsText(s);
    $('timeline-caption').textContent = '';
    shown = s;
    const draw = () => drawTimeline($('timeline'), s.timeline, s.markers);
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
  /* Show a session (from the hotspots): its row selected, its view open. */
  async function openSession(id) {
    const row = [...document.querySelectorAll('#sessions tbody tr')].find((tr) => tr.dataset.session === id);
    return showSession(id, row || null);
  }

  /* ---------- the sessions table ---------- */
  function sessionRow(body, s) {
    const tr = body.insertRow();
    tr.dataset.session = s.id;
    tr.dataset.status = s.status;
    cell(tr, s.label, 'label').title = s.id;
    cell(tr, when(s.started));
    cell(tr, s.status === 'live' ? 'running' : (s.ended || '–').slice(11, 19));
    const status = cell(tr, s.status === 'live' ? 'running now' : s.status, 'status');
    status.title = config.statuses[s.status] || '';
    cell(tr, s.check ? `${s.check}${s.check === 'passed' ? ` (${s.check_s.toFixed(1)} s)` : ''}` : '–');
    figureCells(tr, s);
    cell(tr, s.brightness === null ? '–' : String(Math.round(s.brightness)), 'num');
    cell(tr, s.median_face_px === null ? '–' : `${Math.round(s.median_face_px)} px`, 'num');
    const top = CLASSES.reduce((a, b) => (s.shares[b] > s.shares[a] ? b : a));
    cell(tr, s.frames_with_face ? `${config.emoji[top]} ${top} ${pct(s.shares[top])}` : '–');
    const flags = cell(tr, s.status === 'withdrawn' ? '–' : flagsText(s), 'flags');
    flags.dataset.flags = String(s.flags.length);
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'show';
    button.textContent = 'Show';
    button.disabled = s.status === 'withdrawn';
    button.addEventListener('click', () => showSession(s.id, tr).catch((e) => showMessage(e.message)));
    tr.insertCell().appendChild(button);
  }

  async function load() {
    const found = await api(base);
    sessions = found.sessions;
    study = { ...found, sessions_counted: sessions.filter((s) => s.status !== 'withdrawn').length };
    $('participant-url').textContent = $('participant-url').href = study.participant_url;
    $('export-study').href = `${base}/export.csv`;
    $('export-sessions').href = `${base}/sessions.csv`;
    $('export-zip').href = `${base}/export.zip`;
    showSettings();
    $('no-sessions').hidden = sessions.length > 0;
    $('sessions-box').hidden = sessions.length === 0;
    const body = $('sessions').querySelector('tbody');
    body.replaceChildren();
    for (const s of sessions) sessionRow(body, s);
    if (shown && !$('session').hidden) {
      const row = body.querySelector(`tr[data-session="${CSS.escape(shown.id)}"]`);
      if (row) row.classList.add('selected');
    }
    // counts update while a session runs
    clearTimeout(refresh);
    if (sessions.some((s) => s.status === 'live')) refresh = setTimeout(() => load().catch((e) => showMessage(e.message)), 5000);
  }

  $('delete-session').addEventListener('click', async () => {
    if (!confirm('Delete this session and everything recorded in it?')) return;
    await api(`/api/sessions/${encodeURIComponent($('session').dataset.session)}`, { method: 'DELETE' });
    $('session').hidden = true;
    await load();
  });
  $('delete-study').addEventListener('click', async () => {
    if (!confirm('Delete this study, all its sessions and their data?')) return;
    await api(base, { method: 'DELETE' });
    location.href = '/studies';
  });
  for (const list of [$('legend'), $('compare-legend')]) {  // the session's timeline; the comparison
    list.replaceChildren(...CLASSES.map((c) => {
      const li = document.createElement('li');
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = EXPRESSION_COLORS[c];
      li.append(swatch, `${config.emoji[c]} ${c}`);
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
  const labelOf = (id) => (sessions.find((s) => s.id === id) || {}).label || '';
  window.studyPage = { config, api, cell, header, showMessage, reload, pct, seconds, figureHeads, figureCells, expressionHeads, expressionCells, flagsText, labelOf, openSession };
  load().catch((e) => showMessage(e.message));
})();
