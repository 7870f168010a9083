"""The aiohttp application: the page, its assets, the ``/ws`` WebSocket and a health check."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import WSCloseCode, web

import ml

from .analysis import AnalysisService
from .signaling import websocket_handler

try:  # the recorded video/image upload feature (issue 4), when present
    from .uploads import setup_uploads
except ImportError:
    setup_uploads = None

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = ROOT / "templates"
STATIC_DIR = ROOT / "static"
DEFAULT_MAX_STREAMS = 8


def create_app(
    analyzer=None,
    model: str | None = None,
    ice_servers=(),
    max_streams: int = DEFAULT_MAX_STREAMS,
    small_faces: bool = False,
) -> web.Application:
    """The web app. ``analyzer``: an ``ml.FrameAnalyzer`` to share (else one is loaded at
    startup from ``model``, a shipped model name or a .keras path; None: the default).
    ``ice_servers``: STUN/TURN URLs for both ends (none needed on a LAN or localhost).
    ``small_faces``: look for small, distant faces too (``ml.detector.DISTANT_FACES``), slower.
    """
    app = web.Application()
    app["analysis"] = AnalysisService(analyzer=analyzer, model=model, small_faces=small_faces)
    app["ice_servers"] = tuple(ice_servers)
    app["max_streams"] = max_streams
    app["connections"] = set()
    app["live_sessions"] = set()
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)), autoescape=True)
    app.router.add_get("/", index, name="index")
    app.router.add_get("/ws", websocket_handler, name="ws")
    app.router.add_get("/healthz", health, name="health")
    app.router.add_static("/static", STATIC_DIR, name="static")
    app.on_startup.append(_load_analysis)
    app.on_shutdown.append(_close_connections)
    app.on_cleanup.append(_stop_analysis)
    if setup_uploads is not None:
        analysis = app["analysis"]
        setup_uploads(app, model=model, classifier=lambda: analysis.classifier, small_faces=small_faces)
    return app


@aiohttp_jinja2.template("index.html")
async def index(request: web.Request) -> dict:
    return {
        "classes": list(ml.CLASSES),
        "emoji": dict(ml.EMOJI),
        "model": request.app["analysis"].model_name,
        "ice_servers": list(request.app["ice_servers"]),
        "has_upload_js": (STATIC_DIR / "upload.js").is_file(),
    }


async def health(request: web.Request) -> web.Response:
    app = request.app
    return web.json_response(
        {
            "status": "ok",
            "model": app["analysis"].model_name,
            "live_streams": len(app["live_sessions"]),
            "max_streams": app["max_streams"],
        }
    )


async def _load_analysis(app: web.Application) -> None:
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, app["analysis"].load)
    log.info("expression model %s loaded", app["analysis"].model_name)


async def _close_connections(app: web.Application) -> None:
    conns = list(app["connections"])
    await asyncio.gather(
        *(c.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown") for c in conns),
        return_exceptions=True,
    )
    await asyncio.gather(*(s.close() for s in list(app["live_sessions"])), return_exceptions=True)


async def _stop_analysis(app: web.Application) -> None:
    app["analysis"].close()
