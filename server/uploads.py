"""Upload a recorded video or image from the page; analyse it in the background.

    from server.uploads import setup_uploads
    setup_uploads(app)        # adds the routes below and the cleanup task to a web.Application

Routes (JSON errors are ``{"error": message}``):

    GET    /api/uploads/config         limits for the page: max_bytes, retention_s, accepted types
    POST   /api/uploads                multipart field "file" -> 202 {id, status, ...}
                                       413 too large, 415 unsupported type, 400 empty/corrupt, 429 busy
    GET    /api/uploads/{id}           status, progress (0..1), frames, eta_s, error, summary, links
    GET    /api/uploads/{id}/csv       one row per face per analysed frame (when done)
    GET    /api/uploads/{id}/video     the annotated video (H.264 mp4) or image (when done)
    GET    /api/uploads/{id}/timeline.png
    DELETE /api/uploads/{id}           delete the upload and its results now

Analysis runs on a one-thread executor (off the event loop), one upload at a time.
Privacy: the uploaded file is deleted as soon as it has been analysed; its results are
deleted ``retention_s`` after the upload (default 1 hour) by a periodic cleanup task,
on DELETE, and when the server shuts down. Ids are unguessable random tokens.

Configuration (arguments of ``setup_uploads`` or environment variables):
FER_UPLOAD_DIR (default: <temp>/fer-uploads), FER_UPLOAD_MAX_MB (100),
FER_UPLOAD_RETENTION_S (3600), FER_UPLOAD_EVERY (1: analyse every frame), FER_MODEL.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from aiohttp import web

from ml.media import IMAGE_EXTS, VIDEO_EXTS, MediaError, open_media

log = logging.getLogger(__name__)

ACCEPTED_EXTS = VIDEO_EXTS + IMAGE_EXTS
MAX_PENDING = 4  # uploads queued or running at once
CHUNK = 1 << 16


@dataclass
class UploadConfig:
    directory: Path
    max_bytes: int = 100 * 1024 * 1024
    retention_s: float = 3600.0
    cleanup_interval_s: float = 60.0
    every: int = 1
    max_pending: int = MAX_PENDING
    model: str | None = None
    small_faces: bool = False

    @classmethod
    def from_env(cls, **overrides) -> "UploadConfig":
        env = os.environ
        directory = overrides.pop("directory", None) or env.get("FER_UPLOAD_DIR") or (
            Path(tempfile.gettempdir()) / "fer-uploads"
        )
        max_bytes = overrides.pop("max_bytes", None)
        if max_bytes is None:
            max_bytes = int(float(env.get("FER_UPLOAD_MAX_MB", "100")) * 1024 * 1024)
        retention = overrides.pop("retention_s", None)
        if retention is None:
            retention = float(env.get("FER_UPLOAD_RETENTION_S", "3600"))
        every = overrides.pop("every", None) or int(env.get("FER_UPLOAD_EVERY", "1"))
        interval = overrides.pop("cleanup_interval_s", None)
        if interval is None:
            interval = max(0.05, min(60.0, retention / 4))
        cfg = cls(Path(directory), int(max_bytes), float(retention), float(interval), max(1, every), **overrides)
        return cfg


@dataclass
class Job:
    id: str
    filename: str
    dir: Path
    input: Path
    kind: str
    size: int
    created: float = field(default_factory=time.time)
    status: str = "queued"  # queued, running, done, error, cancelled
    frames_done: int = 0
    frames_total: int = 0
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    summary: dict | None = None
    csv: Path | None = None
    out: Path | None = None
    plot: Path | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    future: object = None

    @property
    def stem(self) -> str:
        return Path(self.filename).stem or "upload"

    @property
    def progress(self) -> float:
        if self.status == "done":
            return 1.0
        return min(1.0, self.frames_done / self.frames_total) if self.frames_total else 0.0

    def eta_s(self) -> float | None:
        if self.status != "running" or not self.started or not self.frames_done or not self.frames_total:
            return None
        elapsed = time.time() - self.started
        return round(max(0.0, elapsed * (self.frames_total - self.frames_done) / self.frames_done), 1)

    def to_json(self, retention_s: float) -> dict:
        base = f"/api/uploads/{self.id}"
        links = {}
        if self.status == "done":
            links = {"csv": f"{base}/csv", "video": f"{base}/video", "timeline": f"{base}/timeline.png"}
        return {
            "id": self.id,
            "filename": self.filename,
            "kind": self.kind,
            "size": self.size,
            "status": self.status,
            "progress": round(self.progress, 4),
            "frames_done": self.frames_done,
            "frames_total": self.frames_total,
            "eta_s": self.eta_s(),
            "error": self.error,
            "summary": self.summary,
            "links": links,
            "output_type": _content_type(self.out) if self.out else None,
            "expires_in_s": round(max(0.0, self.created + retention_s - time.time()), 1),
        }


def _content_type(path: Path) -> str:
    ext = path.suffix.lower()
    return {
        ".mp4": "video/mp4",
        ".webm": "video/webm",
        ".png": "image/png",
        ".jpg": "image/jpeg",
        ".jpeg": "image/jpeg",
        ".csv": "text/csv",
    }.get(ext, "application/octet-stream")


def safe_filename(name: str) -> str:
    """The base name of a client's file name, restricted to harmless characters."""
    base = re.split(r"[\\/]", unquote(name or ""))[-1].strip()  # clients may %-encode it
    base = re.sub(r"[^\w.\- ]+", "_", base).strip(" .")[:120]
    return base or "upload"


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class UploadManager:
    """The uploads of one application: storage, background analysis, expiry."""

    def __init__(self, config: UploadConfig, analyzer=None, classifier=None):
        self.config = config
        self.jobs: dict[str, Job] = {}
        self._analyzer = analyzer
        self._shared_classifier = classifier
        self._analyzer_lock = threading.Lock()
        self.executor: ThreadPoolExecutor | None = None
        self._cleanup_task: asyncio.Task | None = None

    # --- analysis (worker thread) -------------------------------------------------

    def analyzer(self):
        with self._analyzer_lock:
            if self._analyzer is None:
                import ml
                from ml.detector import DISTANT_FACES

                shared = self._shared_classifier() if self._shared_classifier else None
                detector = ml.FaceDetector(**DISTANT_FACES) if self.config.small_faces else None
                # the live analyser's classifier when there is one (one model in memory);
                # a detector of its own: this runs in another thread
                self._analyzer = ml.FrameAnalyzer(shared or self.config.model, detector=detector)
            return self._analyzer

    @staticmethod
    def _lower_priority() -> None:
        """Best effort (Linux: niceness is per thread): recorded media yields to the live camera."""
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        except (AttributeError, OSError):
            pass

    def run_job(self, job: Job) -> None:
        from ml.recorded import Cancelled, analyze_media

        self._lower_priority()

        if job.cancel.is_set():
            job.status = "cancelled"
            return
        job.status, job.started = "running", time.time()

        def progress(done: int, total: int) -> None:
            job.frames_done, job.frames_total = done, total
            if job.cancel.is_set():
                raise Cancelled()

        out_ext = ".mp4" if job.kind == "video" else (".jpg" if job.input.suffix.lower() in (".jpg", ".jpeg") else ".png")
        try:
            source = open_media(job.input)
            job.frames_total = source.frame_count
            result = analyze_media(
                source,
                self.analyzer(),
                csv=job.dir / "expressions.csv",
                out=job.dir / f"annotated{out_ext}",
                plot=job.dir / "timeline.png",
                every=self.config.every,
                progress=progress,
            )
            job.csv, job.out, job.plot = result.csv, result.out, result.plot
            summary = result.summary.to_dict()
            summary["source"] = job.filename
            job.summary = summary
            job.frames_done = job.frames_total = result.summary.frames_total
            job.status = "done"
        except Cancelled:
            job.status = "cancelled"
        except MediaError as e:
            job.error = str(e).replace(str(job.input), job.filename)
            job.status = "error"
        except Exception as e:  # report, never leave the job "running"
            log.exception("analysis of upload %s failed", job.id)
            job.error = f"{job.filename}: analysis failed ({e.__class__.__name__}: {e})"
            job.status = "error"
        finally:
            job.finished = time.time()
            # privacy: the uploaded recording itself is not kept once analysed
            try:
                job.input.unlink()
            except FileNotFoundError:
                pass

    # --- storage and expiry --------------------------------------------------------

    def delete(self, job: Job) -> None:
        """Forget a job and remove its files (a running analysis is cancelled first)."""
        job.cancel.set()
        self.jobs.pop(job.id, None)
        if job.status in ("queued", "running"):
            fut = job.future
            if fut is not None:
                fut.add_done_callback(lambda _f: shutil.rmtree(job.dir, ignore_errors=True))
                return
        shutil.rmtree(job.dir, ignore_errors=True)

    def sweep(self) -> int:
        """Delete jobs older than the retention time, and stray folders (older runs) as old."""
        now = time.time()
        expired = [j for j in self.jobs.values() if now - j.created >= self.config.retention_s]
        for job in expired:
            self.delete(job)
        known = {j.dir.name for j in self.jobs.values()}
        removed = len(expired)
        if self.config.directory.is_dir():
            for entry in self.config.directory.iterdir():
                if entry.name in known or not entry.name.startswith("u-"):
                    continue
                try:
                    if now - entry.stat().st_mtime >= self.config.retention_s:
                        shutil.rmtree(entry, ignore_errors=True)
                        removed += 1
                except FileNotFoundError:
                    pass
        return removed

    async def _cleanup_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.cleanup_interval_s)
            try:
                self.sweep()
            except Exception:  # keep cleaning up whatever happens
                log.exception("upload cleanup failed")

    async def lifespan(self, app: web.Application):
        self.config.directory.mkdir(parents=True, exist_ok=True)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fer-upload")
        self.sweep()
        self._cleanup_task = asyncio.create_task(self._cleanup_loop())
        yield
        self._cleanup_task.cancel()
        try:
            await self._cleanup_task
        except asyncio.CancelledError:
            pass
        running = []
        for job in list(self.jobs.values()):
            job.cancel.set()
            if job.future is not None and not job.future.done():
                running.append(asyncio.wrap_future(job.future))
        if running:
            await asyncio.wait(running, timeout=30)
        self.executor.shutdown(wait=False, cancel_futures=True)
        for job in list(self.jobs.values()):  # privacy: nothing outlives the server
            self.jobs.pop(job.id, None)
            shutil.rmtree(job.dir, ignore_errors=True)

    # --- HTTP handlers --------------------------------------------------------------

    def _job(self, request: web.Request) -> Job | None:
        job = self.jobs.get(request.match_info["id"])
        if job is not None and time.time() - job.created >= self.config.retention_s:
            self.delete(job)
            return None
        return job

    async def handle_config(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "max_bytes": self.config.max_bytes,
                "retention_s": self.config.retention_s,
                "extensions": list(ACCEPTED_EXTS),
                "accept": ",".join(ACCEPTED_EXTS) + ",video/*,image/*",
            }
        )

    async def handle_upload(self, request: web.Request) -> web.Response:
        limit = self.config.max_bytes
        mb = f"{limit / 1024 / 1024:.0f} MB" if limit >= 1024 * 1024 else f"{limit} bytes"
        if request.content_length is not None and request.content_length > limit + 64 * 1024:
            return _error(413, f"the file is larger than the {mb} limit")
        pending = sum(1 for j in self.jobs.values() if j.status in ("queued", "running"))
        if pending >= self.config.max_pending:
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
        job_id = secrets.token_urlsafe(16)
        job_dir = self.config.directory / f"u-{job_id}"
        job_dir.mkdir(parents=True)
        path = job_dir / f"input{ext}"
        size = 0
        try:
            with open(path, "wb") as fh:
                while True:
                    chunk = await part.read_chunk(CHUNK)
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > limit:
                        raise _TooLarge()
                    fh.write(chunk)
        except _TooLarge:
            shutil.rmtree(job_dir, ignore_errors=True)
            return _error(413, f"{filename} is larger than the {mb} limit")
        except BaseException:
            shutil.rmtree(job_dir, ignore_errors=True)
            raise
        kind = "video" if ext in VIDEO_EXTS else "image"
        if size == 0:
            shutil.rmtree(job_dir, ignore_errors=True)
            return _error(400, f"{filename}: the file is empty")
        try:  # a quick look (container header / image decode) before queueing
            await asyncio.get_running_loop().run_in_executor(None, open_media, path)
        except MediaError as e:
            shutil.rmtree(job_dir, ignore_errors=True)
            return _error(400, str(e).replace(str(path), filename))
        job = Job(job_id, filename, job_dir, path, kind, size)
        self.jobs[job_id] = job
        job.future = self.executor.submit(self.run_job, job)
        return web.json_response(job.to_json(self.config.retention_s), status=202)

    async def handle_status(self, request: web.Request) -> web.Response:
        job = self._job(request)
        if job is None:
            return _error(404, "no such upload (uploads are deleted after their retention time)")
        return web.json_response(job.to_json(self.config.retention_s))

    async def handle_delete(self, request: web.Request) -> web.Response:
        job = self._job(request)
        if job is None:
            return _error(404, "no such upload (uploads are deleted after their retention time)")
        self.delete(job)
        return web.json_response({"id": job.id, "deleted": True})

    def _result(self, request: web.Request, attr: str, download_name):
        job = self._job(request)
        if job is None:
            return _error(404, "no such upload (uploads are deleted after their retention time)")
        if job.status != "done":
            return _error(409, f"{job.filename}: analysis is {job.status}, no results yet")
        path = getattr(job, attr)
        if path is None or not path.is_file():
            return _error(404, f"{job.filename}: this result was not produced")
        headers = {"Content-Type": _content_type(path), "Cache-Control": "no-store"}
        if download_name:
            headers["Content-Disposition"] = f'attachment; filename="{download_name(job, path)}"'
        return web.FileResponse(path, headers=headers)

    async def handle_csv(self, request: web.Request):
        return self._result(request, "csv", lambda j, p: f"{j.stem}.expressions.csv")

    async def handle_video(self, request: web.Request):
        inline = request.query.get("download") is None
        return self._result(request, "out", None if inline else (lambda j, p: f"{j.stem}.annotated{p.suffix}"))

    async def handle_plot(self, request: web.Request):
        return self._result(request, "plot", None)


class _TooLarge(Exception):
    pass


UPLOADS_KEY = web.AppKey("uploads", UploadManager)


def setup_uploads(
    app: web.Application,
    *,
    directory: str | os.PathLike | None = None,
    max_bytes: int | None = None,
    retention_s: float | None = None,
    cleanup_interval_s: float | None = None,
    every: int | None = None,
    model: str | None = None,
    analyzer=None,
    classifier=None,
    small_faces: bool = False,
) -> UploadManager:
    """Add the upload routes and the cleanup task to ``app``; returns the manager (also ``app[UPLOADS_KEY]``).

    ``analyzer``: an ``ml.FrameAnalyzer`` to share; by default one is built on the first upload,
    with the ``ml.EmotionClassifier`` that ``classifier()`` returns (the live one, so that the
    model is in memory once) or else loaded from ``model``, and with a detector for small,
    distant faces if ``small_faces``.
    """
    config = UploadConfig.from_env(
        directory=directory,
        max_bytes=max_bytes,
        retention_s=retention_s,
        cleanup_interval_s=cleanup_interval_s,
        every=every,
        model=model or os.environ.get("FER_MODEL"),
        small_faces=small_faces,
    )
    manager = UploadManager(config, analyzer=analyzer, classifier=classifier)
    app[UPLOADS_KEY] = manager
    r = app.router
    r.add_get("/api/uploads/config", manager.handle_config)
    r.add_post("/api/uploads", manager.handle_upload)
    r.add_get("/api/uploads/{id}", manager.handle_status)
    r.add_delete("/api/uploads/{id}", manager.handle_delete)
    r.add_get("/api/uploads/{id}/csv", manager.handle_csv)
    r.add_get("/api/uploads/{id}/video", manager.handle_video)
    r.add_get("/api/uploads/{id}/timeline.png", manager.handle_plot)
    app.cleanup_ctx.append(manager.lifespan)
    return manager
