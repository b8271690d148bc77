"""How long the console's app figures take with a large tokens table (SQLite, in-process).

    .venv/bin/python -m bench.app_usage [--tokens 2000000] [--apps 20] [--with-index]

Fills a throw-away database with ``--tokens`` rows spread over 90 days (the purge keeps about
the refresh tokens' lifetime), half of them for one busy app, then times
``app_usage.summaries`` (the app list) and ``app_usage.usage`` (the app page) for the busy app
and a quiet one. ``--with-index`` adds the composite index (client_id, issued_at) the queries
are written for, to show what it changes (it is not in the migrations yet).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert, text

from idp import create_app, database
from idp.extensions import db
from idp.models import Client, Token
from idp.services import app_usage
from idp.services.clock import utcnow


def fill(tokens: int, apps: int) -> list[str]:
    now = utcnow()
    ids = [f"bench-app-{i:02d}" for i in range(apps)]
    db.session.execute(insert(Client), [
        {"client_id": cid, "name_vi": cid, "name_en": cid, "redirect_uris": [],
         "post_logout_redirect_uris": [], "grant_types": ["authorization_code"],
         "token_endpoint_auth_method": "none", "scope": "openid", "created_at": now,
         "updated_at": now, "subject_type": "public", "id_token_signed_response_alg": "RS256",
         "trusted": False, "created_via": "cli"} for cid in ids])
    rng = random.Random(7)
    batch: list[dict] = []
    for n in range(tokens):
        # Half the traffic is the first app's; the rest is spread over the others.
        cid = ids[0] if n % 2 == 0 else ids[1 + n % (apps - 1)]
        issued = now - timedelta(seconds=rng.randrange(90 * 86400))
        refresh = n % 3 == 0
        batch.append({
            "client_id": cid, "scope": "openid", "access_token_hash": f"{n:064x}",
            "refresh_token_hash": f"r{n:063x}" if refresh else None, "issued_at": issued,
            "access_expires_at": issued + timedelta(minutes=10),
            "refresh_expires_at": issued + timedelta(days=30) if refresh else None,
            "family_id": uuid.uuid4()})
        if len(batch) == 50_000:
            db.session.execute(insert(Token), batch)
            batch.clear()
    if batch:
        db.session.execute(insert(Token), batch)
    db.session.commit()
    return ids


def timed(label: str, call, repeat: int = 7) -> None:  # noqa: ANN001
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    print(f"{label:<40} median {statistics.median(samples):8.1f} ms  max {max(samples):8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=2_000_000)
    parser.add_argument("--apps", type=int, default=20)
    parser.add_argument("--with-index", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="tnid-bench-usage-"))
    url = f"sqlite:///{folder / 'usage.sqlite3'}"
    engine = create_engine(url)
    database.upgrade(engine)
    engine.dispose()
    app = create_app({"TNID_ENV": "development", "TNID_DATABASE_URL": url,
                      "TNID_SECRET_KEY": "b" * 48, "TNID_INSTANCE_PATH": str(folder / "i")})
    with app.app_context():
        started = time.perf_counter()
        ids = fill(args.tokens, args.apps)
        print(f"filled {args.tokens:,} tokens for {args.apps} apps in "
              f"{time.perf_counter() - started:.0f} s")
        if args.with_index:
            db.session.execute(text(
                "CREATE INDEX ix_bench_tokens_client_issued ON tokens (client_id, issued_at)"))
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        now, idle = utcnow(), timedelta(days=30)
        timed("app list (summaries, all apps)", lambda: app_usage.summaries(db.session, ids, now))
        timed("app page, busy app (50% of tokens)",
              lambda: app_usage.usage(db.session, ids[0], now, refresh_idle=idle))
        timed("app page, quiet app",
              lambda: app_usage.usage(db.session, ids[-1], now, refresh_idle=idle))


if __name__ == "__main__":
    main()
