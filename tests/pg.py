"""A throw-away PostgreSQL cluster for tests and benchmarks: Debian's binaries, 127.0.0.1, a free port.

    with PgCluster() as pg:
        dsn = pg.new_schema()   # a fresh schema; the dsn sets search_path to it

As root (CI), `initdb` refuses to run, so the cluster belongs to Debian's `postgres` user
(`runuser -u postgres --`) and lives in a temporary folder that user owns. Settings favour
speed over durability (fsync off): nothing in it outlives the test session.
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


class PgUnavailable(RuntimeError):
    """PostgreSQL cannot be started here; the message says why."""


def pg_bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise PgUnavailable("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (apt-get install postgresql)")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    def __init__(self) -> None:
        self.bindir = pg_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="exporter-tui-pg-"))
        self.data = self.root / "data"
        self.port = 0
        self._as: list[str] = []
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                raise PgUnavailable("running as root and there is no 'postgres' user to run the cluster as") from None
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        p = subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=120)
        if p.returncode:
            raise PgUnavailable(f"{Path(args[0]).name} failed ({p.returncode}): {(p.stderr or p.stdout).strip()[-800:]}")

    def start(self) -> PgCluster:
        """initdb and start; on failure everything made so far is removed."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> PgCluster:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
        self.port = _free_port()
        opts = (
            f"-c port={self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
        )
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", opts, "-l", str(self.root / "log"), "-w", "-t", "60", "start")
        return self

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def new_schema(self) -> str:
        """A new empty schema; the returned dsn makes it the only one on the search path."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.dsn, autocommit=True) as con:
            con.execute(f"CREATE SCHEMA {name}")
        return f"{self.dsn} options='-c search_path={name}'"

    def stop(self) -> None:
        if self.port:
            subprocess.run(
                [*self._as, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"],
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PgCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
