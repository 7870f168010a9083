/* Class view, for a camera that sees a room: how many faces there are now, the share of each
 * expression across all of them now and over the last minutes (a stacked area chart), and a
 * strip with one chip per face. It keeps only counts of labels per time bucket: no face, box
 * or picture is stored. It follows the live stream through static/live.js's events
 * (fer:start, fer:result, fer:stop on window). */
'use strict';

(() => {
  const section = document.getElementById('classview');
  const toggle = document.getElementById('classview-toggle');
  if (!section || !toggle) return;
  const config = JSON.parse(document.getElementById('config').textContent);
  const CLASSES = config.classes, EMOJI = config.emoji;
  const WINDOW_S = 300;  // the chart's last five minutes
  const BUCKET_S = 2;    // in buckets of two seconds

  section.innerHTML = `
    <h2 id="classview-title">Class view: every face in the room</h2>
    <div class="classview-grid">
      <div>
        <p id="classview-count" aria-live="polite">no faces</p>
        <ul id="classview-now" aria-label="Share of the faces now per expression"></ul>
      </div>
      <div>
        <canvas id="classview-chart" role="img" data-buckets="0"
                aria-label="Share of the faces per expression over the last five minutes"></canvas>
      </div>
    </div>
    <ul id="classview-strip" aria-label="Faces now"></ul>`;
  const $ = (id) => document.getElementById(id);
  const canvas = $('classview-chart');

  let buckets = [];  // {b: bucket index, counts: {class: n}, faces: n} over the last WINDOW_S
  let now = 0;       // seconds since the stream started (the latest result's time)
  let lastFaces = [];

  function add(t, faces) {
    now = t;
    lastFaces = faces;
    const b = Math.floor(t / BUCKET_S);
    let bucket = buckets[buckets.length - 1];
    if (!bucket || bucket.b !== b) {
      bucket = { b, counts: Object.fromEntries(CLASSES.map((c) => [c, 0])), faces: 0, results: 0 };
      buckets.push(bucket);
      while (buckets.length && buckets[0].b < b - WINDOW_S / BUCKET_S) buckets.shift();
    }
    bucket.results += 1;
    for (const f of faces) { bucket.counts[f.label] += 1; bucket.faces += 1; }
  }

  function showNow() {
    const n = lastFaces.length;
    $('classview-count').textContent = n === 1 ? '1 face' : `${n || 'no'} faces`;
    $('classview-count').dataset.faces = String(n);
    const shares = Object.fromEntries(CLASSES.map((c) => [c, n ? lastFaces.filter((f) => f.label === c).length / n : 0]));
    if (n) renderShares($('classview-now'), shares, CLASSES, EMOJI);  // static/shares.js
    else $('classview-now').replaceChildren();
    $('classview-strip').replaceChildren(...lastFaces.map((f) => {
      const li = document.createElement('li');
      li.dataset.faceId = String(f.id);
      li.dataset.label = f.label;
      li.style.background = EXPRESSION_COLORS[f.label];
      li.textContent = `#${f.id} ${EMOJI[f.label] || ''} ${f.label}`;
      return li;
    }));
  }

  /* Stacked areas: for each bucket, the share of the faces seen in it per expression. */
  function draw() {
    const frame = chartFrame(canvas);  // static/chart.js
    const { ctx, left, top, w, h } = frame;
    const end = now;  // the right edge is the latest result
    const xOf = (t) => left + w * (1 - (end - t) / WINDOW_S);
    let run = [];
    const runs = [];
    for (const bucket of buckets) {
      if (!bucket.faces || (run.length && bucket.b !== run[run.length - 1].b + 1)) { if (run.length) runs.push(run); run = []; }
      if (bucket.faces) run.push(bucket);
    }
    if (run.length) runs.push(run);
    for (const r of runs) {
      const xs = r.map((bk) => xOf(bk.b * BUCKET_S));
      xs.push(xOf(Math.min(end, (r[r.length - 1].b + 1) * BUCKET_S)));
      stackedArea(frame, xs.map((x) => Math.max(left, x)), r.map((bk) => CLASSES.map((c) => bk.counts[c] / bk.faces)),
        CLASSES);  // static/chart.js
    }
    ctx.strokeStyle = 'rgba(255,255,255,.25)';
    ctx.lineWidth = 1;
    percentGrid(frame, 0.5);
    ctx.textBaseline = 'top';
    for (let m = 0; m <= WINDOW_S / 60; m++) {
      ctx.textAlign = m === 0 ? 'right' : m === WINDOW_S / 60 ? 'left' : 'center';
      ctx.fillText(m === 0 ? 'now' : `−${m} min`, left + w * (1 - (m * 60) / WINDOW_S), top + h + 4);
    }
    canvas.dataset.buckets = String(buckets.filter((bk) => bk.faces).length);
  }

  let drawn = 0;
  function refresh() {
    if (section.hidden) return;
    showNow();
    const t = performance.now();
    if (t - drawn > 500) { drawn = t; draw(); }
  }

  window.addEventListener('fer:start', () => { buckets = []; now = 0; lastFaces = []; refresh(); });
  window.addEventListener('fer:result', (e) => { add(e.detail.t, e.detail.faces); refresh(); });
  window.addEventListener('fer:stop', () => { lastFaces = []; drawn = 0; refresh(); });
  toggle.addEventListener('click', () => {
    section.hidden = !section.hidden;
    toggle.setAttribute('aria-pressed', String(!section.hidden));
    drawn = 0;
    refresh();
    if (!section.hidden) section.scrollIntoView({ block: 'nearest' });
  });
  window.addEventListener('resize', () => { drawn = 0; refresh(); });
})();
