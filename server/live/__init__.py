"""The live path: a visitor's camera over WebRTC, analysed frame by frame, results back over ``/ws``.

    signaling.py        the /ws WebSocket handler: one Connection per browser
    session.py          one visitor's RTCPeerConnection: offer check, answer, tracks, teardown
    track_processor.py  the track processor: the newest frame of a live track, analysed and sent back
    protocol.py         every /ws message: parse incoming, build outgoing (docs/protocol.md)
    offer_policy.py     what an offer may contain (codecs, candidates, sizes)
    client_limits.py    per-address counts and caps (live streams, sockets; uploads use it too)
    inference.py        the model owner: one model, the live threads and the recorded-media thread
"""
