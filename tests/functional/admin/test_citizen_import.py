"""/admin/citizens/import: a province administrator uploads a CSV; officers and auditors are
refused (403 + audit entry); CSRF; refused files; oversized uploads; the error report."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from idp.admin import citizen_import as screen
from idp.extensions import db
from idp.models import AuditEvent, Citizen
from tests.conftest import csrf_token
from tests.functional.admin.conftest import SANG_MOC

PATH = "/admin/citizens/import"
REASON = "Danh sách dân cư xã Sảng Mộc 2026"
HEADER = "cccd,full_name,birthdate,gender,phone,email,commune_code"
AN = "019085000123,Nguyễn Văn Ánh,1985-03-12,male,0912000123,an@example.com,05719"
BINH = "019190000456,Trần Thị Bình,1990-07-12,female,0912000456,,05443"
BAD = "019085000124,Nguyễn Văn Bé,1986-03-12,male,0912000124,,05719"  # year != CCCD


def upload(browser: FlaskClient, data: bytes, *, reason: str = REASON, token: str | None = None,
           **extra: Any):  # noqa: ANN201
    token = token if token is not None else csrf_token(browser.get(PATH).text)
    form = {"csrf_token": token, "reason": reason, "file": (io.BytesIO(data), "people.csv"),
            **extra}
    return browser.post(PATH, data=form, content_type="multipart/form-data")


def csv_bytes(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def count(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Citizen))


def entries(app: Flask, action: str) -> list[AuditEvent]:
    with app.app_context():
        found = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))
        for entry in found:
            db.session.expunge(entry)
        return found


@pytest.fixture
def admin(staff_client: Callable[..., FlaskClient]) -> FlaskClient:
    browser = staff_client("superadmin")
    browser.get(f"{PATH}?lang=en")
    return browser


def test_form_page(admin):
    page = admin.get(PATH)
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in page.text
    assert "cccd,full_name,birthdate,gender,phone,email,commune_code" in page.text


def test_superadmin_imports_and_downloads_the_error_report(app, admin):
    answer = upload(admin, csv_bytes(HEADER, AN, BINH, BAD))
    assert answer.status_code == 200, answer.text
    assert 'id="import-created">2<' in answer.text
    assert 'id="import-errors">1<' in answer.text
    assert count(app) == 2
    entry, = entries(app, "staff:citizens:imported")
    assert entry.actor_type == "staff" and entry.actor_id == str(admin.staff.id)
    assert entry.details["created"] == 2 and entry.details["reason"] == REASON
    link = answer.text.split('href="/admin/citizens/import/report/')[1].split('"')[0]
    report = admin.get(f"/admin/citizens/import/report/{link}")
    assert report.status_code == 200 and report.mimetype == "text/csv"
    text = report.data.decode("utf-8-sig")
    report.close()
    assert text.splitlines()[0] == "row,column,reason,reason_en"
    assert text.splitlines()[1].startswith("4,birthdate,")

    again = upload(admin, csv_bytes(HEADER, AN, BINH, BAD))
    assert 'id="import-unchanged">2<' in again.text and count(app) == 2


def test_error_report_belongs_to_its_staff_member(app, admin, staff_client):
    answer = upload(admin, csv_bytes(HEADER, BAD))
    link = answer.text.split('href="/admin/citizens/import/report/')[1].split('"')[0]
    other = staff_client("superadmin")
    assert other.get(f"/admin/citizens/import/report/{link}").status_code == 404
    assert admin.get("/admin/citizens/import/report/..%2F..%2Fx.csv").status_code == 404


def test_dry_run_changes_nothing(app, admin):
    answer = upload(admin, csv_bytes(HEADER, AN), dry_run="y")
    assert answer.status_code == 200 and 'id="import-created">1<' in answer.text
    assert count(app) == 0 and entries(app, "staff:citizens:imported") == []


@pytest.mark.parametrize("role, communes", [("officer", [SANG_MOC]), ("auditor", [])])
def test_officer_and_auditor_are_refused(app, staff_client, role, communes):
    browser = staff_client(role, communes)
    assert browser.get(PATH).status_code == 403
    # With their own valid form token (from the console's sign-out form): still refused.
    token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/admin/").text)[1]
    answer = browser.post(PATH, data={"csrf_token": token, "reason": REASON,
                                      "file": (io.BytesIO(csv_bytes(HEADER, AN)), "p.csv")},
                          content_type="multipart/form-data")
    assert answer.status_code == 403 and count(app) == 0
    denials = entries(app, "staff:access_denied")
    assert len(denials) == 2 and {d.actor_id for d in denials} == {str(browser.staff.id)}


def test_not_signed_in_goes_to_sign_in(client):
    answer = client.get(PATH)
    assert answer.status_code == 302 and "/admin/login" in answer.headers["Location"]


def test_csrf_is_required(app, admin):
    answer = upload(admin, csv_bytes(HEADER, AN), token="forged")
    assert answer.status_code == 400 and count(app) == 0


def test_reason_is_required(app, admin):
    answer = upload(admin, csv_bytes(HEADER, AN), reason="  ok ")
    assert answer.status_code == 400 and count(app) == 0


def test_refused_file_shows_why_and_writes_nothing(app, admin):
    answer = upload(admin, csv_bytes("cccd,name", AN))
    assert answer.status_code == 400
    assert 'id="import-refused"' in answer.text and "missing columns" in answer.text
    assert count(app) == 0
    entry, = entries(app, "staff:citizens:imported")
    assert entry.outcome == "failure" and entry.details["reason"] == REASON


def test_latin1_file_refused(app, admin):
    answer = upload(admin, "\n".join([HEADER, AN.replace("Nguyễn Văn Ánh", "Jürgen Müller")])
                    .encode("latin-1"))
    assert answer.status_code == 400 and "Windows-1258" in answer.text and count(app) == 0


def test_oversized_upload_is_refused_clearly(app, admin, monkeypatch):
    monkeypatch.setattr(screen, "MAX_UPLOAD", 1024)
    big = csv_bytes(HEADER, *[AN] * 2000)  # over the limit plus the room for the fields
    answer = upload(admin, big)
    assert answer.status_code == 413
    assert "too large" in answer.text and "tnid citizens import" in answer.text
    assert count(app) == 0


def test_more_rows_than_the_form_takes(app, admin, monkeypatch):
    monkeypatch.setattr(screen, "LIMITS", screen.ImportLimits(max_rows=1))
    answer = upload(admin, csv_bytes(HEADER, AN, BINH))
    assert answer.status_code == 400 and "too many rows" in answer.text and count(app) == 0


def test_file_larger_than_the_application_body_limit(app, admin):
    from bench.generate_citizens import write_csv

    text = io.StringIO()
    write_csv(text, 4000, seed=21)
    data = text.getvalue().encode()
    assert len(data) > app.config["MAX_CONTENT_LENGTH"]
    answer = upload(admin, data)
    assert answer.status_code == 200 and 'id="import-created">4000<' in answer.text


def test_the_citizens_page_links_to_the_import_for_those_who_may_import(staff_client):
    assert 'id="import-link"' in staff_client("superadmin").get("/admin/citizens").text
    for role, communes in (("officer", [SANG_MOC]), ("auditor", [])):
        assert 'id="import-link"' not in staff_client(role, communes).get("/admin/citizens").text


def test_upload_cannot_rewrite_a_citizen_checked_in_person(app, admin, make_citizen):
    make_citizen(password=None, cccd="019085000123", full_name="Nguyễn Văn Ánh",
                 phone="0912000123", identity_level=2)
    answer = upload(admin, csv_bytes(HEADER, AN.replace("Nguyễn Văn Ánh", "Nguyễn Văn Bảo")))
    assert answer.status_code == 200
    assert 'id="import-errors">1<' in answer.text
    assert "in-person check at the commune office" in answer.text
    with app.app_context():
        assert db.session.scalar(select(Citizen.full_name)) == "Nguyễn Văn Ánh"
    assert entries(app, "staff:citizen:import_updated") == []

    # E-mail and commune may still change: one entry for the citizen, by this staff member.
    answer = upload(admin, csv_bytes(HEADER, AN))
    assert 'id="import-updated">1<' in answer.text
    entry, = entries(app, "staff:citizen:import_updated")
    assert (entry.actor_type, entry.actor_id) == ("staff", str(admin.staff.id))
    assert entry.details == {"fields": ["email"]} and entry.citizen_id is not None
