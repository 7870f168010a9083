"""The live web app: camera in the browser, WebRTC to aiohttp, expressions back in real time.

    python -m server [--host 127.0.0.1] [--port 8080] [--model default] [--cert C --key K]
                     [--database sqlite:///data/fer.db | postgresql://...] [--admin-token TOKEN]

Modules (docs/architecture.md draws the data paths):

    __main__.py         the command line
    settings.py         every flag and environment variable, read once (``Settings``)
    app.py              the application factory: routes, resources, the page
    keys.py             what ``app[...]`` holds (``web.AppKey``)
    middleware.py       every request: the Origin allow-list, security headers on every response
    logs.py             log levels, quiet libraries, an access log without addresses or ids
    memory.py           glibc heap settings, the garbage collector (start-up objects frozen)
    client.py           a WebRTC client for tests and benchmarks
    live/               the live path: signaling (/ws), session (peer connection), track_processor,
                        protocol (every /ws message), offer_policy, client_limits, inference (the model owner)
    storage/            the database (SQLite or PostgreSQL): engine, tables, migrations
    studies/            remote usability studies: queries, result writer, API, pages (docs/studies.md)
    uploads/            recorded videos and images: jobs (queue in the database, worker, expiry) and routes
"""

from .app import create_app
from .settings import ScreenSettings, Settings, UploadSettings

__all__ = ["ScreenSettings", "Settings", "UploadSettings", "create_app"]
