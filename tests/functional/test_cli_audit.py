"""`tnid audit verify` (intact, altered, removed, inserted entries; exit codes) and
`tnid audit export` (filters, header, the export recorded in the trail)."""

from __future__ import annotations

import csv
import uuid
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, insert, select, update

from idp.cli import cli
from idp.extensions import db
from idp.models import AuditEvent
from idp.services import audit
from idp.services.clock import utcnow


@pytest.fixture
def tnid(config):  # noqa: ANN001, ANN201
    runner = CliRunner()

    def invoke(*args: str):  # noqa: ANN202
        return runner.invoke(cli, ["audit", *args], env=config, catch_exceptions=False)

    return invoke


@pytest.fixture
def trail(app) -> list[int]:  # noqa: ANN001
    """Six entries: three sign-ins two days ago, a failure, two staff actions today."""
    now = utcnow()
    citizen = uuid.uuid4()
    with app.app_context():
        ids = [audit.record(db.session, "auth:login:success", actor_id=citizen,
                            citizen_id=citizen, ip="203.0.113.7", now=now - timedelta(days=2),
                            details={"method": "pwd"}) for _ in range(3)]
        ids.append(audit.record(db.session, "auth:password:failure", actor_type="anonymous",
                                outcome="failure", ip="198.51.100.9", now=now,
                                details={"account": "none"}))
        ids += [audit.record(db.session, f"staff:citizen:{verb}", actor_type="staff",
                             actor_id="staff-1", citizen_id=citizen, now=now,
                             details={"reason": "=cmd|' /C calc'!A0"}) for verb in ("locked",
                                                                                   "unlocked")]
        db.session.commit()
    return ids


def test_an_empty_trail_is_intact(app, tnid):  # noqa: ANN001
    result = tnid("verify")
    assert result.exit_code == 0 and "audit trail intact: 0 entries" in result.output


def test_an_intact_trail(trail, tnid):  # noqa: ANN001
    result = tnid("verify", "--batch", "2")
    assert result.exit_code == 0, result.output
    assert "audit trail intact: 6 entries" in result.output


def test_an_update_is_found(app, trail, tnid):  # noqa: ANN001
    with app.app_context():
        db.session.execute(update(AuditEvent).where(AuditEvent.id == trail[3])
                           .values(ip="192.0.2.1"))
        db.session.commit()
    result = tnid("verify")
    assert result.exit_code == 1
    assert f"BROKEN at entry {trail[3]} (altered)" in result.output
    assert "3 entries before it are intact" in result.output


def test_a_deleted_entry_is_found(app, trail, tnid):  # noqa: ANN001
    with app.app_context():
        db.session.execute(delete(AuditEvent).where(AuditEvent.id == trail[2]))
        db.session.commit()
    result = tnid("verify", "--batch", "2")
    assert result.exit_code == 1
    assert f"BROKEN at entry {trail[3]} (missing-or-reordered)" in result.output


def _insert_between(app, previous: int, new_id: int, *, chained: bool) -> None:  # noqa: ANN001
    with app.app_context():
        prev_hash = db.session.scalar(select(AuditEvent.hash).where(AuditEvent.id == previous))
        values = {"id": new_id, "created_at": utcnow().replace(microsecond=0),
                  "actor_type": "staff", "actor_id": "intruder", "citizen_id": None,
                  "action": "staff:citizen:unlocked", "outcome": "success", "ip": None,
                  "client_id": None, "details": {"reason": "looks legitimate"},
                  "prev_hash": prev_hash if chained else "f" * 64}
        values["hash"] = audit._hash(values)
        db.session.execute(insert(AuditEvent.__table__).values(**values))
        db.session.commit()


def _make_gap(app, trail: list[int]) -> int:  # noqa: ANN001
    """Renumber the last entry so that an id is free between the last two (an id is part of
    the hashed content, so the renumbered entry is re-hashed: only the insertion is wrong)."""
    last = trail[-1]
    with app.app_context():
        row = db.session.get(AuditEvent, last)
        values = {name: getattr(row, name) for name in audit._HASHED}
        db.session.execute(delete(AuditEvent).where(AuditEvent.id == last))
        values["id"] = last + 1
        values["hash"] = audit._hash(values)
        db.session.execute(insert(AuditEvent.__table__).values(**values))
        db.session.commit()
    return last  # the free id


@pytest.mark.parametrize("chained", [True, False], ids=["chained", "unchained"])
def test_an_inserted_entry_is_found(app, trail, tnid, chained):  # noqa: ANN001
    free = _make_gap(app, trail)
    assert tnid("verify").exit_code == 0  # renumbering alone, re-hashed, is consistent
    _insert_between(app, trail[-2], free, chained=chained)
    result = tnid("verify", "--batch", "3")
    assert result.exit_code == 1
    assert f"BROKEN at entry {free} (inserted)" in result.output


def _read(path) -> list[dict[str, str]]:  # noqa: ANN001
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_export_everything(app, trail, tnid, tmp_path):  # noqa: ANN001
    out = tmp_path / "audit.csv"
    result = tnid("export", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "Wrote 7 entries" in result.output  # the six and the export's own entry
    rows = _read(out)
    assert rows[0]["action"] == "staff:audit:exported"
    rows = rows[1:]
    assert list(rows[0]) == ["id", "created_at", "actor_type", "actor_id", "citizen_id",
                             "action", "outcome", "ip", "client_id", "details", "prev_hash",
                             "hash"]
    assert [int(r["id"]) for r in rows] == sorted(trail, reverse=True)  # newest first
    assert rows[0]["created_at"].endswith("Z") and "T" in rows[0]["created_at"]
    # A formula typed into a reason is written inert for spreadsheets.
    assert all(not r["details"].startswith("=") for r in rows)
    with app.app_context():
        exported = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "staff:audit:exported")).all()
    assert len(exported) == 1 and exported[0].actor_type == "system"
    assert tnid("verify").exit_code == 0  # the export's own entry keeps the chain intact


def test_export_filters(app, trail, tnid, tmp_path):  # noqa: ANN001
    out = tmp_path / "staff.csv"
    assert tnid("export", "--action", "staff:citizen:", "--out", str(out)).exit_code == 0
    assert {r["action"] for r in _read(out)} == {"staff:citizen:locked",
                                                  "staff:citizen:unlocked"}
    today = (utcnow() + timedelta(hours=7)).date()
    out2 = tmp_path / "old.csv"
    assert tnid("export", "--until", (today - timedelta(days=1)).isoformat(),
                "--out", str(out2)).exit_code == 0
    assert [int(r["id"]) for r in _read(out2)] == trail[2::-1]
    out3 = tmp_path / "failures.csv"
    assert tnid("export", "--outcome", "failure", "--since", today.isoformat(),
                "--out", str(out3)).exit_code == 0
    assert [r["ip"] for r in _read(out3)] == ["198.51.100.9"]


def test_export_refuses_a_bad_date(trail, tnid, tmp_path):  # noqa: ANN001
    result = tnid("export", "--since", "yesterday", "--out", str(tmp_path / "x.csv"))
    assert result.exit_code == 1 and "--since" in result.output
    assert not (tmp_path / "x.csv").exists()
