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

window.offerSdp = offerSdp;
