"""Upload jobs: the recorded videos and images being analysed, their worker and their expiry.

    jobs = UploadJobs(settings.uploads, service)   # service: the server's AnalysisService
    job = jobs.create(filename, kind)               # a private folder for the upload
    jobs.start(job)                                 # analysed on the service's recorded-media thread
    jobs.get(job_id); jobs.delete(job); jobs.sweep()

Privacy: the uploaded file is deleted as soon as it has been analysed; its results are
deleted ``retention_s`` after the upload (default 1 hour) by a periodic sweep, on
DELETE, and when the server shuts down. Ids are unguessable random tokens.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from ml.recorded import Cancelled, analyze_media
from ml.recorded.media import IMAGE_EXTS, VIDEO_EXTS, MediaError, open_media

from ..inference import AnalysisService
from ..settings import UploadSettings

log = logging.getLogger(__name__)

ACCEPTED_EXTS = VIDEO_EXTS + IMAGE_EXTS


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
            "output_type": content_type(self.out) if self.out else None,
            "expires_in_s": round(max(0.0, self.created + retention_s - time.time()), 1),
        }


def content_type(path: Path) -> str:
    """The HTTP content type of a result file."""
    ext = path.suffix.lower()
    return {
        ".mp4": "video/mp4",
        ".webm": "video/webm",
        ".png": "image/png",
        ".jpg": "image/jpeg",
        ".jpeg": "image/jpeg",
        ".csv": "text/csv",
    }.get(ext, "application/octet-stream")


class UploadJobs:
    """The uploads of one application: storage, background analysis, expiry."""

    def __init__(self, settings: UploadSettings, service: AnalysisService):
        self.settings = settings
        self.service = service
        self.jobs: dict[str, Job] = {}
        self._cleanup_task: asyncio.Task | None = None

    def create(self, filename: str, ext: str) -> Job:
        """A new job with a private folder for its upload (``job.input``, still to be written)."""
        job_id = secrets.token_urlsafe(16)
        job_dir = self.settings.directory / f"u-{job_id}"
        job_dir.mkdir(parents=True)
        kind = "video" if ext in VIDEO_EXTS else "image"
        return Job(job_id, filename, job_dir, job_dir / f"input{ext}", kind, 0)

    def start(self, job: Job) -> None:
        """Queue an uploaded job for analysis."""
        self.jobs[job.id] = job
        job.future = self.service.submit_recorded(lambda analyzer: self.run_job(job, analyzer))

    def pending(self) -> int:
        return sum(1 for j in self.jobs.values() if j.status in ("queued", "running"))

    def get(self, job_id: str) -> Job | None:
        """The job, unless unknown or expired (an expired one is deleted now)."""
        job = self.jobs.get(job_id)
        if job is not None and time.time() - job.created >= self.settings.retention_s:
            self.delete(job)
            return None
        return job

    # --- analysis (the service's recorded-media thread) ------------------------------

    def run_job(self, job: Job, analyzer) -> None:
        """Blocking, on the recorded-media thread: analyse the job's upload, write its results."""
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
                analyzer,
                csv=job.dir / "expressions.csv",
                out=job.dir / f"annotated{out_ext}",
                plot=job.dir / "timeline.png",
                every=self.settings.every,
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
        expired = [j for j in self.jobs.values() if now - j.created >= self.settings.retention_s]
        for job in expired:
            self.delete(job)
        known = {j.dir.name for j in self.jobs.values()}
        removed = len(expired)
        if self.settings.directory.is_dir():
            for entry in self.settings.directory.iterdir():
                if entry.name in known or not entry.name.startswith("u-"):
                    continue
                try:
                    if now - entry.stat().st_mtime >= self.settings.retention_s:
                        shutil.rmtree(entry, ignore_errors=True)
                        removed += 1
                except FileNotFoundError:
                    pass
        return removed

    async def _cleanup_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.cleanup_interval_s)
            try:
                self.sweep()
            except Exception:  # keep cleaning up whatever happens
                log.exception("upload cleanup failed")

    async def lifespan(self, app: web.Application):
        self.settings.directory.mkdir(parents=True, exist_ok=True)
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
        for job in list(self.jobs.values()):  # privacy: nothing outlives the server
            self.jobs.pop(job.id, None)
            shutil.rmtree(job.dir, ignore_errors=True)
