"""Remote usability studies: invitation links, consent, camera check, task markers, sessions stored in a database.

    (the database, its tables and migrations: server/storage/)
    store.py            the queries; ``participant_frames(db, session_id)``: THE participant's timeline
                        (one dict per analysed frame: their row, and the other faces' ids in ``others``)
    definitions.py      THE figures of a session, defined once (``summarize``), their glossary, the data-quality
                        thresholds and flags, session statuses and labels (S1, S2, ...)
    figures.py          the sessions' figures for pages and exports (``summarize``, kept once a session ended)
    participant_face.py which face is the participant's (one per session; others: "someone else in view")
    camera_check.py     the check before the first task: one face, large and lit enough, held 2 s
    rows.py             result message -> stored rows -> exported rows (ml.schema + the study's columns)
    hub.py              every study result, for whoever subscribes (the writer; observers)
    writer.py           the batched writer: stored at least once a second, off the event loop
    participation.py    a participant's visit on /ws: session, camera check, markers, results, status
    summary.py          a study's comparison task by task (completed sessions, or also the incomplete ones)
    exports.py          the downloads: CSVs, a session's JSON, export.zip with its README.txt
    lifecycle.py        retention: sessions older than their study's period deleted (closing, caps: store, service)
    service.py          ``Studies``: all of the above for the app (app[keys.STUDIES]): join, withdraw, delete
    researchers.py      named researcher tokens and login cookies, stored hashed; researcher_cli.py their CLI
    auth.py             the researcher's access: Bearer header, login cookie
    routes.py           the JSON API;  pages.py: the researcher's and the participant's pages
    observe.py          the researcher's live view: a WebSocket of the study's live events, notes
    screen.py           the sessions' screen recordings: chunks stored as bytes, one seekable file each (remux.py)
    screen_routes.py    their HTTP API: the participant's chunks, the researcher's file (range requests)
    moments.py          moments, per-task valence and expressiveness, hotspots: their definitions
    insights.py         those figures for a session or a study, from the participant's timeline
    insight_routes.py   their API: moments, per-task figures and hotspots as JSON and CSV

For other code (as insights.py and screen.py use it):

    frames = [f async for f in store.participant_frames(db, session_id)]  # participant-only, in order
    summary = definitions.summarize(frames, study["tasks"])   # the same figures as every page and export
    session = await store.get_session(db, session_id)         # status, check_status, check_s (the camera
                                                              # check's moment on the rows' clock)
    await app[keys.STUDIES].withdraw(session_id, study_id) / delete_session(session_id)   # nothing left
    app[keys.STUDIES].on_deleted.append(hook)   # await hook(session_ids) after a withdrawal, a delete or
                                                # retention deleted their data: delete what you keep of them

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
