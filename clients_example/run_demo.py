"""``make demo``: ThaiNguyen ID and the three example apps on loopback ports, in one terminal.

    python -m clients_example.run_demo [--port 5000]

Seeds the demo accounts (``tnid demo``), starts ``tnid serve`` (provider, port P), then the
portal (P+1), health records (P+2) and the market (P+3) one after the other — each registers
itself with ``tnid clients create`` when it starts, so they must not race for the SQLite
file — waits until each answers, and prints every address and the demo credentials.
Ctrl-C (or SIGTERM) stops them all: each runs in its own process group, which gets SIGTERM,
then SIGKILL if it lingers.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
APPS = (("portal", "Cổng dịch vụ công"), ("health", "Sổ sức khỏe điện tử"),
        ("market", "Chợ 4.0"))
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


class Stop(Exception):
    pass


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise Stop


def start(name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
    # Own session = own process group: the terminal's Ctrl-C reaches only this launcher,
    # which then stops every group in order (no orphaned server keeps a port).
    return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)


def wait_ready(name: str, process: subprocess.Popen, url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} stopped at start-up (exit code {process.returncode}); "
                             "see its messages above.")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)  # polling a port that is not open yet
    raise SystemExit(f"{name} did not answer on {url} within {START_TIMEOUT:.0f} s.")


def stop_all(processes: list[tuple[str, subprocess.Popen]]) -> None:
    for _, process in reversed(processes):
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + STOP_TIMEOUT
    for name, process in reversed(processes):
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"{name} did not stop in time: killing it", flush=True)
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5000, help="provider port; apps use +1..+3")
    args = parser.parse_args()
    issuer = os.environ.get("TNID_ISSUER", f"http://127.0.0.1:{args.port}").rstrip("/")
    env = {**os.environ, "TNID_ISSUER": issuer, "PYTHONUNBUFFERED": "1"}
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    processes: list[tuple[str, subprocess.Popen]] = []
    urls = []
    # The demo citizens (and staff): seeded before anything serves; its printout, with every
    # credential, is repeated at the end so it is not lost among the servers' start-up lines.
    seeded = subprocess.run([str(BIN / "tnid"), "demo"], cwd=ROOT, env=env, text=True,
                            capture_output=True, check=False)
    if seeded.returncode != 0:
        print(seeded.stdout + seeded.stderr, flush=True)
        return seeded.returncode
    try:
        provider = start("ThaiNguyen ID", [str(BIN / "tnid"), "serve", "--port",
                                           str(args.port)], env)
        processes.append(("ThaiNguyen ID", provider))
        wait_ready("ThaiNguyen ID", provider, f"{issuer}/healthz")
        for offset, (key, title) in enumerate(APPS, start=1):
            port = args.port + offset
            process = start(title, [sys.executable, "-m", f"clients_example.{key}",
                                    "--port", str(port), "--issuer", issuer], env)
            processes.append((title, process))
            url = f"http://127.0.0.1:{port}"
            wait_ready(title, process, f"{url}/healthz")
            urls.append((title, url))
        print(summary(issuer, urls, seeded.stdout), flush=True)
        while True:  # until Ctrl-C, or until one of them dies
            for name, process in processes:
                if process.poll() is not None:
                    print(f"{name} stopped (exit code {process.returncode}); stopping the "
                          "others.", flush=True)
                    raise Stop
            time.sleep(0.5)
    except (Stop, KeyboardInterrupt):
        print("\nStopping...", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut cleanup
        stop_all(processes)
        print("All stopped.", flush=True)


def summary(issuer: str, urls: list[tuple[str, str]], credentials: str) -> str:
    lines = ["", "=" * 72, "ThaiNguyen ID demo is running (Ctrl-C stops everything)", "",
             f"  ThaiNguyen ID (provider)  {issuer}/",
             f"    discovery               {issuer}/.well-known/openid-configuration"]
    lines += [f"  {title:25} {url}/" for title, url in urls]
    lines += [credentials.rstrip(), "",
              "  Try: sign in at the portal, open health records (no second sign-in), shop at",
              "  the market (its own consent, no CCCD), submit a dossier at the portal (code",
              "  only), then sign out at the market: all three apps are signed out.",
              "  Relying-app guide: docs/integrating.md",
              "=" * 72]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
