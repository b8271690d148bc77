"""A throw-away ThaiNguyen ID for a benchmark: its own instance folder and database (SQLite,
or a temporary PostgreSQL server), and gunicorn pinned to vCPU 0 while the caller (the load
generator) pins itself to vCPU 1."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Instance:
    env: dict[str, str]
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def instance(db: str, *, prefix: str, settings: dict[str, str]) -> Iterator[Instance]:
    """Environment for ``tnid`` and gunicorn (``settings`` added); everything is removed
    afterwards."""
    if shutil.which("taskset") is None:
        raise SystemExit("taskset (util-linux) is needed to pin the server to one vCPU")
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    postgres = None
    try:
        if db == "postgresql":
            from tests.support.postgres import TemporaryPostgres

            postgres = TemporaryPostgres()
            database_url = postgres.start()
        else:
            database_url = f"sqlite:///{workdir / 'bench.sqlite3'}"
        port = free_port()
        env = {**os.environ, "TNID_ENV": "development", "TNID_ISSUER": f"http://127.0.0.1:{port}",
               "TNID_DATABASE_URL": database_url, "TNID_SECRET_KEY": secrets.token_urlsafe(48),
               "TNID_INSTANCE_PATH": str(workdir),
               # INFO keeps the JSON access log on, as in production; BENCH_LOG_LEVEL=WARNING
               # shows what it costs.
               "TNID_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "INFO"),
               "PYTHONPATH": str(ROOT), **settings}
        yield Instance(env, port)
    finally:
        if postgres:
            postgres.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pin_self(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and os.cpu_count() and os.cpu_count() > cpu:
        os.sched_setaffinity(0, {cpu})


@contextmanager
def server(env: dict[str, str], port: int, workers: int, threads: int,
           app: str = "wsgi:app") -> Iterator[subprocess.Popen]:
    """gunicorn pinned to vCPU 0, up and answering /healthz; stopped afterwards."""
    command = ["taskset", "-c", "0", sys.executable, "-m", "gunicorn", "--workers", str(workers),
               "--worker-class", "gthread", "--threads", str(threads), "--bind",
               f"127.0.0.1:{port}", "--keep-alive", "30", "--log-level", "warning",
               "--chdir", str(ROOT), app]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        else:
            raise SystemExit("gunicorn did not start")
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)
