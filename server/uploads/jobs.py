"""Upload jobs: the recorded videos and images being analysed, their worker and their expiry.

    jobs = UploadJobs(settings.uploads, service)   # service: the server's AnalysisService
    job = jobs.reserve(client)                      # a slot, counted at once (Refusal if none is free)
    await jobs.io(jobs.make_folder, job)            # its private folder (file I/O: jobs.io, off the loop)
    jobs.start(job)                                 # analysed on the service's recorded-media thread
    jobs.get(job_id); await jobs.delete(job); jobs.discard(job); await jobs.sweep()

Limits: ``max_pending`` uploads being received, queued or analysed at once
(``max_pending_per_client`` from one address), counted from before the body is read;
pictures and durations checked from the file's header (``UploadSettings``), frames
decoded scaled down. File I/O (folders, writes, header checks, deletions) runs on
``io_threads`` threads, never on the event loop.

Privacy: the uploaded file is deleted as soon as it has been analysed; its results are
deleted ``retention_s`` after the upload (default 1 hour) by a periodic sweep, on
DELETE (which needs the job's delete token, given only to the uploader), and when the
server shuts down; at start-up every upload folder left by an earlier run (a crash) is
deleted. Folders are 0700 and files 0600 in a folder of the server's user. Ids are
unguessable random tokens, never logged.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from ml.recorded import Cancelled, analyze_media
from ml.recorded.media import IMAGE_EXTS, VIDEO_EXTS, MediaError, MediaLimits, open_media

from ..client_limits import Refusal
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
    status: str = "queued"  # receiving, queued, running, done, error, cancelled
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
    client: str = ""  # the uploader's address: per-address limits only, never logged
    delete_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))  # given to the uploader only

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

    PENDING = ("receiving", "queued", "running")

    def __init__(self, settings: UploadSettings, service: AnalysisService):
        self.settings = settings
        self.service = service
        self.jobs: dict[str, Job] = {}
        self.limits = MediaLimits(
            max_pixels=settings.max_pixels,
            max_side=settings.max_side,
            max_duration_s=settings.max_duration_s,
            frame_side=settings.frame_side,
        )
        self._io: ThreadPoolExecutor | None = None
        self._cleanup_task: asyncio.Task | None = None

    async def io(self, fn, *args):
        """``fn(*args)`` on the upload I/O threads (bounded: ``io_threads``)."""
        if self._io is None:
            raise RuntimeError("the uploads are not running")
        return await asyncio.get_running_loop().run_in_executor(self._io, fn, *args)

    def reserve(self, client: str) -> Job | Refusal:
        """A new job in state "receiving", counted against the limits at once (no await: parallel
        uploads cannot slip past them); its folder still to be made (``make_folder``)."""
        if self.pending() >= self.settings.max_pending:
            return Refusal(429, "the server is busy analysing other uploads; try again in a minute")
        mine = sum(1 for j in self.jobs.values() if j.client == client and j.status in self.PENDING)
        if mine >= self.settings.max_pending_per_client:
            return Refusal(429, f"you have {mine} uploads being analysed already; wait for them to finish")
        job_id = secrets.token_urlsafe(16)
        job_dir = self.settings.directory / f"u-{job_id}"
        job = Job(job_id, "", job_dir, job_dir / "input", "", 0, status="receiving", client=client)
        self.jobs[job.id] = job
        return job

    @staticmethod
    def make_folder(job: Job) -> None:
        """Blocking (I/O threads): the job's private folder."""
        os.mkdir(job.dir, 0o700)

    @staticmethod
    def open_input(job: Job, filename: str, ext: str):
        """Blocking (I/O threads): name the upload and open its file (0600, a new file) for writing."""
        job.filename = filename
        job.kind = "video" if ext in VIDEO_EXTS else "image"
        job.input = job.dir / f"input{ext}"
        fd = os.open(job.input, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        return os.fdopen(fd, "wb")

    def check(self, job: Job) -> None:
        """Blocking (I/O threads): the upload's header against the limits; MediaError if refused."""
        open_media(job.input, self.limits)

    def start(self, job: Job) -> None:
        """Queue an uploaded job for analysis."""
        job.status = "queued"
        job.future = self.service.submit_recorded(lambda analyzer: self.run_job(job, analyzer))

    async def remove(self, job: Job) -> None:
        """Forget a job that was never started (a refused upload) and remove its folder."""
        self.jobs.pop(job.id, None)
        await self.io(shutil.rmtree, job.dir, True)

    def discard(self, job: Job) -> None:
        """``remove``, from where nothing can be awaited (a cancelled request): the folder goes in the background."""
        self.jobs.pop(job.id, None)
        if self._io is not None:
            self._io.submit(shutil.rmtree, job.dir, True)
        else:
            shutil.rmtree(job.dir, ignore_errors=True)

    def pending(self) -> int:
        return sum(1 for j in self.jobs.values() if j.status in self.PENDING)

    def get(self, job_id: str) -> Job | None:
        """The job, unless unknown, still being received, or expired (the sweep deletes it)."""
        job = self.jobs.get(job_id)
        if job is None or job.status == "receiving":
            return None
        if time.time() - job.created >= self.settings.retention_s:
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
            source = open_media(job.input, self.limits)
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
            log.exception("analysis of an upload failed")
            job.error = f"{job.filename}: analysis failed ({e.__class__.__name__})"
            job.status = "error"
        finally:
            job.finished = time.time()
            # privacy: the uploaded recording itself is not kept once analysed
            try:
                job.input.unlink()
            except FileNotFoundError:
                pass
            for path in (job.csv, job.out, job.plot):  # results: the server's user only
                if path is not None:
                    try:
                        os.chmod(path, 0o600)
                    except OSError:
                        pass
            log.info(
                "upload analysed (%s, %s): %d frames in %.1f s",
                job.kind, job.status, job.frames_done, job.finished - (job.started or job.finished),
            )

    # --- storage and expiry --------------------------------------------------------

    async def delete(self, job: Job) -> None:
        """Forget a job and remove its files (a running analysis is cancelled and awaited first)."""
        job.cancel.set()
        self.jobs.pop(job.id, None)
        fut = job.future
        if fut is not None and not fut.done():
            await asyncio.wait([asyncio.wrap_future(fut)], timeout=60)
        await self.io(shutil.rmtree, job.dir, True)

    def _folders(self) -> list[str]:
        """Blocking: the names of the upload folders on disk."""
        try:
            return [e.name for e in os.scandir(self.settings.directory) if e.name.startswith("u-")]
        except FileNotFoundError:
            return []

    def _remove(self, names: list[str]) -> None:
        for name in names:
            shutil.rmtree(self.settings.directory / name, ignore_errors=True)

    async def sweep(self) -> int:
        """Delete jobs older than the retention time, and every upload folder no job owns (a job owns its
        folder from before it is made, so a folder without one was left by a crash or a lost cleanup)."""
        now = time.time()
        expired = [j for j in self.jobs.values() if now - j.created >= self.settings.retention_s]
        for job in expired:
            await self.delete(job)
        on_disk = await self.io(self._folders)
        known = {j.dir.name for j in self.jobs.values()}
        stray = [name for name in on_disk if name not in known]
        if stray:
            await self.io(self._remove, stray)
        return len(expired) + len(stray)

    async def _cleanup_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.cleanup_interval_s)
            try:
                await self.sweep()
            except Exception:  # keep cleaning up whatever happens
                log.exception("upload cleanup failed")

    async def lifespan(self, app: web.Application):
        self._io = ThreadPoolExecutor(max_workers=self.settings.io_threads, thread_name_prefix="fer-upload-io")
        await self.io(private_folder, self.settings.directory)
        left = await self.sweep()  # a crashed run's uploads: nobody can reach them any more
        if left:
            log.info("deleted %d upload folders left by an earlier run", left)
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
        jobs = list(self.jobs.values())  # privacy: nothing outlives the server
        self.jobs.clear()
        await self.io(self._remove, [j.dir.name for j in jobs])
        self._io.shutdown(wait=True)
        self._io = None


def private_folder(path: Path) -> None:
    """Blocking: make ``path`` (and its parents) a folder only this user can enter (0700).

    RuntimeError if it is a symbolic link or belongs to another user (a shared /tmp path that
    someone else made first)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise RuntimeError(f"upload folder {path} is not a plain folder (a symbolic link?); choose another")
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise RuntimeError(f"upload folder {path} belongs to another user; choose another (FER_UPLOAD_DIR)")
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(path, 0o700)
