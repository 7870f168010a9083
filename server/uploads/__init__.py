"""Recorded videos and images uploaded from the page and analysed in the background.

    settings  server/settings.py (``UploadSettings``: folder, size limit, retention)
    jobs.py   ``UploadJobs``: the jobs, their worker (the analysis service's recorded-media
              thread) and their expiry
    routes.py the HTTP API under ``/api/uploads``
"""

from .jobs import Job, UploadJobs
from .routes import add_routes

__all__ = ["Job", "UploadJobs", "add_routes"]
