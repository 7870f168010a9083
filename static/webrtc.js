/* WebRTC helpers shared by the live page (live.js) and the study participant page (participant.js). */
'use strict';

// The offer's SDP once ICE gathering is complete (the server takes no trickled candidates), or
// after timeoutMs with the candidates found by then.
async function offerSdp(pc, timeoutMs = 3000) {
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') { resolve(); return; }
    const timer = setTimeout(resolve, timeoutMs);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') { clearTimeout(timer); resolve(); }
    });
  });
  return pc.localDescription.sdp;
}

// The server's `pace` message: send at most maxFps frames a second (a frame it would drop
// still costs it decoding). Applied to the video senders' encodings, not to the camera, so
// that the picture on the page stays smooth.
async function applyPace(pc, maxFps) {
  if (!pc || !(maxFps > 0)) return;
  for (const sender of pc.getSenders()) {
    if (!sender.track || sender.track.kind !== 'video') continue;
    const params = sender.getParameters();
    if (!params.encodings || !params.encodings.length) continue;
    params.encodings.forEach((e) => { e.maxFramerate = maxFps; });
    try { await sender.setParameters(params); } catch (e) { /* an older browser: the server keeps dropping frames */ }
  }
  document.body.dataset.pace = String(maxFps);
}

window.offerSdp = offerSdp;
window.applyPace = applyPace;
