"""Every setting of the server, read once: command-line flags, then environment variables, then defaults.

    settings = Settings.from_args(sys.argv[1:])      # python -m server ...
    settings = Settings(max_streams=1)               # tests: the defaults, with overrides
    create_app(settings)

Environment variables (a flag, where there is one, wins):

    PORT                     --port (platforms such as Heroku set it)
    FER_MODEL                --model
    FER_LOG_LEVEL            --log-level
    FER_ALLOWED_ORIGINS      --allowed-origin, comma-separated
    FER_UPLOAD_DIR           folder of the uploads being analysed and their results (default: a private
                             folder of this user: $XDG_RUNTIME_DIR/fer-uploads or ~/.cache/fer-uploads)
    FER_UPLOAD_MAX_MB        largest upload (default 100)
    FER_UPLOAD_RETENTION_S   results are deleted this long after the upload (default 3600)
    FER_UPLOAD_EVERY         analyse every N-th frame of an uploaded video (default 1)
    FER_UPLOAD_MAX_MPX       largest picture of an upload, in megapixels (default 40)
    FER_UPLOAD_MAX_SIDE      longest side of an upload's picture, in pixels (default 4096)
    FER_UPLOAD_MAX_MINUTES   longest uploaded video (default 30)
    FER_UPLOAD_MAX_FRAMES    most frames of an uploaded video (default 108000: 30 min at 60 fps)
    FER_UPLOAD_MAX_FPS       most frames a second of an uploaded video (default 240)
    FER_UPLOAD_LEASE_S       a job whose server gave no sign of life this long is taken up again (default 15)
    FER_DATABASE             --database (studies: sqlite:///PATH or postgresql://USER:PASS@HOST/DB)
    FER_SCREEN_DIR           folder of the studies' screen recordings, one per database (default: beside a
                             SQLite file, data/fer-screen for data/fer.db; data/screen-DBNAME for PostgreSQL;
                             replicas of one database share one folder: docs/deploy.md)
    FER_SCREEN_MAX_MB        largest screen recording of one session (default 500)
    FER_SCREEN_MIN_FREE_MB   screen chunks are refused while the disk has less free than this (default 256)
    FER_ADMIN_TOKEN          --admin-token (the researcher's token for studies)
    FER_FEATURES             --features (the parts that are on, comma-separated; default: all)

Limits that keep one client from locking the others out (docs/deploy-limits.md) are
fields of ``Settings``; the ones an operator is likely to change have flags.

No other module reads flags or the environment.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

DEFAULT_PORT = 8080
DEFAULT_MAX_STREAMS = 8

LOG_LEVELS = ("debug", "info", "warning", "error")
# --ice-allow keywords (else a network, e.g. 10.0.0.0/8); link-local (169.254.0.0/16: cloud metadata) and
# mdns (.local names, resolved by multicast) only when named
ICE_ADDRESS_KINDS = ("public", "private", "loopback", "link-local", "mdns")


def default_upload_dir() -> Path:
    """A folder of this user's, not a shared one: $XDG_RUNTIME_DIR (a per-user tmpfs) or ~/.cache."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        return Path(runtime) / "fer-uploads"
    return Path.home() / ".cache" / "fer-uploads"


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


DEFAULT_DATABASE = "sqlite:///data/fer.db"  # python -m server's default: under ./data/
MIN_ADMIN_TOKEN = 16  # characters: a researcher token shorter than this is refused

# The parts of the app a deployment switches on or off (--features, FER_FEATURES): a part that
# is off is absent from the pages and its endpoints answer 404 (server/features.py).
#   live       the live page: camera -> WebRTC -> labels, chart, presentation mode
#   classview  the live page's class view (every face a camera sees in a room); needs live
#   uploads    recorded videos and images analysed from the page (/api/uploads)
#   studies    remote usability studies: researcher pages and API, participant links
FEATURES = ("live", "classview", "uploads", "studies")


def parse_features(text: str) -> frozenset[str]:
    """``live,uploads`` (or ``all``) -> the parts that are on; ValueError for an unknown or impossible set."""
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        return frozenset(FEATURES)
    if not names:
        raise ValueError(f"name at least one part: {','.join(FEATURES)} (or all)")
    return check_features(names)


def check_features(names) -> frozenset[str]:
    names = frozenset(names)
    unknown = sorted(names - set(FEATURES))
    if unknown:
        raise ValueError(f"unknown part {', '.join(unknown)}: expected some of {','.join(FEATURES)} (or all)")
    if "classview" in names and "live" not in names:
        raise ValueError("classview is part of the live page: switch on live too")
    return names


SMALL_FACES_DEPRECATED = "deprecated, no effect: faces from about 40 px wide in 640x480 are found by default"


@dataclass
class UploadSettings:
    """Recorded videos and images uploaded from the page."""

    directory: Path = field(default_factory=default_upload_dir)
    max_bytes: int = 100 * 1024 * 1024
    retention_s: float = 3600.0
    cleanup_interval_s: float | None = None  # None: a quarter of retention_s, between 0.05 and 60 s
    every: int = 1
    max_pending: int = 4  # uploads queued or being analysed at once (checked before the body is read)
    max_receiving: int = 8  # uploads whose body is being received at once, all clients together
    max_pending_per_client: int = 2  # uploads being received, queued or analysed from one client address
    # the body must keep coming: a byte every body_idle_s at least, and after body_grace_s, body_min_rate
    # bytes a second on average (server/uploads/body_deadline.py); else 408
    body_idle_s: float = 10.0
    body_min_rate: float = 16 * 1024
    body_grace_s: float = 10.0
    # checked from the file's header, before anything is decoded
    max_pixels: int = 40_000_000  # width x height of an image or a video frame
    max_side: int = 4096  # longest side of an image or a video frame
    max_duration_s: float = 1800.0  # of a video
    max_frames: int = 108_000  # of a video (30 min at 60 frames a second)
    max_fps: float = 240.0  # frames a second of a video
    max_streams: int = 16  # streams (tracks) of a container read from its header (video, audio, data...)
    frame_side: int = 1920  # frames are decoded (and annotated) at most this large on their longest side
    io_threads: int = 2  # file writes, header checks and deletions run on this many threads
    # the job queue (in the database): a job whose server process gave no sign of life for lease_s
    # (it died) is analysed again (max_attempts at most) or failed; idle workers look every poll_s
    lease_s: float = 15.0
    poll_s: float = 1.0
    max_attempts: int = 3

    def __post_init__(self):
        self.directory = Path(self.directory)
        if self.cleanup_interval_s is None:
            self.cleanup_interval_s = max(0.05, min(60.0, self.retention_s / 4))
        self.every = max(1, int(self.every))
        if self.lease_s <= 0:
            raise ValueError(f"the job lease must be positive (FER_UPLOAD_LEASE_S={self.lease_s})")

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
        if env.get("FER_UPLOAD_MAX_MPX"):
            kwargs["max_pixels"] = int(float(env["FER_UPLOAD_MAX_MPX"]) * 1_000_000)
        if env.get("FER_UPLOAD_MAX_SIDE"):
            kwargs["max_side"] = int(env["FER_UPLOAD_MAX_SIDE"])
        if env.get("FER_UPLOAD_MAX_MINUTES"):
            kwargs["max_duration_s"] = float(env["FER_UPLOAD_MAX_MINUTES"]) * 60
        if env.get("FER_UPLOAD_MAX_FRAMES"):
            kwargs["max_frames"] = int(env["FER_UPLOAD_MAX_FRAMES"])
        if env.get("FER_UPLOAD_MAX_FPS"):
            kwargs["max_fps"] = float(env["FER_UPLOAD_MAX_FPS"])
        if env.get("FER_UPLOAD_LEASE_S"):
            kwargs["lease_s"] = float(env["FER_UPLOAD_LEASE_S"])
        return cls(**kwargs)


def default_screen_dir(database: str) -> Path:
    """A database's own recordings folder (a folder serves one database): beside a SQLite file
    (``data/fer.db`` -> ``data/fer-screen``), else ``data/screen-DBNAME``."""
    if database.startswith("sqlite:///"):
        db = Path(database[len("sqlite:///"):].split("?", 1)[0]).expanduser()
        return db.with_name(f"{db.stem}-screen")
    from urllib.parse import urlsplit

    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in urlsplit(database).path.lstrip("/"))
    return Path("data") / f"screen-{name or 'default'}"


@dataclass
class ScreenSettings:
    """Studies' screen recordings (server/studies/screen.py): chunks from the participant's browser, one
    file per session. ``directory`` None: a throw-away folder, removed when the server stops (tests,
    and the throw-away database of ``Settings.database`` None)."""

    directory: Path | None = None
    max_bytes: int = 500 * 1024 * 1024  # of one session's recording; beyond it the recording stops
    chunk_max_bytes: int = 16 * 1024 * 1024  # one chunk (the browser sends one every CHUNK_S seconds)
    chunks_at_once: int = 2  # chunk requests of one session being received at once (the page sends one at a time)
    chunk_read_s: float = 120.0  # a chunk's body must have come by then (408)
    min_free_bytes: int = 256 * 1024 * 1024  # the disk is "full" below this: chunks refused, the recording stops
    end_grace_s: float = 20.0  # after its end, a recording waits this long for its missing chunks
    idle_s: float = 60.0  # a recording without a chunk this long has ended (tab closed, network gone)
    sweep_interval_s: float = 5.0

    def __post_init__(self):
        if self.directory is not None:
            self.directory = Path(self.directory)

    @classmethod
    def from_env(cls, env: Mapping[str, str], database: str) -> "ScreenSettings":
        """python -m server's: recordings go to FER_SCREEN_DIR, else the database's own folder."""
        kwargs = {"directory": Path(env.get("FER_SCREEN_DIR") or default_screen_dir(database))}
        if env.get("FER_SCREEN_MAX_MB"):
            kwargs["max_bytes"] = int(float(env["FER_SCREEN_MAX_MB"]) * 1024 * 1024)
        if env.get("FER_SCREEN_MIN_FREE_MB"):
            kwargs["min_free_bytes"] = int(float(env["FER_SCREEN_MIN_FREE_MB"]) * 1024 * 1024)
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
    # live analysis threads (server/live/inference.py); None: one per CPU core, at most 4
    live_threads: int | None = None
    uploads: UploadSettings = field(default_factory=UploadSettings)
    log_level: str = "info"
    # Origins (scheme://host[:port]) allowed to open /ws and to POST/DELETE, besides the server's own
    allowed_origins: tuple[str, ...] = ()
    # a live stream that is not "connected" this long after its offer is closed and its slot freed
    connect_timeout_s: float = 15.0
    # ... and one connected that sends no frame this long after it connected, or none for frame_timeout_s
    first_frame_timeout_s: float = 10.0
    frame_timeout_s: float = 10.0
    # live streams from one client address (connected or not); None: half of max_streams (at least 1)
    max_streams_per_client: int | None = None
    max_frame_pixels: int = 1920 * 1080  # a live picture larger than this is not decoded; its stream is closed
    max_pending_offers_per_client: int = 2  # streams of one client address still connecting
    max_websockets: int = 256  # open /ws connections, all clients together
    max_websockets_per_client: int = 32  # from one client address (a classroom behind one NAT shares one)
    max_ice_candidates: int = 16  # UDP candidates in one offer
    # where the server may send ICE checks: "public", "private", "loopback", "link-local", "mdns" or networks
    # (CIDR); None: public and private addresses, and loopback too when the server listens on loopback
    ice_allow: tuple[str, ...] | None = None
    # researcher tokens: past this many wrong ones from one address in the window, its tries get 429
    max_token_failures: int = 10
    token_failure_window_s: float = 60.0
    # studies: new sessions of one participant link a minute, task markers of one session, live views
    # (observer sockets) of one study
    max_sessions_per_minute: int = 60
    max_markers_per_session: int = 500
    max_observers_per_study: int = 16
    # studies (server/studies/): the database's URL; None: a throw-away one (tests), the
    # command line's default is DEFAULT_DATABASE. admin_token None: the researchers' named tokens
    # (python -m server researcher add NAME), and at a first start one made and printed.
    database: str | None = None
    admin_token: str | None = None
    screen: ScreenSettings = field(default_factory=ScreenSettings)
    retention_sweep_s: float = 3600.0  # how often sessions past their study's retention period are deleted
    check_help_s: float = 20.0  # the participant page offers help (and, if allowed, to go on) after this
    # the parts that are on (FEATURES); a part that is off is absent from the pages, its endpoints 404
    features: frozenset[str] = frozenset(FEATURES)

    @property
    def streams_per_client(self) -> int:
        """How many live streams one client address may have."""
        if self.max_streams_per_client is not None:
            return self.max_streams_per_client
        return max(1, self.max_streams // 2)

    def __post_init__(self):
        self.features = check_features(self.features)
        self.ice_servers = tuple(self.ice_servers)
        self.allowed_origins = tuple(o.rstrip("/").lower() for o in self.allowed_origins)
        if self.ice_allow is None:
            self.ice_allow = ("public", "private") + (("loopback",) if is_loopback_host(self.host) else ())
        self.ice_allow = tuple(self.ice_allow)
        for item in self.ice_allow:
            if item not in ICE_ADDRESS_KINDS:
                ipaddress.ip_network(item, strict=False)  # ValueError for a typo

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
        if a.max_streams_per_client is not None and a.max_streams_per_client < 1:
            p.error("--max-streams-per-client must be at least 1")
        if a.live_threads is not None and a.live_threads < 1:
            p.error("--live-threads must be at least 1")
        if a.log_level not in LOG_LEVELS:
            p.error(f"FER_LOG_LEVEL {a.log_level!r}: expected one of {', '.join(LOG_LEVELS)}")
        if a.admin_token is not None and len(a.admin_token) < MIN_ADMIN_TOKEN:
            p.error(f"--admin-token must be at least {MIN_ADMIN_TOKEN} characters (better: leave it out, one is made)")
        if a.small_faces:
            print(f"python -m server: --small-faces is {SMALL_FACES_DEPRECATED}", file=sys.stderr)
        try:
            features = parse_features(a.features)
        except ValueError as e:
            p.error(f"--features {a.features!r}: {e}")
        try:
            uploads = UploadSettings.from_env(env)
        except ValueError as e:
            p.error(f"bad FER_UPLOAD_* environment variable: {e}")
        try:
            screen = ScreenSettings.from_env(env, a.database)
        except ValueError as e:
            p.error(f"bad FER_SCREEN_* environment variable: {e}")
        origins = list(a.allowed_origin)
        if env.get("FER_ALLOWED_ORIGINS"):
            origins += [o.strip() for o in env["FER_ALLOWED_ORIGINS"].split(",") if o.strip()]
        for origin in origins:
            if not origin_ok(origin):
                p.error(f"--allowed-origin {origin!r}: expected scheme://host[:port], e.g. https://fer.example.org")
        for item in a.ice_allow or ():
            if item not in ICE_ADDRESS_KINDS:
                try:
                    ipaddress.ip_network(item, strict=False)
                except ValueError:
                    p.error(f"--ice-allow {item!r}: expected public, private, loopback, link-local, mdns or a network "
                            "such as 10.0.0.0/8")
        return cls(
            host=a.host,
            port=a.port,
            model=a.model,
            small_faces=a.small_faces,
            cert=a.cert,
            key=a.key,
            ice_servers=tuple(a.ice_server),
            max_streams=a.max_streams,
            max_streams_per_client=a.max_streams_per_client,
            live_threads=a.live_threads,
            uploads=uploads,
            log_level=a.log_level,
            allowed_origins=tuple(origins),
            connect_timeout_s=a.connect_timeout,
            first_frame_timeout_s=a.frame_timeout,
            frame_timeout_s=a.frame_timeout,
            ice_allow=tuple(a.ice_allow) if a.ice_allow else None,
            database=a.database,
            admin_token=a.admin_token,
            screen=screen,
            features=features,
        )


def origin_ok(origin: str) -> bool:
    """``scheme://host[:port]`` with http(s) and nothing after it."""
    from urllib.parse import urlsplit

    try:
        u = urlsplit(origin)
        u.port  # noqa: B018  (ValueError for a bad port)
    except ValueError:
        return False
    return u.scheme in ("http", "https") and bool(u.hostname) and u.path in ("", "/") and not u.query


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
    p.add_argument("--max-streams-per-client", type=int, default=None, metavar="N",
                   help="most live streams from one client address (default: half of --max-streams; a classroom "
                   "behind one NAT shares one address)")
    p.add_argument("--live-threads", type=int, default=None, metavar="N",
                   help="threads analysing live frames, each op on one core (default: one per CPU core, at most 4)")
    p.add_argument("--connect-timeout", type=float, default=15.0, metavar="S",
                   help="close a live stream not connected this many seconds after its offer (default 15)")
    p.add_argument("--frame-timeout", type=float, default=10.0, metavar="S",
                   help="close a live stream that sends no frame for this many seconds, from when it connected "
                   "(default 10)")
    p.add_argument("--allowed-origin", action="append", default=[], metavar="ORIGIN",
                   help="another origin (scheme://host[:port]) whose pages may use this server's /ws and "
                   "uploads, e.g. behind a TLS proxy (repeatable; default: only the server's own origin; "
                   "also $FER_ALLOWED_ORIGINS, comma-separated)")
    p.add_argument("--ice-allow", action="append", metavar="KIND_OR_NETWORK",
                   help="addresses an offer's ICE candidates may name: public, private, loopback, link-local "
                   "(169.254.0.0/16, fe80::/10), mdns (.local names) or a network such as 10.0.0.0/8 (repeatable; "
                   "default: public and private, plus loopback when --host is a loopback address); on a public "
                   "server, --ice-allow public")
    p.add_argument("--log-level", choices=LOG_LEVELS, default=(env.get("FER_LOG_LEVEL") or "info").lower(),
                   help="info (default): one line per stream and per upload, no client addresses or ids; "
                   "debug: every request and the WebRTC libraries' own logs (also $FER_LOG_LEVEL)")
    p.add_argument("--database", default=env.get("FER_DATABASE") or DEFAULT_DATABASE, metavar="URL",
                   help=f"where studies are stored: sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DB "
                   f"(default {DEFAULT_DATABASE}, or $FER_DATABASE)")
    p.add_argument("--admin-token", default=env.get("FER_ADMIN_TOKEN") or None, metavar="TOKEN",
                   help="the researcher's token for studies (default: $FER_ADMIN_TOKEN, else one is made at "
                   "start and the researcher URL printed)")
    p.add_argument("--features", default=env.get("FER_FEATURES") or "all", metavar="PARTS",
                   help=f"the parts that are on, comma-separated: {','.join(FEATURES)} (default: all, or "
                   "$FER_FEATURES); a part that is off is absent from the pages and its endpoints answer 404. "
                   "docs/deploy.md has an EU school profile and a research-lab profile")
    return p
