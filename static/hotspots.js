/* Hotspots on a study's results page (GET /api/studies/{id}/insights.json): per task, one row per completed
   session (with the switch, also the incomplete and running ones) aligned on the moment its participant
   started the task, its moments drawn as bars, the hotspots shaded across the rows; below, each hotspot's
   sentence ("4 of 6 participants: negative onset 5-10 s into task 2") with a button per participant that
   opens their session at that moment (player.js plays it). Task numbers count from 1. */
'use strict';

(() => {
  const { config, api, showMessage } = window.studyPage;
  const $ = (id) => document.getElementById(id);
  const base = `/api/studies/${encodeURIComponent(config.study)}`;
  const KIND_COLORS = { negative: '#e53935', surprise: '#fb8c00', smile: '#fbc02d' };
  const KIND_TEXT = { negative: 'negative onset', surprise: 'surprise peak', smile: 'smile' };
  let data = null;

  const clock = (t) => `${Math.floor(t / 60)}:${String(Math.floor(t % 60)).padStart(2, '0')}`;

  function draw(task) {
    const rows = data.sessions.filter((s) => s.included && s.task_spans[task]);
    const spots = data.hotspots.filter((h) => h.task === task);
    const canvas = $('hotspot-timeline');
    // a band above the rows for the hotspots' "n/m" labels (a line of the chart's text), so that no moment
    // bar covers them
    const fontPx = Math.max(12, parseFloat(getComputedStyle(canvas).fontSize) || 16);
    const band = spots.length ? Math.ceil(fontPx * 1.3) : 0;
    canvas.style.height = `${Math.max(1, rows.length) * 26 + 40 + band}px`;
    const frame = chartFrame(canvas);
    const { ctx } = frame;
    const top = frame.top + band, h = frame.h - band;
    const left = 70, w = frame.w + frame.left - left;
    const lengths = rows.map((s) => {
      const [start, end] = s.task_spans[task];
      const last = Math.max(0, ...s.moments.filter((m) => m.task === task).map((m) => m.start_s + m.length_s - start));
      return Math.max(end === null ? 0 : end - start, last);
    });
    const end = Math.max(5, ...lengths);
    const xOf = (t) => left + w * (Math.max(0, t) / end);
    const row = h / Math.max(1, rows.length);
    for (const spot of spots) {  // the hotspots behind the rows
      ctx.fillStyle = 'rgba(255, 255, 255, 0.16)';
      const x0 = xOf(spot.from_s), x1 = Math.max(x0 + 6, xOf(spot.to_s + 1));
      ctx.fillRect(x0, top - band, x1 - x0, h + band);
      ctx.fillStyle = '#fff';
      ctx.textAlign = 'left';
      ctx.textBaseline = 'top';
      ctx.fillText(`${spot.sessions}/${spot.of}`, x0 + 3, top - band + 2);
    }
    ctx.textBaseline = 'middle';
    rows.forEach((s, j) => {
      const y = top + j * row;
      const start = s.task_spans[task][0];
      ctx.fillStyle = '#bbb';
      ctx.textAlign = 'right';
      ctx.fillText(s.label, left - 8, y + row / 2);
      ctx.fillStyle = '#333';
      ctx.fillRect(left, y + row / 2 - 1, xOf(lengths[j]) - left, 2);
      for (const m of s.moments.filter((x) => x.task === task)) {
        ctx.fillStyle = KIND_COLORS[m.kind];
        const x0 = xOf(m.start_s - start);
        ctx.fillRect(x0, y + 4, Math.max(3, xOf(m.start_s - start + m.length_s) - x0), row - 8);
      }
    });
    const step = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600].find((s) => end / s <= 10) || 1200;
    const ticks = [];
    for (let t = 0; t <= end; t += step) ticks.push({ x: xOf(t), text: `${t}s` });
    ctx.fillStyle = '#bbb';
    timeAxis(frame, ticks, top + h + 4);
    canvas.dataset.rows = String(rows.length);
    canvas.dataset.hotspots = String(spots.length);
  }

  function list(task) {
    const spots = data.hotspots.filter((h) => h.task === task);
    $('no-hotspots').hidden = spots.length > 0;
    $('hotspot-list').replaceChildren(...spots.map((h) => {
      const li = document.createElement('li');
      li.dataset.kind = h.kind;
      const text = document.createElement('span');
      text.className = 'hotspot-text';
      text.textContent = h.text;
      li.appendChild(text);
      for (const m of h.members) {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'secondary member';
        b.dataset.session = m.session;
        b.textContent = `${m.label} ${m.recording ? '▶' : '→'} ${clock(m.at_s)}`;
        b.title = m.recording ? `play ${m.label}'s screen recording from ${clock(m.play_from_s)}`
          : `show ${m.label}'s session at ${clock(m.at_s)} (no screen recording)`;
        b.addEventListener('click', async () => {
          window.studyPage.pendingSeek = { session: m.session, at: m.play_from_s };
          try {
            await window.studyPage.openSession(m.session);
            $('session').scrollIntoView({ behavior: 'smooth', block: 'start' });
          } catch (e) { showMessage(e.message); }
        });
        li.append(' ', b);
      }
      return li;
    }));
  }

  function show() {
    if (!data) return;
    const task = Number($('hotspot-task').value || 1);
    draw(task);
    list(task);
  }

  const query = () => ($('hotspot-incomplete').checked ? '?incomplete=1' : '');
  async function load() {
    data = await api(`${base}/insights.json${query()}`);
    const select = $('hotspot-task');
    const chosen = select.value;
    select.replaceChildren(...data.tasks.map((t, i) => {
      const o = document.createElement('option');
      o.value = String(i + 1);
      o.textContent = `${i + 1}. ${t}`;
      return o;
    }));
    if (chosen && +chosen <= data.tasks.length) select.value = chosen;
    const n = data.sessions.filter((s) => s.included).length;
    const out = Object.entries(data.left_out).filter(([, k]) => k).map(([status, k]) => `${k} ${status === 'live' ? 'running' : status}`);
    $('hotspot-included').textContent = `${n} ${data.incomplete ? 'completed or incomplete' : 'completed'} session${n === 1 ? '' : 's'}`
      + `${out.length ? ` (left out: ${out.join(', ')})` : ''}, each aligned on the moment its participant started the task: `
      + 'a hotspot is where at least two participants, and at least a third of those who did the task, had a moment '
      + 'of the same kind within 5 s.';
    for (const [id, file] of [['hotspots-csv', 'hotspots.csv'], ['figures-csv', 'figures.csv'], ['moments-csv', 'moments.csv'], ['insights-json', 'insights.json']]) {
      $(id).href = `${base}/${file}${query()}`;
    }
    show();
  }

  $('hotspot-legend').replaceChildren(...Object.keys(KIND_COLORS).map((k) => {
    const li = document.createElement('li');
    li.innerHTML = `<span class="swatch" style="background:${KIND_COLORS[k]}"></span>`;
    li.append(KIND_TEXT[k]);
    return li;
  }));
  $('hotspot-task').addEventListener('change', show);
  $('hotspot-incomplete').addEventListener('change', () => load().catch((e) => showMessage(e.message)));
  document.addEventListener('study-changed', () => load().catch((e) => showMessage(e.message)));
  window.addEventListener('resize', show);
  load().catch((e) => showMessage(e.message));
})();
