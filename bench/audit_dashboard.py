"""How long the dashboard, the audit search, the CSV export and the chain check take at
province scale: 1.3 million citizens and millions of audit entries.

    .venv/bin/python -m bench.audit_dashboard [--citizens 1300000] [--audit 3000000]
                                             [--db sqlite|postgresql] [--no-http]

Fills a throw-away database directly (citizens of every Thái Nguyên commune, 20% at level 2,
5% with an authenticator app, live SSO sessions, and a properly chained audit trail over 90
days: sign-ins, failures, token issuance, staff actions), then times
- in-process: ``dashboard.compute`` (province and one commune officer; 7/30/90 days),
  ``audit_search.search`` (several filters), the CSV export, ``audit.verify_chain`` (with
  its peak memory);
- through HTTP (gunicorn pinned to vCPU 0, as bench/instance.py does): /admin/dashboard and
  /admin/audit, signed in by a console session cookie made with the instance's secret.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import requests
from sqlalchemy import create_engine, insert, select, text

from bench.instance import instance, pin_self, server
from idp import create_app, database
from idp.extensions import db
from idp.models import (
    AuditEvent,
    Citizen,
    SsoSession,
    StaffAccount,
    StaffCommune,
    StaffRole,
    TotpCredential,
)
from idp.services import audit, audit_search, dashboard
from idp.services.clock import utcnow
from idp.services.identifiers import communes_of_province, fold_name
from idp.services.sso_sessions import SessionPolicy

OFFICER_COMMUNE = "05719"  # Xã Sảng Mộc
BATCH = 20_000
NAMES = ["Nguyễn Văn An", "Trần Thị Bình", "Lê Văn Cường", "Phạm Thị Dung", "Hoàng Văn Em",
         "Vũ Thị Hoa", "Đặng Văn Giang", "Bùi Thị Hạnh", "Đỗ Văn Khoa", "Ngô Thị Lan"]


def fill_citizens(n: int, now: datetime) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """Returns all ids and the officer commune's ids."""
    communes = [code for code, _ in communes_of_province()]
    rng = random.Random(5)
    ids: list[uuid.UUID] = []
    local: list[uuid.UUID] = []
    rows: list[dict[str, Any]] = []
    totp: list[dict[str, Any]] = []
    for k in range(n):
        cid = uuid.uuid4()
        commune = communes[k % len(communes)]
        name = NAMES[k % len(NAMES)]
        ids.append(cid)
        if commune == OFFICER_COMMUNE:
            local.append(cid)
        rows.append({"id": cid, "cccd": f"019{k:09d}", "full_name": name,
                     "name_folded": fold_name(name), "birthdate": date(1960 + k % 45, 1, 1),
                     "gender": "male", "phone": f"+849{k:08d}", "email": None,
                     "commune_code": commune, "identity_level": 2 if k % 5 == 0 else 1,
                     "status": "active", "password_hash": None, "failed_attempts": 0,
                     "unlock_required": False, "created_at": now, "updated_at": now})
        if rng.random() < 0.05:
            totp.append({"citizen_id": cid, "secret_sealed": b"x", "confirmed_at": now,
                         "created_at": now})
        if len(rows) == BATCH:
            db.session.execute(insert(Citizen.__table__), rows)
            rows.clear()
    if rows:
        db.session.execute(insert(Citizen.__table__), rows)
    for start in range(0, len(totp), BATCH):
        db.session.execute(insert(TotpCredential.__table__), totp[start:start + BATCH])
    sessions = [{"id": uuid.uuid4(), "token_hash": uuid.uuid4().bytes * 2,
                 "sid": f"{k:043d}", "citizen_id": ids[rng.randrange(n)], "auth_time": now,
                 "amr": ["pwd"], "acr": "urn:tnid:acr:1", "created_at": now,
                 "last_seen_at": now - timedelta(minutes=rng.randrange(60)),
                 "ip": "203.0.113.1", "user_agent": "bench"} for k in range(20_000)]
    db.session.execute(insert(SsoSession.__table__), sessions)
    db.session.commit()
    return ids, local


def fill_audit(n: int, citizen_ids: list[uuid.UUID], now: datetime, staff_id: str) -> None:
    """A chained trail, oldest first, spread over 90 days."""
    rng = random.Random(9)
    start = now - timedelta(days=90)
    step = timedelta(days=90) / n
    prev = audit.GENESIS
    rows: list[dict[str, Any]] = []
    apps = [f"bench-app-{i:02d}" for i in range(12)]
    for k in range(n):
        roll = rng.random()
        citizen = citizen_ids[rng.randrange(len(citizen_ids))]
        values: dict[str, Any] = {
            "id": k + 1, "created_at": (start + step * k).replace(microsecond=0),
            "actor_type": "citizen", "actor_id": str(citizen), "citizen_id": citizen,
            "action": "auth:login:success", "outcome": "success",
            "ip": f"10.{rng.randrange(20)}.{rng.randrange(250)}.{rng.randrange(250)}",
            "client_id": None, "details": {"method": "pwd"}}
        if roll < 0.15:
            values.update(action="auth:password:failure", outcome="failure",
                          actor_type="anonymous", actor_id=None,
                          details={"consecutive_failures": 1})
        elif roll < 0.35:
            app = apps[rng.randrange(len(apps))]
            values.update(action="oidc:token:issued", actor_type="client", actor_id=app,
                          client_id=app, details={"scope": "openid profile"})
        elif roll < 0.36:
            values.update(action="staff:citizen:unlocked", actor_type="staff",
                          actor_id=staff_id, details={"reason": "in person"})
        elif roll < 0.40:
            values.update(action="auth:sms:sent", details={"purpose": "sign-in"})
        values["prev_hash"] = prev
        values["hash"] = prev = audit._hash(values)
        rows.append(values)
        if len(rows) == BATCH:
            db.session.execute(insert(AuditEvent.__table__), rows)
            rows.clear()
    if rows:
        db.session.execute(insert(AuditEvent.__table__), rows)
    db.session.commit()


def timed(label: str, call: Callable[[], Any], repeat: int = 5) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    median = statistics.median(samples)
    print(f"  {label:<52} median {median:8.1f} ms  max {max(samples):8.1f} ms", flush=True)
    return median


def staff_cookie(app: Any, staff: StaffAccount) -> str:
    serializer = app.session_interface.get_signing_serializer(app)
    return serializer.dumps({"staff": {"id": str(staff.id), "v": staff.session_version,
                                       "iat": int(time.time()), "seen": int(time.time())}})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--citizens", type=int, default=1_300_000)
    parser.add_argument("--audit", type=int, default=3_000_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--no-http", action="store_true")
    args = parser.parse_args()
    with instance(args.db, prefix="tnid-bench-audit-", settings={}) as inst:
        url = inst.env["TNID_DATABASE_URL"]
        engine = create_engine(url)
        database.upgrade(engine)
        engine.dispose()
        app = create_app({"TNID_ENV": "development", "TNID_DATABASE_URL": url,
                          "TNID_SECRET_KEY": inst.env["TNID_SECRET_KEY"],
                          "TNID_INSTANCE_PATH": inst.env["TNID_INSTANCE_PATH"]})
        now = utcnow()
        with app.app_context():
            admin = StaffAccount(username="bench.admin", display_name="Bench",
                                 role=StaffRole.SUPERADMIN, password_hash="x")
            officer = StaffAccount(username="bench.officer", display_name="Bench",
                                   role=StaffRole.OFFICER, password_hash="x",
                                   communes=[StaffCommune(commune_code=OFFICER_COMMUNE)])
            db.session.add_all([admin, officer])
            db.session.commit()
            started = time.perf_counter()
            ids, local = fill_citizens(args.citizens, now)
            print(f"{args.db}: {args.citizens:,} citizens ({len(local):,} in the officer's "
                  f"commune) in {time.perf_counter() - started:.0f} s", flush=True)
            started = time.perf_counter()
            fill_audit(args.audit, ids, now, str(admin.id))
            print(f"{args.db}: {args.audit:,} chained audit entries in "
                  f"{time.perf_counter() - started:.0f} s", flush=True)
            if args.db == "postgresql":  # the rows carry explicit ids: move the sequence on
                db.session.execute(text("SELECT setval(pg_get_serial_sequence('audit_events',"
                                        " 'id'), (SELECT max(id) FROM audit_events))"))
            db.session.execute(text("ANALYZE"))
            db.session.commit()
            if args.db == "sqlite":  # fold the bulk load's WAL into the file, as a quiet
                # server would have by now; otherwise the first commits pay for it
                db.session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
                db.session.commit()
            admin = db.session.get(StaffAccount, admin.id)
            officer = db.session.get(StaffAccount, officer.id)
            _ = officer.communes
            policy = SessionPolicy(idle=timedelta(minutes=30), absolute=timedelta(hours=12))
            print("in-process (no HTTP):")
            for days in (7, 30, 90):
                for who, staff in (("province", admin), ("officer (1 commune)", officer)):
                    # Cold: the first view in a process (every day counted); warm: the
                    # finished days come from the process's DayCache, today is counted.
                    timed(f"dashboard {who}, {days} days, cold",
                          lambda d=days, s=staff: dashboard.compute(
                              db.session, s, days=d, now=now, policy=policy,
                              cache=dashboard.DayCache()), repeat=2)
                    cache = dashboard.DayCache()
                    dashboard.compute(db.session, staff, days=days, now=now, policy=policy,
                                      cache=cache)
                    timed(f"dashboard {who}, {days} days, warm",
                          lambda d=days, s=staff, c=cache: dashboard.compute(
                              db.session, s, days=d, now=now, policy=policy, cache=c))
            cccd = db.session.scalar(select(Citizen.cccd).where(Citizen.id == ids[1234]))
            searches = {
                "newest page, no filter": audit_search.Filters(),
                "citizen by CCCD": audit_search.Filters(citizen=cccd),
                "action exact auth:password:failure": audit_search.Filters(
                    action="auth:password:failure"),
                "action prefix staff:": audit_search.Filters(action="staff:"),
                "actor = staff username": audit_search.Filters(actor="bench.admin"),
                "one day 60 days ago": audit_search.Filters(
                    since=(now - timedelta(days=60)).date(),
                    until=(now - timedelta(days=60)).date()),
                "outcome failure": audit_search.Filters(outcome="failure"),
            }
            for label, filters in searches.items():
                page = audit_search.search(db.session, admin, filters)
                before = page.next_before
                timed(f"search: {label}", lambda f=filters: audit_search.search(
                    db.session, admin, f))
                if before:
                    timed(f"search: {label}, next page", lambda f=filters, b=before:
                          audit_search.search(db.session, admin, f, before=b))
            export_filters = audit_search.Filters(action="staff:citizen:unlocked")
            for label, filters in (("staff:citizen:unlocked", export_filters),
                                   ("auth:password:failure, one week", audit_search.Filters(
                                       action="auth:password:failure",
                                       since=(now - timedelta(days=7)).date()))):
                started = time.perf_counter()
                rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                size = rows = 0
                for chunk in audit_search.csv_rows(db.session, admin, filters):
                    size += len(chunk)
                    rows += chunk.count("\r\n")
                print(f"  CSV export {label}: {rows - 1:,} rows, {size / 1e6:.1f} MB in "
                      f"{time.perf_counter() - started:.1f} s, max RSS {rss_before / 1e3:.0f}"
                      f" -> {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3:.0f} MB",
                      flush=True)
            # Timed without tracemalloc (it slows allocation-heavy code several times); the
            # process's peak RSS before and after shows the memory it needed.
            started = time.perf_counter()
            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            checked, broken = audit.verify_chain(db.session)
            print(f"  verify_chain: {checked:,} entries, break={broken}, "
                  f"{time.perf_counter() - started:.1f} s, max RSS {rss_before / 1e3:.0f} -> "
                  f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3:.0f} MB",
                  flush=True)
            cookies = {name: staff_cookie(app, staff) for name, staff in
                       (("province", admin), ("officer", officer))}
            cookie_name = app.config["SESSION_COOKIE_NAME"]
            db.session.remove()
            db.engine.dispose()
        if args.no_http:
            return
        pin_self(1)
        print("through HTTP (gunicorn 1 worker x 2 threads on vCPU 0):")
        with server(inst.env, inst.port, workers=1, threads=2):
            http = requests.Session()
            for who, value in cookies.items():
                jar = {cookie_name: value}
                for path in ("/admin/dashboard?days=7", "/admin/dashboard?days=30",
                             "/admin/dashboard?days=90", "/admin/audit",
                             f"/admin/audit?citizen={cccd}", "/admin/audit?action=staff:"):
                    if who == "officer" and path.startswith("/admin/audit"):
                        continue  # 403 for officers
                    started = time.perf_counter()
                    response = http.get(inst.base + path, cookies=jar, allow_redirects=False)
                    print(f"  {who} GET {path} first request: "
                          f"{(time.perf_counter() - started) * 1000:.0f} ms", flush=True)
                    if response.status_code != 200:
                        print(f"  {who} {path}: HTTP {response.status_code}", file=sys.stderr)
                        continue
                    # The request above was the first (cold) one for this page and scope.
                    timed(f"{who} GET {path}", lambda p=path, j=jar: http.get(
                        inst.base + p, cookies=j, allow_redirects=False).raise_for_status())


if __name__ == "__main__":
    main()
