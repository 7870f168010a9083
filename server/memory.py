"""The server process's memory policy: glibc's heaps and Python's garbage collector.

    keep_frames_out_of_the_heap()           # python -m server, before any thread starts
    app.cleanup_ctx.append(freeze_startup_objects)   # the last resource: after the model is loaded
    collect_soon()                          # a live stream ended: its objects go within a second
    return_freed_memory()                   # an upload was refused or analysed: free heap pages go back

Why (``python bench/load.py --soak 600``, docs/deploy-limits.md): a live stream's objects
(its peer connection, transports, jitter buffers, decoder) refer to each other in cycles,
which only the garbage collector's full pass frees, and a full pass is rare and dear in a
process that holds Keras and TensorFlow: about 490,000 objects, 226 ms with the GIL held,
every stream stalled. Between passes the dead streams' memory piles up (0.4 MB a stream)
and the heap grows into room it never gives back. So the objects made at start-up are
frozen (``gc.freeze``: the collector skips them), a full pass then costs about 0.5 ms,
and one runs a second after each stream ends.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time

log = logging.getLogger(__name__)

MMAP_THRESHOLD = 128 * 1024  # bytes: blocks from this size are mapped, and unmapped when freed
ARENAS = 2  # glibc heaps shared by all threads
COLLECT_AFTER_S = 1.0  # a stream's objects are collected this long after it ends

_pending: tuple[asyncio.AbstractEventLoop, asyncio.TimerHandle] | None = None
_libc = None  # glibc, once looked up (False: not glibc)


def keep_frames_out_of_the_heap() -> None:
    """glibc only (a no-op elsewhere): every block of 128 kB or more (a decoded video frame is
    300-900 kB) is mapped on its own and given back to the system when freed, and all threads
    share 2 heaps. By default glibc raises the mapping threshold after the first such block is
    freed, so that frames land in the heaps, and gives each new thread (every stream has a
    decoder thread) a heap of its own, up to 8 per core: the heaps grow in steps as streams come
    and go and are never given back. Call it before any thread starts.
    ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_ARENA_MAX`` in the environment win."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        if not os.environ.get("MALLOC_MMAP_THRESHOLD_"):
            libc.mallopt(-3, MMAP_THRESHOLD)  # M_MMAP_THRESHOLD (also turns the dynamic threshold off)
        if not os.environ.get("MALLOC_ARENA_MAX"):
            libc.mallopt(-8, ARENAS)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass


def return_freed_memory() -> None:
    """glibc only (a no-op elsewhere): the heaps' free pages go back to the system (``malloc_trim``).
    Reading a video's header opens a decoder per stream, and decoding allocates frames and reference
    pictures; once freed, glibc keeps those pages for later unless told. Thread-safe; a few ms."""
    global _libc
    if _libc is None:
        import ctypes
        import ctypes.util

        try:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _libc.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            _libc = False
    if _libc:
        _libc.malloc_trim(0)


async def freeze_startup_objects(app):
    """``cleanup_ctx``, the last one: once the model, the database and the routes are up,
    the garbage collector stops walking the objects made so far (they live as long as the
    server); unfrozen again at cleanup, so that a process that runs several apps (tests)
    can collect them."""
    gc.collect()
    gc.freeze()
    log.debug("%d start-up objects frozen", gc.get_freeze_count())
    yield
    gc.unfreeze()


def collect_soon(delay: float = COLLECT_AFTER_S) -> None:
    """A live stream ended: a full collection in ``delay`` seconds (one for several streams
    that end together), on the event loop, so the stream's cycles go now, not at the
    collector's next full pass. Call it from the event loop."""
    global _pending
    loop = asyncio.get_running_loop()
    if _pending is not None and _pending[0] is loop and not _pending[1].cancelled():
        return
    _pending = (loop, loop.call_later(delay, _collect))


def _collect() -> None:
    global _pending
    _pending = None
    start = time.perf_counter()
    found = gc.collect()
    log.debug("garbage collection after a stream: %d objects in %.1f ms", found, 1000 * (time.perf_counter() - start))
