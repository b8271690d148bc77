"""Tests of idp.services.devices: known browsers and the new-device SMS."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from idp.extensions import db
from idp.models import Citizen, KnownDevice, OutboxMessage
from idp.services import devices

T0 = datetime(2026, 11, 22, 7, 5, 0)  # 14:05 in Vietnam
CHROME_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
                  "Gecko) Chrome/131.0.0.0 Safari/537.36")


@pytest.mark.parametrize(("user_agent", "label"), [
    (CHROME_WINDOWS, "Chrome trên Windows"),
    ("Mozilla/5.0 (Linux; Android 14; SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) "
     "SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36", "Samsung Internet trên Android"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "Safari trên iPhone"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "coc_coc_browser/134.0.0 Chrome/128.0.0.0 Safari/537.36", "Cốc Cốc trên Windows"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "Edge trên Windows"),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
     "Firefox trên Linux"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/18.1 Safari/605.1.15", "Safari trên macOS"),
    ("curl/8.5.0", "thiết bị không rõ"),
    ("", "thiết bị không rõ"),
    (None, "thiết bị không rõ"),
])
def test_describe(user_agent: str | None, label: str):
    assert devices.describe(user_agent) == label


def test_local_time_is_vietnam_time_day_first():
    assert devices.local_time(T0) == "14:05 22/11/2026"
    assert devices.local_time(datetime(2026, 12, 31, 20, 0)) == "03:00 01/01/2027"


@pytest.mark.parametrize("token", [None, "", "short", "x" * 43 + "!", "é" * 43, "a" * 500])
def test_malformed_tokens_are_never_looked_up(token: str | None):
    assert devices.valid_token(token) is None


@pytest.fixture
def stored(app: Flask, make_citizen):  # noqa: ANN001, ANN201
    made = make_citizen()
    with app.app_context():
        yield db.session.get(Citizen, made.id)


def texts() -> list[OutboxMessage]:
    return db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.purpose == "new_device")).all()


def test_first_device_of_an_account_is_recorded_without_a_text(stored: Citizen):
    token = devices.new_token()
    seen = devices.signed_in(db.session, stored, token, user_agent=CHROME_WINDOWS,
                             ip="10.0.0.1", now=T0)
    db.session.commit()
    assert seen.new and not seen.notified
    assert texts() == []
    row = db.session.scalar(select(KnownDevice))
    assert row.device_hash == devices.token_hash(token) and token not in row.device_hash
    assert devices.find(db.session, stored.id, token).id == row.id


def test_a_new_device_is_told_to_the_citizen(stored: Citizen):
    devices.signed_in(db.session, stored, devices.new_token(), user_agent="", ip="", now=T0)
    seen = devices.signed_in(db.session, stored, devices.new_token(),
                             user_agent=CHROME_WINDOWS, ip="10.0.0.2", now=T0)
    db.session.commit()
    assert seen.new and seen.notified
    [text] = texts()
    assert text.recipient == stored.phone and text.citizen_id == stored.id
    assert ("vừa được đăng nhập trên thiết bị mới: Chrome trên Windows, lúc 14:05 22/11/2026"
            in text.body)
    assert "đổi mật khẩu" in text.body
    assert seen.audit_details == {"new_device": True, "device_notified": True,
                                  "device": "Chrome trên Windows"}


def test_a_known_device_is_not_told_again(stored: Citizen):
    devices.signed_in(db.session, stored, devices.new_token(), user_agent="", ip="", now=T0)
    token = devices.new_token()
    devices.signed_in(db.session, stored, token, user_agent="", ip="", now=T0)
    later = T0 + timedelta(days=3)
    seen = devices.signed_in(db.session, stored, token, user_agent=CHROME_WINDOWS,
                             ip="10.0.0.3", now=later)
    db.session.commit()
    assert not seen.new and not seen.notified
    assert len(texts()) == 1
    assert seen.device.last_seen_at == later and seen.device.ip == "10.0.0.3"


def test_a_browser_known_to_one_citizen_is_new_to_another(app: Flask, make_citizen,
                                                           stored: Citizen):
    other = db.session.get(Citizen, make_citizen().id)
    token = devices.new_token()
    devices.signed_in(db.session, stored, token, user_agent="", ip="", now=T0)
    assert devices.find(db.session, other.id, token) is None
    assert devices.signed_in(db.session, other, token, user_agent="", ip="", now=T0).new
