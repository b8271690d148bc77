"""/admin/dashboard: the figures, the period selector, and an officer seeing only their
communes' numbers (citizens in two communes, each with different activity)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import update

from idp.extensions import db
from idp.models import Citizen, Client, SsoSession, TotpCredential
from idp.services import audit
from idp.services.clock import utcnow
from tests.functional.admin.conftest import PHAN_DINH_PHUNG, SANG_MOC


def _text(html: str, ident: str) -> str:
    match = re.search(rf'id="{ident}"[^>]*>([^<]*)<', html)
    assert match, ident
    return match.group(1).strip()


@pytest.fixture
def province(app, make_citizen):  # noqa: ANN001, ANN201
    """Sảng Mộc: 2 citizens (1 at level 2, 1 with an authenticator, 1 live session, 3 sign-ins,
    1 failure); Phan Đình Phùng: 3 citizens (all level 2, 5 sign-ins, 4 failures), tokens."""
    sang = [make_citizen(commune_code=SANG_MOC) for _ in range(2)]
    phan = [make_citizen(commune_code=PHAN_DINH_PHUNG) for _ in range(3)]
    now = utcnow()
    with app.app_context():
        db.session.execute(update(Citizen).where(Citizen.id.in_(
            [sang[0].id] + [c.id for c in phan])).values(identity_level=2))
        db.session.add(TotpCredential(citizen_id=sang[1].id, secret_sealed=b"x",
                                      confirmed_at=now))
        db.session.add(TotpCredential(citizen_id=phan[0].id, secret_sealed=b"x"))  # unconfirmed
        db.session.add(SsoSession(token_hash=b"1" * 32, sid="s" * 43, citizen_id=sang[0].id,
                                  auth_time=now, amr=["pwd"], acr="urn:tnid:acr:1",
                                  created_at=now, last_seen_at=now, ip="203.0.113.1",
                                  user_agent="test"))
        db.session.add(SsoSession(token_hash=b"2" * 32, sid="t" * 43, citizen_id=phan[0].id,
                                  auth_time=now - timedelta(days=2), amr=["pwd"],
                                  acr="urn:tnid:acr:1", created_at=now - timedelta(days=2),
                                  last_seen_at=now - timedelta(days=2), ip="203.0.113.1",
                                  user_agent="test"))  # expired (idle)
        for citizen, ok, failed in ((sang[0], 3, 1), (phan[0], 5, 4)):
            for _ in range(ok):
                audit.record(db.session, "auth:login:success", actor_id=citizen.id,
                             citizen_id=citizen.id, ip="203.0.113.7", now=now)
            for _ in range(failed):
                audit.record(db.session, "auth:password:failure", actor_type="anonymous",
                             citizen_id=citizen.id, outcome="failure",
                             ip="198.51.100.9" if citizen is sang[0] else "192.0.2.66",
                             now=now)
        audit.record(db.session, "auth:password:failure", actor_type="anonymous",
                     outcome="failure", ip="192.0.2.99", now=now, details={"account": "none"})
        audit.record(db.session, "auth:login:success", actor_id=phan[1].id,
                     citizen_id=phan[1].id, now=now - timedelta(days=60))  # outside 30 days
        db.session.add(Client(client_id="dvc-app", name_vi="Dịch vụ công <Tỉnh>",
                              name_en="Public services", redirect_uris=["https://a.example/cb"],
                              token_endpoint_auth_method="none"))
        db.session.flush()
        for citizen, n in ((phan[0], 4), (sang[0], 2)):
            for _ in range(n):
                audit.record(db.session, "oidc:token:issued", actor_type="client",
                             actor_id="dvc-app", citizen_id=citizen.id, client_id="dvc-app",
                             now=now, details={"scope": "openid"})
        db.session.commit()
    return sang, phan


def test_superadmin_sees_the_province(staff_client, province):  # noqa: ANN001
    page = staff_client("superadmin").get("/admin/dashboard")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert _text(html, "citizens-total") == "5"
    assert _text(html, "level2-count") == "4"
    assert _text(html, "second-factor-count") == "1"
    assert _text(html, "active-sessions") == "1"
    assert _text(html, "sign-ins-success-total") == "8"
    assert _text(html, "sign-ins-failure-total") == "6"  # with the unknown account's
    assert "192.0.2.66" in html and "192.0.2.99" in html
    assert "Dịch vụ công &lt;Tỉnh&gt;" in html and "<Tỉnh>" not in html
    assert "<svg" in html and "<script" not in html.split("<main", 1)[-1]


def test_officer_sees_only_their_commune(staff_client, province):  # noqa: ANN001
    page = staff_client("officer", [SANG_MOC]).get("/admin/dashboard")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert _text(html, "citizens-total") == "2"
    assert _text(html, "level2-count") == "1"
    assert _text(html, "second-factor-count") == "1"
    assert _text(html, "active-sessions") == "1"
    assert _text(html, "sign-ins-success-total") == "3"
    assert _text(html, "sign-ins-failure-total") == "1"
    assert "198.51.100.9" in html
    assert "192.0.2.66" not in html and "192.0.2.99" not in html  # other commune, no account
    tokens = re.search(r'id="tokens-table".*?</table>', html, re.S).group(0)
    assert "<td>2</td>" in tokens and "<td>4</td>" not in tokens
    assert "Sảng Mộc" in _text(html, "dash-scope") or "Sảng Mộc" in html


def test_officer_of_the_other_commune(staff_client, province):  # noqa: ANN001
    html = staff_client("officer", [PHAN_DINH_PHUNG]).get("/admin/dashboard").get_data(
        as_text=True)
    assert _text(html, "citizens-total") == "3"
    assert _text(html, "sign-ins-success-total") == "5"
    assert _text(html, "active-sessions") == "0"


def test_period_selector(staff_client, province):  # noqa: ANN001
    client = staff_client("auditor")
    html = client.get("/admin/dashboard?days=90").get_data(as_text=True)
    assert _text(html, "sign-ins-success-total") == "9"  # the 60-day-old one too
    assert html.count('<th scope="row">') >= 90
    html = client.get("/admin/dashboard?days=7").get_data(as_text=True)
    assert _text(html, "sign-ins-success-total") == "8"
    for bad in ("12", "abc", "-1", "9" * 30, "%C2%B2", "%D9%A3%D9%A0"):
        assert client.get(f"/admin/dashboard?days={bad}").status_code == 200  # 30 days


def test_empty_database(staff_client):  # noqa: ANN001
    html = staff_client("superadmin").get("/admin/dashboard").get_data(as_text=True)
    assert _text(html, "citizens-total") == "0"
    assert _text(html, "sign-ins-success-total") == "0"


def test_officer_without_commune_sees_nothing(staff_client, province):  # noqa: ANN001
    html = staff_client("officer", []).get("/admin/dashboard").get_data(as_text=True)
    assert _text(html, "citizens-total") == "0"
    assert _text(html, "sign-ins-success-total") == "0"


def test_not_signed_in(client):  # noqa: ANN001
    assert client.get("/admin/dashboard").status_code == 302
