"""The live web app: camera in the browser, WebRTC to aiohttp, expressions back in real time.

    python -m server [--host 127.0.0.1] [--port 8080] [--model default] [--cert C --key K]

Modules: ``app`` (the aiohttp application and its page), ``signaling`` (the
``/ws`` WebSocket protocol, see docs/protocol.md), ``live`` (one visitor's
WebRTC connection and the processing of its video track), ``analysis`` (the
shared expression analyser behind a single worker thread).
"""

from .app import create_app

__all__ = ["create_app"]
