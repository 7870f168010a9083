"""Every setting of the server, read once: command-line flags, then environment variables, then defaults.

    settings = Settings.from_args(sys.argv[1:])      # python -m server ...
    settings = Settings(max_streams=1)               # tests: the defaults, with overrides
    create_app(settings)

Environment variables (a flag, where there is one, wins):

    PORT                     --port (platforms such as Heroku set it)
    FER_MODEL                --model
    FER_UPLOAD_DIR           folder of the uploads being analysed and their results
    FER_UPLOAD_MAX_MB        largest upload (default 100)
    FER_UPLOAD_RETENTION_S   results are deleted this long after the upload (default 3600)
    FER_UPLOAD_EVERY         analyse every N-th frame of an uploaded video (default 1)

No other module reads flags or the environment.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

DEFAULT_PORT = 8080
DEFAULT_MAX_STREAMS = 8
SMALL_FACES_DEPRECATED = "deprecated, no effect: faces from about 40 px wide in 640x480 are found by default"


@dataclass
class UploadSettings:
    """Recorded videos and images uploaded from the page."""

    directory: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "fer-uploads")
    max_bytes: int = 100 * 1024 * 1024
    retention_s: float = 3600.0
    cleanup_interval_s: float | None = None  # None: a quarter of retention_s, between 0.05 and 60 s
    every: int = 1
    max_pending: int = 4  # uploads queued or running at once

    def __post_init__(self):
        self.directory = Path(self.directory)
        if self.cleanup_interval_s is None:
            self.cleanup_interval_s = max(0.05, min(60.0, self.retention_s / 4))
        self.every = max(1, int(self.every))

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "UploadSettings":
        kwargs = {}
        if env.get("FER_UPLOAD_DIR"):
            kwargs["directory"] = Path(env["FER_UPLOAD_DIR"])
        if env.get("FER_UPLOAD_MAX_MB"):
            kwargs["max_bytes"] = int(float(env["FER_UPLOAD_MAX_MB"]) * 1024 * 1024)
        if env.get("FER_UPLOAD_RETENTION_S"):
            kwargs["retention_s"] = float(env["FER_UPLOAD_RETENTION_S"])
        if env.get("FER_UPLOAD_EVERY"):
            kwargs["every"] = int(env["FER_UPLOAD_EVERY"])
        return cls(**kwargs)


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    model: str | None = None  # a shipped model name or a .keras path; None: ml's default
    small_faces: bool = False  # deprecated, no effect (every detector finds faces from 40 px in 640x480)
    cert: str | None = None
    key: str | None = None
    ice_servers: tuple[str, ...] = ()
    max_streams: int = DEFAULT_MAX_STREAMS
    uploads: UploadSettings = field(default_factory=UploadSettings)

    def __post_init__(self):
        self.ice_servers = tuple(self.ice_servers)

    @classmethod
    def from_args(cls, argv=None, env: Mapping[str, str] | None = None) -> "Settings":
        """Parse ``python -m server``'s flags (``argv``) over the environment (``env``, default ``os.environ``).

        Bad flags or values exit with a usage message (argparse)."""
        env = os.environ if env is None else env
        p = parser(env)
        a = p.parse_args(argv)
        if bool(a.cert) != bool(a.key):
            p.error("--cert and --key go together")
        if a.max_streams < 1:
            p.error("--max-streams must be at least 1")
        if a.small_faces:
            print(f"python -m server: --small-faces is {SMALL_FACES_DEPRECATED}", file=sys.stderr)
        try:
            uploads = UploadSettings.from_env(env)
        except ValueError as e:
            p.error(f"bad FER_UPLOAD_* environment variable: {e}")
        return cls(
            host=a.host,
            port=a.port,
            model=a.model,
            small_faces=a.small_faces,
            cert=a.cert,
            key=a.key,
            ice_servers=tuple(a.ice_server),
            max_streams=a.max_streams,
            uploads=uploads,
        )


def parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m server", description="Run the live facial-expression web app.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=int(env.get("PORT") or DEFAULT_PORT),
                   help=f"port (default {DEFAULT_PORT}, or $PORT)")
    p.add_argument("--model", default=env.get("FER_MODEL") or None,
                   help="shipped model name or .keras path (default: ml's default model, or $FER_MODEL)")
    p.add_argument("--cert", help="TLS certificate (PEM) to serve HTTPS: browsers allow the camera only on "
                   "https:// or http://localhost")
    p.add_argument("--key", help="TLS private key (PEM) for --cert")
    p.add_argument("--ice-server", action="append", default=[], metavar="URL",
                   help="STUN/TURN server for both ends, e.g. stun:stun.example.org:3478 (repeatable)")
    p.add_argument("--small-faces", action="store_true", help=SMALL_FACES_DEPRECATED)
    p.add_argument("--max-streams", type=int, default=DEFAULT_MAX_STREAMS,
                   help=f"most live streams at once (default {DEFAULT_MAX_STREAMS})")
    return p
