"""The application's typed state keys (``web.AppKey``): what ``app[...]`` holds, in one place."""

from __future__ import annotations

from aiohttp import web

from .client_limits import ClientCounter
from .inference import AnalysisService
from .settings import Settings
from .studies.service import Studies
from .uploads.jobs import UploadJobs

SETTINGS = web.AppKey("settings", Settings)
ANALYSIS = web.AppKey("analysis", AnalysisService)
CONNECTIONS = web.AppKey("connections", set)  # signaling.Connection: every open /ws
LIVE_SESSIONS = web.AppKey("live_sessions", set)  # live_session.LiveSession: every live stream
UPLOADS = web.AppKey("uploads", UploadJobs)  # recorded-media upload jobs
WEBSOCKETS = web.AppKey("websockets", ClientCounter)  # open /ws per client address, and overall
STUDIES = web.AppKey("studies", Studies)  # studies: database, result writer, live participations
OBSERVERS = web.AppKey("observers", set)  # studies.observe.Observer: every open live view of a study
