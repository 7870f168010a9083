/* The study's sessions compared task by task on its results page (GET /api/studies/{id}/compare.json):
   per task, each session's share of each expression and mean probabilities beside the study's mean
   (a table and 100 % bars), and every session's timeline aligned on the task's start (one row each). */
'use strict';

(() => {
  const { config, api, cell, showMessage, pct } = window.studyPage;
  const $ = (id) => document.getElementById(id);
  const CLASSES = config.classes;
  const base = `/api/studies/${encodeURIComponent(config.study)}`;
  let data = null;

  const names = () => new Map(data.sessions.map((s, i) => [s.id, `S${i + 1} (${s.started.slice(11, 16)})`]));

  function table(task) {
    const head = $('compare-table').querySelector('thead');
    head.replaceChildren();
    const hr = head.insertRow();
    for (const t of ['Session', 'Face rows', ...CLASSES.map((c) => `${config.emoji[c]} ${c}`)]) {
      const th = document.createElement('th'); th.textContent = t; hr.appendChild(th);
    }
    const body = $('compare-table').querySelector('tbody');
    body.replaceChildren();
    const name = names();
    const rows = [{ ...task.mean, session: null }, ...task.sessions];
    for (const r of rows) {
      const tr = body.insertRow();
      tr.dataset.session = r.session || 'mean';
      if (!r.session) tr.className = 'mean';
      cell(tr, r.session ? name.get(r.session) : `Study mean (${task.mean.sessions} session${task.mean.sessions === 1 ? '' : 's'})`);
      cell(tr, String(r.faces), 'num');
      for (const c of CLASSES) {
        const td = cell(tr, r.faces ? `${pct(r.shares[c])} (${r.mean_probs[c].toFixed(2)})` : '–', 'num');
        td.dataset.class = c;
        td.dataset.share = String(r.shares[c]);
        td.title = `share of the rows labelled ${c} (mean probability of ${c})`;
      }
    }
  }

  /* One 100 % bar per row (the mean first): the share of each expression, in the chart's colours. */
  function sharesChart(task) {
    const rows = [{ ...task.mean, label: 'mean' }, ...task.sessions.filter((r) => r.faces)
      .map((r, i) => ({ ...r, label: names().get(r.session).split(' ')[0] }))];
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
    canvas.dataset.bars = String(task.mean.faces ? rows.length : 0);
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
    const name = names();
    ctx.textBaseline = 'middle';
    lines.forEach((line, j) => {
      const y = top + j * row;
      ctx.globalAlpha = 1;
      ctx.fillStyle = '#bbb';
      ctx.textAlign = 'right';
      ctx.fillText(name.get(line.session).split(' ')[0], left - 8, y + row / 2);
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
    $('compare-empty').hidden = task.mean.sessions > 0;
    table(task);
    sharesChart(task);
    timelineChart(task);
  }

  async function load() {
    data = await api(`${base}/compare.json`);
    const select = $('compare-task');
    const chosen = select.value;
    select.replaceChildren(...data.tasks.map((t, i) => {
      const o = document.createElement('option');
      o.value = String(i);
      o.textContent = t.task === null ? t.title : `${t.task + 1}. ${t.title}`;
      return o;
    }));
    if (chosen && +chosen < data.tasks.length) select.value = chosen;
    show();
  }

  $('compare-csv').href = `${base}/compare.csv`;
  $('compare-task').addEventListener('change', show);
  $('compare-refresh').addEventListener('click', () => load().catch((e) => showMessage(e.message)));
  document.addEventListener('study-changed', () => load().catch((e) => showMessage(e.message)));
  load().catch((e) => showMessage(e.message));
})();
