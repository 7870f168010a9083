"""The live web app: camera in the browser, WebRTC to aiohttp, expressions back in real time.

    python -m server [--host 127.0.0.1] [--port 8080] [--model default] [--cert C --key K]
                     [--database sqlite:///data/fer.db | postgresql://...] [--admin-token TOKEN]

Modules (docs/architecture.md draws the data paths):

    __main__.py         the command line
    settings.py         every flag and environment variable, read once (``Settings``)
    app.py              the application factory: routes, resources, the page
    keys.py             what ``app[...]`` holds (``web.AppKey``)
    protocol.py         every ``/ws`` message: parsing incoming, building outgoing (docs/protocol.md)
    signaling.py        the ``/ws`` WebSocket handler, one ``Connection`` per browser
    live_session.py     one visitor's WebRTC peer connection (connect deadline)
    offer_policy.py     what an SDP offer may ask: ICE candidates, DTLS fingerprint
    client_limits.py    counts per client address (WebSockets), with caps
    origin.py           the Origin allow-list for /ws and POST/DELETE
    headers.py          security headers (CSP, nosniff, frame-ancestors, ...) on every response
    memory.py           glibc heap settings, the garbage collector (start-up objects frozen)
    logs.py             log levels, quiet libraries, an access log without addresses or ids
    track_processor.py  a live video track analysed newest frame first
    inference.py        the model owner: one analyser, the live and recorded-media threads
    uploads/            recorded videos and images: jobs (queue in the database, worker, expiry) and routes
    studies/            remote usability studies: the database, the result writer, the API and pages
    offer_policy.py     what an offer may contain (ICE candidates, fingerprints)
    client_limits.py    per-address and overall limits
    origin.py           the Origin allow-list for /ws and state-changing requests
    headers.py          security headers on every response
    logs.py             quiet logs: one line per stream and upload, no addresses or ids
    studies/            remote usability studies: database, result writer, API, pages (docs/studies.md)
    client.py           a WebRTC client for tests and benchmarks
"""

from .app import create_app
from .settings import Settings, UploadSettings

__all__ = ["Settings", "UploadSettings", "create_app"]
