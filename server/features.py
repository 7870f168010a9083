"""The parts of the app a deployment has on (``Settings.features``, ``--features``, ``FER_FEATURES``).

A part that is off is absent: ``server/app.py`` does not register its routes (they answer
404), its scripts under ``/static`` answer 404 (``switched_off``, a middleware), and the
pages leave out its sections (``page_features``, given to the templates). ``/ws`` stays
while studies are on (participants stream over it) and then refuses plain live streams.
"""

from __future__ import annotations

from aiohttp import web

from . import keys

# /static/NAME -> the parts that use it: served while one of them is on. Files not named here
# (style.css, chart.js, shares.js, dialog.js, the fonts) are shared by every page.
STATIC_FILES = {
    "live.js": ("live",),
    "present.js": ("live",),
    "overlay.js": ("live",),
    "announce.js": ("live", "studies"),
    "webrtc.js": ("live", "studies"),
    "classview.js": ("classview",),
    "upload.js": ("uploads",),
    "studies.js": ("studies",),
    "studies.css": ("studies",),
    "participant.js": ("studies",),
    "results.js": ("studies",),
    "observe.js": ("studies",),
    "compare.js": ("studies",),
}


def page_features(settings) -> dict[str, bool]:
    """For the templates and the pages' config: which parts are on."""
    return {name: name in settings.features for name in ("live", "classview", "uploads", "studies")}


def serves_websocket(settings) -> bool:
    """``/ws``: the live page's streams and the study participants' both go over it."""
    return bool({"live", "studies"} & settings.features)


@web.middleware
async def switched_off(request: web.Request, handler):
    """404 for a switched-off part's files under /static (its routes are simply not there)."""
    if request.path.startswith("/static/"):
        parts = STATIC_FILES.get(request.path[len("/static/"):])
        if parts is not None and not set(parts) & request.app[keys.SETTINGS].features:
            raise web.HTTPNotFound()
    return await handler(request)
