"""Benchmark of the bulk import: N generated citizens into a fresh database, through
``tnid citizens import`` (the very command operators run, in its own process).

    .venv/bin/python bench/import_citizens.py                      # 1,300,000 rows, SQLite
    .venv/bin/python bench/import_citizens.py --db postgresql      # a throw-away PostgreSQL
    .venv/bin/python bench/import_citizens.py --rows 200000 --rerun

Prints rows/s, total seconds and peak memory: the largest single process (getrusage of the
children: the command and its validation workers) and the peak of their sum (sampled from
/proc every 0.2 s). ``--rerun`` imports the same file a second time (all rows unchanged).
The issue's target: 1.3 M rows into SQLite on 2 cores in at most 120 s, peak memory under
500 MB. Not pinned: the import uses both cores (one writer, two validating workers). Nothing
here is a test: it never fails a build.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.generate_citizens import write_csv  # noqa: E402

TARGET_SECONDS = 120.0
TARGET_MB = 500.0


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants (Linux /proc), in MiB."""
    total, todo, seen = 0, [pid], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            with open(f"/proc/{current}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            with open(f"/proc/{current}/task/{current}/children") as children:
                todo.extend(int(c) for c in children.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total / 1024


def run_import(env: dict[str, str], path: Path) -> tuple[dict, float, float]:
    """(summary, seconds, peak sum of RSS in MiB) of one ``tnid citizens import``."""
    tnid = str(Path(sys.executable).parent / "tnid")
    started = time.perf_counter()
    process = subprocess.Popen([tnid, "citizens", "import", str(path), "--json"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss_mb(process.pid))
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = process.communicate()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"tnid citizens import failed ({process.returncode}): {err.strip()}")
    return json.loads(out), seconds, peak[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_300_000)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--rerun", action="store_true", help="import the same file twice")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="tnid-bench-import-"))
    postgres = None
    try:
        csv_path = workdir / "citizens.csv"
        started = time.perf_counter()
        with csv_path.open("w", encoding="utf-8", newline="") as out:
            write_csv(out, args.rows, seed=args.seed)
        generated = time.perf_counter() - started
        size_mb = csv_path.stat().st_size / 1_048_576
        print(f"generated {args.rows:,} rows ({size_mb:.0f} MiB) in {generated:.1f} s")

        if args.db == "postgresql":
            from tests.support.postgres import TemporaryPostgres

            postgres = TemporaryPostgres()
            database_url = postgres.start()
        else:
            database_url = f"sqlite:///{workdir / 'bench.sqlite3'}"
        env = {**os.environ, "TNID_ENV": "development", "TNID_DATABASE_URL": database_url,
               "TNID_SECRET_KEY": secrets.token_urlsafe(48),
               "TNID_INSTANCE_PATH": str(workdir), "TNID_LOG_LEVEL": "WARNING",
               "PYTHONPATH": str(ROOT)}
        tnid = str(Path(sys.executable).parent / "tnid")
        subprocess.run([tnid, "init"], env=env, check=True, capture_output=True)

        runs = 2 if args.rerun else 1
        init = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_before = init.ru_utime + init.ru_stime
        for run in range(runs):
            summary, seconds, tree_peak = run_import(env, csv_path)
            # ru_maxrss of children: the largest single descendant waited for so far (KiB).
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            largest = usage.ru_maxrss / 1024
            cpu = usage.ru_utime + usage.ru_stime - cpu_before
            cpu_before += cpu
            rate = summary["rows"] / seconds if seconds else 0.0
            label = "first import" if run == 0 else "re-run (same file)"
            print(f"{args.db} {label}: {summary['rows']:,} rows in {seconds:.1f} s "
                  f"= {rate:,.0f} rows/s; created {summary['created']:,}, "
                  f"updated {summary['updated']:,}, unchanged {summary['unchanged']:,}, "
                  f"errors {summary['error_rows']:,}")
            print(f"  peak memory: largest process {largest:.0f} MiB, "
                  f"all import processes together {tree_peak:.0f} MiB")
            # CPU seconds do not depend on what else runs on the machine: with the writer
            # and one validating worker, wall time on a quiet 2-vCPU machine is about the
            # larger of the two processes' shares.
            print(f"  CPU time of the import processes: {cpu:.1f} s")
            if run == 0 and args.rows == 1_300_000:
                verdict = ("OK" if seconds <= TARGET_SECONDS and tree_peak < TARGET_MB
                           else "over target")
                print(f"  target ≤ {TARGET_SECONDS:.0f} s and < {TARGET_MB:.0f} MB "
                      f"({args.db}): {verdict}")
        if args.db == "sqlite":
            db_mb = sum(f.stat().st_size for f in workdir.glob("bench.sqlite3*")) / 1_048_576
            print(f"  database files: {db_mb:.0f} MiB")
        print(f"machine: {os.cpu_count()} vCPU, load average "
              f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} (a busy machine slows this)")
    finally:
        if postgres:
            postgres.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
