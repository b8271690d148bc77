"""In-process timing of the back-channel endpoints through Flask's test client: CPU
microseconds per request without gunicorn or the network, steady enough to compare two
versions of the code on a busy machine (HTTP figures come from ``bench/oidc_endpoints.py``).

    .venv/bin/python bench/inprocess.py                       # userinfo, introspection
    .venv/bin/python bench/inprocess.py --profile introspection   # cProfile, top functions
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import io
import logging
import os
import pstats
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flask import Flask  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402

Call = Callable[[FlaskClient], object]


def build(workdir: Path) -> tuple[Flask, dict[str, Call]]:
    """A migrated SQLite database with one citizen, one app and one live token pair."""
    env = {**os.environ, "TNID_ENV": "development", "TNID_ISSUER": "http://127.0.0.1:5000",
           "TNID_DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
           "TNID_SECRET_KEY": secrets.token_urlsafe(48), "TNID_INSTANCE_PATH": str(workdir),
           "TNID_LOG_LEVEL": "INFO"}
    # `tnid init` of this source tree (ROOT first on the path), not of the installed one.
    subprocess.run([sys.executable, "-c", "from idp.cli import main; main()", "init"],
                   env=env, cwd=ROOT, check=True, capture_output=True)
    os.environ.update(env)
    from idp import create_app
    from idp.extensions import db
    from idp.services import accounts, clients, consents, tokens
    from idp.services.clock import utcnow
    from idp.web import deps

    app = create_app()
    # The access log stays on (INFO, as in production) but is written nowhere.
    for handler in logging.getLogger().handlers:
        handler.setStream(io.StringIO()) if hasattr(handler, "setStream") else None
    with app.app_context():
        citizen = accounts.create_citizen(db.session, accounts.NewCitizen(
            cccd="019085001234", full_name="Nguyễn Văn An", birthdate="1985-03-12",
            phone="0912345678", commune_code="05719"), passwords=deps.passwords(),
            password="bench-password-2025", today=utcnow().date())
        client, secret = clients.create_client(db.session, clients.ClientSpec(
            name_vi="Bench", redirect_uris=["https://bench.example.vn/cb"],
            scope="openid profile phone offline_access"), production=False)
        consents.grant(db.session, citizen.id, client.client_id,
                       ["openid", "profile", "phone", "offline_access"], utcnow())
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(48)
        tokens.save_token(db.session, {"access_token": access, "refresh_token": refresh,
                                       "expires_in": 3600, "scope": "openid profile phone"},
                          client=client, citizen_id=citizen.id, now=utcnow(),
                          lifetimes=tokens.Lifetimes(*[timedelta(days=1)] * 4))
        db.session.commit()
        basic = "Basic " + base64.b64encode(f"{client.client_id}:{secret}".encode()).decode()

    def userinfo(c: FlaskClient) -> object:
        return c.get("/userinfo", headers={"Authorization": f"Bearer {access}"})

    def introspection(c: FlaskClient) -> object:
        return c.post("/introspect", data={"token": access},
                      headers={"Authorization": basic})

    def healthz(c: FlaskClient) -> object:  # the floor: Flask, hooks and the test client
        return c.get("/healthz")

    return app, {"healthz": healthz, "userinfo": userinfo, "introspection": introspection}


def check(app: Flask, calls: dict[str, Call]) -> None:
    client = app.test_client()
    for name, call in calls.items():
        response = call(client)
        assert response.status_code == 200, (name, response.status_code, response.data)
        body = response.data.replace(b" ", b"")
        assert name == "healthz" or b"phone" in body or b'"active":true' in body, (name, body)


def time_call(app: Flask, call: Call, n: int) -> float:
    """CPU microseconds per request over ``n`` requests: this thread's CPU time, so other
    processes on a busy machine disturb the figure less than they would wall-clock time."""
    client = app.test_client()
    for _ in range(200):
        call(client)
    started = time.thread_time()
    for _ in range(n):
        call(client)
    return (time.thread_time() - started) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", help="profile this scenario instead of timing")
    args = parser.parse_args()
    app, calls = build(Path(tempfile.mkdtemp(prefix="tnid-inprocess-")))
    check(app, calls)
    if args.profile:
        client, call = app.test_client(), calls[args.profile]
        profiler = cProfile.Profile()
        profiler.runcall(lambda: [call(client) for _ in range(args.requests)])
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(60)
        return
    for name, call in calls.items():
        runs = [time_call(app, call, args.requests) for _ in range(args.repeat)]
        print(f"{name:28} min {min(runs):6.0f} µs  median {statistics.median(runs):6.0f} µs")


if __name__ == "__main__":
    main()
