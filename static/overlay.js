/* Where each face's label goes on the video (static/live.js draws them): never over another
 * label or over what must stay visible (the "inferring" indicator), never outside the picture.
 *
 *   placeLabels(faces, area, obstacles, measure, minSize)
 *     faces:     [{box: [x, y, w, h], size, text, short}]  canvas pixels, main face first; size: the
 *                label's font size the face would like (larger faces, larger labels)
 *     area:      [x, y, w, h]       the picture inside the canvas
 *     obstacles: [[x, y, w, h]]     places kept free
 *     measure:   (text, size) -> the text's width
 *     minSize:   the smallest font size to fall back to
 *   -> [{x, y, w, h, size, text} | null], one per face
 *
 * Each label goes above its face, else below it, else inside its box, else the nearest free
 * place; when they do not all fit, every label gets smaller (down to minSize), then the short
 * text (emoji and percentage). A face left without a label (null: no room at all) keeps its box;
 * the list beside the video names it. */
'use strict';

const LABEL_SCALES = [1, 0.85, 0.7, 0.55, 0.4];

function placeLabels(faces, area, obstacles, measure, minSize) {
  let best = null;
  for (const scale of LABEL_SCALES) {
    for (const short of [false, true]) {
      const placed = placeAll(faces, area, obstacles, measure, (f) => Math.max(minSize, f.size * scale), short);
      const n = placed.filter(Boolean).length;
      if (!best || n > best.n) best = { placed, n };
      if (n === faces.length) return placed;
    }
  }
  return best ? best.placed : [];
}

function rectsOverlap(a, b, gap = 1) {
  return a[0] < b[0] + b[2] + gap && b[0] < a[0] + a[2] + gap && a[1] < b[1] + b[3] + gap && b[1] < a[1] + a[3] + gap;
}

function placeAll(faces, area, obstacles, measure, sizeOf, short) {
  const [ax, ay, aw, ah] = area;
  const taken = obstacles.slice();
  return faces.map((f) => {
    const size = sizeOf(f);
    const h = size * 1.4;
    let text = short ? f.short : f.text;
    let w = measure(text, size) + size * 0.6;
    if (w > aw && !short) { text = f.short; w = measure(text, size) + size * 0.6; }
    if (w > aw || h > ah) return null;
    const [bx, by, bw, bh] = f.box;
    const clampX = (x) => Math.min(Math.max(ax, x), ax + aw - w);
    const inside = (y) => y >= ay && y + h <= ay + ah;
    const xs = [clampX(bx), clampX(bx + bw - w), clampX(bx + (bw - w) / 2)];
    const near = [by - h, by + bh, by, by + bh - h].filter(inside);  // above, below, inside at the top, at the bottom
    const free = (r) => !taken.some((t) => rectsOverlap(r, t));
    let spot = null;
    for (const y of near) {
      for (const x of xs) { if (!spot && free([x, y, w, h])) spot = [x, y, w, h]; }
    }
    if (!spot) {  // the nearest free place anywhere on the picture
      const cx = bx + bw / 2, cy = by + bh / 2;
      const step = Math.max(1, h / 4);
      const all = [];
      for (let y = ay; y + h <= ay + ah + 0.01; y += step) {
        for (let x = ax; x + w <= ax + aw + 0.01; x += Math.max(1, w / 4)) all.push([x, y]);
        all.push([ax + aw - w, y]);
      }
      all.sort((p, q) => Math.hypot(p[0] + w / 2 - cx, p[1] + h / 2 - cy) - Math.hypot(q[0] + w / 2 - cx, q[1] + h / 2 - cy));
      const found = all.find(([x, y]) => free([x, y, w, h]));
      if (found) spot = [found[0], found[1], w, h];
    }
    if (!spot) return null;
    taken.push(spot);
    return { x: spot[0], y: spot[1], w, h, size, text };
  });
}

window.placeLabels = placeLabels;
window.rectsOverlap = rectsOverlap;
