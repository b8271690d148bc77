"""Client credentials grant (RFC 6749 §4.4): a service token for the app itself — no citizen,
no citizen data, no refresh token, no ID token; confidential clients only."""

from __future__ import annotations

import pytest

from idp.extensions import db
from idp.services import clients
from idp.services.clock import utcnow
from tests.support.token_endpoint import (
    app_for,
    assertion,
    assertion_form,
    basic,
    ec_key,
    issuer_of,
    public_set,
)

SERVICE = {"grant_types": ["client_credentials"]}


def service_token(http, rp, **form: str):  # noqa: ANN001, ANN201
    return http.post("/token", data={"grant_type": "client_credentials", **form},
                     headers=basic(rp.client_id, rp.secret))


def introspect(http, rp, token: str) -> dict:  # noqa: ANN001
    return http.post("/introspect", data={"token": token},
                     headers=basic(rp.client_id, rp.secret)).json


def test_service_token(app, client):
    rp = app_for(app, **SERVICE)
    response = service_token(client, rp)
    assert response.status_code == 200, response.json
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    body = response.json
    assert body["token_type"] == "Bearer" and body["expires_in"] == 600
    assert "refresh_token" not in body and "id_token" not in body
    assert not body.get("scope")
    info = introspect(client, rp, body["access_token"])
    assert info["active"] is True and info["client_id"] == rp.client_id
    assert "sub" not in info and info["scope"] == ""


@pytest.mark.parametrize("scope", ["openid", "openid profile citizen offline_access", "phone"])
def test_citizen_scopes_are_never_granted(app, client, scope):
    rp = app_for(app, **SERVICE, scope="openid profile phone citizen offline_access")
    response = service_token(client, rp, scope=scope)
    assert response.status_code == 200, response.json
    body = response.json
    assert body["scope"] == ""  # RFC 6749 §5.1: what was granted differs, so it is stated
    assert "refresh_token" not in body and "id_token" not in body
    assert introspect(client, rp, body["access_token"])["scope"] == ""
    userinfo = client.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert userinfo.status_code in (401, 403)


def test_unknown_scope(app, client):
    rp = app_for(app, **SERVICE)
    response = service_token(client, rp, scope="admin")
    assert response.status_code == 400 and response.json["error"] == "invalid_scope"


def test_client_secret_post_and_private_key_jwt(app, client):
    post = app_for(app, **SERVICE, token_endpoint_auth_method="client_secret_post")
    response = client.post("/token", data={"grant_type": "client_credentials",
                                           "client_id": post.client_id,
                                           "client_secret": post.secret})
    assert response.status_code == 200, response.json
    key = ec_key()
    signed = app_for(app, **SERVICE, token_endpoint_auth_method="private_key_jwt",
                     jwks=public_set(key))
    response = client.post("/token", data={"grant_type": "client_credentials", **assertion_form(
        assertion(signed.client_id, key, audience=f"{issuer_of(app)}/token"))})
    assert response.status_code == 200, response.json


def test_public_client_is_refused(app, client):
    rp = app_for(app, token_endpoint_auth_method="none")
    response = client.post("/token", data={"grant_type": "client_credentials",
                                           "client_id": rp.client_id})
    assert response.status_code == 401
    assert response.json["error"] == "invalid_client"


def test_client_without_the_grant_type(app, client):
    rp = app_for(app)  # authorization_code only
    response = service_token(client, rp)
    assert response.status_code == 400
    assert response.json["error"] == "unauthorized_client"
    assert response.headers["Cache-Control"] == "no-store"


def test_wrong_secret(app, client):
    rp = app_for(app, **SERVICE)
    response = client.post("/token", data={"grant_type": "client_credentials"},
                           headers=basic(rp.client_id, "wrong"))
    assert response.status_code == 401
    assert response.json["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic ")


def test_revoked_service_token_is_inactive(app, client):
    rp = app_for(app, **SERVICE)
    token = service_token(client, rp).json["access_token"]
    revoked = client.post("/revoke", data={"token": token}, headers=basic(rp.client_id, rp.secret))
    assert revoked.status_code == 200
    assert introspect(client, rp, token) == {"active": False}


def test_other_clients_cannot_introspect_it(app, client):
    rp, other = app_for(app, **SERVICE), app_for(app, **SERVICE)
    token = service_token(client, rp).json["access_token"]
    assert introspect(client, other, token) == {"active": False}


def test_disabled_client_cannot_get_tokens(app, client):
    rp = app_for(app, **SERVICE)
    with app.app_context():
        clients.disable_client(db.session, clients.find_client(db.session, rp.client_id),
                               utcnow())
        db.session.commit()
    response = service_token(client, rp)
    assert response.status_code == 401 and response.json["error"] == "invalid_client"
