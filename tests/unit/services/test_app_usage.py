"""Tests of idp.services.app_usage against the real database (sqlite and postgresql)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from idp.extensions import db
from idp.models import Citizen, Client, Consent, Token
from idp.services import app_usage, audit, clients
from idp.services.clients import ClientSpec

# 09:00 in Vietnam on 15/08/2025 (02:00 UTC): the local day starts at 17:00 UTC the day before.
NOW = datetime(2025, 8, 15, 2, 0)
IDLE = timedelta(days=30)
_numbers = itertools.count(1)


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    with app.app_context():
        yield db.session


def app_of(session: Session, name: str = "Cổng dịch vụ công") -> Client:
    client, _ = clients.create_client(session, ClientSpec(
        name_vi=name, redirect_uris=["https://dvc.thainguyen.gov.vn/cb"]), production=False)
    session.commit()
    return client


def token(session: Session, client: Client, issued_at: datetime, **columns: object) -> Token:
    row = Token(client_id=client.client_id, scope="openid", issued_at=issued_at,
                access_token_hash=f"{next(_numbers):064d}",
                access_expires_at=issued_at + timedelta(minutes=10), **columns)
    session.add(row)
    session.flush()
    return row


def test_window_starts_at_local_midnight_thirty_days_back():
    # 30 local days ending today (15/08 in Vietnam) start on 17/07 at 00:00 UTC+7.
    assert app_usage.window_start(NOW) == datetime(2025, 7, 16, 17, 0)


def test_per_day_counts_local_days_and_fills_gaps(session: Session):
    portal, other = app_of(session), app_of(session, "Y tế")
    token(session, portal, datetime(2025, 8, 14, 16, 59))  # 23:59 on 14/08 in Vietnam
    token(session, portal, datetime(2025, 8, 14, 17, 0))   # 00:00 on 15/08
    token(session, portal, datetime(2025, 8, 15, 1, 0))
    token(session, portal, datetime(2025, 7, 16, 16, 59))  # the day before the window
    token(session, portal, datetime(2025, 7, 16, 17, 0))   # first day of the window
    token(session, other, datetime(2025, 8, 15, 1, 0))     # another app's
    session.commit()
    result = app_usage.usage(session, portal.client_id, NOW, refresh_idle=IDLE)
    assert len(result.per_day) == 30
    assert result.per_day[0] == (date(2025, 7, 17), 1)
    assert result.per_day[-1] == (date(2025, 8, 15), 2)
    assert result.per_day[-2] == (date(2025, 8, 14), 1)
    assert sum(n for _, n in result.per_day) == result.tokens_30d == 4
    assert result.busiest_day == 2
    assert result.last_used_at == datetime(2025, 8, 15, 1, 0)


def test_active_refresh_tokens_are_live_unused_unrevoked(session: Session):
    portal = app_of(session)
    live = {"refresh_expires_at": NOW + timedelta(days=1)}
    token(session, portal, NOW - timedelta(hours=1), refresh_token_hash="a" * 64, **live)
    token(session, portal, NOW - timedelta(hours=1), refresh_token_hash="b" * 64,
          refresh_used_at=NOW, **live)
    token(session, portal, NOW - timedelta(hours=1), refresh_token_hash="c" * 64,
          revoked_at=NOW, **live)
    token(session, portal, NOW - timedelta(days=31), refresh_token_hash="d" * 64,
          refresh_expires_at=NOW - timedelta(days=1))
    token(session, portal, NOW - timedelta(hours=1))  # access token only
    session.commit()
    result = app_usage.usage(session, portal.client_id, NOW, refresh_idle=IDLE)
    assert result.active_refresh_tokens == 1


def test_consenting_citizens_and_empty_app(session: Session, make_citizen):
    portal, quiet = app_of(session), app_of(session, "Chợ 4.0")
    for _ in range(2):
        citizen = make_citizen()
        session.add(Consent(citizen_id=citizen.id, client_id=portal.client_id,
                            scopes=["openid"]))
    session.commit()
    assert app_usage.usage(session, portal.client_id, NOW,
                           refresh_idle=IDLE).consenting_citizens == 2
    empty = app_usage.usage(session, quiet.client_id, NOW, refresh_idle=IDLE)
    assert (empty.tokens_30d, empty.active_refresh_tokens, empty.consenting_citizens,
            empty.last_used_at, empty.busiest_day) == (0, 0, 0, None, 0)
    assert session.query(Citizen).count() == 2


def test_failed_token_requests_are_unknown_until_recorded(session: Session):
    portal = app_of(session)
    assert app_usage.usage(session, portal.client_id, NOW,
                           refresh_idle=IDLE).failed_token_requests is None
    audit.record(session, "oidc:token:issued", actor_type="system", client_id=portal.client_id,
                 now=NOW - timedelta(hours=1))
    for when in (NOW - timedelta(hours=2), NOW - timedelta(days=40)):
        audit.record(session, "oidc:token:failure", actor_type="anonymous", outcome="failure",
                     client_id=portal.client_id, now=when)
    session.commit()
    assert app_usage.usage(session, portal.client_id, NOW,
                           refresh_idle=IDLE).failed_token_requests == 1


def test_summaries_per_app(session: Session):
    portal, other, quiet = app_of(session), app_of(session, "Y tế"), app_of(session, "Chợ")
    token(session, portal, NOW - timedelta(days=1))
    token(session, portal, NOW - timedelta(days=45))
    token(session, other, NOW - timedelta(days=60))
    session.commit()
    result = app_usage.summaries(session, [portal.client_id, other.client_id, quiet.client_id],
                                 NOW)
    assert result[portal.client_id] == app_usage.AppSummary(1, NOW - timedelta(days=1))
    assert result[other.client_id] == app_usage.AppSummary(0, NOW - timedelta(days=60))
    assert result[quiet.client_id] == app_usage.AppSummary(0, None)
    assert app_usage.summaries(session, [], NOW) == {}
