"""/admin/audit: search filters, keyset pages, CSV export, rights (officer refused with an
audit entry, auditor allowed), the chain check finding a tampered entry."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from idp.extensions import db
from idp.models import AuditEvent
from idp.services import audit, audit_search
from idp.services.clock import utcnow
from tests.functional.admin.conftest import SANG_MOC


@pytest.fixture
def trail(app, make_citizen):  # noqa: ANN001, ANN201
    """A citizen with two sign-ins (3 days ago), a failure from 198.51.100.9 today, and a
    staff action about them today."""
    citizen = make_citizen(cccd="019085000777")
    now = utcnow()
    with app.app_context():
        ids = [audit.record(db.session, "auth:login:success", actor_id=citizen.id,
                            citizen_id=citizen.id, ip="203.0.113.7",
                            now=now - timedelta(days=3), details={"method": "pwd"})
               for _ in range(2)]
        ids.append(audit.record(db.session, "auth:password:failure", actor_type="anonymous",
                                citizen_id=citizen.id, outcome="failure", ip="198.51.100.9",
                                now=now, details={"consecutive_failures": 1}))
        ids.append(audit.record(db.session, "staff:citizen:locked", actor_type="staff",
                                actor_id="00000000-0000-0000-0000-000000000001",
                                citizen_id=citizen.id, now=now,
                                details={"reason": "<script>alert(1)</script>"}))
        db.session.commit()
    return citizen, ids


def _ids(html: str) -> list[int]:
    import re

    return [int(n) for n in re.findall(r'id="entry-(\d+)"', html)]


def test_search_page_lists_newest_first(staff_client, trail):  # noqa: ANN001
    citizen, ids = trail
    client = staff_client("auditor")
    page = client.get("/admin/audit")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert _ids(html)[:4] == ids[::-1]
    assert "019******777" in html and "019085000777" not in html  # masked CCCD
    assert "<script>alert" not in html  # details are escaped JSON
    assert 'href="/admin/audit/export.csv' in html


@pytest.mark.parametrize(("args", "expected"), [
    ({"action": "auth:login:success"}, [0, 1]),
    ({"action": "auth:"}, [0, 1, 2]),
    ({"action": "staff:citizen:"}, [3]),
    ({"outcome": "failure"}, [2]),
    ({"citizen": "019085000777", "action": "auth:login:success"}, [0, 1]),
])
def test_search_filters(staff_client, trail, args, expected):  # noqa: ANN001
    citizen, ids = trail
    html = staff_client("auditor").get("/admin/audit", query_string=args).get_data(as_text=True)
    assert sorted(_ids(html)) == sorted(ids[i] for i in expected)


def test_search_by_actor_and_dates(app, staff_client, trail):  # noqa: ANN001
    citizen, ids = trail
    client = staff_client("auditor")
    html = client.get("/admin/audit", query_string={"actor": "019085000777"}).get_data(
        as_text=True)
    assert sorted(_ids(html)) == ids[:2]  # the citizen's own actions
    today = (utcnow() + timedelta(hours=7)).date()
    html = client.get("/admin/audit", query_string={
        "citizen": str(citizen.id), "until": (today - timedelta(days=1)).isoformat()}
    ).get_data(as_text=True)
    assert sorted(_ids(html)) == ids[:2]
    html = client.get("/admin/audit", query_string={
        "citizen": str(citizen.id), "since": today.strftime("%d/%m/%Y")}).get_data(as_text=True)
    assert sorted(_ids(html)) == ids[2:]


def test_search_by_staff_username(app, staff_client, make_citizen):  # noqa: ANN001
    admin = staff_client("superadmin", username="chi.admin")
    with app.app_context():
        mine = audit.record(db.session, "staff:citizen:unlocked", actor_type="staff",
                            actor_id=admin.staff.id, details={"reason": "in person"})
        audit.record(db.session, "staff:citizen:unlocked", actor_type="staff",
                     actor_id=uuid.uuid4(), details={"reason": "in person"})
        db.session.commit()
    html = staff_client("auditor").get(
        "/admin/audit", query_string={"actor": "chi.admin", "action": "staff:citizen:"}
    ).get_data(as_text=True)
    assert _ids(html) == [mine]
    assert "chi.admin" in html


@pytest.mark.parametrize("args", [{"since": "31/02/2025"}, {"outcome": "maybe"},
                                  {"action": "DROP TABLE"}, {"since": "2025-03-02",
                                                             "until": "2025-03-01"},
                                  {"actor": "x" * 65}, {"since": "0001-01-01"},
                                  {"until": "9999-12-31"}])
def test_bad_filters_are_400_with_a_message(staff_client, args):  # noqa: ANN001
    page = staff_client("auditor").get("/admin/audit", query_string=args)
    assert page.status_code == 400
    assert 'id="filter-error"' in page.get_data(as_text=True)
    assert staff_client("auditor").get("/admin/audit/export.csv",
                                       query_string=args).status_code == 400


def test_keyset_pages(app, staff_client, monkeypatch):  # noqa: ANN001
    monkeypatch.setattr(audit_search, "PAGE_SIZE", 3)
    with app.app_context():
        ids = [audit.record(db.session, "auth:sms:sent", actor_type="anonymous",
                            details={"n": n}) for n in range(7)]
        db.session.commit()
    client = staff_client("auditor")
    seen: list[int] = []
    url = "/admin/audit?action=auth:sms:sent"
    for _ in range(5):
        html = client.get(url).get_data(as_text=True)
        seen += _ids(html)
        if 'id="audit-older"' not in html:
            break
        import re

        url = re.search(r'id="audit-older" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert seen == ids[::-1]


def test_csv_export(app, staff_client, trail):  # noqa: ANN001
    citizen, ids = trail
    client = staff_client("superadmin")
    response = client.get("/admin/audit/export.csv", query_string={"citizen": citizen.cccd})
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [int(r["id"]) for r in rows] == ids[::-1]
    assert rows[0]["citizen_id"] == str(citizen.id)
    assert rows[0]["details"] == '{"reason": "<script>alert(1)</script>"}'
    assert rows[-1]["created_at"].endswith("Z")
    with app.app_context():
        entry = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "staff:audit:exported")).one()
        assert entry.actor_id == str(client.staff.id)
        assert entry.details == {"filters": {"citizen": "…" + citizen.cccd[-4:]}}


def test_viewing_is_recorded(app, staff_client, trail):  # noqa: ANN001
    client = staff_client("auditor")
    client.get("/admin/audit", query_string={"action": "auth:"})
    with app.app_context():
        entry = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "staff:audit:viewed")).one()
    assert entry.details == {"filters": {"action": "auth:"}}


def test_a_searched_cccd_is_masked_in_the_trail(app, staff_client, trail):  # noqa: ANN001
    staff_client("auditor").get("/admin/audit", query_string={"citizen": "019085000555"})
    with app.app_context():
        entry = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "staff:audit:viewed")).one()
    assert entry.details == {"filters": {"citizen": "…0555"}}


def test_a_non_ascii_digit_cursor_is_ignored(staff_client, trail):  # noqa: ANN001
    assert staff_client("auditor").get("/admin/audit?before=%C2%B2").status_code == 200


@pytest.mark.parametrize("url", ["/admin/audit", "/admin/audit/export.csv"])
def test_officer_is_refused_and_recorded(app, staff_client, trail, url):  # noqa: ANN001
    client = staff_client("officer", [SANG_MOC])
    response = client.get(url)
    assert response.status_code == 403
    assert "019085000777" not in response.get_data(as_text=True)
    with app.app_context():
        denial = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "staff:access_denied")).one()
        assert denial.actor_id == str(client.staff.id)
        assert denial.details["what"] == "audit:read"
        assert not db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "staff:audit:exported")).all()


def test_officer_cannot_verify(staff_client):  # noqa: ANN001
    client = staff_client("officer", [SANG_MOC])
    token = _csrf(client.get("/admin/dashboard").get_data(as_text=True))
    assert client.post("/admin/audit/verify", data={"csrf_token": token}).status_code == 403


def test_not_signed_in_goes_to_login(client):  # noqa: ANN001
    response = client.get("/admin/audit")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def _csrf(html: str) -> str:
    import re

    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def test_verify_finds_a_tampered_entry(app, staff_client, trail):  # noqa: ANN001
    citizen, ids = trail
    client = staff_client("auditor")
    token = _csrf(client.get("/admin/audit").get_data(as_text=True))
    page = client.post("/admin/audit/verify", data={"csrf_token": token})
    assert page.status_code == 200
    assert 'id="verify-result"' in page.get_data(as_text=True)
    with app.app_context():
        db.session.execute(update(AuditEvent).where(AuditEvent.id == ids[1])
                           .values(details={"method": "totp"}))
        db.session.commit()
    page = client.post("/admin/audit/verify", data={"csrf_token": token})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'role="alert" id="verify-result"' in html and str(ids[1]) in html
    with app.app_context():
        results = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "staff:audit:verified").order_by(AuditEvent.id)).all()
    assert [r.outcome for r in results] == ["success", "failure"]
    assert results[1].details["broken_at"] == ids[1]
    assert results[1].details["reason"] == "altered"


def test_verify_needs_csrf(staff_client):  # noqa: ANN001
    assert staff_client("auditor").post("/admin/audit/verify").status_code == 400


def test_verify_of_a_long_trail_points_to_the_command(app, staff_client, trail,  # noqa: ANN001
                                                      monkeypatch):
    from idp.admin import audit as audit_screen

    monkeypatch.setattr(audit_screen, "VERIFY_IN_PAGE_LIMIT", 2)
    client = staff_client("superadmin")
    token = _csrf(client.get("/admin/audit").get_data(as_text=True))
    html = client.post("/admin/audit/verify", data={"csrf_token": token}).get_data(as_text=True)
    assert 'id="verify-result"' in html and "<code>tnid audit verify</code>" in html
    with app.app_context():
        entry = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "staff:audit:verified")).one()
    assert entry.details == {"checked": 2, "complete": False}
