"""Token introspection (RFC 7662) over HTTP: a client learns about its own tokens only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, update

from idp.extensions import db
from idp.models import Citizen, CitizenStatus, Client, Token
from idp.services.clock import utcnow
from tests.support.oidc import register, verify
from tests.support.token_flows import basic, bearer, refresh, secret_post, tokens_for

INACTIVE = {"active": False}


def introspect(client, rp, token: str, **extra: str):  # noqa: ANN001, ANN201
    response = client.post("/introspect", data={"token": token, **extra}, headers=basic(rp))
    assert response.headers["Cache-Control"] == "no-store"
    return response


def test_active_access_token(client, rp, tokens, citizen):
    response = introspect(client, rp, tokens["access_token"])
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.json
    issuer = client.get("/.well-known/openid-configuration").json["issuer"]
    assert set(body) == {"active", "client_id", "scope", "sub", "exp", "iat", "iss",
                         "token_type", "acr", "auth_time"}
    assert body["active"] is True and body["client_id"] == rp.client_id
    assert body["scope"] == tokens["scope"] and body["token_type"] == "Bearer"
    assert body["sub"] == str(citizen.id) and body["iss"] == issuer
    assert body["exp"] - body["iat"] == tokens["expires_in"]
    assert body["acr"] == "urn:tnid:acr:1" and body["auth_time"] <= body["iat"]


def test_sub_is_the_one_this_client_knows(app, client, citizen, signing_keys):
    market = register(app, name_vi="Chợ", subject_type="pairwise",
                      redirect_uris=["https://cho.example.vn/cb"])
    tokens = tokens_for(client, market, citizen.cccd, scope="openid profile")
    body = introspect(client, market, tokens["access_token"]).json
    assert body["sub"] == verify(client, tokens["id_token"], market.client_id)["sub"]
    assert body["sub"] != str(citizen.id)


def test_active_refresh_token(client, rp, tokens):
    body = introspect(client, rp, tokens["refresh_token"],
                      token_type_hint="refresh_token").json
    assert body["active"] is True and body["token_type"] == "refresh_token"
    assert body["client_id"] == rp.client_id and body["scope"] == tokens["scope"]
    assert body["exp"] - body["iat"] == 30 * 24 * 3600  # the sliding refresh window


@pytest.mark.parametrize("hint", ["access_token", "refresh_token", "id_token", "", "x" * 300])
def test_any_hint_still_finds_the_token(client, rp, tokens, hint):
    for token in (tokens["access_token"], tokens["refresh_token"]):
        assert introspect(client, rp, token, token_type_hint=hint).json["active"] is True


def test_expired_access_token_is_inactive(app, client, rp, tokens):
    with app.app_context():
        db.session.execute(update(Token).values(access_expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert introspect(client, rp, tokens["access_token"]).json == INACTIVE
    assert introspect(client, rp, tokens["refresh_token"]).json["active"] is True


def test_expired_refresh_token_is_inactive(app, client, rp, tokens):
    with app.app_context():
        db.session.execute(update(Token).values(
            refresh_expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert introspect(client, rp, tokens["refresh_token"]).json == INACTIVE


def test_revoked_tokens_are_inactive(client, rp, tokens):
    client.post("/revoke", data={"token": tokens["refresh_token"]}, headers=basic(rp))
    for token in (tokens["access_token"], tokens["refresh_token"]):
        assert introspect(client, rp, token).json == INACTIVE


def test_a_used_refresh_token_is_inactive_and_its_successor_active(client, rp, tokens):
    rotated = refresh(client, rp, tokens["refresh_token"]).json
    assert introspect(client, rp, tokens["refresh_token"]).json == INACTIVE
    assert introspect(client, rp, rotated["refresh_token"]).json["active"] is True


def test_a_replayed_refresh_token_makes_the_family_inactive(client, rp, tokens):
    rotated = refresh(client, rp, tokens["refresh_token"]).json
    assert refresh(client, rp, tokens["refresh_token"]).status_code == 400  # theft detected
    for token in (rotated["access_token"], rotated["refresh_token"]):
        assert introspect(client, rp, token).json == INACTIVE


@pytest.mark.parametrize("status", [CitizenStatus.LOCKED, CitizenStatus.DISABLED])
def test_tokens_of_a_locked_citizen_are_inactive(app, client, rp, tokens, citizen, status):
    with app.app_context():
        db.session.execute(update(Citizen).where(Citizen.id == citizen.id).values(status=status))
        db.session.commit()
    for token in (tokens["access_token"], tokens["refresh_token"]):
        assert introspect(client, rp, token).json == INACTIVE


def test_another_clients_token_is_just_inactive(app, client, tokens):
    other = register(app, name_vi="Ứng dụng khác")
    for token in (tokens["access_token"], tokens["refresh_token"]):
        response = introspect(client, other, token)
        assert response.status_code == 200 and response.json == INACTIVE


@pytest.mark.parametrize("token", ["never-issued", "x" * 5000, " ", "é"])
def test_unknown_tokens_are_inactive(client, rp, token):
    assert introspect(client, rp, token).json == INACTIVE


def test_client_credentials_token_has_no_subject(app, client, signing_keys):
    service = register(app, name_vi="Dịch vụ", grant_types=["authorization_code",
                                                             "client_credentials"])
    token = client.post("/token", data={"grant_type": "client_credentials"},
                        headers=basic(service)).json
    body = introspect(client, service, token["access_token"]).json
    assert body["active"] is True and "sub" not in body and body["client_id"] == service.client_id


def test_client_secret_post_is_accepted(app, client, citizen, signing_keys):
    poster = register(app, name_vi="Ứng dụng", token_endpoint_auth_method="client_secret_post")
    tokens = tokens_for(client, poster, citizen.cccd, auth=secret_post(poster))
    response = client.post("/introspect", data={"token": tokens["access_token"],
                                                **secret_post(poster)})
    assert response.status_code == 200 and response.json["active"] is True


def test_public_client_cannot_introspect(app, client, citizen, signing_keys):
    spa = register(app, name_vi="Ứng dụng di động", token_endpoint_auth_method="none")
    tokens = tokens_for(client, spa, citizen.cccd)
    response = client.post("/introspect", data={"token": tokens["access_token"],
                                                "client_id": spa.client_id})
    assert response.status_code == 401 and response.json["error"] == "invalid_client"
    assert "active" not in response.json


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic d3Jvbmc6c2VjcmV0"},
                                     {"Authorization": "Basic ###"},
                                     {"Authorization": "Bearer abc"}])
def test_bad_client_authentication_is_401(client, tokens, headers):
    response = client.post("/introspect", data={"token": tokens["access_token"]},
                           headers=headers)
    assert response.status_code == 401 and response.json["error"] == "invalid_client"
    assert "active" not in response.json


def test_wrong_secret_is_401(client, rp, tokens):
    wrong = type(rp)(rp.client_id, "not-the-secret", rp.redirect_uri)
    response = client.post("/introspect", data={"token": tokens["access_token"]},
                           headers=basic(wrong))
    assert response.status_code == 401 and response.json["error"] == "invalid_client"


@pytest.mark.parametrize("data", [{}, {"token": ""}, {"token_type_hint": "access_token"}])
def test_missing_token_is_invalid_request(client, rp, data):
    response = client.post("/introspect", data=data, headers=basic(rp))
    assert response.status_code == 400 and response.json["error"] == "invalid_request"


def test_repeated_token_is_invalid_request(client, rp, tokens):
    response = client.post("/introspect", headers=basic(rp),
                           data={"token": [tokens["access_token"], "other"]})
    assert response.status_code == 400 and response.json["error"] == "invalid_request"


@pytest.mark.parametrize("kwargs", [{"json": {"token": "x"}},
                                    {"data": "token=x", "content_type": "text/plain"}])
def test_a_body_that_is_not_a_form_is_invalid_request(client, rp, kwargs):
    response = client.post("/introspect", headers=basic(rp), **kwargs)
    assert response.status_code == 400 and response.json["error"] == "invalid_request"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_wrong_method_is_405_json(client, method):
    response = client.open("/introspect", method=method)
    assert response.status_code == 405 and response.mimetype == "application/json"
    assert response.headers["Allow"] == "POST"


def test_introspection_does_not_spend_or_change_the_token(client, rp, tokens):
    for _ in range(3):
        assert introspect(client, rp, tokens["refresh_token"]).json["active"] is True
    assert refresh(client, rp, tokens["refresh_token"]).status_code == 200
    assert client.get("/userinfo", headers=bearer(tokens["access_token"])).status_code == 200


# --- the client and its token read in one statement ---------------------------------------------


def test_one_statement_reads_the_client_and_its_own_token(app, client, rp, tokens):
    statements: list[str] = []

    def record(_connection, _cursor, statement, *_args) -> None:  # noqa: ANN001
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert introspect(client, rp, tokens["access_token"]).json["active"] is True
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(statements) == 1


def test_the_owner_named_in_the_form_is_not_the_client_authenticated(app, client, rp, tokens):
    other = register(app, name_vi="Ứng dụng khác")
    response = client.post("/introspect", headers=basic(other),
                           data={"token": tokens["access_token"], "client_id": rp.client_id})
    assert response.status_code == 401 and response.json["error"] == "invalid_client"
    assert "active" not in response.json


def test_a_disabled_client_cannot_introspect(app, client, rp, tokens):
    with app.app_context():
        db.session.execute(update(Client).where(Client.client_id == rp.client_id)
                           .values(disabled_at=utcnow()))
        db.session.commit()
    response = introspect(client, rp, tokens["access_token"])
    assert response.status_code == 401 and response.json["error"] == "invalid_client"


def test_nothing_read_for_one_request_answers_the_next(app, client, rp, tokens):
    with app.app_context():  # ``g`` then lives across the requests
        assert introspect(client, rp, tokens["access_token"]).json["active"] is True
        client.post("/revoke", data={"token": tokens["refresh_token"]}, headers=basic(rp))
        assert introspect(client, rp, tokens["access_token"]).json == INACTIVE
