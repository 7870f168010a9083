/* Class view, for a camera that sees a room: how many faces there are now, the share of each
 * expression across all of them now and over the last minutes (a stacked area chart, with a
 * table as its text alternative), and a strip with one chip per face. It keeps only counts of
 * labels per time bucket: no face, box or picture is stored. It follows the live stream through
 * static/live.js's events (fer:start, fer:result, fer:stop on window). Its first use in a
 * browser asks the presenter to confirm that everyone in view has agreed to take part. */
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
        <canvas id="classview-chart" role="img" data-buckets="0" aria-describedby="classview-table-caption"
                aria-label="Share of the faces per expression over the last five minutes"></canvas>
        <details class="chart-table">
          <summary>The chart as a table</summary>
          <table id="classview-table">
            <caption id="classview-table-caption">Share of the faces per expression, now and over the last five minutes</caption>
            <thead><tr><th scope="col">Expression</th><th scope="col">Now</th><th scope="col">Last 5 min</th></tr></thead>
            <tbody></tbody>
          </table>
        </details>
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
    const count = n === 1 ? '1 face' : `${n || 'no'} faces`;
    if ($('classview-count').textContent !== count) $('classview-count').textContent = count;  // a live region: changes only
    $('classview-count').dataset.faces = String(n);
    if (n) renderShares($('classview-now'), sharesNow(), CLASSES, EMOJI);  // static/shares.js
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
    const ticks = [];
    for (let m = WINDOW_S / 60; m >= 0; m--) {
      ticks.push({ x: left + w * (1 - (m * 60) / WINDOW_S), text: m === 0 ? 'now' : `−${m} min` });
    }
    ctx.fillStyle = '#bbb';
    timeAxis(frame, ticks, top + h + 4);  // static/chart.js: labels that fit, never on top of each other
    canvas.dataset.buckets = String(buckets.filter((bk) => bk.faces).length);
    sharesTable($('classview-table'), [{ values: lastFaces.length ? sharesNow() : null }, { values: sharesWindow() }],
      CLASSES, EMOJI);  // static/shares.js
  }

  function sharesNow() {
    const n = lastFaces.length;
    return Object.fromEntries(CLASSES.map((c) => [c, n ? lastFaces.filter((f) => f.label === c).length / n : 0]));
  }

  /* Over the chart's five minutes: each face seen in a result counts once for its label. */
  function sharesWindow() {
    const total = buckets.reduce((a, bk) => a + bk.faces, 0);
    if (!total) return null;
    return Object.fromEntries(CLASSES.map((c) => [c, buckets.reduce((a, bk) => a + bk.counts[c], 0) / total]));
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
  /* The class view looks at everyone in the room: the first time in this browser, the presenter
   * confirms that everyone in view has agreed to take part (remembered in localStorage). */
  const AGREED = 'fer.classview-agreed';
  const agreed = () => { try { return localStorage.getItem(AGREED) === 'yes'; } catch (e) { return false; } };
  async function confirmEveryoneAgreed() {
    if (agreed()) return true;
    const link = document.createElement('a');
    link.href = '/responsible-use';
    link.textContent = 'Responsible use';
    const yes = await askDialog({  // static/dialog.js
      id: 'classview-consent',
      title: 'Has everyone in view agreed?',
      text: ['The class view shows the expressions of every face the camera sees. Use it only when ',
        'everyone in view knows and has agreed to take part, and never to judge anyone. In the EU, ',
        'inferring the emotions of people at school or at work is prohibited (AI Act, Article 5(1)(f)): ',
        'see ', link, '.'],
      ok: 'Everyone in view has agreed',
      cancel: 'Cancel',
    });
    if (yes) { try { localStorage.setItem(AGREED, 'yes'); } catch (e) { /* private mode: asked again next time */ } }
    return yes;
  }

  toggle.addEventListener('click', async () => {
    if (section.hidden && !(await confirmEveryoneAgreed())) { toggle.focus(); return; }
    section.hidden = !section.hidden;
    toggle.setAttribute('aria-pressed', String(!section.hidden));
    drawn = 0;
    refresh();
    if (!section.hidden) section.scrollIntoView({ block: 'nearest' });
  });
  window.addEventListener('resize', () => { drawn = 0; refresh(); });
})();
