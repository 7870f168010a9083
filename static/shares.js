/* Share of time per expression, as a list: used by the live page's last-session summary and by
 * the upload result. Shares above zero get a line each, largest first, with a bar; the shares
 * of zero collapse into one line ("0%: 😠 angry, 🤢 disgust"). */
'use strict';

function renderShares(list, shares, classes, emoji) {
  list.replaceChildren();
  list.classList.add('shares');
  const zero = [];
  [...classes].sort((a, b) => (shares[b] || 0) - (shares[a] || 0)).forEach((c) => {
    const share = shares[c] || 0;
    if (share < 0.0005) { zero.push(c); return; }  // shown as 0.0 %: one line for all of them
    const li = document.createElement('li');
    li.dataset.class = c;
    li.dataset.share = String(share);
    const name = document.createElement('span');
    name.className = 'share-name';
    name.textContent = `${emoji[c] || ''} ${c}`;
    const pct = document.createElement('span');
    pct.className = 'share-pct';
    pct.textContent = `${(100 * share).toFixed(1)}%`;
    const bar = document.createElement('span');
    bar.className = 'bar';
    bar.style.width = `${(100 * share).toFixed(1)}%`;
    bar.style.background = EXPRESSION_COLORS[c];
    const track = document.createElement('span');
    track.className = 'bar-track';
    track.appendChild(bar);
    li.append(name, pct, track);
    list.appendChild(li);
  });
  if (zero.length) {
    const li = document.createElement('li');
    li.className = 'share-zero';
    li.dataset.classes = zero.join(' ');
    li.textContent = `0%: ${zero.map((c) => `${emoji[c] || ''} ${c}`).join(', ')}`;
    list.appendChild(li);
  }
}

/* Share of face time per expression over a live session's results ({t, faces}): each face found
 * in a result counts for its label, for the time until the next result (at most 1 s: a pause in the
 * stream is not face time); a held face (not found in that frame: it may have gone) does not, as
 * in every summary (ml/schema.py). Returns {shares, faceSeconds (summed over faces: two faces for
 * 10 s are 20 s of face time), inView (seconds with at least one face found: never more than the
 * session), faces (distinct face ids), seconds}. */
function sessionShares(results, classes) {
  const time = Object.fromEntries(classes.map((c) => [c, 0]));
  let faceSeconds = 0, inView = 0;
  const ids = new Set();
  for (let i = 0; i < results.length; i++) {
    const dt = i + 1 < results.length ? Math.min(1, Math.max(0, results[i + 1].t - results[i].t)) : 0;
    const found = results[i].faces.filter((f) => !(f.source === 'held' || f.held));
    if (found.length) inView += dt;
    for (const f of found) {
      time[f.label] += dt;
      faceSeconds += dt;
      if (f.id !== undefined) ids.add(f.id);
    }
  }
  const shares = Object.fromEntries(classes.map((c) => [c, faceSeconds ? time[c] / faceSeconds : 0]));
  const seconds = results.length ? results[results.length - 1].t - results[0].t : 0;
  return { shares, faceSeconds, inView, faces: ids.size, seconds };
}

/* A chart's text alternative: a table with a row per expression and a column per series
 * (columns: [{title, values: {class: fraction} | null}]), each value as a percentage ("–" for
 * none). The table's caption and header row are in the page; this fills its body. */
function sharesTable(table, columns, classes, emoji) {
  const body = table.tBodies[0] || table.createTBody();
  const rows = classes.map((c) => {
    const tr = document.createElement('tr');
    tr.dataset.class = c;
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = `${emoji[c] || ''} ${c}`;
    tr.appendChild(th);
    for (const col of columns) {
      const td = document.createElement('td');
      td.className = 'num';
      const v = col.values ? col.values[c] : null;
      td.textContent = v === null || v === undefined ? '–' : `${(100 * v).toFixed(1)}%`;
      tr.appendChild(td);
    }
    return tr;
  });
  body.replaceChildren(...rows);
}

window.renderShares = renderShares;
window.sharesTable = sharesTable;
window.sessionShares = sessionShares;
