"""Upload jobs: the recorded videos and images being analysed, their queue (in the app's database),
worker, recovery and expiry.

    jobs = UploadJobs(settings.uploads, service, db)  # service: AnalysisService; db: the app's Database
    job = await jobs.reserve(client)                # a slot, counted at once (Refusal if none is free)
    await jobs.io(jobs.make_folder, job)            # its private folder (file I/O: jobs.io, off the loop)
    await jobs.start(job)                           # queued: the next free worker analyses it
    await jobs.get(job_id); await jobs.delete(job); await jobs.remove(job); jobs.discard(job); await jobs.sweep()

The queue is the ``jobs`` table (server/uploads/queue.py) of the same database as the
studies, so every server replica on one PostgreSQL shares it: each replica's worker claims
the next queued job (``FOR UPDATE SKIP LOCKED``, each job exactly once) and analyses it on
the analysis service's recorded-media thread. A job's files stay in the uploads folder
that received them, so a worker claims only jobs of its own folder (its *store*: a random
id kept in the folder's ``.store`` file). Replicas sharing one folder (a shared volume)
share the store and take each other's jobs; replicas with folders of their own analyse
their own uploads. See docs/analyze.md ("Several server replicas").

Restarts: the server process receiving or analysing a job (its *owner*) refreshes the job's
heartbeat every second. A job whose owner went quiet for ``lease_s`` (the process was
killed) is recovered by a worker of its store: analysed again from its uploaded file (up
to ``max_attempts`` tries), failed with a clear message when the file is gone, or deleted
if it was still being received (nobody got its id). A server that stops cleanly puts its
running job back in the queue. Finished jobs stay, and are served after a restart, until
they expire.

Limits: ``max_pending`` uploads queued or analysed at once in one store, ``max_receiving``
being received, and ``max_pending_per_client`` in any of these states from one address,
counted from before the body is read, in one transaction (serialised over replicas); a
body that stalls or trickles is cut off (408, ``body_deadline``); pictures, durations,
frame counts and rates checked from the file's header (``UploadSettings``), frames decoded
scaled down. File I/O (folders, writes,
header checks, deletions) runs on ``io_threads`` threads, never on the event loop.

Privacy: the uploaded file is deleted as soon as it has been analysed; its results are
deleted ``retention_s`` after the upload (default 1 hour) by a periodic sweep, and on
DELETE (which needs the job's delete token, given only to the uploader; the database keeps
its SHA-256 only); every upload folder without a job (left by a crash, or by a deleted
study session) is deleted by the sweep. With a throw-away database (no ``--database``:
tests) everything is deleted when the server stops. Folders are 0700 and files 0600 in a
folder of the server's user. Ids are unguessable random tokens, never logged; the database
holds a keyed hash of the uploader's address, and only while the job is pending.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
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

from ..live.client_limits import Refusal
from ..live.inference import AnalysisService
from ..memory import return_freed_memory
from ..settings import UploadSettings
from ..studies import store as study_store
from ..storage.db import Database
from . import queue
from .recordings import recording_rows

log = logging.getLogger(__name__)

ACCEPTED_EXTS = VIDEO_EXTS + IMAGE_EXTS
STORE_FILE = ".store"
CSV_NAME, PLOT_NAME = "expressions.csv", "timeline.png"
FINAL = ("done", "error")
FILE_GONE = ("{name}: the server stopped during the analysis and the uploaded file is no longer there; "
             "upload it again")
TOO_MANY_TRIES = "{name}: the analysis was interrupted {n} times (the server stopped each time); giving up"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class Job:
    id: str
    store: str
    dir: Path
    filename: str = ""
    kind: str = ""
    input: Path | None = None
    size: int = 0
    created: float = field(default_factory=time.time)
    status: str = "receiving"  # receiving, queued, running, done, error (cancelled: deleted while running)
    frames_done: int = 0
    frames_total: int = 0
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    summary: dict | None = None
    output: str | None = None  # the annotated file's name in ``dir``
    attempts: int = 0
    session_id: str | None = None  # a study session's recording: its rows go there
    recording_start: float | None = None
    client: str = ""  # keyed hash of the uploader's address (per-address limit), never logged
    delete_hash: str = ""
    delete_token: str | None = None  # only on the job just reserved: for the uploader's answer
    # while analysed here
    cancel: threading.Event = field(default_factory=threading.Event)
    future: object = None
    markers: list = field(default_factory=list)  # a recording's session's task markers
    rows: list | None = None  # a recording's result rows, once analysed

    @classmethod
    def from_row(cls, row, directory: Path) -> "Job":
        return cls(id=row.id, store=row.store, dir=directory / f"u-{row.id}", filename=row.filename, kind=row.kind,
                   input=(directory / f"u-{row.id}" / row.input) if row.input else None, size=row.size,
                   created=row.created, status=row.status, frames_done=row.frames_done,
                   frames_total=row.frames_total, started=row.started, finished=row.finished, error=row.error,
                   summary=row.summary, output=row.output, attempts=row.attempts, session_id=row.session_id,
                   recording_start=row.recording_start, client=row.client or "", delete_hash=row.delete_hash)

    def new_row(self, owner: str) -> dict:
        return {"id": self.id, "store": self.store, "status": "receiving", "owner": owner,
                "heartbeat": time.time(), "attempts": 0, "filename": "", "kind": "", "size": 0,
                "client": self.client, "delete_hash": self.delete_hash, "created": self.created,
                "frames_done": 0, "frames_total": 0, "session_id": self.session_id,
                "recording_start": self.recording_start}

    @property
    def stem(self) -> str:
        return Path(self.filename).stem or "upload"

    @property
    def csv(self) -> Path | None:
        return self.dir / CSV_NAME if self.status == "done" else None

    @property
    def plot(self) -> Path | None:
        return self.dir / PLOT_NAME if self.status == "done" else None

    @property
    def out(self) -> Path | None:
        return self.dir / self.output if self.status == "done" and self.output else None

    def may_delete(self, token: str) -> bool:
        return hmac.compare_digest(token_hash(token).encode(), self.delete_hash.encode())

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
    """The uploads of one server process: its share of the database's queue, its worker, its folder."""

    def __init__(self, settings: UploadSettings, service: AnalysisService, db: Database, durable: bool = True):
        """``durable`` False (a throw-away database): every job is deleted when the server stops."""
        self.settings = settings
        self.service = service
        self.db = db
        self.durable = durable
        self.owner = secrets.token_urlsafe(16)  # this server process, in the jobs it receives or analyses
        self.store: str | None = None  # the uploads folder's id (read at start-up)
        self.local: dict[str, Job] = {}  # jobs being received or analysed by this process
        self.limits = MediaLimits(
            max_pixels=settings.max_pixels,
            max_side=settings.max_side,
            max_duration_s=settings.max_duration_s,
            frame_side=settings.frame_side,
            max_streams=settings.max_streams,
            max_frames=settings.max_frames,
            max_fps=settings.max_fps,
        )
        self._io: ThreadPoolExecutor | None = None
        self._tasks: list[asyncio.Task] = []
        self._worker: asyncio.Task | None = None
        self._wake: asyncio.Event | None = None
        self._reserving: asyncio.Lock | None = None
        self._stopping = False
        self._background: set[asyncio.Task] = set()

    async def io(self, fn, *args):
        """``fn(*args)`` on the upload I/O threads (bounded: ``io_threads``)."""
        if self._io is None:
            raise RuntimeError("the uploads are not running")
        return await asyncio.get_running_loop().run_in_executor(self._io, fn, *args)

    def _client_key(self, client: str) -> str:
        return hmac.new(self.store.encode(), client.encode(), hashlib.sha256).hexdigest()

    async def reserve(self, client: str, session_id: str | None = None,
                      recording_start: float | None = None) -> Job | Refusal:
        """A new job in state "receiving", counted against the limits at once (count and insert in one
        transaction: parallel uploads cannot slip past them); its folder still to be made (``make_folder``)."""
        job_id = secrets.token_urlsafe(16)
        token = secrets.token_urlsafe(24)
        job = Job(job_id, self.store, self.settings.directory / f"u-{job_id}", client=self._client_key(client),
                  delete_hash=token_hash(token), delete_token=token, session_id=session_id,
                  recording_start=recording_start)
        async with self._reserving:
            refused = await queue.reserve(self.db, job.new_row(self.owner), self.settings.max_pending,
                                          self.settings.max_pending_per_client, self.settings.max_receiving)
        if refused is not None:
            which, n = refused
            if which == "all":
                return Refusal(429, "the server is busy analysing other uploads; try again in a minute")
            if which == "receiving":
                return Refusal(429, f"the server is receiving {n} other uploads; try again in a minute")
            return Refusal(429, f"you have {n} uploads being analysed already; wait for them to finish")
        self.local[job.id] = job
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
        """Blocking (I/O threads): the upload's header against the limits; MediaError if refused.
        What reading the header took (a container's probe) goes back to the system, refused or not."""
        try:
            open_media(job.input, self.limits)
        finally:
            return_freed_memory()

    async def start(self, job: Job) -> bool:
        """The upload is complete: queue it for analysis. False if its job is gone meanwhile (its study
        session was deleted): then its folder is removed."""
        values = {"filename": job.filename, "kind": job.kind, "size": job.size, "input": job.input.name}
        queued = await queue.start(self.db, job.id, self.owner, values)
        if self.local.get(job.id) is job:  # (a worker may have claimed it already: then it is the worker's)
            del self.local[job.id]
        if not queued:
            await self.io(shutil.rmtree, job.dir, True)
            return False
        job.status = "queued"
        self._wake.set()
        return True

    async def remove(self, job: Job) -> None:
        """Forget a job that was never started (a refused upload) and remove its folder."""
        self.local.pop(job.id, None)
        await queue.remove(self.db, [job.id])
        await self.io(shutil.rmtree, job.dir, True)

    def discard(self, job: Job) -> None:
        """``remove``, from where nothing can be awaited (a cancelled request): it runs in the background."""
        task = asyncio.ensure_future(self.remove(job))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def pending(self) -> int:
        return await queue.pending(self.db, self.store)

    async def get(self, job_id: str) -> Job | None:
        """The job, unless unknown, still being received, or expired (the sweep deletes it)."""
        row = await queue.get(self.db, job_id)
        if row is None or row.status == "receiving":
            return None
        if time.time() - row.created >= self.settings.retention_s:
            return None
        job = Job.from_row(row, self.settings.directory)
        here = self.local.get(job_id)
        if here is not None and row.status == "running":  # analysed here: the newest progress
            job.frames_done, job.frames_total = here.frames_done, here.frames_total
        return job

    async def session_jobs(self, session_id: str) -> list[Job]:
        return [Job.from_row(r, self.settings.directory) for r in await queue.session_jobs(self.db, session_id)]

    def is_here(self, job: Job) -> bool:
        """Whether this server can read the job's files (its uploads folder is the job's store)."""
        return job.store == self.store

    # --- the worker ---------------------------------------------------------------------

    async def _work(self) -> None:
        """Claim the next queued job of this store, analyse it, store its outcome; again."""
        while not self._stopping:
            try:
                row = await queue.claim(self.db, self.store, self.owner)
            except Exception as e:
                if not self.db.health.failed(e, "claiming an upload job"):  # an outage is logged once
                    log.exception("uploads: claiming the next job failed")
                row = None
            if row is not None and self._stopping:  # claimed while the server stops: for the next one
                await queue.release(self.db, row.id, self.owner)
                break
            if row is None:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), self.settings.poll_s)
                except asyncio.TimeoutError:
                    pass
                continue
            job = Job.from_row(row, self.settings.directory)
            self.local[job.id] = job
            try:
                await self._analyse(job)
            except Exception as e:
                if not self.db.health.failed(e, "storing an upload's outcome"):
                    log.exception("uploads: a job's outcome could not be stored; it is recovered later")
            finally:
                self.local.pop(job.id, None)

    async def _analyse(self, job: Job) -> None:
        if job.session_id is not None:
            job.markers = await study_store.session_markers(self.db, job.session_id)
        job.future = self.service.submit_recorded(lambda analyzer: self.run_job(job, analyzer))
        await asyncio.shield(asyncio.wrap_future(job.future))
        if job.status in FINAL:
            values = {"status": job.status, "error": job.error, "summary": job.summary, "output": job.output,
                      "finished": job.finished, "frames_done": job.frames_done, "frames_total": job.frames_total,
                      "input": None if job.input is None else job.input.name}
            stored = await queue.finish(self.db, job.id, self.owner, values, job.rows)
            if not stored:  # deleted meanwhile (by its uploader, an expiry, or with its session)
                await self.io(shutil.rmtree, job.dir, True)
        elif self._stopping and self.durable:
            await queue.release(self.db, job.id, self.owner)  # analysed again after the restart

    def run_job(self, job: Job, analyzer) -> None:
        """Blocking, on the recorded-media thread: analyse the job's upload, write its results."""
        if job.cancel.is_set():
            job.status = "cancelled"
            return
        job.status = "running"
        job.started = job.started or time.time()

        def progress(done: int, total: int) -> None:
            job.frames_done, job.frames_total = done, total
            if job.cancel.is_set():
                raise Cancelled()

        try:
            _clear_outputs(job)  # what an interrupted try left
            if job.input is None or not job.input.is_file():
                raise MediaError(FILE_GONE.format(name=job.filename))
            suffix = job.input.suffix.lower()
            out_ext = ".mp4" if job.kind == "video" else (".jpg" if suffix in (".jpg", ".jpeg") else ".png")
            source = open_media(job.input, self.limits)
            job.frames_total = source.frame_count
            result = analyze_media(
                source,
                analyzer,
                csv=job.dir / CSV_NAME,
                out=job.dir / f"annotated{out_ext}",
                plot=job.dir / PLOT_NAME,
                every=self.settings.every,
                progress=progress,
            )
            job.output = result.out.name
            summary = result.summary.to_dict()
            summary["source"] = job.filename
            job.summary = summary
            job.frames_done = job.frames_total = result.summary.frames_total
            if job.session_id is not None:
                job.rows = recording_rows(result.csv, job.session_id, job.filename, job.recording_start, job.markers)
            job.status = "done"
        except Cancelled:
            job.status = "cancelled"
        except Exception as e:
            if job.cancel.is_set():  # deleted meanwhile: its files went while it read them, no failure
                job.status = "cancelled"
            elif isinstance(e, MediaError):
                job.error = str(e) if job.input is None else str(e).replace(str(job.input), job.filename)
                job.status = "error"
            else:  # report, never leave the job "running"
                log.exception("analysis of an upload failed")
                job.error = f"{job.filename}: analysis failed ({e.__class__.__name__})"
                job.status = "error"
        finally:
            job.finished = time.time()
            if job.status in FINAL:  # privacy: the uploaded recording itself is not kept once analysed
                if job.input is not None:
                    try:
                        job.input.unlink()
                    except FileNotFoundError:
                        pass
                job.input = None
            for path in (job.csv, job.out, job.plot):  # results: the server's user only
                if path is not None:
                    try:
                        os.chmod(path, 0o600)
                    except OSError:
                        pass
            return_freed_memory()  # the decoders' and the frames' memory, back to the system
            log.info(
                "upload analysed (%s, %s): %d frames in %.1f s",
                job.kind, job.status, job.frames_done, job.finished - (job.started or job.finished),
            )

    # --- signs of life, recovery ----------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        """Every second: this process's jobs are alive (and their progress, for the other replicas);
        every ``lease_s / 2``: jobs of dead servers are recovered, folders without a job deleted."""
        tick = min(1.0, self.settings.lease_s / 4)
        last_recovery = time.monotonic()
        while True:
            await asyncio.sleep(tick)
            try:
                running = {j.id: (j.frames_done, j.frames_total) for j in self.local.values() if j.status != "receiving"}
                if self.local:
                    for job_id in await queue.heartbeat(self.db, self.owner, running):
                        if job_id in self.local:
                            self.local[job_id].cancel.set()  # deleted elsewhere: stop analysing it
                if time.monotonic() - last_recovery >= self.settings.lease_s / 2:
                    last_recovery = time.monotonic()
                    await self.recover()
                    await self._remove_strays()
            except Exception as e:  # keep going whatever happens
                if not self.db.health.failed(e, "the uploads' heartbeat"):
                    log.exception("uploads: heartbeat or recovery failed")

    async def recover(self) -> int:
        """Jobs of this store whose server died (no heartbeat for ``lease_s``): a running one is analysed
        again from its file (at most ``max_attempts`` tries) or failed if the file is gone; one still
        being received is deleted (its uploader never got its id)."""
        cutoff = time.time() - self.settings.lease_s
        n = 0
        for row in await queue.stale(self.db, self.store, cutoff):
            job = Job.from_row(row, self.settings.directory)
            if row.status == "receiving":
                if await queue.remove(self.db, [job.id]):
                    await self.io(shutil.rmtree, job.dir, True)
                    n += 1
                continue
            there = job.input is not None and await self.io(job.input.is_file)
            if not there:
                done = await queue.fail(self.db, job.id, cutoff, FILE_GONE.format(name=job.filename))
            elif job.attempts >= self.settings.max_attempts:
                done = await queue.fail(self.db, job.id, cutoff, TOO_MANY_TRIES.format(name=job.filename,
                                                                                        n=job.attempts))
            else:
                done = await queue.requeue(self.db, job.id, cutoff)
                self._wake.set()
            n += bool(done)
        if n:
            log.info("uploads: %d jobs of a stopped server recovered", n)
        return n

    # --- storage and expiry --------------------------------------------------------------

    async def delete(self, job: Job) -> None:
        """Delete a job and its files (an analysis running here is cancelled and awaited first; one
        running on another replica stops at its next heartbeat, and that replica deletes its folder)."""
        here = self.local.get(job.id)
        if here is not None:
            here.cancel.set()
        await queue.remove(self.db, [job.id])
        if here is not None and here.future is not None and not here.future.done():
            await asyncio.wait([asyncio.wrap_future(here.future)], timeout=60)
        if self.is_here(job):
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

    async def _remove_strays(self) -> int:
        """Delete every upload folder no job owns (a job owns its folder from before it is made, so a
        folder without one was left by a crash, a lost cleanup or a deleted study session)."""
        on_disk = await self.io(self._folders)
        known = await queue.existing(self.db, [name[2:] for name in on_disk])
        stray = [name for name in on_disk if name[2:] not in known]
        for job_id in (name[2:] for name in stray):
            if job_id in self.local:
                self.local[job_id].cancel.set()
        if stray:
            await self.io(self._remove, stray)
        return len(stray)

    async def sweep(self) -> int:
        """Delete the jobs older than the retention time (of every store: their rows; of this one: their
        folders too) and every upload folder without a job."""
        expired = await queue.expire(self.db, time.time() - self.settings.retention_s)
        for job_id, _ in expired:
            if job_id in self.local:
                self.local[job_id].cancel.set()
        mine = [f"u-{job_id}" for job_id, store in expired if store == self.store]
        if mine:
            await self.io(self._remove, mine)
        return len(mine) + await self._remove_strays()

    async def _cleanup_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.cleanup_interval_s)
            try:
                await self.sweep()
            except Exception as e:  # keep cleaning up whatever happens
                if not self.db.health.failed(e, "the uploads' cleanup"):
                    log.exception("upload cleanup failed")

    async def lifespan(self, app: web.Application):
        """Needs the database open (the studies' lifespan runs first)."""
        self._io = ThreadPoolExecutor(max_workers=self.settings.io_threads, thread_name_prefix="fer-upload-io")
        self._wake, self._reserving = asyncio.Event(), asyncio.Lock()
        await self.io(private_folder, self.settings.directory)
        self.store = await self.io(store_id, self.settings.directory)
        await self.recover()
        left = await self.sweep()  # a crashed run's uploads nobody can reach any more
        if left:
            log.info("deleted %d upload folders left by an earlier run", left)
        self._worker = asyncio.create_task(self._work())
        self._tasks = [asyncio.create_task(self._heartbeat_loop()), asyncio.create_task(self._cleanup_loop())]
        yield
        await self._stop()

    async def _stop(self) -> None:
        self._stopping = True
        for job in list(self.local.values()):
            job.cancel.set()
        self._wake.set()
        try:  # the worker stores the running job's outcome (or puts it back in the queue) and ends
            await asyncio.wait_for(asyncio.shield(self._worker), 30)
        except (asyncio.TimeoutError, Exception):
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._background, return_exceptions=True)
        receiving = [j for j in self.local.values() if j.status == "receiving"]  # cut off: nothing kept
        if receiving:
            await queue.remove(self.db, [j.id for j in receiving])
            await self.io(self._remove, [j.dir.name for j in receiving])
        if not self.durable:  # a throw-away database: nothing could reach these jobs again
            gone = await queue.remove_store(self.db, self.store)
            await self.io(self._remove, [f"u-{job_id}" for job_id in gone])
        self._io.shutdown(wait=True)
        self._io = None


def _clear_outputs(job: Job) -> None:
    """Blocking: every file of the job's folder but its upload (an interrupted try's partial results)."""
    if not job.dir.is_dir():
        return
    for entry in os.scandir(job.dir):
        if job.input is None or entry.name != job.input.name:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)


def store_id(directory: Path) -> str:
    """Blocking: the uploads folder's id (its ``.store`` file, made once, atomically): servers whose
    uploads folder is the same (a shared volume) have the same id and take each other's jobs."""
    path = directory / STORE_FILE
    if not path.exists():
        tmp = directory / f".store-{secrets.token_hex(8)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(24))
        try:
            os.link(tmp, path)  # fails if another server made it first: theirs wins
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    value = path.read_text().strip()
    if not (16 <= len(value) <= 43) or not all(c.isalnum() or c in "-_" for c in value):
        raise RuntimeError(f"{path} is not an uploads folder id; delete it (a new one is made)")
    return value


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
