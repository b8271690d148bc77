"""`tnid citizens import FILE.csv [--errors-report F] [--dry-run] [--json]`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from bench.generate_citizens import write_csv
from idp.cli import cli
from idp.extensions import db
from idp.models import AuditEvent, Citizen

HEADER = "cccd,full_name,birthdate,gender,phone,email,commune_code"
AN = "019085000123,Nguyễn Văn Ánh,1985-03-12,male,0912000123,an@example.com,05719"
BAD = "019085000124,Nguyễn Văn Bé,1986-03-12,male,0912000124,,05719"  # year != CCCD


@pytest.fixture
def tnid(config):  # noqa: ANN001, ANN201
    runner = CliRunner()

    def invoke(*args: str):  # noqa: ANN202
        return runner.invoke(cli, list(args), env=config, catch_exceptions=False)

    return invoke


def count(app) -> int:  # noqa: ANN001
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Citizen))


def audit(app) -> list[tuple[str, str, str, dict]]:  # noqa: ANN001
    with app.app_context():
        return [(e.action, e.actor_type, e.outcome, e.details)
                for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def write(path: Path, *lines: str, encoding: str = "utf-8") -> Path:
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return path


def test_import_with_errors_report(app, tnid, tmp_path):
    source = write(tmp_path / "people.csv", HEADER, AN, BAD)
    report = tmp_path / "errors.csv"
    result = tnid("citizens", "import", str(source), "--errors-report", str(report))
    assert result.exit_code == 0, result.output
    assert "1 created, 0 updated, 0 unchanged, 1 with errors" in result.output
    assert "row 3, birthdate" in result.output
    assert count(app) == 1
    rows = list(csv.reader(report.read_text(encoding="utf-8-sig").splitlines()))
    assert rows[0] == ["row", "column", "reason", "reason_en"]
    assert rows[1][:2] == ["3", "birthdate"] and "CCCD" in rows[1][3]
    (action, actor, outcome, details), = audit(app)
    assert (action, actor, outcome) == ("staff:citizens:imported", "system", "success")
    assert details["created"] == 1 and details["error_rows"] == 1

    again = tnid("citizens", "import", str(source), "--json")
    assert again.exit_code == 0
    summary = json.loads(again.output)
    assert (summary["created"], summary["unchanged"], summary["error_rows"]) == (0, 1, 1)
    assert summary["first_errors"][0]["column"] == "birthdate"


def test_dry_run(app, tnid, tmp_path):
    source = write(tmp_path / "people.csv", HEADER, AN)
    result = tnid("citizens", "import", str(source), "--dry-run")
    assert result.exit_code == 0 and "Checked people.csv" in result.output
    assert "1 created" in result.output
    assert count(app) == 0 and audit(app) == []


def test_refused_file_exits_non_zero_and_writes_nothing(app, tnid, tmp_path):
    source = write(tmp_path / "people.csv", "cccd,name,phone", AN)
    result = tnid("citizens", "import", str(source))
    assert result.exit_code == 1
    assert "people.csv" in result.output
    assert count(app) == 0
    (action, _actor, outcome, details), = audit(app)
    assert (action, outcome) == ("staff:citizens:imported", "failure")
    assert "missing columns" in details["refused"]


def test_windows_1258_file(app, tnid, tmp_path):
    from bench.generate_citizens import to_cp1258

    source = tmp_path / "legacy.csv"
    source.write_bytes(HEADER.encode() + b"\r\n" + to_cp1258(AN) + b"\r\n")
    result = tnid("citizens", "import", str(source))
    assert result.exit_code == 0 and "Windows-1258" in result.output
    with app.app_context():
        assert db.session.scalar(select(Citizen.full_name)) == "Nguyễn Văn Ánh"


def test_too_many_rows_refused(app, tnid, tmp_path):
    source = write(tmp_path / "people.csv", HEADER, AN, BAD)
    result = tnid("citizens", "import", str(source), "--max-rows", "1")
    assert result.exit_code == 1 and count(app) == 0


def test_generated_file_with_workers(app, tnid, tmp_path):
    source = tmp_path / "generated.csv"
    with source.open("w", encoding="utf-8", newline="") as out:
        write_csv(out, 300, bad=13, seed=9)
    result = tnid("citizens", "import", str(source), "--workers", "2", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert (summary["created"], summary["error_rows"]) == (300, 13)
    assert count(app) == 300


def test_missing_file(tnid, tmp_path):
    result = tnid("citizens", "import", str(tmp_path / "nope.csv"))
    assert result.exit_code == 2


def test_activated_citizen_is_not_rewritten(app, tnid, tmp_path, make_citizen):
    # A stale or tampered file must not take over an account: name and phone stay.
    make_citizen(cccd="019085000123", full_name="Nguyễn Văn Ánh", phone="0912000999")
    source = write(tmp_path / "people.csv", HEADER,
                   AN.replace("Nguyễn Văn Ánh", "Nguyễn Văn Bảo"))
    report = tmp_path / "errors.csv"
    result = tnid("citizens", "import", str(source), "--errors-report", str(report))
    assert result.exit_code == 0, result.output
    assert "0 updated, 0 unchanged, 1 with errors" in result.output
    rows = list(csv.reader(report.read_text(encoding="utf-8-sig").splitlines()))
    assert [r[1] for r in rows[1:]] == ["full_name", "phone"]
    assert "commune office" in rows[1][3] and "commune office" not in rows[1][2]
    with app.app_context():
        assert db.session.scalar(select(Citizen.full_name)) == "Nguyễn Văn Ánh"
    assert [a for a, *_ in audit(app) if a.startswith("staff:")] == ["staff:citizens:imported"]


def test_imported_citizen_update_is_audited_per_citizen(app, tnid, tmp_path):
    tnid("citizens", "import", str(write(tmp_path / "a.csv", HEADER, AN)))
    changed = AN.replace("an@example.com", "an2@example.com")
    result = tnid("citizens", "import", str(write(tmp_path / "b.csv", HEADER, changed)))
    assert "0 created, 1 updated" in result.output
    with app.app_context():
        citizen_id = db.session.scalar(select(Citizen.id))
        entry = db.session.scalar(select(AuditEvent).where(
            AuditEvent.action == "staff:citizen:import_updated"))
        assert (entry.citizen_id, entry.actor_type) == (citizen_id, "system")
        assert entry.details == {"fields": ["email"]}
