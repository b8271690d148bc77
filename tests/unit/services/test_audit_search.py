"""services.audit_search: filter parsing, the rights check, keyset pages, the streamed CSV
(batches, header, no secrets, formulas neutralised)."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pytest
from flask import Flask

from idp.extensions import db
from idp.models import StaffAccount, StaffRole
from idp.services import audit, audit_search
from idp.services.staff_access import AccessDenied


@pytest.fixture(autouse=True)
def _context(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield


def _staff(role: str) -> StaffAccount:
    return StaffAccount(username=role, role=StaffRole(role))


def test_parse_filters() -> None:
    f = audit_search.parse_filters({"actor": " chi.admin ", "action": "Staff:", "outcome":
                                    "FAILURE", "since": "01/03/2025", "until": "2025-03-31"})
    assert f == audit_search.Filters(actor="chi.admin", action="staff:", outcome="failure",
                                     since=date(2025, 3, 1), until=date(2025, 3, 31))
    assert f.as_args() == {"actor": "chi.admin", "action": "staff:", "outcome": "failure",
                           "since": "2025-03-01", "until": "2025-03-31"}
    assert audit_search.parse_filters({}) == audit_search.Filters()


@pytest.mark.parametrize(("args", "field"), [
    ({"since": "2025-02-30"}, "since"), ({"until": "tomorrow"}, "until"),
    ({"outcome": "ok"}, "outcome"), ({"action": "auth login"}, "action"),
    ({"action": "a%"}, "action"), ({"citizen": "1" * 65}, "citizen"),
    ({"since": "2025-03-02", "until": "2025-03-01"}, "until"),
])
def test_bad_filters(args: dict[str, str], field: str) -> None:
    with pytest.raises(audit_search.InvalidFilter) as error:
        audit_search.parse_filters(args)
    assert error.value.field == field


def test_local_day_start_is_vietnam_midnight() -> None:
    assert audit_search.local_day_start(date(2025, 3, 1)) == datetime(2025, 2, 28, 17, 0)


@pytest.mark.parametrize("role", ["officer"])
def test_officers_may_not_read_the_trail(role: str) -> None:
    with pytest.raises(AccessDenied):
        audit_search.search(db.session, _staff(role), audit_search.Filters())
    with pytest.raises(AccessDenied):  # at the call, not at the first chunk
        audit_search.csv_rows(db.session, _staff(role), audit_search.Filters())


def test_a_disabled_auditor_may_not_either() -> None:
    staff = _staff("auditor")
    staff.disabled_at = datetime(2025, 1, 1)
    with pytest.raises(AccessDenied):
        audit_search.search(db.session, staff, audit_search.Filters())


def test_dates_are_local_days() -> None:
    # 16:59 UTC is 23:59 in Vietnam on the 1st; 17:00 UTC is already the 2nd.
    late = audit.record(db.session, "auth:sms:sent", now=datetime(2025, 3, 1, 16, 59))
    next_day = audit.record(db.session, "auth:sms:sent", now=datetime(2025, 3, 1, 17, 0))
    db.session.commit()
    auditor = _staff("auditor")
    first = audit_search.search(db.session, auditor, audit_search.parse_filters(
        {"since": "2025-03-01", "until": "2025-03-01"}))
    second = audit_search.search(db.session, auditor, audit_search.parse_filters(
        {"since": "2025-03-02"}))
    assert [e.id for e in first.entries] == [late]
    assert [e.id for e in second.entries] == [next_day]


def test_pages_follow_time_then_id() -> None:
    base = datetime(2025, 3, 1, 8)
    # Written out of time order (a caller may pass ``now``): pages follow created_at.
    ids = {t: audit.record(db.session, "auth:sms:sent", now=base + timedelta(minutes=t))
           for t in (5, 1, 3, 3, 4, 2)}
    del ids
    db.session.commit()
    auditor, filters = _staff("auditor"), audit_search.Filters(action="auth:sms:sent")
    seen, before = [], None
    while True:
        page = audit_search.search(db.session, auditor, filters, before=before, page_size=2)
        seen += [(e.created_at, e.id) for e in page.entries]
        if page.next_before is None:
            break
        before = page.next_before
    assert len(seen) == 6 and seen == sorted(seen, reverse=True)


def test_unknown_citizen_or_actor_matches_nothing() -> None:
    audit.record(db.session, "auth:sms:sent", citizen_id=uuid.uuid4())
    db.session.commit()
    auditor = _staff("auditor")
    for filters in (audit_search.Filters(citizen="019085999999"),
                    audit_search.Filters(citizen="not-a-cccd"),
                    audit_search.Filters(actor="nobody")):
        assert audit_search.search(db.session, auditor, filters).entries == []


def test_action_prefix_is_literal() -> None:
    """An underscore in a prefix is not a LIKE wildcard."""
    audit.record(db.session, "auth:recovery_code:used")
    audit.record(db.session, "auth:recoveryXcode:used")
    db.session.commit()
    page = audit_search.search(db.session, _staff("auditor"),
                               audit_search.Filters(action="auth:recovery_code:"))
    assert [e.action for e in page.entries] == ["auth:recovery_code:used"]


def test_csv_is_streamed_in_batches_with_a_header() -> None:
    for n in range(5):
        audit.record(db.session, "staff:citizen:locked", actor_type="staff", actor_id="s",
                     details={"reason": "@SUM(1+1)*cmd" if n == 0 else "checked",
                              "code": "123456", "recovery_codes": 10})
    db.session.commit()
    chunks = list(audit_search.csv_rows(db.session, _staff("superadmin"),
                                        audit_search.Filters(), batch=2))
    assert len(chunks) == 1 + 3  # header, then 2 + 2 + 1
    rows = list(csv.reader(io.StringIO("".join(chunks))))
    assert rows[0] == list(audit_search.CSV_COLUMNS)
    assert len(rows) == 6
    details = [r[9] for r in rows[1:]]
    assert all('"code": "[hidden]"' in d and '"recovery_codes": 10' in d for d in details)
    assert "123456" not in "".join(chunks)


@pytest.mark.parametrize(("value", "cell"), [("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"),
                                             ("@x", "'@x"), ("ok", "ok"), (None, "")])
def test_cells_never_start_a_formula(value: str | None, cell: str) -> None:
    assert audit_search._cell(value) == cell


def test_safe_details_keeps_counts() -> None:
    assert audit_search.safe_details({"password": "x", "token_hint": "abc", "tokens_revoked": 3,
                                      "reason": "ok"}) == {
        "password": "[hidden]", "token_hint": "[hidden]", "tokens_revoked": 3, "reason": "ok"}
