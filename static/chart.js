/* A rolling line chart of the seven expression probabilities, drawn on a plain canvas. */
'use strict';

// one colour per class, from the page's config (ml/labels.py COLORS: told apart with every common
// colour-vision deficiency, black text on each at 4.5:1; bench/colour_vision.py)
const EXPRESSION_COLORS = (() => {
  try { return JSON.parse(document.getElementById('config').textContent).colors || {}; } catch (e) { return {}; }
})();

/* Clear a chart canvas to its background; the plot area's geometry, shared by every chart.
 * The canvas is drawn at its CSS size times the device pixel ratio (sharp on phones and
 * projectors); coordinates are CSS pixels, and text is the canvas element's CSS font-size
 * (style.css sizes it for each layout), never smaller than 12 px. */
function chartFrame(canvas) {
  const ctx = canvas.getContext('2d');
  const dpr = window.devicePixelRatio || 1;
  const cssW = canvas.clientWidth || canvas.width, cssH = canvas.clientHeight || canvas.height;
  const bw = Math.round(cssW * dpr), bh = Math.round(cssH * dpr);
  if (canvas.width !== bw || canvas.height !== bh) { canvas.width = bw; canvas.height = bh; }
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  const fontPx = Math.max(12, parseFloat(getComputedStyle(canvas).fontSize) || 16);
  const font = `${fontPx}px system-ui, sans-serif`;
  ctx.font = font;
  const left = Math.ceil(ctx.measureText('100%').width) + 10, right = Math.ceil(fontPx * 0.8);
  const top = Math.ceil(fontPx * 0.7), bottom = Math.ceil(fontPx * 1.8);
  ctx.clearRect(0, 0, cssW, cssH);
  ctx.fillStyle = '#111';
  ctx.fillRect(0, 0, cssW, cssH);
  return { ctx, left, top, w: Math.max(1, cssW - left - right), h: Math.max(1, cssH - top - bottom), font, fontPx };
}

/* Horizontal grid lines with percentage labels every `step` (a fraction) of the plot's height. */
function percentGrid(frame, step) {
  const { ctx, left, top, w, h } = frame;
  ctx.font = frame.font;
  ctx.fillStyle = '#bbb';
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (let p = 0; p <= 1.0001; p += step) {
    const y = top + h * (1 - p);
    ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(left + w, y); ctx.stroke();
    ctx.fillText(`${Math.round(p * 100)}%`, left - 6, y);
  }
}

/* Stacked areas of the seven classes: rows[j] (fractions, one per class) holds from xs[j] to
 * xs[j + 1]; xs has one more entry than rows (the end of the last row). */
function stackedArea(frame, xs, rows, classes) {
  const { ctx, top, h } = frame;
  const ys = (v) => top + h * (1 - Math.min(1, v));
  const steps = rows.concat([rows[rows.length - 1]]);
  const below = steps.map(() => 0);
  classes.forEach((c, k) => {
    const above = below.map((v, j) => v + steps[j][k]);
    ctx.fillStyle = EXPRESSION_COLORS[c] || '#888';
    ctx.beginPath();
    xs.forEach((x, j) => ctx.lineTo(x, ys(above[j])));
    for (let j = xs.length - 1; j >= 0; j--) ctx.lineTo(xs[j], ys(below[j]));
    ctx.closePath();
    ctx.fill();
    above.forEach((v, j) => { below[j] = v; });
  });
}

/* Labels under a chart's time axis: ticks [{x, text}] (x in CSS pixels, at the label's centre),
 * left to right. Every k-th label is drawn, with the smallest k at which no two drawn labels
 * touch and none leaves the plot's width (a label at an edge is shifted inward), counted from the
 * last tick, which is always drawn ("now"). The drawn labels' extents go to canvas.dataset.ticks as [[left, right, text], ...] (the browser tests check them). */
function timeAxis(frame, ticks, y) {
  const { ctx, fontPx } = frame;
  const canvasW = ctx.canvas.clientWidth || ctx.canvas.width;
  ctx.font = frame.font;
  ctx.textAlign = 'left';
  ctx.textBaseline = 'top';
  const boxes = ticks.map((t) => {
    const w = ctx.measureText(t.text).width;
    const x0 = Math.min(Math.max(frame.left, t.x - w / 2), canvasW - w);  // not under the percentages
    return [x0, x0 + w, t.text];
  });
  const gap = fontPx * 0.6;
  const fits = (k) => {
    const kept = boxes.filter((_, i) => (boxes.length - 1 - i) % k === 0);
    return kept.every((b, i) => i === 0 || b[0] >= kept[i - 1][1] + gap) ? kept : null;
  };
  let drawn = [];
  for (let k = 1; k <= Math.max(1, boxes.length); k++) {
    const kept = fits(k);
    if (kept) { drawn = kept; break; }
  }
  for (const [x0, , text] of drawn) ctx.fillText(text, x0, y);
  ctx.canvas.dataset.ticks = JSON.stringify(drawn.map(([a, b, t]) => [Math.round(a * 10) / 10, Math.round(b * 10) / 10, t]));
  return drawn;
}

class RollingChart {
  constructor(canvas, classes, windowSeconds = 30) {
    this.canvas = canvas;
    this.classes = classes;
    this.window = windowSeconds;
    this.points = [];  // {t: seconds, probs: {class: p} | null (no face)}
    this.samples = 0;
  }

  clear() {
    this.points = [];
    this.samples = 0;
    this.canvas.dataset.samples = '0';
    this.draw(0);
  }

  /* Each class's probability in the newest point and its mean over the window's points with a
   * face (the chart's text alternative, static/shares.js sharesTable); null where there is none. */
  summary() {
    const withFace = this.points.filter((p) => p.probs);
    const latest = this.points.length ? this.points[this.points.length - 1].probs : null;
    const mean = withFace.length
      ? Object.fromEntries(this.classes.map((c) => [c, withFace.reduce((a, p) => a + p.probs[c], 0) / withFace.length]))
      : null;
    return { latest, mean };
  }

  push(t, probs) {
    this.points.push({ t, probs });
    this.samples += 1;
    this.canvas.dataset.samples = String(this.samples);
    while (this.points.length && this.points[0].t < t - this.window - 1) this.points.shift();
  }

  draw(now) {
    const frame = chartFrame(this.canvas);
    const { ctx, left, top, w, h } = frame;
    ctx.lineWidth = 1;
    ctx.strokeStyle = '#333';
    percentGrid(frame, h < 120 ? 0.5 : 0.25);
    const ticks = [];
    for (let s = this.window; s >= 0; s -= 5) {
      const x = left + w * (1 - s / this.window);
      ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + h); ctx.stroke();
      ticks.push({ x, text: s === 0 ? 'now' : `−${s}s` });
    }
    ctx.fillStyle = '#bbb';
    timeAxis(frame, ticks, top + h + 4);
    const xOf = (t) => left + w * (1 - (now - t) / this.window);
    ctx.lineWidth = Math.max(2, frame.fontPx / 6);
    ctx.lineJoin = 'round';
    for (const cls of this.classes) {
      ctx.strokeStyle = EXPRESSION_COLORS[cls] || '#fff';
      ctx.beginPath();
      let pen = false;
      for (const pt of this.points) {
        if (pt.t < now - this.window || !pt.probs) { pen = false; continue; }
        const x = xOf(pt.t), y = top + h * (1 - pt.probs[cls]);
        if (pen) ctx.lineTo(x, y); else ctx.moveTo(x, y);
        pen = true;
      }
      ctx.stroke();
    }
  }
}

window.RollingChart = RollingChart;
window.EXPRESSION_COLORS = EXPRESSION_COLORS;
window.chartFrame = chartFrame;
window.percentGrid = percentGrid;
window.stackedArea = stackedArea;
window.timeAxis = timeAxis;
