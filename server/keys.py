"""The application's typed state keys (``web.AppKey``): what ``app[...]`` holds, in one place.

The types are imported for type checkers only, so any package may import this module
without importing the others (studies and uploads do; neither imports the other through it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from .live.client_limits import ClientCounter
    from .live.inference import AnalysisService
    from .rate_limit import SlidingWindow
    from .settings import Settings
    from .studies.service import Studies
    from .uploads.jobs import UploadJobs

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
ANALYSIS: web.AppKey[AnalysisService] = web.AppKey("analysis")
CONNECTIONS: web.AppKey[set] = web.AppKey("connections")  # live.signaling.Connection: every open /ws
LIVE_SESSIONS: web.AppKey[set] = web.AppKey("live_sessions")  # live.session.LiveSession: every live stream
UPLOADS: web.AppKey[UploadJobs] = web.AppKey("uploads")  # recorded-media upload jobs
WEBSOCKETS: web.AppKey[ClientCounter] = web.AppKey("websockets")  # open /ws per client address, and overall
STUDIES: web.AppKey[Studies] = web.AppKey("studies")  # studies: database, result writer, live participations
OBSERVERS: web.AppKey[set] = web.AppKey("observers")  # studies.observe.Observer: every open live view of a study
TOKEN_GUESSES: web.AppKey[SlidingWindow] = web.AppKey("token_guesses")  # wrong researcher tokens per address
