/* Presentation mode (the "Present" button, or ?present in the address): the page fills the
 * screen with the video and its labels beside the readout and the chart (stacked on a portrait
 * screen), every label sized for the back of a classroom (style.css, body.present), and, while
 * the camera runs, the controls hidden until the mouse moves or a key is pressed (before it
 * runs they sit above the video, covering nothing). Esc, or the button again, leaves it. */
'use strict';

(() => {
  const body = document.body;
  const button = document.getElementById('present');
  const fullscreenButton = document.getElementById('fullscreen');
  const stop = document.getElementById('stop');
  const controls = document.getElementById('controls');
  const HIDE_AFTER_MS = 2500;
  let hideTimer = null;
  let fullscreenByUs = false;

  const isFullscreen = () => !!document.fullscreenElement;
  const canFullscreen = () => !!(document.documentElement.requestFullscreen && document.fullscreenEnabled);

  function requestFullscreen() {
    if (!canFullscreen() || isFullscreen()) return;
    document.documentElement.requestFullscreen({ navigationUI: 'hide' })
      .then(() => { fullscreenByUs = true; update(); })
      .catch(() => { /* refused (no user gesture): the layout works in a window too */ });
  }

  function setUrl(on) {
    const url = new URL(location.href);
    if (on) url.searchParams.set('present', ''); else url.searchParams.delete('present');
    history.replaceState(null, '', url.toString().replace(/present=(&|$)/, 'present$1'));
  }

  function update() {
    const on = body.classList.contains('present');
    button.setAttribute('aria-pressed', String(on));
    button.textContent = on ? '✕ Leave presentation' : 'Present';
    fullscreenButton.hidden = !on || isFullscreen() || !canFullscreen();
  }

  function enter(withFullscreen) {
    body.classList.add('present');
    setUrl(true);
    if (withFullscreen) requestFullscreen();
    update();
    showControls();
  }

  function leave() {
    body.classList.remove('present', 'controls-hidden');
    clearTimeout(hideTimer);
    setUrl(false);
    if (isFullscreen()) document.exitFullscreen().catch(() => {});
    fullscreenByUs = false;
    update();
  }

  /* The controls show while the mouse moves, and hide again while the camera runs. */
  function showControls() {
    body.classList.remove('controls-hidden');
    clearTimeout(hideTimer);
    if (!body.classList.contains('present')) return;
    hideTimer = setTimeout(() => {
      const streaming = !stop.disabled;
      const active = document.activeElement;
      const menuOpen = active && active.tagName === 'SELECT';
      // a keyboard user moving through the controls keeps them (Tab shows them again, style.css :focus-visible)
      const keyboardInControls = active && controls.contains(active) && active.matches(':focus-visible');
      if (body.classList.contains('present') && streaming && !menuOpen && !keyboardInControls) {
        body.classList.add('controls-hidden');
      }
    }, HIDE_AFTER_MS);
  }

  button.addEventListener('click', () => (body.classList.contains('present') ? leave() : enter(true)));
  fullscreenButton.addEventListener('click', requestFullscreen);
  for (const ev of ['pointermove', 'pointerdown', 'keydown', 'touchstart']) {
    document.addEventListener(ev, showControls, { passive: true });
  }
  document.getElementById('start').addEventListener('click', showControls);
  document.addEventListener('keydown', (e) => {
    if (document.querySelector('dialog[open]')) return;  // Esc answers the question (static/dialog.js) first
    if (e.key === 'Escape' && body.classList.contains('present') && !isFullscreen()) leave();
  });
  document.addEventListener('fullscreenchange', () => {
    // Esc leaves fullscreen first (the browser's own key): leave the mode with it
    if (!isFullscreen() && fullscreenByUs && body.classList.contains('present')) leave();
    update();
  });

  if (new URLSearchParams(location.search).has('present')) enter(false);  // fullscreen needs a click
  update();
})();
