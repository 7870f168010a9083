"""The upload API (JSON errors are ``{"error": message}``):

    GET    /api/uploads/config         limits for the page: max_bytes, retention_s, accepted types
    POST   /api/uploads                multipart field "file" -> 202 {id, status, ...}
                                       413 too large, 415 unsupported type, 400 empty/corrupt, 429 busy
    GET    /api/uploads/{id}           status, progress (0..1), frames, eta_s, error, summary, links
    GET    /api/uploads/{id}/csv       one row per face per analysed frame (when done)
    GET    /api/uploads/{id}/video     the annotated video (H.264 mp4) or image (when done)
    GET    /api/uploads/{id}/timeline.png
    DELETE /api/uploads/{id}           delete the upload and its results now
"""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path
from urllib.parse import unquote

from aiohttp import web

from ml.recorded.media import IMAGE_EXTS, VIDEO_EXTS, MediaError, open_media

from .. import keys
from .jobs import ACCEPTED_EXTS, content_type

CHUNK = 1 << 16
GONE = "no such upload (uploads are deleted after their retention time)"


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/uploads/config", handle_config)
    r.add_post("/api/uploads", handle_upload)
    r.add_get("/api/uploads/{id}", handle_status)
    r.add_delete("/api/uploads/{id}", handle_delete)
    r.add_get("/api/uploads/{id}/csv", handle_csv)
    r.add_get("/api/uploads/{id}/video", handle_video)
    r.add_get("/api/uploads/{id}/timeline.png", handle_plot)


def safe_filename(name: str) -> str:
    """The base name of a client's file name, restricted to harmless characters."""
    base = re.split(r"[\\/]", unquote(name or ""))[-1].strip()  # clients may %-encode it
    base = re.sub(r"[^\w.\- ]+", "_", base).strip(" .")[:120]
    return base or "upload"


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class _TooLarge(Exception):
    pass


async def handle_config(request: web.Request) -> web.Response:
    settings = request.app[keys.UPLOADS].settings
    return web.json_response(
        {
            "max_bytes": settings.max_bytes,
            "retention_s": settings.retention_s,
            "extensions": list(ACCEPTED_EXTS),
            "accept": ",".join(ACCEPTED_EXTS) + ",video/*,image/*",
        }
    )


async def handle_upload(request: web.Request) -> web.Response:
    jobs = request.app[keys.UPLOADS]
    limit = jobs.settings.max_bytes
    mb = f"{limit / 1024 / 1024:.0f} MB" if limit >= 1024 * 1024 else f"{limit} bytes"
    if request.content_length is not None and request.content_length > limit + 64 * 1024:
        return _error(413, f"the file is larger than the {mb} limit")
    if jobs.pending() >= jobs.settings.max_pending:
        return _error(429, "the server is busy analysing other uploads; try again in a minute")
    try:
        reader = await request.multipart()
    except (AssertionError, ValueError, KeyError):
        return _error(400, "expected a multipart/form-data upload with a 'file' field")
    part = None
    while True:
        candidate = await reader.next()
        if candidate is None:
            break
        if getattr(candidate, "name", None) == "file":
            part = candidate
            break
    if part is None or not part.filename:
        return _error(400, "no file in the upload (multipart field 'file')")
    filename = safe_filename(part.filename)
    ext = Path(filename).suffix.lower()
    if ext not in ACCEPTED_EXTS:
        return _error(
            415,
            f"{filename}: unsupported file type {ext or '(no extension)'!r}; "
            f"upload a video ({', '.join(e[1:] for e in VIDEO_EXTS)}) "
            f"or an image ({', '.join(e[1:] for e in IMAGE_EXTS)})",
        )
    job = jobs.create(filename, ext)
    size = 0
    try:
        with open(job.input, "wb") as fh:
            while True:
                chunk = await part.read_chunk(CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    raise _TooLarge()
                fh.write(chunk)
    except _TooLarge:
        shutil.rmtree(job.dir, ignore_errors=True)
        return _error(413, f"{filename} is larger than the {mb} limit")
    except BaseException:
        shutil.rmtree(job.dir, ignore_errors=True)
        raise
    if size == 0:
        shutil.rmtree(job.dir, ignore_errors=True)
        return _error(400, f"{filename}: the file is empty")
    job.size = size
    try:  # a quick look (container header / image decode) before queueing
        await asyncio.get_running_loop().run_in_executor(None, open_media, job.input)
    except MediaError as e:
        shutil.rmtree(job.dir, ignore_errors=True)
        return _error(400, str(e).replace(str(job.input), filename))
    jobs.start(job)
    return web.json_response(job.to_json(jobs.settings.retention_s), status=202)


async def handle_status(request: web.Request) -> web.Response:
    jobs = request.app[keys.UPLOADS]
    job = jobs.get(request.match_info["id"])
    if job is None:
        return _error(404, GONE)
    return web.json_response(job.to_json(jobs.settings.retention_s))


async def handle_delete(request: web.Request) -> web.Response:
    jobs = request.app[keys.UPLOADS]
    job = jobs.get(request.match_info["id"])
    if job is None:
        return _error(404, GONE)
    jobs.delete(job)
    return web.json_response({"id": job.id, "deleted": True})


def _result(request: web.Request, attr: str, download_name):
    job = request.app[keys.UPLOADS].get(request.match_info["id"])
    if job is None:
        return _error(404, GONE)
    if job.status != "done":
        return _error(409, f"{job.filename}: analysis is {job.status}, no results yet")
    path = getattr(job, attr)
    if path is None or not path.is_file():
        return _error(404, f"{job.filename}: this result was not produced")
    headers = {"Content-Type": content_type(path), "Cache-Control": "no-store"}
    if download_name:
        headers["Content-Disposition"] = f'attachment; filename="{download_name(job, path)}"'
    return web.FileResponse(path, headers=headers)


async def handle_csv(request: web.Request):
    return _result(request, "csv", lambda j, p: f"{j.stem}.expressions.csv")


async def handle_video(request: web.Request):
    inline = request.query.get("download") is None
    return _result(request, "out", None if inline else (lambda j, p: f"{j.stem}.annotated{p.suffix}"))


async def handle_plot(request: web.Request):
    return _result(request, "plot", None)
