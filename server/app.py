"""The aiohttp application factory: the page, its assets, ``/ws``, the upload API and a health check.

    app = create_app(Settings(...))          # settings: server/settings.py
    app = create_app(analyzer=my_analyzer)   # tests and benchmarks: an analyser instead of a model

Where things are: ``live/``: ``signaling`` (the ``/ws`` handler) -> ``session`` (a WebRTC
peer connection) -> ``track_processor`` (newest-frame analysis) -> ``inference`` (the model
owner and its threads), ``protocol`` every ``/ws`` message shape; ``storage/`` the
database; ``uploads/`` the recorded-media jobs and their routes; ``studies/`` the
usability studies (API, pages); ``middleware`` origin and headers; ``features`` the
parts a deployment switches on or off; ``doc_pages`` the responsible-use page; ``keys``
what ``app[...]`` holds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import WSCloseCode, web

import ml
from ml.schema import COLUMNS

from . import keys
from .live import frame_size
from .live.client_limits import ClientCounter
from .live.inference import AnalysisService
from .doc_pages import add_routes as add_doc_routes
from .features import page_features, serves_websocket, switched_off
from .live.signaling import websocket_handler
from .memory import freeze_startup_objects
from .middleware import add_security_headers, check_origin, json_errors, limit_token_guesses, refuse_bad_text
from .rate_limit import SlidingWindow
from .settings import Settings
from .studies import Studies, add_routes as add_study_routes
from .uploads import UploadJobs, add_routes as add_upload_routes

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = ROOT / "templates"
STATIC_DIR = ROOT / "static"


def create_app(settings: Settings | None = None, *, analyzer=None) -> web.Application:
    """The web app. ``analyzer``: an ``ml.FrameAnalyzer`` (or a stand-in) to use instead of
    loading ``settings.model`` at start-up."""
    settings = settings or Settings()
    frame_size.install(settings.max_frame_pixels)  # aiortc's decoders: process-wide
    app = web.Application(middlewares=[json_errors, refuse_bad_text, check_origin, limit_token_guesses, switched_off])
    app.on_response_prepare.append(add_security_headers)
    service = AnalysisService(settings.model, small_faces=settings.small_faces, analyzer=analyzer,
                              live_threads=settings.live_threads)
    app[keys.SETTINGS] = settings
    app[keys.ANALYSIS] = service
    app[keys.CONNECTIONS] = set()
    app[keys.LIVE_SESSIONS] = set()
    app[keys.WEBSOCKETS] = ClientCounter(
        settings.max_websockets_per_client, settings.max_websockets, what="WebSocket connections"
    )
    app[keys.TOKEN_GUESSES] = SlidingWindow(settings.max_token_failures, settings.token_failure_window_s)
    app[keys.STUDIES] = Studies(settings)
    # the upload jobs' queue is in the studies' database (a throw-away one without --database)
    app[keys.UPLOADS] = UploadJobs(settings.uploads, service, app[keys.STUDIES].db,
                                   durable=settings.database is not None)
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)), autoescape=True)
    # a part switched off (settings.features) has no routes: they answer 404 (server/features.py)
    on = settings.features
    app.router.add_get("/", index, name="index")
    if serves_websocket(settings):
        app.router.add_get("/ws", websocket_handler, name="ws")
    app.router.add_get("/healthz", health, name="health")
    app.router.add_static("/static", STATIC_DIR, name="static")
    add_doc_routes(app)
    if "uploads" in on or "studies" in on:  # a study session's recordings are upload jobs too
        add_upload_routes(app, uploads="uploads" in on, recordings="studies" in on)
    if "studies" in on:
        add_study_routes(app)
    # resources, opened in this order at start-up and closed in reverse at cleanup
    app.cleanup_ctx.append(service.lifespan)
    app.cleanup_ctx.append(_log_model)
    app.cleanup_ctx.append(app[keys.STUDIES].lifespan)  # the database, before the uploads' queue in it
    app.cleanup_ctx.append(app[keys.UPLOADS].lifespan)
    app.cleanup_ctx.append(_live_streams)
    app.cleanup_ctx.append(freeze_startup_objects)  # last: what start-up made, the collector skips
    # a signal, not a resource: tell every browser before the server goes (code 1001)
    app.on_shutdown.append(_close_connections)
    return app


async def index(request: web.Request) -> web.Response:
    """The live page (camera, presentation mode, class view) and the uploads, each while it is on;
    404 when both are off (a studies-only server: participants come with their own link)."""
    app = request.app
    features = page_features(app[keys.SETTINGS])
    if not (features["live"] or features["uploads"]):
        return aiohttp_jinja2.render_template("not_here.html", request, {"features": features}, status=404)
    config = {
        "classes": list(ml.CLASSES),
        "emoji": dict(ml.EMOJI),
        "colors": dict(ml.COLORS),
        "model": app[keys.ANALYSIS].model_name,
        "ice_servers": list(app[keys.SETTINGS].ice_servers),
        "columns": list(COLUMNS),
        "features": features,
    }
    return aiohttp_jinja2.render_template("index.html", request, {**config, "config": config})


async def health(request: web.Request) -> web.Response:
    """200 while the server answers; ``status`` "degraded" while the database is unavailable (live
    streams go on; studies' writes wait, new participants, studies and uploads are refused)."""
    app = request.app
    db = app[keys.STUDIES].db
    up = await db.health.check()
    body = {
        "status": "ok" if up else "degraded",
        "database": "ok" if up else "unavailable",
        "model": app[keys.ANALYSIS].model_name,
        "live_streams": len(app[keys.LIVE_SESSIONS]),
        "max_streams": app[keys.SETTINGS].max_streams,
        "features": sorted(app[keys.SETTINGS].features),
    }
    if not up:
        body["database_down_s"] = round(time.time() - (db.health.down_since or time.time()), 1)
        body["database_writes_waiting"] = db.health.deferred
    return web.json_response(body)


async def _log_model(app: web.Application):
    log.info("expression model %s loaded", app[keys.ANALYSIS].model_name)
    yield


async def _live_streams(app: web.Application):
    """Every live stream still open at cleanup is closed (its peer connection and tasks)."""
    yield
    await asyncio.gather(*(s.close() for s in list(app[keys.LIVE_SESSIONS])), return_exceptions=True)


async def _close_connections(app: web.Application) -> None:
    conns = list(app[keys.CONNECTIONS])
    await asyncio.gather(
        *(c.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown") for c in conns),
        return_exceptions=True,
    )
