"""Real databases for the studies' tests: SQLite files, and a PostgreSQL server started for the session.

``postgres_server`` initdb's a throw-away cluster in /tmp on a free port (as the ``postgres``
user when the tests run as root: PostgreSQL refuses root) and stops it afterwards; tests
skip with the reason when PostgreSQL's binaries are missing (``.ci/run`` installs them).
``PostgresServer.halt()`` / ``resume()`` stop and start it again on its data (an outage).
``SmallDisk`` is a real, small file system (a tmpfs, mounted as root) that ``fill()`` makes
full and ``free()`` frees again: SQLite's outage.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest


def pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self):
        self.initdb, self.pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")  # and createdb beside them
        self.user = None
        if os.geteuid() == 0:
            try:
                self.user = pwd.getpwnam("postgres")
            except KeyError:
                self.user = None
        self.dir: Path | None = None
        self.port = free_port()
        self.url = f"postgresql://fer@127.0.0.1:{self.port}/postgres"

    def _run(self, *args, **kwargs):
        cmd = list(args)
        if self.user is not None:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120, **kwargs)

    def start(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="fer-pg-"))
        if self.user is not None:
            os.chown(self.dir, self.user.pw_uid, self.user.pw_gid)
        self._run(self.initdb, "-D", str(self.dir / "data"), "-U", "fer", "-A", "trust", "-E", "UTF8", "--no-locale")
        self.resume()

    def halt(self) -> None:
        """An outage: the server stops (its connections are cut), its data stays for ``resume``."""
        self._run(self.pg_ctl, "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop")

    def resume(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(self.pg_ctl, "-D", str(self.dir / "data"), "-o", options, "-l", str(self.dir / "log"), "-w", "start")

    def stop(self) -> None:
        try:
            self.halt()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def new_database(self) -> str:
        """A fresh, empty database on this server; its URL."""
        name = "t_" + uuid.uuid4().hex[:12]
        self._run(pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "fer", name)
        return f"postgresql://fer@127.0.0.1:{self.port}/{name}"


@pytest.fixture(scope="session")
def postgres_server():
    server = PostgresServer()
    if not (server.initdb and server.pg_ctl):
        pytest.skip("PostgreSQL's initdb/pg_ctl are not installed (apt-get install postgresql; .ci/run does)")
    if os.geteuid() == 0 and server.user is None:
        pytest.skip("running as root and there is no 'postgres' user to run PostgreSQL as")
    try:
        server.start()
    except subprocess.CalledProcessError as e:
        if server.dir is not None:
            shutil.rmtree(server.dir, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start: {e.stderr or e.stdout}")
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A fresh, empty database of each kind: a SQLite file, a database on the test PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'studies.db'}"
    server = request.getfixturevalue("postgres_server")
    return server.new_database()


class SmallDisk:
    """A tmpfs of ``size`` mounted at a new folder (needs root, or CAP_SYS_ADMIN); ``fill()`` takes every
    free byte (a file that grows until ENOSPC), ``free()`` deletes it. ``available()`` False: cannot mount."""

    def __init__(self, size: str = "16m"):
        self.size = size
        self.path = Path(tempfile.mkdtemp(prefix="fer-disk-"))
        self.mounted = False
        self.filler = self.path / ".filler"

    def mount(self) -> bool:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size},mode=0777", "tmpfs", str(self.path)],
                              capture_output=True, text=True)
        self.mounted = done.returncode == 0
        self.error = done.stderr.strip()
        return self.mounted

    def fill(self) -> None:
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in (1 << 16, 4096, 512, 1):  # down to the last byte
                block = b"\0" * size
                try:
                    while True:
                        os.write(fd, block)
                except OSError:
                    pass
        finally:
            os.close(fd)

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def unmount(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.path)], capture_output=True)
        shutil.rmtree(self.path, ignore_errors=True)
