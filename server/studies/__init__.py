"""Remote usability studies: invitation links, consent, task markers, sessions stored in a database.

    (the database, its tables and migrations: server/storage/)
    store.py         the queries
    rows.py          result message -> stored rows -> exported rows (ml.schema)
    hub.py           every study result, for whoever subscribes (the writer; observers)
    writer.py        the batched writer: stored at least once a second, off the event loop
    participation.py a participant's visit on /ws: session, markers, results
    summary.py       a session's timeline and per-task table
    service.py       ``Studies``: all of the above for the app (app[keys.STUDIES])
    auth.py          the researcher's token: Bearer header, login cookie
    routes.py        the JSON API;  pages.py: the researcher's and the participant's pages
    observe.py       the researcher's live view: a WebSocket of the study's live events, notes
    screen.py        the sessions' screen recordings: chunks stored as bytes, one seekable file each (remux.py)
    screen_routes.py their HTTP API: the participant's chunks, the researcher's file (range requests)
    moments.py       moments, per-task valence and expressiveness, hotspots: the definitions
    insights.py      those figures for a session or a study, from the participant's timeline
    insight_routes.py their API: moments, per-task figures and hotspots as JSON and CSV

docs/studies.md is the researcher's how-to.
"""

from .participation import Participation, StudyError
from .service import Studies

__all__ = ["Participation", "Studies", "StudyError", "add_routes"]


def add_routes(app) -> None:
    from . import insight_routes, observe, pages, routes, screen_routes

    routes.add_routes(app)
    screen_routes.add_routes(app)
    insight_routes.add_routes(app)
    observe.setup(app)
    pages.add_routes(app)
