/* The study's sessions compared task by task on its results page (GET /api/studies/{id}/compare.json):
   per task, each session's figures (the same as its per-task table) beside the study's mean (a table
   and 100 % bars), and every session's timeline aligned on the task's start (one row each). Completed
   sessions by default; "include incomplete sessions" adds the incomplete and running ones. */
'use strict';

(() => {
  const { config, api, cell, header, showMessage, figureHeads, figureCells, expressionHeads, expressionCells,
    flagsText } = window.studyPage;
  const $ = (id) => document.getElementById(id);
  const CLASSES = config.classes;
  const base = `/api/studies/${encodeURIComponent(config.study)}`;
  let data = null;

  /* S1, S2, ... as in the sessions table, with the start time and, when not completed, the status. */
  const names = () => new Map(data.sessions.map((s) => [s.id,
    `${s.label} (${s.started.slice(11, 16)}${s.status === 'completed' ? '' : `, ${s.status === 'live' ? 'running' : s.status}`})`]));

  function table(task) {
    header($('compare-table'), [['Session'], ...figureHeads(), ...expressionHeads(), ['Data quality']]);
    const body = $('compare-table').querySelector('tbody');
    body.replaceChildren();
    const name = names();
    const rows = [{ ...task.mean, session: null }, ...task.sessions];
    for (const r of rows) {
      const tr = body.insertRow();
      tr.dataset.session = r.session || 'mean';
      if (!r.session) tr.className = 'mean';
      cell(tr, r.session ? name.get(r.session) : `Study mean (${task.mean.sessions} session${task.mean.sessions === 1 ? '' : 's'})`);
      figureCells(tr, r);
      expressionCells(tr, r);
      cell(tr, r.session ? flagsText(r) : '', 'flags');
    }
  }

  /* One 100 % bar per row (the mean first): the share of each expression, in the chart's colours. */
  function sharesChart(task) {
    const rows = [{ ...task.mean, label: 'mean' }, ...task.sessions.filter((r) => r.frames_with_face)];
    const canvas = $('compare-shares');
    canvas.style.height = `${28 * rows.length + 30}px`;
    const frame = chartFrame(canvas);
    const { ctx, top, h } = frame;
    const left = 70, w = frame.w + frame.left - left;
    const bar = h / rows.length;
    ctx.textBaseline = 'middle';
    rows.forEach((r, j) => {
      const y = top + j * bar;
      ctx.fillStyle = '#bbb';
      ctx.textAlign = 'right';
      ctx.fillText(r.label, left - 8, y + bar / 2);
      let x = left;
      for (const c of CLASSES) {
        const width = w * r.shares[c];
        ctx.fillStyle = EXPRESSION_COLORS[c];
        ctx.fillRect(x, y + 3, width, bar - 6);
        x += width;
      }
      if (j === 0) { ctx.strokeStyle = '#fff'; ctx.strokeRect(left, y + 3, w, bar - 6); }
    });
    canvas.dataset.bars = String(task.mean.frames_with_face ? rows.length : 0);
  }

  /* One row per session: each bin (data.bin_s seconds since the task's start) coloured by its
     strongest expression, brighter when more probable. */
  function timelineChart(task) {
    const lines = task.timeline || [];
    const canvas = $('compare-timeline');
    canvas.style.height = `${Math.max(1, lines.length) * 26 + 40}px`;
    const frame = chartFrame(canvas);
    const { ctx, top, h } = frame;
    const left = 70, w = frame.w + frame.left - left;
    const end = Math.max(data.bin_s, ...lines.map((l) => l.bins[l.bins.length - 1][0] + data.bin_s));
    const xOf = (t) => left + w * (t / end);
    const row = h / Math.max(1, lines.length);
    ctx.textBaseline = 'middle';
    lines.forEach((line, j) => {
      const y = top + j * row;
      ctx.globalAlpha = 1;
      ctx.fillStyle = '#bbb';
      ctx.textAlign = 'right';
      ctx.fillText(line.label, left - 8, y + row / 2);
      for (const [t, probs] of line.bins) {
        const k = probs.indexOf(Math.max(...probs));
        ctx.globalAlpha = 0.25 + 0.75 * probs[k];
        ctx.fillStyle = EXPRESSION_COLORS[CLASSES[k]];
        ctx.fillRect(xOf(Math.max(0, t)), y + 2, Math.max(1, xOf(t + data.bin_s) - xOf(t)), row - 4);
      }
    });
    ctx.globalAlpha = 1;
    ctx.fillStyle = '#bbb';
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    const step = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600].find((s) => end / s <= 10) || 1200;
    for (let s = 0; s <= end; s += step) ctx.fillText(`${s}s`, xOf(s), top + h + 4);
    canvas.dataset.rows = String(lines.length);
  }

  function show() {
    const task = data.tasks[+$('compare-task').value] || data.tasks[0];
    const left = Object.entries(data.left_out).filter(([, n]) => n).map(([k, n]) => `${n} ${k === 'live' ? 'running' : k}`);
    $('compare-included').textContent = `Compared: ${data.sessions.length} ${data.incomplete ? 'completed and incomplete' : 'completed'}`
      + ` session${data.sessions.length === 1 ? '' : 's'}${left.length ? ` (left out: ${left.join(', ')})` : ''}.`;
    $('compare-empty').hidden = task.mean.sessions > 0;
    table(task);
    sharesChart(task);
    timelineChart(task);
  }

  const query = () => ($('compare-incomplete').checked ? '?incomplete=1' : '');
  async function load() {
    data = await api(`${base}/compare.json${query()}`);
    $('compare-csv').href = `${base}/compare.csv${query()}`;
    const select = $('compare-task');
    const chosen = select.value;
    select.replaceChildren(...data.tasks.map((t, i) => {
      const o = document.createElement('option');
      o.value = String(i);
      o.textContent = t.task === null ? t.title : `${t.task}. ${t.title}`;
      return o;
    }));
    if (chosen && +chosen < data.tasks.length) select.value = chosen;
    show();
  }

  $('compare-task').addEventListener('change', show);
  $('compare-incomplete').addEventListener('change', () => load().catch((e) => showMessage(e.message)));
  $('compare-refresh').addEventListener('click', () => load().catch((e) => showMessage(e.message)));
  document.addEventListener('study-changed', () => load().catch((e) => showMessage(e.message)));
  load().catch((e) => showMessage(e.message));
})();
