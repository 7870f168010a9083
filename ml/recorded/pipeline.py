"""Analyse recorded media (video, image, folder of images) end to end.

    from ml.recorded import analyze_media
    result = analyze_media("talk.mp4", csv="talk.csv", out="talk.annotated.mp4", plot="talk.png")
    print(result.summary.text())

A video's frames go through the analyser several at a time and are tracked with hindsight
(``ml.recorded.hindsight``: the live app's detection and tracking, and the frames after each
frame: faces from their first sighting, gaps between two sightings interpolated, nothing held
after the last one); images are stills, each face reported where it is found. Used by the CLI
(``python -m ml.analyze``) and the upload worker (``server/uploads/jobs.py``). Every output
is written under a temporary name and renamed into place only when the whole input
was analysed; on any error (or cancellation) nothing is left behind.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from collections import deque

from .annotate import draw_faces
from .hindsight import MIN_DETECTED, Hindsight
from .media import AtomicFile, MediaError, MediaOutput, MediaSource, open_media, prefetch
from .report import CsvWriter, Summary, csv_rows, plot_timeline

BATCH = 8  # analysed frames per classifier batch


class Cancelled(Exception):
    """Raised by a progress callback to stop an analysis (its outputs are removed)."""


@dataclass
class Result:
    summary: Summary
    csv: Path | None = None
    out: Path | None = None
    plot: Path | None = None
    rows: int = 0


def analyze_media(
    source: str | os.PathLike | MediaSource,
    analyzer=None,
    *,
    csv: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    plot: str | os.PathLike | None = None,
    every: int = 1,
    batch: int = BATCH,
    window: int = 5,
    progress: Callable[[int, int], None] | None = None,
) -> Result:
    """Analyse every ``every``-th frame; write the CSV, annotated output and timeline PNG asked for.

    ``analyzer``: an ``ml.FrameAnalyzer`` (``ml.build_analyzer()``'s default when None,
    built after the input and output paths were checked). ``progress(frames_done, frames_total)`` is
    called after each batch; raising :class:`Cancelled` from it stops the analysis.
    Raises :class:`ml.recorded.media.MediaError` (message naming the file) for unreadable input.
    """
    if every < 1:
        raise ValueError("every must be at least 1")
    if batch < 1:
        raise ValueError("batch must be at least 1")
    src = source if isinstance(source, MediaSource) else open_media(source)
    is_video = src.kind == "video"
    summary = Summary(
        src.path.name, src.fps, interval_s=every / src.fps, min_frames=MIN_DETECTED if is_video else 1, kind=src.kind
    )
    csv_file = AtomicFile(csv) if csv else None
    try:
        plot_file = AtomicFile(plot) if plot else None
    except BaseException:
        if csv_file:
            csv_file.discard()
        raise
    output = None
    csv_writer = None
    ok = False
    try:
        output = MediaOutput(out, src) if out else None
        csv_writer = CsvWriter(csv_file.tmp) if csv_file else None
        if analyzer is None:
            from ..analyzer import build_analyzer

            analyzer = build_analyzer()
        from ..tracking import FaceTracker

        # a video's faces are tracked with hindsight; images are stills, each face reported where it
        # is found, with ids across the images
        hindsight = Hindsight(analyzer, window=window, fps=src.fps / every, keep_images=output is not None)
        tracker = FaceTracker(window=window, confirm=1, hold_s=0, cuts=False)
        total = src.frame_count
        # with a video output every frame is decoded (and drawn with the latest faces)
        decode_every = 1 if (output is not None and is_video) else every
        pending: list = []
        unwritten: deque = deque()  # frames decoded for the annotated video, not drawn yet
        finals: dict = {}  # analysed frame index -> its final faces, until it is drawn
        last_faces: list[dict] = []
        done = 0
        last_frame = None

        def report(final) -> None:
            """Frames whose faces are final, in order: summary, CSV rows, annotated frames."""
            nonlocal last_faces
            for f, faces in final:
                summary.add(f, faces)
                if csv_writer:
                    csv_writer.write(csv_rows(f, faces, with_file=not is_video, start_utc=src.start_utc))
                if output is not None:
                    finals[f.index] = faces
            while output is not None and unwritten:
                f = unwritten[0]
                if f.index % every == 0:
                    if f.index not in finals:
                        break  # its faces are not final yet
                    last_faces = finals.pop(f.index)
                elif not is_video:
                    unwritten.popleft()
                    continue
                output.write(f, draw_faces(f.image, last_faces, copy=False))
                unwritten.popleft()

        def flush() -> None:
            nonlocal done
            todo = [f for f in pending if f.index % every == 0]
            if output is not None:
                unwritten.extend(pending)
            if is_video:
                report(hindsight.add(todo))
            else:
                report(list(zip(todo, (tracker.update(faces) for faces in analyzer.analyze_batch([f.image for f in todo])))))
            done = pending[-1].index + 1
            pending.clear()
            if progress:
                progress(done, max(total, done))

        for frame in prefetch(src.frames(every=decode_every), size=2 * batch):
            if frame.image is None and frame.index % every != 0:
                done = frame.index + 1
                if not pending and progress and done % 50 == 0:
                    progress(done, max(total, done))
                continue
            pending.append(frame)
            last_frame = frame
            if sum(1 for f in pending if f.index % every == 0) >= batch or len(pending) >= 4 * batch:
                flush()
        if pending:
            flush()
        if is_video:
            report(hindsight.finish())
        if last_frame is None and done == 0:
            raise MediaError(f"{src.path}: no frames to analyse")
        frames_total = done
        if is_video:
            duration = (last_frame.time_s if last_frame else 0.0) + 1.0 / src.fps
            duration = max(duration, frames_total / src.fps) if src.fps else duration
        else:
            duration = frames_total * (1.0 / src.fps)
        summary.finish(frames_total, duration)
        if plot_file:
            plot_timeline(summary, plot_file.tmp)
        result = Result(summary)
        if csv_writer:
            csv_writer.close()
            result.rows = csv_writer.rows
        if output is not None:
            result.out = output.close(commit=True)
            output = None
        if csv_file:
            result.csv = csv_file.commit()
        if plot_file:
            result.plot = plot_file.commit()
        ok = True
        return result
    finally:
        if not ok:
            if csv_writer:
                csv_writer.close()
            if output is not None:
                try:
                    output.close(commit=False)
                except Exception:
                    pass
            for f in (csv_file, plot_file):
                if f:
                    f.discard()
