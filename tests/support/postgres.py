"""A throw-away PostgreSQL server for the test suite: initdb + pg_ctl in a temporary folder,
listening only on a unix socket there. Started by the suite itself, never skipped."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

PORT = 54329  # only names the socket file; nothing listens on TCP


class PostgresNotAvailable(RuntimeError):
    pass


def _bindir() -> Path:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                        key=lambda p: int(Path(p).parts[-3]))
    if not candidates:
        raise PostgresNotAvailable(
            "PostgreSQL server binaries not found: install the Debian package 'postgresql' "
            "(`make test` does this when run as root)."
        )
    return Path(candidates[-1]).parent


class TemporaryPostgres:
    def __init__(self) -> None:
        self.bindir = _bindir()
        self.root = Path(tempfile.mkdtemp(prefix="tnid-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root
        self._run_as: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root: use the postgres account
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresNotAvailable(
                    "Running as root needs the 'postgres' system user "
                    "(created by the Debian 'postgresql' package)."
                ) from None
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self._run_as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        result = subprocess.run([*self._run_as, *args], capture_output=True, text=True)
        if result.returncode != 0:
            raise PostgresNotAvailable(f"{args[0]} failed: {result.stderr or result.stdout}")

    def start(self) -> str:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "tnid",
                  "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
        options = (f"-k {self.socket_dir} -p {PORT} -c listen_addresses='' -F "
                   "-c max_connections=200 -c shared_buffers=64MB")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l",
                  str(self.root / "server.log"), "-o", options, "-w", "start")
        self._run(str(self.bindir / "createdb"), "-h", str(self.socket_dir), "-p", str(PORT),
                  "-U", "tnid", "tnid_test")
        return self.url("tnid_test")

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://tnid@/{database}?host={self.socket_dir}&port={PORT}"

    def stop(self) -> None:
        try:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                      "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
