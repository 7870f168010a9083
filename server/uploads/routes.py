"""The upload API (JSON errors are ``{"error": message}``):

    GET    /api/uploads/config         limits for the page: max_bytes, retention_s, accepted types
    POST   /api/uploads                multipart field "file" -> 202 {id, delete_token, status, ...}
                                       413 too large, 415 unsupported type, 400 empty/corrupt/picture
                                       too large/too long, 408 the body stalled or trickled, 429 busy
    GET    /api/uploads/{id}           status, progress (0..1), frames, eta_s, error, summary, links
    GET    /api/uploads/{id}/csv       one row per face per analysed frame (when done)
    GET    /api/uploads/{id}/video     the annotated video (H.264 mp4) or image (when done)
    GET    /api/uploads/{id}/timeline.png
    DELETE /api/uploads/{id}           delete the upload and its results now; needs the header
                                       X-Delete-Token: <delete_token of the POST's answer> (else 403)

A study session's recordings (researcher token, as the studies' API; server/uploads/recordings.py):

    POST   /api/sessions/{id}/recordings[?started=WHEN]   as POST /api/uploads; once analysed, the
                                       recording's rows are stored in the session (404 no such session)
    GET    /api/sessions/{id}/recordings                   the session's recording jobs, oldest first

The delete token goes to the uploader only (in the POST's answer), never in a URL: a link
to the results (the id) shared or logged does not let anyone delete them. A job's result
files are in the uploads folder of the server that received it: a replica with another
folder answers 503 (docs/analyze.md: several replicas share one folder).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from urllib.parse import unquote

from aiohttp import web

from ml.recorded.media import IMAGE_EXTS, VIDEO_EXTS, MediaError

from .. import keys
from ..live.client_limits import Refusal, client_address
from ..studies import store as study_store
from ..studies.auth import is_researcher, unauthorized
from .body_deadline import BodyDeadline, BodyTooSlow
from .jobs import ACCEPTED_EXTS, Job, content_type
from .recordings import parse_started

log = logging.getLogger(__name__)

CHUNK = 1 << 16
WRITE_BLOCK = 1 << 20  # bytes gathered before one write on the I/O threads
MAX_NAME = 120
GONE = "no such upload (uploads are deleted after their retention time)"
ELSEWHERE = ("this upload's result files are not in this server's uploads folder: they are on another server "
             "replica (the operator should give the replicas one shared uploads folder), or the folder was emptied")
NO_SESSION = "no such session"
DELETE_TOKEN_HEADER = "X-Delete-Token"


def add_routes(app: web.Application, uploads: bool = True, recordings: bool = True) -> None:
    """``uploads``: the page's uploads (/api/uploads); ``recordings``: a study session's (the
    features ``uploads`` and ``studies``: server/features.py)."""
    r = app.router
    if uploads:
        r.add_get("/api/uploads/config", handle_config)
        r.add_post("/api/uploads", handle_upload)
        r.add_get("/api/uploads/{id}", handle_status)
        r.add_delete("/api/uploads/{id}", handle_delete)
        r.add_get("/api/uploads/{id}/csv", handle_csv)
        r.add_get("/api/uploads/{id}/video", handle_video)
        r.add_get("/api/uploads/{id}/timeline.png", handle_plot)
    if recordings:
        session = "/api/sessions/{id:[A-Za-z0-9_-]{1,64}}/recordings"
        r.add_post(session, handle_recording)
        r.add_get(session, handle_recordings)


def safe_filename(name: str) -> str:
    """The base name of a client's file name, restricted to harmless characters."""
    base = re.split(r"[\\/]", unquote(name or ""))[-1].strip()  # clients may %-encode it
    base = re.sub(r"[^\w.\- ]+", "_", base).strip(" .")
    if len(base) > MAX_NAME:  # shortened, keeping the extension (the type goes by it)
        stem, ext = Path(base).stem, Path(base).suffix
        ext = ext if len(ext) <= 10 else ""
        base = stem[: MAX_NAME - len(ext)].rstrip(" .") + ext
    return base or "upload"


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class _Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


async def handle_config(request: web.Request) -> web.Response:
    settings = request.app[keys.UPLOADS].settings
    return web.json_response(
        {
            "max_bytes": settings.max_bytes,
            "retention_s": settings.retention_s,
            "extensions": list(ACCEPTED_EXTS),
            "accept": ",".join(ACCEPTED_EXTS) + ",video/*,image/*",
            "max_pixels": settings.max_pixels,
            "max_side": settings.max_side,
            "max_duration_s": settings.max_duration_s,
        }
    )


async def handle_upload(request: web.Request) -> web.Response:
    return await _accept(request)


async def _accept(request: web.Request, **options) -> web.Response:
    """Take an uploaded file as a new job (``options``: a study session's recording)."""
    jobs = request.app[keys.UPLOADS]
    limit = jobs.settings.max_bytes
    mb = f"{limit / 1024 / 1024:.0f} MB" if limit >= 1024 * 1024 else f"{limit} bytes"
    if request.content_length is not None and request.content_length > limit + 64 * 1024:
        return _refuse(413, f"the file is larger than the {mb} limit")
    job = await jobs.reserve(client_address(request), **options)  # counted now, before the body is read
    if isinstance(job, Refusal):
        return _refuse(job.status, job.text)
    try:
        await jobs.io(jobs.make_folder, job)
        await _receive(request, jobs, job, limit, mb)
        try:  # a look at the header (limits) and, for images, a decode, before queueing
            await jobs.io(jobs.check, job)
        except MediaError as e:
            raise _Refused(400, str(e).replace(str(job.input), job.filename)) from None
    except _Refused as e:
        await jobs.remove(job)
        return _refuse(e.status, e.message)
    except BaseException:  # the client went away mid-upload, or a bug: nothing is kept
        jobs.discard(job)
        raise
    if not await jobs.start(job):
        return _refuse(404, NO_SESSION + " (deleted during the upload)")
    body = job.to_json(jobs.settings.retention_s)
    body["delete_token"] = job.delete_token  # the uploader's only: not in any later answer
    return web.json_response(body, status=202)


async def _receive(request: web.Request, jobs, job: Job, limit: int, mb: str) -> None:
    """Read the multipart body's "file" into the job's folder; ``_Refused`` for what cannot be taken
    (408: the body stalled or trickled, ``BodyDeadline``)."""
    settings = jobs.settings
    deadline = BodyDeadline(request.content, settings.body_idle_s, settings.body_min_rate, settings.body_grace_s)
    try:
        reader = await request.multipart()
        part = None
        while True:
            candidate = await deadline.read(reader.next())
            if candidate is None:
                break
            if getattr(candidate, "name", None) == "file":
                part = candidate
                break
        if part is None or not getattr(part, "filename", None):
            raise _Refused(400, "no file in the upload (multipart field 'file')")
        filename = safe_filename(part.filename)
        ext = Path(filename).suffix.lower()
        if ext not in ACCEPTED_EXTS:
            raise _Refused(
                415,
                f"{filename}: unsupported file type {ext or '(no extension)'!r}; "
                f"upload a video ({', '.join(e[1:] for e in VIDEO_EXTS)}) "
                f"or an image ({', '.join(e[1:] for e in IMAGE_EXTS)})",
            )
        fh = await jobs.io(jobs.open_input, job, filename, ext)
        try:
            size, block = 0, bytearray()
            while True:
                chunk = await deadline.read(part.read_chunk(CHUNK))
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    raise _Refused(413, f"{filename} is larger than the {mb} limit")
                block += chunk
                if len(block) >= WRITE_BLOCK:
                    await jobs.io(fh.write, bytes(block))
                    block.clear()
            if block:
                await jobs.io(fh.write, bytes(block))
        finally:
            await jobs.io(fh.close)
    except _Refused:
        raise
    except BodyTooSlow as e:
        raise _Refused(408, str(e)) from None
    except (ValueError, AssertionError, LookupError, RuntimeError, UnicodeError) as e:
        # a malformed multipart body (no boundary, broken headers, ...): the client's fault, not a bug
        raise _Refused(400, f"malformed multipart/form-data upload ({e.__class__.__name__}); "
                            "send the file in a 'file' field") from None
    if size == 0:
        raise _Refused(400, f"{filename}: the file is empty")
    job.size = size


def _refuse(status: int, message: str) -> web.Response:
    log.info("upload refused (%d)", status)
    return _error(status, message)


async def handle_status(request: web.Request) -> web.Response:
    jobs = request.app[keys.UPLOADS]
    job = await jobs.get(request.match_info["id"])
    if job is None:
        return _error(404, GONE)
    return web.json_response(job.to_json(jobs.settings.retention_s))


async def handle_delete(request: web.Request) -> web.Response:
    jobs = request.app[keys.UPLOADS]
    job = await jobs.get(request.match_info["id"])
    if job is None:
        return _error(404, GONE)
    if not job.may_delete(request.headers.get(DELETE_TOKEN_HEADER, "")):
        return _error(403, f"deleting needs the upload's delete token (header {DELETE_TOKEN_HEADER}), "
                           "which only the uploader got")
    await jobs.delete(job)
    return web.json_response({"id": job.id, "deleted": True})


async def _result(request: web.Request, attr: str, download_name):
    jobs = request.app[keys.UPLOADS]
    job = await jobs.get(request.match_info["id"])
    if job is None:
        return _error(404, GONE)
    if job.status != "done":
        return _error(409, f"{job.filename}: analysis is {job.status}, no results yet")
    if not jobs.is_here(job):
        return _error(503, ELSEWHERE)
    path = getattr(job, attr)
    if path is None or not await jobs.io(path.is_file):
        return _error(404, f"{job.filename}: this result was not produced")
    headers = {"Content-Type": content_type(path), "Cache-Control": "no-store"}
    if download_name:
        headers["Content-Disposition"] = f'attachment; filename="{download_name(job, path)}"'
    return web.FileResponse(path, headers=headers)


async def handle_csv(request: web.Request):
    return await _result(request, "csv", lambda j, p: f"{j.stem}.expressions.csv")


async def handle_video(request: web.Request):
    inline = request.query.get("download") is None
    return await _result(request, "out", None if inline else (lambda j, p: f"{j.stem}.annotated{p.suffix}"))


async def handle_plot(request: web.Request):
    return await _result(request, "plot", None)


async def handle_recording(request: web.Request) -> web.Response:
    """A recording of a study session, uploaded by the researcher: analysed as an upload job, its rows
    stored in the session."""
    if not await is_researcher(request):
        return unauthorized()
    session = await study_store.get_session(request.app[keys.STUDIES].db, request.match_info["id"])
    if session is None:
        return _error(404, NO_SESSION)
    started = None
    if request.query.get("started"):
        try:
            started = parse_started(request.query["started"])
        except ValueError as e:
            return _error(400, str(e))
    return await _accept(request, session_id=session["id"], recording_start=started)


async def handle_recordings(request: web.Request) -> web.Response:
    if not await is_researcher(request):
        return unauthorized()
    session = await study_store.get_session(request.app[keys.STUDIES].db, request.match_info["id"])
    if session is None:
        return _error(404, NO_SESSION)
    jobs = request.app[keys.UPLOADS]
    return web.json_response([j.to_json(jobs.settings.retention_s) for j in await jobs.session_jobs(session["id"])])
