"""Recorded media: analyse a video, an image or a folder of images end to end.

    media.py     frames in (video, image, folder) and annotated output out, written atomically
    pipeline.py  ``analyze_media``: frames -> ``ml.FrameAnalyzer`` -> ``ml.FaceTracker`` -> outputs
    report.py    the CSV rows (``ml.schema``), the summary and the timeline plot
    annotate.py  boxes and labels drawn into frames
    cli.py       ``python -m ml.analyze``

Used by the command line and by the server's upload worker.
"""

from .media import MediaError, open_media
from .pipeline import Cancelled, Result, analyze_media

__all__ = ["Cancelled", "MediaError", "Result", "analyze_media", "open_media"]
