"""services.dashboard: local-day buckets, the window, commune scope, rights."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pytest
from flask import Flask

from idp.extensions import db
from idp.models import StaffAccount, StaffCommune, StaffRole
from idp.services import audit, dashboard
from idp.services.sso_sessions import SessionPolicy
from idp.services.staff_access import AccessDenied

POLICY = SessionPolicy(idle=timedelta(minutes=30), absolute=timedelta(hours=12))
NOW = datetime(2025, 3, 10, 3, 0)  # 10:00 in Vietnam on 10/03


@pytest.fixture(autouse=True)
def _context(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield


def _staff(role: str, communes: tuple[str, ...] = ()) -> StaffAccount:
    return StaffAccount(username=role, role=StaffRole(role),
                        communes=[StaffCommune(commune_code=c) for c in communes])


def test_window_ends_today_in_vietnam() -> None:
    days, since = dashboard.window(datetime(2025, 3, 9, 17, 30), 7)  # 00:30 on 10/03 local
    assert days[-1] == date(2025, 3, 10) and days[0] == date(2025, 3, 4) and len(days) == 7
    assert since == datetime(2025, 3, 3, 17, 0)


def test_sign_ins_are_counted_per_local_day() -> None:
    for when, action in ((datetime(2025, 3, 8, 16, 59), "auth:login:success"),   # 8/3 23:59
                         (datetime(2025, 3, 8, 17, 0), "auth:login:success"),    # 9/3 00:00
                         (datetime(2025, 3, 9, 1, 0), "auth:totp:failure"),
                         (datetime(2025, 3, 9, 2, 0), "auth:qr:failure"),
                         (datetime(2025, 3, 9, 2, 0), "auth:sms:sent"),          # not a sign-in
                         (datetime(2025, 3, 3, 16, 59), "auth:login:success")):  # before window
        audit.record(db.session, action, outcome="failure" if "failure" in action else
                     "success", ip="203.0.113.5", now=when)
    db.session.commit()
    figures = dashboard.compute(db.session, _staff("auditor"), days=7, now=NOW, policy=POLICY)
    assert figures.days[-3:] == [date(2025, 3, 8), date(2025, 3, 9), date(2025, 3, 10)]
    assert figures.sign_ins_success[-3:] == [1, 1, 0] and sum(figures.sign_ins_success) == 2
    assert figures.sign_ins_failure[-3:] == [0, 2, 0]
    assert figures.failure_ips == [("203.0.113.5", 2)]


def test_an_unknown_period_falls_back_to_30_days() -> None:
    figures = dashboard.compute(db.session, _staff("superadmin"), days=12, now=NOW,
                                policy=POLICY)
    assert len(figures.days) == 30 and figures.sign_ins_success == [0] * 30


def test_officer_scope_and_empty_communes() -> None:
    officer = _staff("officer", ("05719",))
    assert dashboard.compute(db.session, officer, days=7, now=NOW,
                             policy=POLICY).communes == frozenset({"05719"})
    nobody = dashboard.compute(db.session, _staff("officer"), days=7, now=NOW, policy=POLICY)
    assert nobody.communes == frozenset() and nobody.citizens == 0


def test_a_disabled_account_sees_nothing() -> None:
    staff = _staff("superadmin")
    staff.disabled_at = NOW
    with pytest.raises(AccessDenied):
        dashboard.compute(db.session, staff, days=7, now=NOW, policy=POLICY)


def test_share() -> None:
    assert dashboard.Figures.share(1, 4) == 0.25 and dashboard.Figures.share(3, 0) == 0.0


def test_finished_days_are_counted_once_per_scope() -> None:
    cache = dashboard.DayCache()
    auditor = _staff("auditor")
    audit.record(db.session, "auth:login:success", now=datetime(2025, 3, 8, 5, 0))
    audit.record(db.session, "oidc:token:issued", client_id="app", now=datetime(2025, 3, 8, 6))
    db.session.commit()
    first = dashboard.compute(db.session, auditor, days=7, now=NOW, policy=POLICY, cache=cache)
    assert first.sign_ins_success[-3] == 1 and first.tokens[0].per_day[-3] == 1
    # A late write into a finished day (never happens: entries carry their writing time)
    # shows that the day now comes from memory; today is still counted live.
    audit.record(db.session, "auth:login:success", now=datetime(2025, 3, 8, 7, 0))
    audit.record(db.session, "auth:login:success", now=NOW - timedelta(minutes=1))
    audit.record(db.session, "oidc:token:issued", client_id="app", now=NOW)
    db.session.commit()
    second = dashboard.compute(db.session, auditor, days=30, now=NOW, policy=POLICY,
                               cache=cache)
    assert second.sign_ins_success[-3] == 1 and second.sign_ins_success[-1] == 1
    assert second.tokens[0].per_day[-1] == 1 and second.tokens[0].total == 2
    # Another scope has its own counts; without a cache everything is counted.
    officer = _staff("officer", ("05719",))
    assert sum(dashboard.compute(db.session, officer, days=7, now=NOW, policy=POLICY,
                                 cache=cache).sign_ins_success) == 0
    fresh = dashboard.compute(db.session, auditor, days=7, now=NOW, policy=POLICY)
    assert fresh.sign_ins_success[-3] == 2


def test_a_day_is_finished_ten_minutes_after_midnight() -> None:
    cache = dashboard.DayCache()
    midnight = datetime(2025, 3, 8, 17, 0)  # 00:00 on 9/3 in Vietnam
    assert not cache.finished(date(2025, 3, 8), midnight + timedelta(minutes=9))
    assert cache.finished(date(2025, 3, 8), midnight + timedelta(minutes=10))


def test_province_population_is_kept_a_few_minutes() -> None:
    cache = dashboard.DayCache(population_ttl=timedelta(minutes=5))
    admin = _staff("superadmin")
    assert dashboard.compute(db.session, admin, days=7, now=NOW, policy=POLICY,
                             cache=cache).citizens == 0
    cache.keep_population(None, (7, 1, 2), NOW)
    assert dashboard.compute(db.session, admin, days=7, now=NOW + timedelta(minutes=4),
                             policy=POLICY, cache=cache).citizens == 7
    assert dashboard.compute(db.session, admin, days=7, now=NOW + timedelta(minutes=6),
                             policy=POLICY, cache=cache).citizens == 0


def test_top_sources_cover_the_last_week() -> None:
    for when, ip, app in ((NOW - timedelta(days=3), "192.0.2.1", "app-a"),
                          (NOW - timedelta(days=3), "192.0.2.1", None),
                          (NOW - timedelta(days=1), "192.0.2.2", "app-a"),
                          (NOW - timedelta(days=20), "192.0.2.3", "app-b")):  # too old
        audit.record(db.session, "auth:password:failure", outcome="failure", ip=ip,
                     client_id=app, now=when)
    db.session.commit()
    figures = dashboard.compute(db.session, _staff("auditor"), days=30, now=NOW,
                                policy=POLICY)
    assert figures.failure_ips == [("192.0.2.1", 2), ("192.0.2.2", 1)]
    assert figures.failure_apps == [("app-a", 2)]
    assert sum(figures.sign_ins_failure) == 4  # the chart still covers the period
