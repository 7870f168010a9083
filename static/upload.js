/* Analyse a recorded video or image: fills <section id="upload-section"> with a file picker,
 * live progress, a timeline chart of the expressions, and CSV / annotated-video downloads.
 * Talks to server/uploads/routes.py (POST /api/uploads, GET /api/uploads/{id}, ...). */
'use strict';

(function () {
  const section = document.getElementById('upload-section');
  if (!section) return;

  const pageConfig = (() => {
    try { return JSON.parse(document.getElementById('config').textContent); } catch (e) { return {}; }
  })();
  const CLASSES = pageConfig.classes || ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'];
  const EMOJI = pageConfig.emoji || {};
  const POLL_MS = 500;
  let limits = {
    max_bytes: 100 * 1024 * 1024, retention_s: 3600,
    extensions: ['.mp4', '.webm', '.avi', '.mov', '.mkv', '.m4v', '.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff'],
  };
  let current = null;  // id of the upload shown
  let currentName = '';  // its file name
  let deleteToken = null;  // its delete token: only the uploader gets one (POST's answer)
  let pollTimer = null;

  section.setAttribute('aria-labelledby', 'upload-title');
  section.innerHTML = `
    <h2 id="upload-title">Analyse a recording</h2>
    <p class="hint" id="upload-hint"></p>
    <form id="upload-form" class="upload-row">
      <input id="upload-file" type="file" name="file" aria-label="Video or image to analyse">
      <button id="upload-start" type="submit" disabled>Analyse</button>
      <button id="upload-delete" type="button" hidden>Delete now</button>
    </form>
    <div id="upload-error" role="alert" hidden></div>
    <div id="upload-working" hidden>
      <progress id="upload-progress" max="1" value="0"></progress>
      <span id="upload-status" aria-live="polite"></span>
    </div>
    <div id="upload-results" hidden>
      <p id="upload-summary"></p>
      <ul id="upload-shares" aria-label="Share of face time per expression"></ul>
      <canvas id="upload-chart" width="960" height="260" role="img" aria-describedby="upload-table-caption"
              aria-label="Expression probabilities over the recording (mean over the faces)"></canvas>
      <details class="chart-table">
        <summary>The chart as a table</summary>
        <table id="upload-table">
          <caption id="upload-table-caption">Each expression's share of face time over the recording</caption>
          <thead><tr><th scope="col">Expression</th><th scope="col">Share of face time</th></tr></thead>
          <tbody></tbody>
        </table>
      </details>
      <p class="upload-links">
        <a id="upload-csv" href="#" download>Download CSV</a>
        <a id="upload-video" href="#" download>Download annotated video</a>
        <a id="upload-plot" href="#" target="_blank" rel="noopener">Timeline (PNG)</a>
      </p>
      <div id="upload-preview"></div>
    </div>`;

  const $ = (id) => document.getElementById(id);
  const fileInput = $('upload-file'), startBtn = $('upload-start'), deleteBtn = $('upload-delete');
  const errorBox = $('upload-error'), working = $('upload-working'), results = $('upload-results');
  const bar = $('upload-progress'), statusText = $('upload-status');

  function mb(bytes) { return `${(bytes / 1024 / 1024).toFixed(bytes < 10 * 1024 * 1024 ? 1 : 0)} MB`; }
  function duration(s) {
    if (s == null) return '';
    s = Math.round(s);
    if (s >= 3600) {
      const m = Math.round((s % 3600) / 60);
      return `${Math.floor(s / 3600)} h${m ? ` ${m} min` : ''}`;
    }
    if (s >= 600) return `${Math.round(s / 60)} min`;
    return s >= 60 ? `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}` : `${s} s`;
  }
  function showError(msg) {
    errorBox.textContent = msg;
    errorBox.hidden = !msg;
  }
  function describeLimits() {
    const types = limits.extensions.map((e) => e.slice(1)).join(', ');
    $('upload-hint').textContent = `A video or an image (${types}), up to ${mb(limits.max_bytes)}. ` +
      `It is analysed on the server; the recording is deleted once analysed and the results ` +
      `${duration(limits.retention_s)} after the upload.`;
    fileInput.accept = limits.extensions.join(',');
  }

  fetch('/api/uploads/config').then((r) => (r.ok ? r.json() : null)).then((cfg) => {
    if (cfg) limits = cfg;
    describeLimits();
  }).catch(describeLimits);
  describeLimits();

  function checkFile(file) {
    if (!file) return 'Choose a video or an image first.';
    const dot = file.name.lastIndexOf('.');
    const ext = dot >= 0 ? file.name.slice(dot).toLowerCase() : '';
    if (!limits.extensions.includes(ext)) {
      return `${file.name}: unsupported file type ${ext ? `"${ext}"` : '(no extension)'}; ` +
        `choose a video or an image (${limits.extensions.map((e) => e.slice(1)).join(', ')}).`;
    }
    if (file.size === 0) return `${file.name}: the file is empty.`;
    if (file.size > limits.max_bytes) {
      return `${file.name} is ${mb(file.size)}, larger than the ${mb(limits.max_bytes)} limit.`;
    }
    return '';
  }

  fileInput.addEventListener('change', () => {
    const problem = fileInput.files.length ? checkFile(fileInput.files[0]) : '';
    showError(problem);
    startBtn.disabled = !fileInput.files.length || !!problem;
  });

  $('upload-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const file = fileInput.files[0];
    const problem = checkFile(file);
    if (problem) { showError(problem); return; }
    upload(file);
  });

  deleteBtn.addEventListener('click', async () => {
    if (!current) return;
    const yes = await askDialog({  // static/dialog.js: nothing is deleted by a slip
      id: 'upload-delete-confirm',
      title: 'Delete these results now?',
      text: `The results of ${currentName || 'this upload'} (the summary, the CSV and the annotated video) ` +
        'are deleted from the server at once. This cannot be undone.',
      ok: 'Delete now',
      cancel: 'Keep them',
      danger: true,
    });
    if (!yes || !current) { deleteBtn.focus(); return; }
    stopPolling();
    await fetch(`/api/uploads/${current}`, { method: 'DELETE', headers: { 'X-Delete-Token': deleteToken || '' } })
      .catch(() => {});
    current = deleteToken = null;
    currentName = '';
    reset();
    statusText.textContent = '';
    working.hidden = true;
    deleteBtn.hidden = true;
  });

  function reset() {
    showError('');
    results.hidden = true;
    $('upload-preview').innerHTML = '';
    bar.value = 0;
  }
  function stopPolling() {
    if (pollTimer) clearTimeout(pollTimer);
    pollTimer = null;
  }

  function upload(file) {
    stopPolling();
    reset();
    working.hidden = false;
    startBtn.disabled = true;
    statusText.textContent = `Uploading ${file.name}…`;
    const data = new FormData();
    data.append('file', file, file.name);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/uploads');
    xhr.responseType = 'json';
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) {
        bar.removeAttribute('value');  // indeterminate while uploading: the bar is for the analysis
        statusText.textContent = `Uploading ${file.name}… ${Math.round((100 * e.loaded) / e.total)}%`;
      }
    };
    xhr.onload = () => {
      startBtn.disabled = false;
      const body = xhr.response || {};
      if (xhr.status !== 202) {
        working.hidden = true;
        showError(body.error || `Upload failed (HTTP ${xhr.status}).`);
        return;
      }
      current = body.id;
      currentName = file.name;
      deleteToken = body.delete_token;
      deleteBtn.hidden = false;
      bar.value = 0;
      render(body);
      poll();
    };
    xhr.onerror = () => {
      startBtn.disabled = false;
      working.hidden = true;
      showError(`Upload of ${file.name} failed: the server could not be reached.`);
    };
    xhr.send(data);
  }

  async function poll() {
    const id = current;
    if (!id) return;
    let body;
    try {
      const r = await fetch(`/api/uploads/${id}`, { cache: 'no-store' });
      body = await r.json();
      if (!r.ok) throw new Error(body.error || `HTTP ${r.status}`);
    } catch (e) {
      if (id === current) { showError(`Lost track of the analysis: ${e.message}`); working.hidden = true; }
      return;
    }
    if (id !== current) return;
    render(body);
    if (body.status === 'queued' || body.status === 'running') pollTimer = setTimeout(poll, POLL_MS);
  }

  function render(job) {
    section.dataset.status = job.status;
    bar.value = job.progress || 0;
    if (job.status === 'queued') {
      statusText.textContent = `${job.filename}: waiting for the analyser…`;
    } else if (job.status === 'running') {
      const frames = job.frames_total ? `${job.frames_done} / ${job.frames_total} frames` : `${job.frames_done} frames`;
      const eta = job.eta_s != null ? `, about ${duration(job.eta_s)} left` : '';
      statusText.textContent = `${job.filename}: analysing… ${Math.round(100 * (job.progress || 0))}% (${frames}${eta})`;
    } else if (job.status === 'error') {
      working.hidden = true;
      showError(job.error || `${job.filename}: the analysis failed.`);
    } else if (job.status === 'cancelled') {
      working.hidden = true;
    } else if (job.status === 'done') {
      statusText.textContent = `${job.filename}: done. Results are deleted in ${duration(job.expires_in_s)}.`;
      showResults(job);
    }
  }

  function showResults(job) {
    const s = job.summary;
    results.hidden = false;
    const faces = s.faces_found === 1 ? '1 face' : `${s.faces_found} faces`;
    const what = job.kind === 'video'
      ? `${s.frames_analysed} of ${s.frames_total} frames analysed (${s.duration_s.toFixed(1)} s)`
      : 'image analysed';
    $('upload-summary').textContent = s.faces_found
      ? `${what}: ${faces} found, mostly ${EMOJI[s.dominant] || ''} ${s.dominant}.`
      : `${what}: no faces found.`;
    renderShares($('upload-shares'), s.shares, CLASSES, EMOJI);  // static/shares.js
    sharesTable($('upload-table'), [{ values: s.faces_found ? s.shares : null }], CLASSES, EMOJI);
    drawTimeline($('upload-chart'), s.timeline, Math.max(s.duration_s, 0.001), job.kind === 'video');
    const links = job.links;
    $('upload-csv').href = links.csv;
    const isVideo = (job.output_type || '').startsWith('video/');
    $('upload-video').href = `${links.video}?download=1`;
    $('upload-video').textContent = isVideo ? 'Download annotated video' : 'Download annotated image';
    $('upload-plot').href = links.timeline;
    const preview = $('upload-preview');
    preview.innerHTML = '';
    const media = document.createElement(isVideo ? 'video' : 'img');
    media.src = links.video;
    if (isVideo) { media.controls = true; media.preload = 'metadata'; media.playsInline = true; }
    else media.alt = `${job.filename} with the faces found`;
    preview.appendChild(media);
  }

  /* Stacked areas of the mean probabilities over the faces of each analysed frame, drawn as
   * continuous areas like the CLI's plot: a face missing for up to 2.5 analysed steps is
   * bridged, a longer gap is left blank, and a run of fewer than 3 analysed frames (a one-frame
   * detection, most often not a face) is left out. The points are the server's summary
   * timeline (ml/recorded/report.py); which faces it counts is decided there. */
  function drawTimeline(canvas, timeline, total, isVideo) {
    const frame = chartFrame(canvas);
    const { ctx, left, top, w, h } = frame;
    const t = timeline.t, probs = timeline.probs, classes = timeline.classes || CLASSES;
    const dts = t.slice(1).map((x, i) => x - t[i]).sort((a, b) => a - b);
    const step = dts.length ? dts[Math.floor(dts.length / 2)] || total : total;
    const end = Math.max(total, t.length ? t[t.length - 1] + step : 0) || 1;
    const xOf = (s) => left + (w * Math.min(s, end)) / end;
    const runs = [];
    let run = [];
    for (let i = 0; i < t.length; i++) {
      if (!probs[i]) continue;
      if (run.length && t[i] - t[run[run.length - 1]] > 2.5 * step) { runs.push(run); run = []; }
      run.push(i);
    }
    if (run.length) runs.push(run);
    const shortest = Math.min(3, Math.max(1, probs.filter((p) => p).length));
    const kept = runs.filter((r) => r.length >= shortest);
    for (const r of kept) {
      // each analysed frame stands for the time until the next one
      const xs = r.map((i) => xOf(t[i]));
      xs.push(xOf(t[r[r.length - 1]] + step));
      stackedArea(frame, xs, r.map((i) => probs[i]), classes);  // static/chart.js
    }
    ctx.strokeStyle = 'rgba(255,255,255,.25)';
    ctx.lineWidth = 1;
    percentGrid(frame, 0.5);
    const tickStep = niceStep(end, w / (frame.fontPx * 5));
    const ticks = [];
    for (let s = 0; s <= end + 1e-9; s += tickStep) ticks.push({ x: xOf(s), text: isVideo ? `${+s.toFixed(2)}s` : `${+s.toFixed(0)}` });
    ctx.fillStyle = '#bbb';
    timeAxis(frame, ticks, top + h + 4);  // static/chart.js
    canvas.dataset.points = String(kept.reduce((n, r) => n + r.length, 0));
    canvas.dataset.runs = String(kept.length);
    canvas.dataset.leftOut = String(runs.length - kept.length);
  }

  function niceStep(end, most = 8) {
    const raw = end / Math.max(2, Math.min(8, Math.floor(most)));
    const mag = Math.pow(10, Math.floor(Math.log10(raw || 1)));
    return [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  }
})();
