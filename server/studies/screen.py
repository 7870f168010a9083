"""Screen recordings of study sessions: chunks from the participant's browser, stored as bytes, joined into
one seekable file when the recording ends; their rows in ``screen_recordings`` (docs/studies.md).

    screen = ScreenRecordings(settings.screen, db)     # Studies.screen; open() / close() in its lifespan
    await screen.start(session_id, since_s)            # the browser's recorder started since_s ago
    await screen.add_chunk(session_id, seq, data)      # ScreenError(status, text) when refused
    await screen.end(session_id, chunks, reason)       # the browser stopped: finalized once every chunk is in
    await screen.session_ended(session_id)             # the participant's stream ended (the tab closed ...)
    info = await screen.info(session_id); path = screen.file(session_id)
    await screen.delete(session_ids)                   # with their sessions: nothing left on disk

The browser records the screen (``MediaRecorder``, WebM) and sends a chunk every ``CHUNK_S``
seconds, numbered from 0 (``seq``): the server writes each chunk's bytes to its own file (no
decoding), once (a chunk sent again is acknowledged, not written again; chunks may come in any
order). When the recording has ended (the browser says how many chunks it sent, or the
participant's stream ended, or no chunk came for ``idle_s``) and its chunks are in (or
``end_grace_s`` has passed), the chunks are joined and remuxed (remux.py) into
``screen.webm`` on an I/O thread, and removed. A crash loses at most the chunk being sent;
recordings left open by a stopped server are finalized by the next sweep.

Limits: ``chunk_max_bytes`` a chunk, ``max_bytes`` a session; the disk keeps ``min_free_bytes``
free. Past a limit, or with the disk full, the chunk is refused with a message for the
participant (413, 507) and the recording ends there; the expression analysis is not touched.

Files: one folder ``r-{session}`` per recording in the recordings folder (0700, files 0600),
whose ``.store`` file names it and the database it belongs to (a server on another database
refuses to start on it: its sweep would delete the recordings it does not know). Replicas that share the folder (a shared volume) share the
store: any of them takes a session's chunks and finalizes it; a replica with another folder
refuses chunks of recordings it cannot reach (503, docs/deploy.md). A sweep every
``sweep_interval_s`` finalizes what is due and deletes folders without a recording row (their
session was deleted, e.g. by retention).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import secrets
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from ml.schema import utc_epoch, utc_iso

from ..settings import ScreenSettings
from ..storage.db import Database
from ..storage.models import meta, results, screen_recordings as rec, sessions
from .remux import RemuxError, join_and_remux, remuxed

log = logging.getLogger(__name__)

CHUNK_S = 4  # the browser's MediaRecorder timeslice: a chunk at least every 4 s (the limit: 5 s)
SEQ_MAX = 999_999  # chunk numbers 0 .. SEQ_MAX (at 4 s a chunk: over 1000 hours)
OPEN = ("recording", "ending")
STORE_FILE = ".store"
FILE_NAME = "screen.webm"
FINALIZE_STALE_S = 600.0  # a finalization that began this long ago on a server that stopped is taken up again
OFFSET_WINDOW_S = 10.0  # the stream clock at the recording's start: from the session's rows this near it
REASON_MAX = 32
SESSION_ENDED = "session ended"  # the participant's stream ended before the browser ended the recording

LIMIT_TEXT = ("Your screen recording reached its size limit ({mb} MB) and stopped there. Your expressions are "
              "still recorded: go on with the tasks.")
DISK_FULL_TEXT = ("The server has no room left for your screen recording: it stopped there. Your expressions are "
                  "still recorded: go on with the tasks.")


class ScreenError(Exception):
    """A request about a screen recording that is refused: an HTTP status and a text for the participant."""

    def __init__(self, status: int, text: str):
        super().__init__(text)
        self.status, self.text = status, text


class DiskFull(OSError):
    pass


class FolderError(RuntimeError):
    """The recordings folder belongs to another database (its sweep would delete that one's recordings)."""


def _prepare(directory: Path, database_id: str) -> str:
    """The recordings folder (made 0700) and its store id, made once and kept in ``.store`` with the id of
    the database whose recordings it holds: FolderError for a folder of another database."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    marker = directory / STORE_FILE
    try:
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        store, _, owner = marker.read_text().strip().partition(" ")
        if owner != database_id:
            raise FolderError(f"the screen recordings' folder {directory} holds another database's recordings: "
                              "give each database its own folder (FER_SCREEN_DIR)") from None
        return store
    store = secrets.token_urlsafe(16)
    with os.fdopen(fd, "w") as f:
        f.write(f"{store} {database_id}")
    return store


async def database_id(db: Database) -> str:
    """This database's own random id (made once, in ``meta``): replicas of one database share it."""
    async with db.engine.begin() as conn:
        found = (await conn.execute(select(meta.c.value).where(meta.c.name == "database_id"))).scalar_one_or_none()
        if found is not None:
            return found
    try:
        async with db.engine.begin() as conn:
            await conn.execute(insert(meta), {"name": "database_id", "value": secrets.token_urlsafe(24)})
    except IntegrityError:  # another replica made it first
        pass
    async with db.engine.connect() as conn:
        return (await conn.execute(select(meta.c.value).where(meta.c.name == "database_id"))).scalar_one()


def _chunk_name(seq: int) -> str:
    return f"c-{seq:06d}.webm"


def _chunks(folder: Path) -> list[tuple[int, Path]]:
    out = []
    for p in folder.glob("c-*.webm"):
        try:
            out.append((int(p.stem[2:]), p))
        except ValueError:
            continue
    return sorted(out)


class ScreenRecordings:
    def __init__(self, settings: ScreenSettings, db: Database):
        self.settings = settings
        self.db = db
        self.dir: Path | None = None
        self.store: str | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._io = ThreadPoolExecutor(2, thread_name_prefix="fer-screen")
        self._finalizing: dict[str, asyncio.Task] = {}
        self._background: set[asyncio.Task] = set()
        self.sending: dict[str, list[int]] = {}  # session id -> [chunk requests being received here]
        self._sweeper: asyncio.Task | None = None

    # ---- lifetime ----

    async def open(self) -> None:
        if self.settings.directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="fer-screen-")
            self.dir = Path(self._tmp.name)
        else:
            self.dir = self.settings.directory.expanduser().resolve()
        self.store = await self.io(_prepare, self.dir, await database_id(self.db))
        self._sweeper = asyncio.ensure_future(self._sweep_loop())

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        await asyncio.gather(*self._background, return_exceptions=True)
        await asyncio.gather(*self._finalizing.values(), return_exceptions=True)  # a remux in a thread: let it end
        self._io.shutdown(wait=True)
        if self._tmp is not None:
            self._tmp.cleanup()

    async def io(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._io, fn, *args)

    def folder(self, session_id: str) -> Path:
        return self.dir / f"r-{session_id}"

    def file(self, session_id: str) -> Path:
        return self.folder(session_id) / FILE_NAME

    # ---- rows ----

    async def _row(self, session_id: str):
        async with self.db.engine.connect() as conn:
            return (await conn.execute(select(rec).where(rec.c.session_id == session_id))).first()

    async def _update(self, session_id: str, *where, **values) -> int:
        async with self.db.engine.begin() as conn:
            done = await conn.execute(update(rec).where(rec.c.session_id == session_id, *where).values(**values))
        return done.rowcount

    async def info(self, session_id: str) -> dict | None:
        row = await self._row(session_id)
        if row is not None and row.status == "ready" and row.offset_s is None:
            # joined before the session's rows of that moment were stored (they are written every 0.5 s,
            # by whichever replica has the stream): the clock is found now, once they are
            offset = await self.stream_offset(session_id, row.started)
            if offset is not None:
                await self._update(session_id, offset_s=round(offset, 3))
                row = await self._row(session_id)
        return None if row is None else info_json(row)

    async def ready_in(self, study_id: str) -> set[str]:
        """The sessions of a study whose recording can be played."""
        query = (select(rec.c.session_id).join(sessions, sessions.c.id == rec.c.session_id)
                 .where(sessions.c.study_id == study_id, rec.c.status == "ready"))
        async with self.db.engine.connect() as conn:
            return {r[0] for r in await conn.execute(query)}

    # ---- the browser's requests ----

    async def start(self, session_id: str, since_s: float = 0.0) -> dict:
        """The participant's recorder started ``since_s`` seconds ago (the request's own delay, retries).
        A start sent again while the recording is open is answered as the first."""
        started = time.time() - min(max(float(since_s), 0.0), 60.0)
        try:
            async with self.db.engine.begin() as conn:
                await conn.execute(insert(rec), {"session_id": session_id, "store": self.store, "status": "recording",
                                                 "started": started, "chunks": 0, "bytes": 0})
        except IntegrityError:  # started already, or the session is gone
            row = await self._row(session_id)
            if row is None:
                raise ScreenError(404, "no such session (deleted?)") from None
            if row.status not in OPEN:
                raise ScreenError(409, "this session's screen recording has ended: a session has one recording") \
                    from None
            return info_json(row)
        await self.io(lambda: self.folder(session_id).mkdir(mode=0o700, exist_ok=True))
        log.info("studies: screen recording started")
        return info_json(await self._row(session_id))

    async def add_chunk(self, session_id: str, seq: int, data: bytes) -> dict:
        """Store chunk ``seq``; ``{"seq", "stored": True}``, or ``"duplicate": True`` for one already stored."""
        s = self.settings
        if not 0 <= seq <= SEQ_MAX:
            raise ScreenError(400, f"chunk numbers go from 0 to {SEQ_MAX}")
        if not data:
            raise ScreenError(400, "an empty chunk: send the recorder's bytes as the request body")
        if len(data) > s.chunk_max_bytes:
            raise ScreenError(413, f"a chunk may have at most {s.chunk_max_bytes} bytes")
        row = await self._row(session_id)
        if row is None:
            raise ScreenError(409, "this session's screen recording has not started: start it first")
        if row.status not in OPEN:
            raise _ended(row, seq)
        if row.store != self.store:
            log.warning("studies: a screen chunk for a recording in another recordings folder (give every replica "
                        "the same FER_SCREEN_DIR: docs/deploy.md)")
            raise ScreenError(503, "this server cannot reach the recording's folder; try again")
        if row.expected is not None and seq >= row.expected:
            raise ScreenError(409, f"chunk {seq} comes after the recording's last chunk ({row.expected - 1})")
        path = self.folder(session_id) / _chunk_name(seq)
        if await self.io(path.exists):
            return {"seq": seq, "stored": False, "duplicate": True}
        n = len(data)
        reserved = await self._update(session_id, rec.c.status.in_(OPEN), rec.c.bytes + n <= s.max_bytes,
                                      bytes=rec.c.bytes + n, chunks=rec.c.chunks + 1, last_chunk=time.time())
        if not reserved:
            row = await self._row(session_id)
            if row is None:
                raise ScreenError(404, "no such session (deleted?)")
            if row.status not in OPEN:
                raise _ended(row, seq)
            await self.end(session_id, seq, "size limit")  # the chunks before this one may still come
            raise ScreenError(413, LIMIT_TEXT.format(mb=round(s.max_bytes / 2**20)))
        try:
            stored = await self.io(self._write, path, data)
        except DiskFull:
            await self._unreserve(session_id, n)
            log.warning("studies: disk full (under %d MB free): a screen recording stopped", s.min_free_bytes >> 20)
            await self.end(session_id, seq, "disk full")
            raise ScreenError(507, DISK_FULL_TEXT) from None
        except FileNotFoundError:  # its folder was deleted with its session meanwhile
            await self._unreserve(session_id, n)
            raise ScreenError(404, "no such session (deleted?)") from None
        if not stored:  # the same chunk, sent twice at once: the other request stored it
            await self._unreserve(session_id, n)
            return {"seq": seq, "stored": False, "duplicate": True}
        row = await self._row(session_id)
        if row is not None and row.status == "ending" and row.expected is not None and row.chunks >= row.expected:
            self._finalize_soon(session_id)
        return {"seq": seq, "stored": True}

    def _write(self, path: Path, data: bytes) -> bool:
        """Blocking: ``data`` as ``path``, whole or not at all; False if ``path`` exists already."""
        if shutil.disk_usage(path.parent).free - len(data) < self.settings.min_free_bytes:
            raise DiskFull(errno.ENOSPC, "under the recordings' free-space reserve")
        part = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
        try:
            fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            try:
                os.link(part, path)  # never over a stored chunk
            except FileExistsError:
                return False
            return True
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFull(e.errno, str(e)) from None
            raise
        finally:
            try:
                part.unlink()
            except FileNotFoundError:
                pass

    async def _unreserve(self, session_id: str, n: int) -> None:
        await self._update(session_id, bytes=rec.c.bytes - n, chunks=rec.c.chunks - 1)

    async def end(self, session_id: str, chunks: int | None, reason: str) -> dict | None:
        """The recording ends: ``chunks`` (if known) is how many the browser sent. It is finalized when they
        are all in, else ``end_grace_s`` after the last of them came."""
        values = {"status": "ending", "ended": time.time(), "stop_reason": reason[:REASON_MAX]}
        if chunks is not None:
            values["expected"] = chunks
        async with self.db.engine.begin() as conn:
            row = (await conn.execute(select(rec).where(rec.c.session_id == session_id))).first()
            if row is None:
                return None
            if row.status in OPEN:
                if row.status == "ending":  # its first end stays, but a count and the browser's reason are taken
                    values = {k: v for k, v in values.items()
                              if (k == "expected" and row.expected is None)
                              or (k == "stop_reason" and row.stop_reason == SESSION_ENDED and chunks is not None)}
                if values:
                    await conn.execute(update(rec).where(rec.c.session_id == session_id).values(**values))
        row = await self._row(session_id)
        if row is not None and row.status == "ending" and row.expected is not None and row.chunks >= row.expected:
            self._finalize_soon(session_id)
        return None if row is None else info_json(row)

    async def session_ended(self, session_id: str) -> None:
        """The participant's stream ended: an open recording ends too (its last chunks may still come)."""
        row = await self._row(session_id)
        if row is not None and row.status == "recording":
            await self.end(session_id, None, SESSION_ENDED)

    def session_ended_soon(self, session_id: str) -> None:
        """``session_ended`` from a synchronous callback (the participation's end)."""
        task = asyncio.ensure_future(self.session_ended(session_id))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ---- the one file ----

    def _finalize_soon(self, session_id: str) -> None:
        if session_id not in self._finalizing:
            task = asyncio.ensure_future(self.finalize(session_id))
            self._finalizing[session_id] = task
            task.add_done_callback(lambda t: self._finalized(session_id, t))

    def _finalized(self, session_id: str, task: asyncio.Task) -> None:
        """A finalize task ended: its failure reported (an outage once, by the database's health; the sweep
        finalizes it again later), never left as an unretrieved task exception."""
        self._finalizing.pop(session_id, None)
        e = None if task.cancelled() else task.exception()
        if e is not None and not self.db.health.failed(e, "finalizing a screen recording"):
            log.error("studies: finalizing a screen recording failed", exc_info=e)

    async def finalize(self, session_id: str) -> None:
        """Join and remux the chunks into the session's one file (once: the first replica to claim it)."""
        now = time.time()
        claimed = await self._update(
            session_id, rec.c.store == self.store,
            or_(rec.c.status.in_(OPEN),
                and_(rec.c.status == "finalizing", rec.c.finalizing_since < now - FINALIZE_STALE_S)),
            status="finalizing", finalizing_since=now)
        if not claimed:
            return
        row = await self._row(session_id)
        try:
            done, missing = await self.io(self._join, session_id, row.expected)
        except RemuxError as e:
            await self._update(session_id, status="failed", error=str(e), missing=row.expected)
            await self.io(self._drop_chunks, session_id)
            log.info("studies: a screen recording could not be finalized: %s", e)
            return
        except FileNotFoundError:  # deleted with its session meanwhile
            return
        except Exception as e:  # noqa: BLE001  (kept as failed, with the reason, for the researcher)
            log.exception("studies: finalizing a screen recording failed")
            await self._update(session_id, status="failed", error=f"the recording could not be joined: {e}")
            return
        offset = await self.stream_offset(session_id, row.started)
        await self._update(session_id, status="ready", duration_s=round(done.duration_s, 3), size=done.size,
                           missing=missing, offset_s=None if offset is None else round(offset, 3), error=None)
        log.info("studies: screen recording ready (%.0f s, %.1f MB%s)", done.duration_s, done.size / 2**20,
                 f", {missing} chunks missing" if missing else "")

    def _join(self, session_id: str, expected: int | None):
        folder = self.folder(session_id)
        chunks = _chunks(folder)
        out = folder / FILE_NAME
        if not chunks and out.exists():  # finalized already, by a server that stopped before saying so
            return remuxed(out), 0
        if not folder.exists():
            raise FileNotFoundError(folder)
        count = max(expected or 0, (chunks[-1][0] + 1) if chunks else 0)
        done = join_and_remux([p for _, p in chunks], out)
        os.chmod(out, 0o600)
        self._drop_chunks(session_id)
        return done, count - len(chunks)

    def _drop_chunks(self, session_id: str) -> None:
        for _, p in _chunks(self.folder(session_id)):
            p.unlink(missing_ok=True)

    async def stream_offset(self, session_id: str, started: float) -> float | None:
        """The session's stream time (results' ``time_s``) at the server time ``started``: each live row's
        ``time_s`` minus its arrival time (``utc``), their median, plus ``started``."""
        lo, hi = utc_iso(started - OFFSET_WINDOW_S), utc_iso(started + OFFSET_WINDOW_S)
        query = (select(results.c.time_s, results.c.utc)
                 .where(results.c.session_id == session_id, results.c.utc >= lo, results.c.utc <= hi,
                        or_(results.c.file.is_(None), results.c.file == "")).limit(2000))
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        gaps = [t - e for t, e in ((r.time_s, utc_epoch(r.utc)) for r in rows) if e is not None]
        return statistics.median(gaps) + started if gaps else None

    # ---- deletion and the sweep ----

    async def delete(self, session_ids) -> None:
        """The recordings' files of sessions whose data was deleted (``Studies.on_deleted``: withdrawn, deleted,
        past retention, their study deleted); their rows went with the sessions' data (store.py)."""
        for sid in session_ids:
            task = self._finalizing.get(sid)
            if task is not None:
                await asyncio.gather(task, return_exceptions=True)
            await self.io(shutil.rmtree, self.folder(sid), True)

    async def sweep(self) -> None:
        """Finalize the recordings that are due; delete the folders whose recording is gone."""
        now, s = time.time(), self.settings
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(select(rec.c.session_id, rec.c.status, rec.c.started, rec.c.last_chunk,
                                              rec.c.ended, rec.c.finalizing_since)
                                       .where(rec.c.store == self.store,
                                              rec.c.status.in_(("recording", "ending", "finalizing"))))).all()
        for r in rows:
            last = max(r.last_chunk or r.started, r.ended or 0.0)
            if r.status == "recording" and now - last > s.idle_s:
                await self.end(r.session_id, None, "no more chunks")
                self._finalize_soon(r.session_id)
            elif r.status == "ending" and now - last > s.end_grace_s:
                self._finalize_soon(r.session_id)
            elif r.status == "finalizing" and now - (r.finalizing_since or 0.0) > FINALIZE_STALE_S:
                self._finalize_soon(r.session_id)
        names = await self.io(lambda: [p.name[2:] for p in self.dir.glob("r-*") if p.is_dir()])
        if names:
            async with self.db.engine.connect() as conn:
                kept = {r[0] for r in await conn.execute(select(rec.c.session_id)
                                                         .where(rec.c.session_id.in_(names)))}
            for sid in set(names) - kept:
                await self.delete([sid])

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sweep_interval_s)
            try:
                await self.sweep()
            except Exception as e:  # noqa: BLE001  (the database or the disk: tried again at the next sweep)
                if not self.db.health.failed(e, "sweeping the screen recordings"):  # an outage: logged once
                    log.exception("studies: the screen recordings' sweep failed")


def _ended(row, seq: int) -> ScreenError:
    return ScreenError(409, f"this screen recording has ended ({row.stop_reason or row.status}): chunk {seq} "
                            "was not taken")


def info_json(row) -> dict:
    """A recording as the researcher's API and pages show it."""
    ready = row.status == "ready"
    return {"status": row.status, "started": utc_iso(row.started), "offset_s": row.offset_s,
            "chunks": row.chunks, "bytes": row.bytes, "missing": row.missing, "stop_reason": row.stop_reason,
            "duration_s": row.duration_s, "size": row.size, "error": row.error,
            "url": f"/api/sessions/{row.session_id}/screen.webm" if ready else None}
