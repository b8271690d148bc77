"""Tests of idp.services.qr_login against the real database, with explicit clocks: the code's
MAC and freshness window, single use, expiry, browser binding, the matching number."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import qrcode
from flask import Flask
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent, Citizen, CitizenStatus, OutboxMessage, SsoSession
from idp.services import qr_login, sso_sessions, throttle
from idp.services.qr_login import FRESH_SECONDS, LIFETIME, Completion, Outcome, Refusal

T0 = datetime(2026, 3, 2, 2, 0, 0)  # naive UTC, as stored
KEY = qr_login.derive_key("k" * 48)
ISSUER = "https://id.thainguyen.gov.vn"
DESKTOP_IP, PHONE_IP = "203.0.113.7", "198.51.100.20"
CHROME_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
                  "Gecko) Chrome/131.0.0.0 Safari/537.36")


@pytest.fixture(autouse=True)
def _context(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield


@pytest.fixture
def citizen(make_citizen) -> Citizen:  # noqa: ANN001
    return db.session.get(Citizen, make_citizen().id)


def phone_session(citizen: Citizen, acr: str = sso_sessions.ACR_ONE_FACTOR) -> SsoSession:
    _, row = sso_sessions.start_session(
        db.session, citizen, amr=["pwd"], acr=acr, ip=PHONE_IP, user_agent="Android",
        now=T0 - timedelta(minutes=5))
    db.session.commit()
    return row


def new_request(now: datetime = T0, **fields: str) -> tuple[str, qr_login.QrSignInRequest]:
    secret, request = qr_login.start(db.session, now=now, ip=DESKTOP_IP,
                                     user_agent=CHROME_WINDOWS, **fields)
    db.session.commit()
    return secret, request


def scan(request: qr_login.QrSignInRequest, t: int, now: datetime,
         mac: str | None = None) -> Outcome:
    return qr_login.check_code(db.session, r=request.id.hex, t=str(t),
                               h=mac or qr_login.code_mac(KEY, request.id, t), key=KEY, now=now,
                               ip=PHONE_IP)


def approve(request: qr_login.QrSignInRequest, approver: SsoSession,
            now: datetime = T0 + timedelta(seconds=20)) -> Outcome:
    outcome = qr_login.decide(db.session, request, approver=approver,
                              number=request.matching_number, ip=PHONE_IP, now=now)
    db.session.commit()
    return outcome


def actions() -> list[tuple[str, str, dict]]:
    return [(e.action, e.outcome, e.details)
            for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


# --- the request -------------------------------------------------------------------------------


def test_start_stores_only_the_hash_of_the_browser_value():
    secret, request = new_request()
    assert len(secret) >= 43
    assert secret not in request.browser_hash and len(request.browser_hash) == 64
    assert request.status == "pending" and request.expires_at == T0 + LIFETIME
    assert request.requester_ip == DESKTOP_IP
    assert qr_login.for_browser(db.session, secret).id == request.id
    assert qr_login.for_browser(db.session, "another browser's value") is None
    assert qr_login.for_browser(db.session, None) is None
    assert actions()[-1][0] == "auth:qr:created"


@pytest.mark.parametrize("_", range(30))
def test_decoys_are_distinct_two_digit_numbers_and_never_the_answer(_):
    _, request = new_request()
    assert len(request.choices) == 3 and len(set(request.choices)) == 3
    assert request.matching_number in request.choices
    assert all(re.fullmatch(r"[1-9][0-9]", n) for n in request.choices)
    decoys = [n for n in request.choices if n != request.matching_number]
    assert len(decoys) == 2 and request.matching_number not in decoys


def test_answer_position_is_random():
    requests = [new_request()[1] for _ in range(40)]
    positions = {r.choices.index(r.matching_number) for r in requests}
    assert len(positions) > 1  # all 40 in one place by chance: about 1 in 10^18


# --- the code ----------------------------------------------------------------------------------


def test_code_url_carries_id_seconds_and_mac():
    _, request = new_request()
    url = qr_login.code_url(ISSUER, KEY, request, 17)
    assert url.startswith(f"{ISSUER}/qr/a?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query == {"r": request.id.hex, "t": "17",
                     "h": qr_login.code_mac(KEY, request.id, 17)}
    assert len(query["h"]) == 22  # 128 bits


def test_mac_depends_on_key_request_and_seconds():
    rid, other = uuid.uuid4(), uuid.uuid4()
    mac = qr_login.code_mac(KEY, rid, 5)
    assert mac != qr_login.code_mac(KEY, rid, 6)
    assert mac != qr_login.code_mac(KEY, other, 5)
    assert mac != qr_login.code_mac(qr_login.derive_key("z" * 48), rid, 5)
    assert mac == qr_login.code_mac(KEY, rid, 5)


@pytest.mark.parametrize("t,age", [
    (0, 0), (10, 0), (10, FRESH_SECONDS), (30, 3),
])
def test_fresh_codes_are_accepted(t, age):
    _, request = new_request()
    outcome = scan(request, t, T0 + timedelta(seconds=t + age))
    assert outcome.ok and outcome.request.id == request.id


@pytest.mark.parametrize("t,age", [(0, FRESH_SECONDS + 1), (10, 30), (40, 75)])
def test_stale_codes_are_refused_and_audited(t, age):
    _, request = new_request()
    outcome = scan(request, t, T0 + timedelta(seconds=t + age))
    assert outcome.refused == Refusal.STALE
    db.session.commit()
    action, result, details = actions()[-1]
    assert (action, result, details["reason"]) == ("auth:qr:code_refused", "failure", "stale")


def test_a_code_from_the_future_is_refused():
    _, request = new_request()
    assert scan(request, 20, T0 + timedelta(seconds=10)).refused == Refusal.STALE


def test_forged_mac_is_refused_and_audited():
    _, request = new_request()
    outcome = scan(request, 3, T0 + timedelta(seconds=3), mac="A" * 22)
    assert outcome.refused == Refusal.FORGED
    # A genuine MAC for another second does not carry over.
    other = qr_login.code_mac(KEY, request.id, 2)
    assert scan(request, 3, T0 + timedelta(seconds=3), mac=other).refused == Refusal.FORGED
    db.session.commit()
    assert actions()[-1][2]["reason"] == "forged"


@pytest.mark.parametrize("r,t,h", [
    (None, "1", "x"), ("not-a-uuid", "1", "x"), ("0" * 32, "-1", "x"), ("0" * 32, "1e3", "x"),
    ("0" * 32, "9999999", "x"), ("0" * 32, "1", None), ("0" * 32, "1", "x" * 65),
    ("0" * 32, "", "x"), ("0" * 32, "²", "x"), ("0" * 32, "١", "x"),
])
def test_malformed_codes_are_refused(r, t, h):
    outcome = qr_login.check_code(db.session, r=r, t=t, h=h, key=KEY, now=T0, ip=PHONE_IP)
    assert outcome.refused == Refusal.MALFORMED


def test_unknown_request_with_a_valid_mac_is_refused():
    rid = uuid.uuid4()
    outcome = qr_login.check_code(db.session, r=rid.hex, t="1",
                                  h=qr_login.code_mac(KEY, rid, 1), key=KEY, now=T0, ip=None)
    assert outcome.refused == Refusal.UNKNOWN


def test_expired_request_refuses_even_a_fresh_code():
    _, request = new_request()
    t = int(LIFETIME.total_seconds())
    assert scan(request, t, T0 + LIFETIME).refused == Refusal.EXPIRED


def test_current_t_never_draws_the_future_nor_a_stale_second():
    _, request = new_request()
    now = T0 + timedelta(seconds=30)
    assert qr_login.current_t(request, now) == 30
    assert qr_login.current_t(request, now, "28") == 28
    assert qr_login.current_t(request, now, "31") == 30
    assert qr_login.current_t(request, now, str(30 - FRESH_SECONDS)) == 30
    for junk in (None, "", "²", "-1", "1e3", "9" * 20):
        assert qr_login.current_t(request, now, junk) == 30


def test_svg_draws_exactly_the_modules_of_the_code():
    content = qr_login.code_url(ISSUER, KEY, new_request()[1], 42)
    svg = qr_login.render_svg(content)
    assert svg.startswith("<svg") and 'fill="white"' in svg
    expected = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    expected.add_data(content)
    expected.make(fit=True)
    size = expected.modules_count + 8
    drawn = [[False] * size for _ in range(size)]
    for x, y, width in re.findall(r"M(\d+),(\d+)h(\d+)v1h-\d+z", svg):
        for dx in range(int(width)):
            drawn[int(y)][int(x) + dx] = True
    for y, row in enumerate(expected.modules):
        assert drawn[y + 4][4:4 + len(row)] == list(row)


# --- the decision ------------------------------------------------------------------------------


def test_right_number_approves_with_the_approvers_facts(citizen):
    _, request = new_request()
    phone = phone_session(citizen)
    assert approve(request, phone).ok
    assert request.status == "approved" and request.approver_citizen_id == citizen.id
    assert request.approver_sid == phone.sid and request.approver_acr == phone.acr
    assert request.approver_ip == PHONE_IP and request.number_attempts == 1
    assert actions()[-1][:2] == ("auth:qr:approved", "success")


def test_wrong_number_denies_at_once_and_counts_a_failure(citizen):
    _, request = new_request()
    phone = phone_session(citizen)
    wrong = next(n for n in request.choices if n != request.matching_number)
    outcome = qr_login.decide(db.session, request, approver=phone, number=wrong, ip=PHONE_IP,
                              now=T0 + timedelta(seconds=9))
    db.session.commit()
    assert outcome.refused == Refusal.WRONG_NUMBER
    assert request.status == "denied" and request.approver_sid is None
    assert db.session.get(Citizen, citizen.id).failed_attempts == 1
    assert [a[0] for a in actions()][-2:] == ["auth:qr:denied", "auth:qr:failure"]
    # Single chance: the right number afterwards changes nothing.
    again = approve(request, phone)
    assert again.refused == Refusal.DECIDED and request.status == "denied"


def test_deny_button_denies_without_counting_a_failure(citizen):
    _, request = new_request()
    outcome = qr_login.decide(db.session, request, approver=phone_session(citizen),
                              number=None, ip=PHONE_IP, now=T0)
    assert outcome.refused == Refusal.DENIED and request.status == "denied"
    assert db.session.get(Citizen, citizen.id).failed_attempts == 0


def test_throttled_account_cannot_pick_a_number(citizen):
    _, request = new_request()
    phone = phone_session(citizen)
    citizen.failed_attempts, citizen.last_failure_at = throttle.FREE_ATTEMPTS + 3, T0
    db.session.commit()
    outcome = qr_login.decide(db.session, request, approver=phone,
                              number=request.matching_number, ip=PHONE_IP,
                              now=T0 + timedelta(seconds=1))
    assert outcome.refused == Refusal.THROTTLED and outcome.retry_after > 0
    assert request.status == "pending"  # nothing changed


def test_decision_after_expiry_is_refused(citizen):
    _, request = new_request()
    outcome = approve(request, phone_session(citizen), now=T0 + LIFETIME)
    assert outcome.refused == Refusal.EXPIRED and request.status == "pending"


# --- the completion ----------------------------------------------------------------------------


def complete(request_id: uuid.UUID | None, secret: str | None,
             now: datetime = T0 + timedelta(seconds=25)) -> Completion | Outcome:
    result = qr_login.complete(db.session, request_id, secret, ip=DESKTOP_IP, now=now)
    db.session.commit()
    return result


def test_completion_gives_one_factor_for_a_one_factor_approver(citizen):
    secret, request = new_request()
    approve(request, phone_session(citizen))
    done = complete(request.id, secret)
    assert isinstance(done, Completion)
    assert done.citizen.id == citizen.id
    assert done.amr == ["qr"] and done.acr == sso_sessions.ACR_ONE_FACTOR
    assert request.status == "used"
    sms = db.session.scalars(select(OutboxMessage)).all()
    assert len(sms) == 1 and sms[0].recipient == citizen.phone
    assert sms[0].body.startswith("Bạn vừa đăng nhập ThaiNguyen ID trên một thiết bị khác bằng "
                                  "mã QR lúc 09:00 02/03/2026 (Chrome trên Windows")
    assert actions()[-1][:2] == ("auth:qr:completed", "success")


def test_completion_keeps_two_factors_of_a_two_factor_approver(citizen):
    secret, request = new_request()
    approve(request, phone_session(citizen, sso_sessions.ACR_TWO_FACTORS))
    done = complete(request.id, secret)
    assert done.amr == ["qr", "mfa"] and done.acr == sso_sessions.ACR_TWO_FACTORS


def test_completion_is_single_use(citizen):
    secret, request = new_request()
    approve(request, phone_session(citizen))
    assert isinstance(complete(request.id, secret), Completion)
    assert complete(request.id, secret).refused == Refusal.USED
    assert len(db.session.scalars(select(OutboxMessage)).all()) == 1


def test_completion_from_another_browser_is_refused(citizen):
    secret, request = new_request()
    approve(request, phone_session(citizen))
    other_secret, _ = new_request()
    assert complete(request.id, other_secret).refused == Refusal.OTHER_BROWSER
    assert complete(request.id, None).refused == Refusal.OTHER_BROWSER
    assert request.status == "approved"  # still there for the right browser
    assert actions()[-1][2]["reason"] == "other_browser"
    assert isinstance(complete(request.id, secret), Completion)


def test_completion_after_expiry_is_refused(citizen):
    secret, request = new_request()
    approve(request, phone_session(citizen))
    assert complete(request.id, secret, now=T0 + LIFETIME).refused == Refusal.EXPIRED


def test_completion_before_approval_is_not_yet(citizen):
    secret, request = new_request()
    assert complete(request.id, secret).refused == Refusal.NOT_APPROVED
    assert complete(uuid.uuid4(), secret).refused == Refusal.UNKNOWN
    assert complete(None, secret).refused == Refusal.UNKNOWN


def test_completion_of_a_denied_request_is_refused(citizen):
    secret, request = new_request()
    qr_login.decide(db.session, request, approver=phone_session(citizen), number=None,
                    ip=PHONE_IP, now=T0)
    assert complete(request.id, secret).refused == Refusal.DENIED


def test_completion_refused_when_the_approving_session_ended(citizen):
    secret, request = new_request()
    phone = phone_session(citizen)
    approve(request, phone)
    db.session.delete(phone)
    db.session.commit()
    assert complete(request.id, secret).refused == Refusal.APPROVER_GONE


def test_completion_refused_when_the_account_was_disabled(citizen):
    secret, request = new_request()
    approve(request, phone_session(citizen))
    citizen.status = CitizenStatus.DISABLED
    db.session.commit()
    assert complete(request.id, secret).refused == Refusal.APPROVER_GONE


# --- what the phone shows ----------------------------------------------------------------------


@pytest.mark.parametrize("a,b,same", [
    ("203.0.113.7", "203.0.113.250", True),
    ("203.0.113.7", "203.0.114.7", False),
    ("2001:db8:1:2::1", "2001:db8:1:ffff::9", True),
    ("2001:db8:1::1", "2001:db8:2::1", False),
    ("203.0.113.7", "::ffff:203.0.113.9", True),
    ("203.0.113.7", "2001:db8::1", False),
    ("203.0.113.7", "unknown", False),
    (None, None, False),
])
def test_same_network_compares_slash_24_and_slash_48(a, b, same):
    assert qr_login.same_network(a, b) is same


@pytest.mark.parametrize("ip,local", [
    ("192.168.1.20", True), ("10.0.0.1", True), ("127.0.0.1", True), ("::1", True),
    ("fe80::1", True), ("14.160.1.1", False), ("2402:800::1", False), ("nonsense", False),
])
def test_local_addresses(ip, local):
    assert qr_login.is_local(ip) is local


@pytest.mark.parametrize("agent,expected", [
    (CHROME_WINDOWS, ("Chrome", "Windows")),
    ("Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/131 Safari/537.36 Edg/131",
     ("Edge", "Windows")),
    ("Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 coc_coc_browser/130 Chrome/124 "
     "Safari/537.36", ("Cốc Cốc", "Windows")),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 Version/17 "
     "Safari/605.1.15", ("Safari", "macOS")),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
     ("Firefox", "Linux")),
    ("curl/8.0", ("?", "?")),
    ("", ("?", "?")),
])
def test_user_agent_summary(agent, expected):
    assert qr_login.describe_user_agent(agent) == expected
