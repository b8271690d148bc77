"""Attacks on the code exchange (RFC 6749 §4.1.2, §10.5, §10.6; RFC 7636 §4.6; RFC 9700
§2.1.1, §4.2): replayed and raced codes, codes bound to another redirect URI, client or PKCE
verifier, and expired codes."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from sqlalchemy import select, update

from idp.extensions import db
from idp.models import AuditEvent, AuthorizationCode, Citizen, CitizenStatus
from idp.services import audit, tokens
from idp.services.clock import utcnow
from tests.support.oidc import REDIRECT, authorize_query, follow_to_client
from tests.support.token_endpoint import (
    Grant,
    app_for,
    basic,
    code_form,
    exchange,
    get_code,
    race,
    sign_in,
)

ROUNDS, RACERS = 25, 4


@pytest.fixture
def browser(client, make_citizen, auth):  # noqa: ANN001, ANN201
    sign_in(auth, make_citizen())
    return client


def assert_error(response, error: str, status: int = 400) -> None:  # noqa: ANN001
    assert response.status_code == status, response.json
    assert response.json["error"] == error
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"


def introspect(http, rp, token: str) -> dict:  # noqa: ANN001
    response = http.post("/introspect", data={"token": token},
                         headers=basic(rp.client_id, rp.secret))
    assert response.status_code == 200
    return response.json


def test_code_reuse_fails_and_revokes_what_the_first_use_issued(app, browser, signing_keys):
    rp = app_for(app)
    grant = get_code(browser, rp, scope="openid profile offline_access")
    first = exchange(browser, rp, grant)
    assert first.status_code == 200
    issued = first.json
    assert browser.get("/userinfo", headers={
        "Authorization": f"Bearer {issued['access_token']}"}).status_code == 200

    assert_error(exchange(browser, rp, grant), "invalid_grant")

    userinfo = browser.get("/userinfo",
                           headers={"Authorization": f"Bearer {issued['access_token']}"})
    assert userinfo.status_code == 401
    assert introspect(browser, rp, issued["access_token"]) == {"active": False}
    assert introspect(browser, rp, issued["refresh_token"]) == {"active": False}
    refreshed = browser.post("/token", headers=basic(rp.client_id, rp.secret), data={
        "grant_type": "refresh_token", "refresh_token": issued["refresh_token"]})
    assert_error(refreshed, "invalid_grant")


def test_a_replayed_code_and_a_wrong_secret_are_in_the_audit_trail(app, browser,
                                                                   signing_keys):
    rp = app_for(app)
    grant = get_code(browser, rp)
    assert exchange(browser, rp, grant).status_code == 200
    assert_error(exchange(browser, rp, grant), "invalid_grant")
    wrong = browser.post("/token", headers=basic(rp.client_id, "not-the-secret"),
                         data=code_form(rp, grant))
    assert_error(wrong, "invalid_client", 401)
    assert_error(browser.post("/token", data={"grant_type": "password"}),
                 "unsupported_grant_type")  # says nothing about anyone: not recorded
    with app.app_context():
        refusals = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "oidc:token:failure").order_by(AuditEvent.id)).all()
        assert [(e.client_id, e.outcome, e.details["error"]) for e in refusals] == [
            (rp.client_id, "failure", "invalid_grant"),
            (rp.client_id, "failure", "invalid_client")]
        assert audit.verify_chain(db.session)[1] is None


def test_concurrent_exchanges_of_one_code_give_exactly_one_success(app, browser, live_server,
                                                                   signing_keys):
    """Real HTTP, several threads released together by a barrier, several rounds."""
    rp = app_for(app)
    for _ in range(ROUNDS):
        grant = get_code(browser, rp)
        results = race(RACERS, requests.Request(
            "POST", f"{live_server}/token", data=code_form(rp, grant),
            headers=basic(rp.client_id, rp.secret)).prepare())
        statuses = sorted(r.status_code for r in results)
        assert statuses == [200] + [400] * (RACERS - 1), [r.text for r in results]
        assert all(r.json()["error"] == "invalid_grant" for r in results if r.status_code != 200)


def test_redirect_uri_must_match_the_authorization_request(app, browser, signing_keys):
    other = "https://portal.example.vn/other-callback"
    rp = app_for(app, redirect_uris=[REDIRECT, other])
    grant = get_code(browser, rp)
    assert_error(exchange(browser, rp, grant, redirect_uri=other), "invalid_grant")
    # A failed attempt spends the code: it cannot be tried again with another guess.
    assert_error(exchange(browser, rp, grant), "invalid_grant")


def test_redirect_uri_is_required_at_the_token_endpoint(app, browser, signing_keys):
    rp = app_for(app)
    grant = get_code(browser, rp)
    form = code_form(rp, grant)
    del form["redirect_uri"]
    response = browser.post("/token", data=form, headers=basic(rp.client_id, rp.secret))
    assert_error(response, "invalid_grant")


def test_wrong_pkce_verifier(app, browser, signing_keys):
    rp = app_for(app)
    grant = get_code(browser, rp)
    wrong = Grant(grant.code, "x" * 43 + grant.verifier[43:], grant.nonce)
    assert_error(exchange(browser, rp, wrong), "invalid_grant")
    assert_error(exchange(browser, rp, grant), "invalid_grant")  # spent by the wrong guess


@pytest.mark.parametrize("verifier", ["short", "ä" * 50, "a" * 129])
def test_malformed_pkce_verifier(app, browser, signing_keys, verifier):
    rp = app_for(app)
    grant = get_code(browser, rp)
    assert_error(exchange(browser, rp, Grant(grant.code, verifier, grant.nonce)),
                 "invalid_request")


def test_verifier_without_a_challenge_is_refused(app, browser, signing_keys):
    """RFC 9700 §4.8.2: PKCE downgrade — a verifier for a code issued without a challenge."""
    rp = app_for(app)
    grant = get_code(browser, rp, use_pkce=False)
    response = exchange(browser, rp, grant, code_verifier="v" * 50)
    assert_error(response, "invalid_request")


def test_confidential_client_without_pkce_still_works(app, browser, signing_keys):
    rp = app_for(app)
    response = exchange(browser, rp, get_code(browser, rp, use_pkce=False))
    assert response.status_code == 200, response.json


@pytest.mark.parametrize("method", ["none", "client_secret_basic"])
def test_missing_verifier_when_a_challenge_was_sent(app, browser, signing_keys, method):
    rp = app_for(app, token_endpoint_auth_method=method)
    grant = get_code(browser, rp)
    assert_error(exchange(browser, rp, Grant(grant.code, None, grant.nonce)), "invalid_request")


def test_another_clients_code_is_refused_and_not_spent(app, browser, signing_keys):
    owner, thief = app_for(app), app_for(app)
    grant = get_code(browser, owner)
    assert_error(exchange(browser, thief, grant), "invalid_grant")
    assert exchange(browser, owner, grant).status_code == 200


def test_public_client_cannot_use_another_clients_code(app, browser, signing_keys):
    owner, thief = app_for(app, token_endpoint_auth_method="none"), \
        app_for(app, token_endpoint_auth_method="none")
    grant = get_code(browser, owner)
    response = browser.post("/token", data={**code_form(owner, grant),
                                            "client_id": thief.client_id})
    assert_error(response, "invalid_grant")
    assert exchange(browser, owner, grant).status_code == 200


@pytest.fixture
def short_codes(config):  # noqa: ANN001, ANN201
    config["TNID_CODE_LIFETIME_SECONDS"] = "10"


def test_code_expires_after_the_configured_lifetime(short_codes, app, browser, signing_keys):
    rp = app_for(app)
    grant = get_code(browser, rp)
    with app.app_context():
        row = db.session.scalar(select(AuthorizationCode).where(
            AuthorizationCode.code_hash == tokens.digest(grant.code)))
        assert row.expires_at - row.created_at == timedelta(seconds=10)
        db.session.execute(update(AuthorizationCode).where(AuthorizationCode.id == row.id)
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert_error(exchange(browser, rp, grant), "invalid_grant")


def test_unknown_code(app, browser, signing_keys):
    rp = app_for(app)
    grant = get_code(browser, rp)
    assert_error(exchange(browser, rp, Grant("not-a-code", grant.verifier, grant.nonce)),
                 "invalid_grant")
    assert exchange(browser, rp, grant).status_code == 200


def test_disabled_citizen_cannot_exchange_a_code(app, browser, signing_keys):
    rp = app_for(app)
    grant = get_code(browser, rp)
    with app.app_context():
        db.session.execute(update(Citizen).values(status=CitizenStatus.DISABLED))
        db.session.commit()
    assert_error(exchange(browser, rp, grant), "invalid_grant")


@pytest.mark.parametrize("extra", [{}, {"code_challenge_method": "S256"},
                                   {"code_challenge": "c" * 43, "code_challenge_method": "plain"}])
def test_public_client_must_send_an_s256_challenge(app, browser, signing_keys, extra):
    """RFC 9700 §2.1.1 at the authorization endpoint: the error goes back to the app."""
    rp = app_for(app, token_endpoint_auth_method="none")
    got = follow_to_client(browser, authorize_query(rp, **extra), rp)
    assert got["error"] == "invalid_request" and "code" not in got
