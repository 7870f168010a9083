"""Analyse a recorded video, an image or a folder of images from the command line.

    python -m ml.analyze INPUT [--csv OUT.csv] [--out ANNOTATED] [--plot TIMELINE.png] [--out-dir DIR]
                               [--every N] [--model NAME] [--batch N] [--window N]

INPUT: a video (mp4, webm, avi, mov, mkv, m4v), an image (jpg, png, bmp, webp, tif) or a
folder of images (the tool's own outputs in it, ``*.timeline.png`` and ``*.annotated.*``,
are skipped). --csv: one row per face per analysed frame. --out: the annotated
video (.mp4 H.264 or .webm VP9, both play in browsers), image, or folder of images.
--plot: the timeline PNG (default: next to the CSV or the annotated output, else
next to INPUT as NAME.timeline.png; --plot "" for none). --out-dir DIR: all three
(NAME.csv, NAME.annotated.mp4/.png or folder, NAME.timeline.png) in DIR, unless named.
Nothing is written into the current folder unless asked for.
Prints a summary at the end. Exit status 0 on success, 2 for an unreadable input or
unusable output path (with a message naming the file), 130 when interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def input_name(input_path: Path) -> str:
    """NAME of the default outputs: the file's name without its extension, or the folder's name."""
    input_path = input_path.resolve()
    return (input_path.name if input_path.is_dir() else input_path.stem) or "analysis"


def default_plot_path(input_path: Path, csv: str | None, out: str | None, out_dir: str | None = None) -> Path:
    """The timeline PNG: in --out-dir, else next to the CSV or the annotated output, else next to
    the input (beside a folder, not in it) -- never in the current folder by surprise."""
    if out_dir:
        return Path(out_dir) / f"{input_name(input_path)}.timeline.png"
    for given in (csv, out):
        if given:
            p = Path(given)
            return p.with_name(f"{p.stem if p.suffix else p.name}.timeline.png")
    return input_path.resolve().parent / f"{input_name(input_path)}.timeline.png"


def default_outputs(input_path: Path, kind: str, out_dir: str) -> tuple[Path, Path]:
    """--out-dir's CSV and annotated output: NAME.csv and NAME.annotated.mp4 (a video), the
    image's own extension (an image), or the folder NAME.annotated (a folder of images)."""
    name = input_name(input_path)
    ext = {"video": ".mp4", "image": input_path.suffix.lower(), "folder": ""}[kind]
    return Path(out_dir) / f"{name}.csv", Path(out_dir) / f"{name}.annotated{ext}"


def check_output(out: str | None, kind: str) -> None:
    """The annotated output's type must suit the input's (checked before the model loads)."""
    from .media import IMAGE_EXTS, OUTPUT_VIDEO_EXTS, MediaError

    if not out:
        return
    ext = Path(out).suffix.lower()
    if kind == "video" and ext not in OUTPUT_VIDEO_EXTS:
        raise MediaError(f"{out}: annotated video must be .mp4 (H.264) or .webm (VP9)")
    if kind == "image" and ext not in IMAGE_EXTS:
        raise MediaError(f"{out}: annotated image needs an image extension (png, jpg, ...)")


SMALL_FACES_DEPRECATED = "deprecated, no effect: faces from about 40 px wide in 640x480 are found by default"


def load_analyzer(model: str | None, small_faces: bool = False):
    """``ml.build_analyzer``'s analyser, keeping TensorFlow's start-up chatter off the terminal."""
    from ..analyzer import build_analyzer
    from ..backend_quiet import import_keras_quietly

    import_keras_quietly()
    return build_analyzer(model, small_faces=small_faces)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m ml.analyze",
        description="Facial expressions in a recorded video, an image or a folder of images.",
    )
    p.add_argument("input", help="video (mp4, webm, avi, mov, mkv), image, or folder of images")
    p.add_argument("--csv", metavar="OUT.csv", help="one row per face per analysed frame")
    p.add_argument("--out", metavar="ANNOTATED", help="annotated video (.mp4/.webm), image, or folder")
    p.add_argument("--plot", metavar="PNG",
                   help='timeline plot (default: next to --csv/--out, else next to INPUT; "" for none)')
    p.add_argument("--out-dir", metavar="DIR",
                   help="write the CSV, the annotated output and the plot there, named after INPUT "
                   "(created if missing; --csv/--out/--plot still win)")
    p.add_argument("--every", type=int, default=1, metavar="N", help="analyse every N-th frame (default 1)")
    p.add_argument("--model", default=None, metavar="NAME", help="shipped model name or .keras path")
    p.add_argument("--small-faces", action="store_true", help=SMALL_FACES_DEPRECATED)
    p.add_argument("--batch", type=int, default=8, metavar="N", help="frames per classifier batch (default 8)")
    p.add_argument("--window", type=int, default=5, metavar="N", help="smoothing window in analysed frames")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    a = p.parse_args(argv)
    for name in ("every", "batch", "window"):
        if getattr(a, name) < 1:
            p.error(f"--{name} must be at least 1")
    if a.small_faces:
        print(f"python -m ml.analyze: --small-faces is {SMALL_FACES_DEPRECATED}", file=sys.stderr)
    return a


def main(argv=None, analyzer=None) -> int:
    a = parse_args(argv)
    from tqdm import tqdm

    from .media import MediaError, open_media
    from .pipeline import analyze_media

    input_path = Path(a.input)
    plot = default_plot_path(input_path, a.csv, a.out, a.out_dir) if a.plot is None else (a.plot or None)
    bar = None
    try:
        source = open_media(input_path)  # before the model loads: bad input fails fast
        if a.out_dir:
            csv_default, out_default = default_outputs(input_path, source.kind, a.out_dir)
            a.csv = a.csv or str(csv_default)
            a.out = a.out or str(out_default)
            Path(a.out_dir).mkdir(parents=True, exist_ok=True)
        for given in (a.csv, a.out, plot):
            if given and not Path(given).resolve().parent.is_dir():
                raise MediaError(f"{given}: the folder {Path(given).parent} does not exist")
        check_output(a.out, source.kind)
        if analyzer is None:
            analyzer = load_analyzer(a.model, a.small_faces)
        unit = "frame" if source.kind == "video" else "image"
        bar = tqdm(
            total=source.frame_count or None,
            unit=unit,
            desc=input_path.name,
            disable=a.quiet,
            dynamic_ncols=True,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
            "[{elapsed}<{remaining}, {rate_fmt}]",
        )

        def progress(done: int, total: int) -> None:
            if total and bar.total != total:
                bar.total = total
            bar.update(done - bar.n)

        result = analyze_media(
            source,
            analyzer,
            csv=a.csv,
            out=a.out,
            plot=plot,
            every=a.every,
            batch=a.batch,
            window=a.window,
            progress=progress,
        )
    except MediaError as e:
        _close(bar)
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as e:  # an unknown --model, an unwritable output folder
        _close(bar)
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        _close(bar)
        print("interrupted: no output written", file=sys.stderr)
        return 130
    _close(bar)
    print(result.summary.text())
    for what, path in (("CSV", result.csv), ("annotated", result.out), ("timeline", result.plot)):
        if path:
            print(f"{what}: {path}" + (f" ({result.rows} rows)" if what == "CSV" else ""))
    return 0


def _close(bar) -> None:
    if bar is not None:
        bar.close()


if __name__ == "__main__":
    sys.exit(main())
