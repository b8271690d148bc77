"""Benchmark of the OpenID Provider's hot endpoints through real HTTP.

A gunicorn-served ThaiNguyen ID is pinned to vCPU 0 (``taskset -c 0``); this load generator
pins itself to vCPU 1. Every figure printed is therefore per vCPU of server.

    .venv/bin/python bench/oidc_endpoints.py                 # SQLite (the embedded default)
    .venv/bin/python bench/oidc_endpoints.py --db postgresql # a throw-away PostgreSQL server

Scenarios: discovery, JWKS, SSO authorize with an existing session (prompt=none), code for
token exchange, userinfo, refresh (rotating), introspection. Each runs for --seconds with
--concurrency closed-loop clients on keep-alive connections; the whole sequence runs --rounds
times on the same server and each scenario's median round is printed, with the slowest and
fastest rounds, next to the OIDC issue's floor. A hello-world WSGI app under the same
gunicorn is measured first, as the machine's own speed. Nothing here is a test: it never
fails a build.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import queue
import re
import secrets
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import loadgen  # noqa: E402
from bench.instance import instance, pin_self, server  # noqa: E402

FLOORS = {"discovery": 2000, "jwks": 2000, "sso authorize (prompt=none)": 400,
          "token (code exchange)": 400, "userinfo": 1500, "refresh": 360,
          "introspection": 1500}
PASSWORD = "bench-password-2025"
REDIRECT = "https://bench.example.vn/cb"


def prepare(env: dict[str, str]) -> dict[str, str]:
    """Schema, keys, one citizen, one app with stored consent — through the real services."""
    subprocess.run([str(Path(sys.executable).parent / "tnid"), "init"], env=env, check=True,
                   capture_output=True)
    code = f"""
import json
from idp import create_app
from idp.extensions import db
from idp.services import accounts, clients, consents
from idp.services.clock import utcnow
from idp.web import deps
app = create_app()
with app.app_context():
    citizen = accounts.create_citizen(db.session, accounts.NewCitizen(
        cccd="019085001234", full_name="Nguyễn Văn An", birthdate="1985-03-12",
        phone="0912345678", commune_code="05719"), passwords=deps.passwords(),
        password={PASSWORD!r}, today=utcnow().date())
    client, secret = clients.create_client(db.session, clients.ClientSpec(
        name_vi="Bench", redirect_uris=[{REDIRECT!r}],
        scope="openid profile phone offline_access"), production=False)
    consents.grant(db.session, citizen.id, client.client_id,
                   ["openid", "profile", "phone", "offline_access"], utcnow())
    db.session.commit()
    print(json.dumps({{"client_id": client.client_id, "secret": secret}}))
"""
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def sign_in(base: str) -> str:
    """A real sign-in through the page; returns the SSO cookie header value."""
    browser = requests.Session()
    page = browser.get(f"{base}/login")
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
    browser.post(f"{base}/login", data={"csrf_token": token, "identifier": "019085001234",
                                        "password": PASSWORD}, allow_redirects=False)
    return "; ".join(f"{c.name}={c.value}" for c in browser.cookies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=4,
                        help="gunicorn threads (4: the README's production example)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="run every scenario this many times; the median is reported")
    args = parser.parse_args()

    # Codes are made in one scenario and spent in the next: give them time.
    settings = {"TNID_CODE_LIFETIME_SECONDS": "600", "TNID_LOGIN_RATE_LIMIT": "1000/minute"}
    with instance(args.db, prefix="tnid-bench-", settings=settings) as bench:
        pin_self(1)
        hello = calibrate(bench.env, bench.port, args)
        app = prepare(bench.env)
        with server(bench.env, bench.port, args.workers, args.threads):
            cookie = sign_in(bench.base)
            rounds = [run_scenarios(bench.base, app, cookie, args,
                                    settle=lambda: checkpoint(bench.env["TNID_DATABASE_URL"]))
                      for _ in range(args.rounds)]
    print(f"\nThaiNguyen ID on {args.db}; server pinned to vCPU 0 ({args.workers} gunicorn "
          f"gthread workers x {args.threads} threads), load on vCPU 1, concurrency "
          f"{args.concurrency}, {args.seconds:.0f} s per scenario, median of {args.rounds} "
          f"rounds [slowest-fastest]. Figures are per vCPU.\n"
          f"This vCPU today: {hello.rps:.0f} req/s of a WSGI hello-world under the same "
          f"gunicorn (bench/hello_wsgi.py).\n")
    for runs in zip(*rounds, strict=True):
        print(report(list(runs), judged=args.db == "sqlite"))


def calibrate(env: dict[str, str], port: int, args: argparse.Namespace) -> loadgen.Result:
    """The machine's own speed, under the same server and load: the VMs this runs on differ,
    and one VM drifts by 10-15 % over a day."""
    with server(env, port, args.workers, args.threads, app="bench.hello_wsgi:app"):
        return loadgen.run("hello-world", f"http://127.0.0.1:{port}",
                           lambda: ("GET", "/", {}, None), seconds=min(args.seconds, 5),
                           concurrency=args.concurrency)


def report(runs: list[loadgen.Result], *, judged: bool = True) -> str:
    """One scenario over its rounds: the median round's line, the range, the floor verdict.
    The floors are set for SQLite; on PostgreSQL the floor is shown, not judged."""
    ordered = sorted(runs, key=lambda r: r.rps)
    median = ordered[len(ordered) // 2]
    errors = sum(r.errors for r in runs)
    line = median.line().replace(f"errors={median.errors}", f"errors={errors}")
    spread = f"  [{ordered[0].rps:.0f}-{ordered[-1].rps:.0f}]" if len(runs) > 1 else ""
    floor = FLOORS.get(median.name)
    if floor is None:
        verdict = ""
    elif not judged:
        verdict = f"  (SQLite floor {floor})" + ("" if not errors else "  ERRORS")
    else:
        verdict = ("  ok" if median.rps >= floor and not errors
                   else f"  BELOW floor {floor}")
    return line + spread + verdict


def checkpoint(database_url: str) -> None:
    """Start every scenario from the same state of the database, whatever ran before it:
    on SQLite, move the write-ahead log written by the previous scenario (tokens, audit
    entries) into the database file, which readers map into memory (pages still in the WAL
    are read with a system call each). A busy node's automatic checkpoints do the same."""
    if database_url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(database_url.removeprefix("sqlite:///"))) as c:
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def run_scenarios(base: str, app: dict, cookie: str, args: argparse.Namespace, *,
                  settle: Callable[[], None]) -> list:
    client_id, secret = app["client_id"], app["secret"]
    basic = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    form = {"Content-Type": "application/x-www-form-urlencoded", "Authorization": basic}

    def run(name: str, source: loadgen.RequestSource, **kw: object) -> loadgen.Result:
        settle()
        return loadgen.run(name, base, source, seconds=args.seconds,
                           concurrency=args.concurrency, **kw)
    results = [
        run("discovery", lambda: ("GET", "/.well-known/openid-configuration", {}, None)),
        run("jwks", lambda: ("GET", "/jwks", {}, None)),
    ]

    codes: queue.SimpleQueue[str] = queue.SimpleQueue()

    def authorize_request() -> loadgen.Request:
        query = urlencode({"response_type": "code", "client_id": client_id,
                           "redirect_uri": REDIRECT, "scope": "openid profile offline_access",
                           "state": secrets.token_urlsafe(6), "nonce": secrets.token_urlsafe(6),
                           "prompt": "none"})
        return "GET", f"/authorize?{query}", {"Cookie": cookie}, None

    def got_code(status: int, body: bytes) -> bool:
        return status == 302

    result = run("sso authorize (prompt=none)", authorize_request, check=got_code,
                 on_response=lambda h: _collect_code(h, codes))
    results.append(result)

    def code_source() -> loadgen.Request:
        code = codes.get_nowait()  # queue.Empty ends the scenario
        body = urlencode({"grant_type": "authorization_code", "code": code,
                          "redirect_uri": REDIRECT}).encode()
        return "POST", "/token", form, body

    access: list[str] = []
    refresh: queue.SimpleQueue[str] = queue.SimpleQueue()

    def got_tokens(status: int, body: bytes) -> bool:
        if status != 200:
            return False
        data = json.loads(body)
        if len(access) < 50:
            access.append(data["access_token"])
        refresh.put(data["refresh_token"])
        return True

    results.append(run("token (code exchange)", _until_empty(code_source), check=got_tokens))
    token = access[0]
    results.append(run("userinfo", lambda: ("GET", "/userinfo",
                                            {"Authorization": f"Bearer {token}"}, None)))

    def refresh_source() -> loadgen.Request:
        body = urlencode({"grant_type": "refresh_token",
                          "refresh_token": refresh.get(timeout=5)}).encode()
        return "POST", "/token", form, body

    results.append(run("refresh", _until_empty(refresh_source), check=got_tokens))
    introspect = urlencode({"token": token}).encode()
    results.append(run("introspection", lambda: ("POST", "/introspect", form, introspect),
                       check=lambda s, b: s == 200 and b'"active":true' in b.replace(b" ", b"")))
    return results


def _collect_code(headers: dict[str, str], codes: queue.SimpleQueue) -> None:
    location = headers.get("location", "")
    code = parse_qs(urlsplit(location).query).get("code")
    if code:
        codes.put(code[0])


def _until_empty(source):  # noqa: ANN001, ANN202
    """Turn queue.Empty into the end of a scenario."""
    def iterate():  # noqa: ANN202
        while True:
            try:
                yield source()
            except queue.Empty:
                return
    return iterate()


if __name__ == "__main__":
    main()
