"""Staff console search and citizen page with 1.3 million citizens, measured through HTTP.

A throw-away instance (bench/instance.py: its own database, gunicorn pinned to vCPU 0) is
loaded with synthetic citizens (bench/generate_citizens.py rows, written with bulk INSERTs —
or, with ``--via-import``, through ``tnid citizens import``), a province administrator and a
commune officer are given console sessions, and a closed-loop client on vCPU 1 asks for:

- /admin/citizens?q=<CCCD>                      target p95 < 10 ms
- /admin/citizens?q=<phone, national format>    target p95 < 10 ms
- /admin/citizens?q=<name prefix, no accents>   target p95 < 50 ms (e.g. "nguyen van h")
- /admin/citizens/<id> (the detail page)        target p95 < 50 ms

    .venv/bin/python bench/staff_search.py                      # SQLite, 1.3 million
    .venv/bin/python bench/staff_search.py --db postgresql
    .venv/bin/python bench/staff_search.py --citizens 50000     # quick run

Latencies are wall-clock at concurrency 1 by default (latency, not throughput, is the
target); on a shared machine they grow with the CPU the server does not get.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import loadgen  # noqa: E402
from bench.instance import instance, pin_self, server  # noqa: E402

TARGETS_MS = {"cccd": 10.0, "phone": 10.0, "name": 50.0, "detail": 50.0}

# Runs inside the instance's environment: bulk rows, staff, sample, session cookies.
SEED = r"""
import json, sys, time, uuid
from datetime import date, datetime
from sqlalchemy import insert, select
from bench.generate_citizens import rows
from idp import create_app
from idp.admin.guard import STAFF_KEY
from idp.extensions import db
from idp.models import Citizen, StaffAccount, StaffCommune, StaffRole
from idp.services.identifiers import fold_name

n, load, sample_every = int(sys.argv[1]), sys.argv[2] == "1", int(sys.argv[3])
app = create_app()
started = time.perf_counter()
sample = []
with app.app_context():
    if load:
        batch = []
        for i, (cccd, name, birth, gender, phone, email, commune) in enumerate(rows(n)):
            digits = phone.replace(" ", "")
            e164 = digits if digits.startswith("+") else "+84" + digits[1:]
            if "/" in birth:
                d, m, y = birth.split("/")
                born = date(int(y), int(m), int(d))
            else:
                born = date.fromisoformat(birth)
            batch.append(dict(id=uuid.uuid4(), cccd=cccd, full_name=name,
                              name_folded=fold_name(name), birthdate=born, gender=gender,
                              phone=e164, email=email or None, commune_code=commune,
                              identity_level=2 if i % 7 == 0 else 1, status="active",
                              password_hash=None, failed_attempts=0, unlock_required=False,
                              created_at=datetime(2025, 1, 1), updated_at=datetime(2025, 1, 1)))
            if len(batch) == 20000:
                db.session.execute(insert(Citizen), batch)
                db.session.commit()
                batch = []
        if batch:
            db.session.execute(insert(Citizen), batch)
            db.session.commit()
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as c:
            c.exec_driver_sql("ANALYZE citizens")
            c.commit()
    else:
        with db.engine.connect() as c:
            c.exec_driver_sql("ANALYZE")
            c.commit()
    loaded = time.perf_counter() - started
    picked = db.session.execute(
        select(Citizen.id, Citizen.cccd, Citizen.phone, Citizen.name_folded,
               Citizen.commune_code).where(Citizen.cccd.like("0191%")).limit(4000)).all()
    sample = [dict(id=str(r.id), cccd=r.cccd, phone="0" + r.phone[3:], name=r.name_folded,
                   commune=r.commune_code) for r in picked[::max(1, len(picked) // 1000)]]
    commune = max({s["commune"] for s in sample},
                  key=lambda c: sum(1 for s in sample if s["commune"] == c))
    admin = StaffAccount(username="bench-admin", display_name="Bench", password_hash="x",
                         role=StaffRole.SUPERADMIN)
    officer = StaffAccount(username="bench-officer", display_name="Bench officer",
                           password_hash="x", role=StaffRole.OFFICER,
                           communes=[StaffCommune(commune_code=commune)])
    db.session.add_all([admin, officer])
    db.session.commit()
    cookies = {}
    for who, staff in (("admin", admin), ("officer", officer)):
        client = app.test_client()
        with client.session_transaction() as s:
            s[STAFF_KEY] = {"id": str(staff.id), "v": staff.session_version,
                            "iat": int(time.time()),
                            "seen": int(time.time()) + 600}  # idle clock well ahead
        cookies[who] = (app.config["SESSION_COOKIE_NAME"],
                        client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value)
print(json.dumps({"sample": sample, "cookies": cookies, "commune": commune,
                  "load_seconds": loaded}))
"""


def seed(env: dict[str, str], citizens: int, *, via_import: bool, workdir: Path) -> dict:
    tnid = str(Path(sys.executable).parent / "tnid")
    subprocess.run([tnid, "init"], env=env, check=True, capture_output=True)
    if via_import:
        csv = workdir / "citizens.csv"
        subprocess.run([sys.executable, str(ROOT / "bench" / "generate_citizens.py"),
                        "--rows", str(citizens), "--out", str(csv)], env=env, check=True)
        started = time.perf_counter()
        subprocess.run([tnid, "citizens", "import", str(csv)], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        print(f"tnid citizens import: {citizens} rows in {time.perf_counter() - started:.0f} s")
    done = subprocess.run([sys.executable, "-c", SEED, str(citizens),
                           "0" if via_import else "1", "1"],
                          env=env, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def source(kind: str, sample: list[dict], cookie: tuple[str, str],
           rng: random.Random) -> loadgen.RequestSource:
    headers = {"Cookie": f"{cookie[0]}={cookie[1]}", "Accept": "text/html"}

    def next_request() -> loadgen.Request:
        row = rng.choice(sample)
        if kind == "cccd":
            path = f"/admin/citizens?q={row['cccd']}"
        elif kind == "phone":
            path = f"/admin/citizens?q={row['phone']}"
        elif kind == "name":
            words = row["name"].split()
            prefix = " ".join(words[:2] + ([words[2][0]] if len(words) > 2 else []))
            path = "/admin/citizens?q=" + prefix.replace(" ", "+")
        else:
            path = f"/admin/citizens/{row['id']}"
        return ("GET", path, headers, None)

    return next_request


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--citizens", type=int, default=1_300_000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--via-import", action="store_true",
                        help="load with `tnid citizens import` instead of bulk INSERTs")
    args = parser.parse_args()

    with instance(args.db, prefix="tnid-bench-staff-", settings={}) as bench:
        workdir = Path(bench.env["TNID_INSTANCE_PATH"])
        print(f"loading {args.citizens:,} citizens into {args.db}…", flush=True)
        seeded = seed(bench.env, args.citizens, via_import=args.via_import, workdir=workdir)
        print(f"loaded in {seeded['load_seconds']:.0f} s; officer of commune "
              f"{seeded['commune']}", flush=True)
        sample = seeded["sample"]
        mine = [s for s in sample if s["commune"] == seeded["commune"]] or sample
        with server(bench.env, bench.port, args.workers, args.threads):
            pin_self(1)
            results: list[tuple[str, loadgen.Result]] = []
            plans = [("cccd", "admin", sample), ("phone", "admin", sample),
                     ("name", "admin", sample), ("detail", "admin", sample),
                     ("name", "officer", mine), ("detail", "officer", mine)]
            for kind, who, rows in plans:
                rng = random.Random(7)
                request = source(kind, rows, tuple(seeded["cookies"][who]), rng)
                loadgen.run("warm-up", bench.base, request, seconds=1.0, concurrency=1,
                            check=lambda status, body: status == 200)
                result = loadgen.run(f"{kind} ({who})", bench.base, request,
                                     seconds=args.seconds, concurrency=args.concurrency,
                                     check=lambda status, body: status == 200)
                results.append((kind, result))
    print(f"\nStaff console on {args.db} with {args.citizens:,} citizens; gunicorn pinned to "
          f"vCPU 0 ({args.workers} worker x {args.threads} threads), client on vCPU 1, "
          f"concurrency {args.concurrency}, {args.seconds:.0f} s per line.\n")
    for kind, result in results:
        p95 = result.percentile(0.95)
        verdict = "ok" if p95 < TARGETS_MS[kind] and not result.errors else \
            f"ABOVE target {TARGETS_MS[kind]:.0f} ms"
        print(f"{result.name:20} {result.rps:8.1f} req/s   p50 {result.percentile(0.5):6.2f} ms"
              f"   p95 {p95:6.2f} ms   n={result.count:6d} errors={result.errors}  {verdict}"
              + (f"  ({result.first_error})" if result.first_error else ""))


if __name__ == "__main__":
    main()
