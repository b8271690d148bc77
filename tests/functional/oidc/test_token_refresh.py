"""Refresh tokens (RFC 6749 §6, OIDC Core §11 and §12, RFC 9700 §4.14): issued for
offline_access only, rotated on every use, a reused one revokes its whole family, sliding
expiry within an absolute maximum, scope can narrow but never widen."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from sqlalchemy import select, update

from idp.extensions import db
from idp.models import Citizen, CitizenStatus, Token
from idp.services import tokens
from idp.services.clock import utcnow
from tests.support.oidc import verify
from tests.support.token_endpoint import (
    app_for,
    basic,
    exchange,
    get_code,
    race,
    refresh,
    sign_in,
)

OFFLINE = "openid profile phone offline_access"
ROUNDS, RACERS = 25, 4


@pytest.fixture
def config(config):  # noqa: ANN001, ANN201 — the lifetimes the tests check are configured ones
    config.update(TNID_REFRESH_TOKEN_IDLE_DAYS="2", TNID_REFRESH_TOKEN_MAX_DAYS="5")
    return config


@pytest.fixture
def browser(client, make_citizen, auth):  # noqa: ANN001, ANN201
    sign_in(auth, make_citizen())
    return client


@pytest.fixture
def rp(app):  # noqa: ANN001, ANN201
    return app_for(app)


@pytest.fixture
def issued(browser, rp, signing_keys) -> dict:  # noqa: ANN001
    response = exchange(browser, rp, get_code(browser, rp, scope=OFFLINE))
    assert response.status_code == 200, response.json
    return response.json


def assert_error(response, error: str) -> None:  # noqa: ANN001
    assert response.status_code == 400, response.json
    assert response.json["error"] == error
    assert response.headers["Cache-Control"] == "no-store"


def userinfo(http, access_token: str):  # noqa: ANN001, ANN201
    return http.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})


def active(http, rp, token: str) -> bool:  # noqa: ANN001
    response = http.post("/introspect", data={"token": token},
                         headers=basic(rp.client_id, rp.secret))
    return response.json["active"]


def row_for(app, refresh_token: str) -> Token:  # noqa: ANN001
    with app.app_context():
        row = db.session.scalar(select(Token).where(
            Token.refresh_token_hash == tokens.digest(refresh_token)))
        db.session.expunge(row)
        return row


@pytest.mark.parametrize("scope, expected", [(OFFLINE, True), ("openid profile", False)])
def test_refresh_token_only_with_offline_access(browser, rp, signing_keys, scope, expected):
    response = exchange(browser, rp, get_code(browser, rp, scope=scope))
    assert ("refresh_token" in response.json) is expected


def test_no_refresh_token_for_an_app_without_the_grant(app, browser, signing_keys):
    rp = app_for(app, grant_types=["authorization_code"])
    response = exchange(browser, rp, get_code(browser, rp, scope=OFFLINE))
    assert response.status_code == 200 and "refresh_token" not in response.json
    assert_error(refresh(browser, rp, "anything"), "unauthorized_client")


def test_rotation_on_every_use(browser, rp, issued):
    seen = {issued["refresh_token"]}
    current = issued
    for _ in range(3):
        response = refresh(browser, rp, current["refresh_token"])
        assert response.status_code == 200, response.json
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Pragma"] == "no-cache"
        current = response.json
        assert current["refresh_token"] not in seen
        seen.add(current["refresh_token"])
        assert current["scope"] == OFFLINE
        assert userinfo(browser, current["access_token"]).status_code == 200


def test_reused_refresh_token_revokes_the_whole_family(browser, rp, issued):
    second = refresh(browser, rp, issued["refresh_token"]).json
    newest = refresh(browser, rp, second["refresh_token"]).json
    assert userinfo(browser, newest["access_token"]).status_code == 200

    assert_error(refresh(browser, rp, issued["refresh_token"]), "invalid_grant")

    assert_error(refresh(browser, rp, newest["refresh_token"]), "invalid_grant")
    for body in (issued, second, newest):
        assert userinfo(browser, body["access_token"]).status_code == 401
        assert not active(browser, rp, body["access_token"])
        assert not active(browser, rp, body["refresh_token"])


def test_concurrent_refreshes_give_at_most_one_success(app, browser, rp, live_server,
                                                       signing_keys):
    for _ in range(ROUNDS):
        body = exchange(browser, rp, get_code(browser, rp, scope=OFFLINE)).json
        results = race(RACERS, requests.Request(
            "POST", f"{live_server}/token", headers=basic(rp.client_id, rp.secret),
            data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        ).prepare())
        ok = [r for r in results if r.status_code == 200]
        assert len(ok) <= 1, [r.text for r in results]
        assert all(r.json()["error"] == "invalid_grant" for r in results if r.status_code != 200)


def test_sliding_expiry_within_the_absolute_maximum(app, browser, rp, issued):
    first = row_for(app, issued["refresh_token"])
    assert first.refresh_expires_at - first.issued_at == timedelta(days=2)
    assert first.family_expires_at - first.issued_at == timedelta(days=5)

    # Idle for a day: the window slides a full idle period from the new use.
    with app.app_context():
        db.session.execute(update(Token).where(Token.id == first.id).values(
            refresh_expires_at=utcnow() + timedelta(days=1)))
        db.session.commit()
    second = refresh(browser, rp, issued["refresh_token"]).json
    row = row_for(app, second["refresh_token"])
    assert row.refresh_expires_at - row.issued_at == timedelta(days=2)
    assert row.family_expires_at == first.family_expires_at

    # Near the absolute end, a new token never outlives the family.
    end = utcnow() + timedelta(hours=3)
    with app.app_context():
        db.session.execute(update(Token).where(Token.family_id == first.family_id)
                           .values(family_expires_at=end))
        db.session.commit()
    third = refresh(browser, rp, second["refresh_token"]).json
    assert row_for(app, third["refresh_token"]).refresh_expires_at == end


def test_expired_refresh_token(app, browser, rp, issued):
    with app.app_context():
        db.session.execute(update(Token).values(refresh_expires_at=utcnow() - timedelta(1)))
        db.session.commit()
    assert_error(refresh(browser, rp, issued["refresh_token"]), "invalid_grant")


def test_narrower_scope_is_allowed_and_the_grant_keeps_its_scope(browser, rp, issued):
    narrow = refresh(browser, rp, issued["refresh_token"], scope="openid profile")
    assert narrow.status_code == 200, narrow.json
    assert narrow.json["scope"] == "openid profile"
    assert "phone_number" not in userinfo(browser, narrow.json["access_token"]).json
    # RFC 6749 §6: the new refresh token has the scope of the one it replaced.
    full = refresh(browser, rp, narrow.json["refresh_token"])
    assert full.status_code == 200, full.json
    assert full.json["scope"] == OFFLINE
    assert "phone_number" in userinfo(browser, full.json["access_token"]).json


@pytest.mark.parametrize("scope", ["openid profile email", "openid admin", "openid " + "x" * 50])
def test_wider_scope_is_refused_without_spending_the_token(browser, rp, issued, scope):
    assert_error(refresh(browser, rp, issued["refresh_token"], scope=scope), "invalid_scope")
    assert refresh(browser, rp, issued["refresh_token"]).status_code == 200


def test_refresh_token_of_another_client(app, browser, rp, issued):
    other = app_for(app)
    assert_error(refresh(browser, other, issued["refresh_token"]), "invalid_grant")
    assert refresh(browser, rp, issued["refresh_token"]).status_code == 200


def test_revoked_refresh_token(browser, rp, issued):
    revoked = browser.post("/revoke", headers=basic(rp.client_id, rp.secret), data={
        "token": issued["refresh_token"], "token_type_hint": "refresh_token"})
    assert revoked.status_code == 200
    assert_error(refresh(browser, rp, issued["refresh_token"]), "invalid_grant")


@pytest.mark.parametrize("subject_type", ["public", "pairwise"])
def test_refresh_returns_a_new_id_token_for_the_same_sign_in(app, browser, signing_keys,
                                                             subject_type):
    rp = app_for(app, subject_type=subject_type)
    body = exchange(browser, rp, get_code(browser, rp, scope=OFFLINE)).json
    first = verify(browser, body["id_token"], rp.client_id)
    again = refresh(browser, rp, body["refresh_token"]).json
    second = verify(browser, again["id_token"], rp.client_id)
    for claim in ("iss", "sub", "aud", "sid", "auth_time", "acr", "amr"):
        assert second[claim] == first[claim], claim
    assert "nonce" not in second
    assert second["at_hash"] != first["at_hash"]


def test_disabled_citizen_cannot_refresh(app, browser, rp, issued):
    with app.app_context():
        db.session.execute(update(Citizen).values(status=CitizenStatus.DISABLED))
        db.session.commit()
    assert_error(refresh(browser, rp, issued["refresh_token"]), "invalid_grant")


def test_public_client_refreshes_with_rotation(app, browser, signing_keys):
    rp = app_for(app, token_endpoint_auth_method="none")
    body = exchange(browser, rp, get_code(browser, rp, scope=OFFLINE)).json
    form = {"grant_type": "refresh_token", "client_id": rp.client_id}
    new = browser.post("/token", data={**form, "refresh_token": body["refresh_token"]})
    assert new.status_code == 200, new.json
    assert new.json["refresh_token"] != body["refresh_token"]
    replay = browser.post("/token", data={**form, "refresh_token": body["refresh_token"]})
    assert_error(replay, "invalid_grant")


@pytest.mark.parametrize("value, error", [
    (None, "invalid_request"), ("", "invalid_request"), ("r" * 300, "invalid_request"),
    ("not-a-refresh-token", "invalid_grant"),
])
def test_bad_refresh_token_values(browser, rp, issued, value, error):
    form = {"grant_type": "refresh_token"}
    if value is not None:
        form["refresh_token"] = value
    response = browser.post("/token", data=form, headers=basic(rp.client_id, rp.secret))
    assert_error(response, error)
    assert refresh(browser, rp, issued["refresh_token"]).status_code == 200


def test_access_token_is_not_a_refresh_token(browser, rp, issued):
    assert_error(refresh(browser, rp, issued["access_token"]), "invalid_grant")
