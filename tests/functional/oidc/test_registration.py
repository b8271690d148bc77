"""Dynamic client registration (RFC 7591) and management (RFC 7592) over HTTP, then the
registered app signing a citizen in like any other."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from joserfc.jwk import ECKey
from sqlalchemy import func, select

from idp.cli import cli
from idp.extensions import db
from idp.models import Client, InitialAccessToken, Token
from idp.services import clients
from idp.services.clock import epoch, utcnow
from tests.support.logout import basic, sign_in, token_request, tokens_for
from tests.support.oidc import App, verify

ISSUER = "http://127.0.0.1:5000"
CALLBACK = "https://dvc.example.vn/cb"
PORTAL: dict[str, Any] = {
    "client_name": "Cổng dịch vụ công", "client_name#en": "Public service portal",
    "redirect_uris": [CALLBACK], "post_logout_redirect_uris": ["https://dvc.example.vn/out"],
    "backchannel_logout_uri": "https://dvc.example.vn/bc", "scope": "openid profile phone",
    "logo_uri": "https://dvc.example.vn/logo.png",
}


def initial_token(app: Flask, uses: int = 1, *, lifetime: timedelta = timedelta(hours=1),
                  now: Any = None) -> str:
    with app.app_context():
        token = clients.create_initial_access_token(db.session, now=now or utcnow(),
                                                    lifetime=lifetime, uses=uses, note=None)
        db.session.commit()
        return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post_register(http: FlaskClient, token: str | None, metadata: Any, **kwargs: Any):  # noqa: ANN201
    headers = bearer(token) if token else {}
    return http.post("/register", json=metadata, headers=headers, **kwargs)


@pytest.fixture
def token(app: Flask) -> str:
    return initial_token(app)


@pytest.fixture
def registered(client: FlaskClient, token: str) -> dict:
    response = post_register(client, token, PORTAL)
    assert response.status_code == 201, response.json
    return response.json


def count(app: Flask, model: type = Client) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def stored(app: Flask, client_id: str) -> Client:
    with app.app_context():
        client = clients.find_client(db.session, client_id)
        assert client is not None
        db.session.expunge(client)
        return client


def public_jwks(key: ECKey) -> dict:
    return {"keys": [key.as_dict(private=False)]}


# --- registering ----------------------------------------------------------------------------------

def test_confidential_client_registers(app: Flask, client: FlaskClient, token: str):
    response = post_register(client, token, {**PORTAL, "trusted": True,
                                             "min_acr": "urn:tnid:acr:1"})
    assert response.status_code == 201, response.json
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json
    assert set(body) >= {"client_id", "client_secret", "client_id_issued_at",
                         "client_secret_expires_at", "registration_access_token",
                         "registration_client_uri"}
    assert body["client_secret_expires_at"] == 0
    assert abs(body["client_id_issued_at"] - epoch(utcnow())) < 3600
    assert body["registration_client_uri"] == f"{ISSUER}/register/{body['client_id']}"
    assert body["client_name"] == "Cổng dịch vụ công"
    assert body["client_name#en"] == "Public service portal"
    assert body["redirect_uris"] == [CALLBACK]
    assert body["post_logout_redirect_uris"] == ["https://dvc.example.vn/out"]
    assert body["backchannel_logout_uri"] == "https://dvc.example.vn/bc"
    assert body["backchannel_logout_session_required"] is True
    assert body["scope"] == "openid profile phone"
    assert body["grant_types"] == ["authorization_code"]
    assert body["response_types"] == ["code"]
    assert body["token_endpoint_auth_method"] == "client_secret_basic"
    assert body["subject_type"] == "public"
    assert body["id_token_signed_response_alg"] == "RS256"
    assert "trusted" not in body and "min_acr" not in body
    row = stored(app, body["client_id"])
    assert row.created_via == "registration"
    assert row.trusted is False and row.min_acr is None  # the province decides those
    assert body["client_secret"] not in (row.client_secret_hash, None)
    assert row.check_client_secret(body["client_secret"])
    assert row.registration_access_token_hash not in (None, body["registration_access_token"])


def test_public_client_registers_without_a_secret(app: Flask, client: FlaskClient, token: str):
    response = post_register(client, token, {
        "client_name": "Ứng dụng di động", "redirect_uris": ["http://127.0.0.1:8080/cb"],
        "token_endpoint_auth_method": "none", "scope": "openid offline_access"})
    assert response.status_code == 201, response.json
    body = response.json
    assert "client_secret" not in body and "client_secret_expires_at" not in body
    assert body["grant_types"] == ["authorization_code", "refresh_token"]
    assert stored(app, body["client_id"]).client_secret_hash is None


def test_private_key_jwt_client_registers_its_keys(app: Flask, client: FlaskClient, token: str):
    key = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    response = post_register(client, token, {
        **PORTAL, "token_endpoint_auth_method": "private_key_jwt", "jwks": public_jwks(key),
        "id_token_signed_response_alg": "ES256"})
    assert response.status_code == 201, response.json
    body = response.json
    assert "client_secret" not in body
    assert body["jwks"] == public_jwks(key)
    assert body["id_token_signed_response_alg"] == "ES256"


@pytest.mark.usefixtures("signing_keys")
@pytest.mark.parametrize("method", ["client_secret_basic", "none", "private_key_jwt"])
def test_registered_client_signs_a_citizen_in(app: Flask, client: FlaskClient, auth: Any,
                                              make_citizen: Any, token: str, method: str):
    key = ECKey.generate_key("P-256", parameters={"kid": "k1"})
    extra = {"jwks": public_jwks(key)} if method == "private_key_jwt" else {}
    body = post_register(client, token, {**PORTAL, "token_endpoint_auth_method": method,
                                         **extra}).json
    rp = App(body["client_id"], body.get("client_secret"), CALLBACK)
    sign_in(auth, make_citizen().cccd)
    got = tokens_for(client, rp, "openid profile phone",
                     key=key if method == "private_key_jwt" else None, issuer=ISSUER)
    claims = verify(client, got["id_token"], rp.client_id)
    assert claims["iss"] == ISSUER and claims["sid"]
    userinfo = client.get("/userinfo", headers=bearer(got["access_token"]))
    assert userinfo.status_code == 200 and userinfo.json["phone_number"].startswith("+84")


def test_pairwise_client_gets_the_redirect_host_as_sector(app: Flask, client: FlaskClient,
                                                          token: str):
    body = post_register(client, token, {**PORTAL, "subject_type": "pairwise"}).json
    assert body["subject_type"] == "pairwise"
    assert stored(app, body["client_id"]).sector_identifier == "dvc.example.vn"


def test_discovery_points_at_the_working_endpoint(client: FlaskClient, token: str):
    endpoint = client.get("/.well-known/openid-configuration").json["registration_endpoint"]
    assert endpoint == f"{ISSUER}/register"
    assert post_register(client, token, PORTAL).status_code == 201


def test_token_from_tnid_clients_registration_token_works(client: FlaskClient,
                                                          config: dict[str, Any]):
    result = CliRunner().invoke(cli, ["clients", "registration-token", "--json"], env=config)
    assert result.exit_code == 0, result.output
    made = json.loads(result.stdout)["initial_access_token"]
    assert post_register(client, made, PORTAL).status_code == 201


# --- refused metadata -----------------------------------------------------------------------------

@pytest.mark.parametrize(("changes", "error", "member"), [
    ({"redirect_uris": None}, "invalid_redirect_uri", "redirect_uris"),
    ({"redirect_uris": []}, "invalid_redirect_uri", "redirect_uris"),
    ({"redirect_uris": CALLBACK}, "invalid_redirect_uri", "redirect_uris"),
    ({"redirect_uris": [CALLBACK + "#x"]}, "invalid_redirect_uri", "redirect_uris"),
    ({"redirect_uris": ["https://*.example.vn/cb"]}, "invalid_redirect_uri", "redirect_uris"),
    ({"redirect_uris": ["javascript:alert(1)"]}, "invalid_redirect_uri", "redirect_uris"),
    ({"redirect_uris": [{"uri": CALLBACK}]}, "invalid_redirect_uri", "redirect_uris"),
    ({"redirect_uris": [CALLBACK] * 30}, "invalid_redirect_uri", "redirect_uris"),
    ({"post_logout_redirect_uris": ["https://a.vn/*"]}, "invalid_client_metadata",
     "post_logout_redirect_uris"),
    ({"backchannel_logout_uri": "ftp://dvc.example.vn/bc"}, "invalid_client_metadata",
     "backchannel_logout_uri"),
    ({"logo_uri": "http://dvc.example.vn/logo.png"}, "invalid_client_metadata", "logo_uri"),
    ({"client_name": None}, "invalid_client_metadata", "client_name"),
    ({"client_name": 42}, "invalid_client_metadata", "client_name"),
    ({"client_name": "x" * 500}, "invalid_client_metadata", "client_name"),
    ({"client_name": "a\u202eb"}, "invalid_client_metadata", "client_name"),
    ({"scope": "profile"}, "invalid_client_metadata", "scope"),
    ({"scope": "openid admin"}, "invalid_client_metadata", "scope"),
    ({"scope": ["openid"]}, "invalid_client_metadata", "scope"),
    ({"grant_types": ["implicit"]}, "invalid_client_metadata", "grant_types"),
    ({"grant_types": ["refresh_token"]}, "invalid_client_metadata", "grant_types"),
    ({"response_types": ["token"]}, "invalid_client_metadata", "response_types"),
    ({"response_types": ["code", "id_token"]}, "invalid_client_metadata", "response_types"),
    ({"response_types": []}, "invalid_client_metadata", "response_types"),
    ({"response_types": "code"}, "invalid_client_metadata", "response_types"),
    ({"token_endpoint_auth_method": "client_secret_jwt"}, "invalid_client_metadata",
     "token_endpoint_auth_method"),
    ({"token_endpoint_auth_method": "none", "grant_types": ["client_credentials"]},
     "invalid_client_metadata", "grant_types"),
    ({"token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata", "jwks"),
    ({"jwks": {"keys": []}}, "invalid_client_metadata", "jwks"),
    ({"token_endpoint_auth_method": "private_key_jwt",
      "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}, "invalid_client_metadata", "jwks"),
    ({"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "http://keys.vn/jwks",
      "jwks": {"keys": []}}, "invalid_client_metadata", "jwks"),
    ({"subject_type": "secret"}, "invalid_client_metadata", "subject_type"),
    ({"subject_type": "pairwise", "redirect_uris": [CALLBACK, "https://other.vn/cb"]},
     "invalid_client_metadata", "subject_type"),
    ({"subject_type": "pairwise", "sector_identifier_uri": "https://dvc.example.vn/s.json"},
     "invalid_client_metadata", "subject_type"),
    ({"id_token_signed_response_alg": "none"}, "invalid_client_metadata",
     "id_token_signed_response_alg"),
    ({"id_token_signed_response_alg": "HS256"}, "invalid_client_metadata",
     "id_token_signed_response_alg"),
])
def test_bad_metadata_is_refused_and_the_token_not_spent(app: Flask, client: FlaskClient,
                                                         token: str, changes: dict, error: str,
                                                         member: str):
    metadata = {k: v for k, v in {**PORTAL, **changes}.items() if v is not None}
    response = post_register(client, token, metadata)
    assert response.status_code == 400, response.json
    assert response.json["error"] == error
    description = response.json["error_description"]
    assert description.startswith(member + ":") and description.isascii()
    assert count(app) == 0
    assert post_register(client, token, PORTAL).status_code == 201  # its one use is intact


@pytest.mark.parametrize(("body", "content_type", "status", "error"), [
    ("client_name=x", "application/x-www-form-urlencoded", 400, "invalid_request"),
    (json.dumps(PORTAL), "text/plain", 400, "invalid_request"),
    (json.dumps(PORTAL), None, 400, "invalid_request"),
    ("{not json", "application/json", 400, "invalid_request"),
    ("", "application/json", 400, "invalid_request"),
    ('{"client_name": "a", "client_name": "b"}', "application/json", 400, "invalid_request"),
    ('{"client_name": NaN}', "application/json", 400, "invalid_request"),
    ("[" * 30_000 + "]" * 30_000, "application/json", 400, "invalid_request"),
    (b"\xff\xfe{}", "application/json", 400, "invalid_request"),
    ("[1, 2]", "application/json", 400, "invalid_client_metadata"),
    ('"text"', "application/json", 400, "invalid_client_metadata"),
    ("null", "application/json", 400, "invalid_client_metadata"),
    (json.dumps({**PORTAL, "client_name#en": "x" * 70_000}), "application/json", 413,
     "invalid_request"),
])
def test_unreadable_bodies_are_refused(app: Flask, client: FlaskClient, token: str, body: Any,
                                       content_type: str | None, status: int, error: str):
    headers = bearer(token) | ({"Content-Type": content_type} if content_type else {})
    response = client.post("/register", data=body, headers=headers)
    assert response.status_code == status
    assert response.is_json and response.json["error"] == error
    assert count(app) == 0


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_register_takes_post_only(client: FlaskClient, token: str, method: str):
    response = client.open("/register", method=method, headers=bearer(token))
    assert response.status_code == 405 and response.headers["Allow"] == "POST"
    assert response.json["error"] == "invalid_request"


# --- the initial access token ---------------------------------------------------------------------

@pytest.mark.parametrize("header", [
    None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer wrong-token",
    "Bearer " + "a" * 300, "Bearer two words", "Bearer \u00e9\u00e9",
])
def test_missing_or_wrong_initial_token_is_401(app: Flask, client: FlaskClient, token: str,
                                               header: str | None):
    headers = {"Authorization": header} if header is not None else {}
    response = client.post("/register", json=PORTAL, headers=headers)
    assert response.status_code == 401
    assert response.json["error"] == "invalid_token"
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    assert count(app) == 0


def test_expired_initial_token_is_401(app: Flask, client: FlaskClient):
    old = initial_token(app, lifetime=timedelta(minutes=1), now=utcnow() - timedelta(minutes=2))
    assert post_register(client, old, PORTAL).status_code == 401


def test_initial_token_is_spent_by_each_registration(app: Flask, client: FlaskClient):
    once, twice = initial_token(app), initial_token(app, uses=2)
    assert post_register(client, once, PORTAL).status_code == 201
    assert post_register(client, once, PORTAL).json["error"] == "invalid_token"
    assert post_register(client, twice, PORTAL).status_code == 201
    assert post_register(client, twice, PORTAL).status_code == 201
    assert post_register(client, twice, PORTAL).status_code == 401
    assert count(app) == 3
    with app.app_context():
        assert db.session.scalar(select(func.sum(InitialAccessToken.uses_left))) == 0


def test_two_registrations_racing_for_the_last_use_one_wins(app: Flask, live_server: str):
    last_use = initial_token(app)
    start, statuses = threading.Barrier(4), []

    def register_once() -> None:
        start.wait(10)
        statuses.append(requests.post(f"{live_server}/register", json=PORTAL, timeout=30,
                                      headers=bearer(last_use)).status_code)

    threads = [threading.Thread(target=register_once) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [201, 401, 401, 401]
    assert count(app) == 1


def test_registration_access_token_is_not_an_initial_token(client: FlaskClient,
                                                           registered: dict):
    response = post_register(client, registered["registration_access_token"], PORTAL)
    assert response.status_code == 401


def test_initial_token_is_not_a_registration_access_token(app: Flask, client: FlaskClient,
                                                          registered: dict):
    still_valid = initial_token(app, uses=5)
    response = client.get(f"/register/{registered['client_id']}", headers=bearer(still_valid))
    assert response.status_code == 401 and response.json["error"] == "invalid_token"


# --- RFC 7592: reading, replacing, deleting -------------------------------------------------------

def manage(http: FlaskClient, registered: dict, method: str = "GET", token: str | None = None,
           **kwargs: Any):  # noqa: ANN201
    return http.open(f"/register/{registered['client_id']}", method=method,
                     headers=bearer(token or registered["registration_access_token"]), **kwargs)


def replacement(registered: dict, **changes: Any) -> dict:
    return {"client_id": registered["client_id"], **PORTAL, **changes}


def test_client_reads_its_registration(client: FlaskClient, registered: dict):
    response = manage(client, registered)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    body = response.json
    assert "client_secret" not in body  # only its hash is kept
    expected = {k: v for k, v in registered.items() if k != "client_secret"}
    assert body == expected


def test_put_replaces_the_metadata_and_rotates_the_token(app: Flask, client: FlaskClient,
                                                         registered: dict):
    with app.app_context():  # the province made it first-party meanwhile
        row = clients.find_client(db.session, registered["client_id"])
        row.trusted, row.min_acr = True, "urn:tnid:acr:2"
        db.session.commit()
    new = replacement(registered, client_name="Cổng mới", redirect_uris=[CALLBACK + "2"],
                      trusted=False, min_acr=None)
    del new["post_logout_redirect_uris"]
    response = manage(client, registered, "PUT", json=new)
    assert response.status_code == 200, response.json
    body = response.json
    assert body["client_name"] == "Cổng mới" and body["redirect_uris"] == [CALLBACK + "2"]
    assert body["post_logout_redirect_uris"] == []  # replaced, not merged
    assert "client_secret" not in body  # the secret stays the same
    assert body["registration_access_token"] != registered["registration_access_token"]
    assert manage(client, registered).status_code == 401  # the old token is dead
    assert manage(client, registered, token=body["registration_access_token"]).status_code == 200
    row = stored(app, registered["client_id"])
    assert row.trusted is True and row.min_acr == "urn:tnid:acr:2"
    assert row.check_client_secret(registered["client_secret"])


def test_put_to_a_secret_method_issues_a_secret(app: Flask, client: FlaskClient, token: str):
    public = post_register(client, token, {**PORTAL, "token_endpoint_auth_method": "none"}).json
    response = manage(client, public, "PUT", json=replacement(
        public, token_endpoint_auth_method="client_secret_post"))
    assert response.status_code == 200, response.json
    secret = response.json["client_secret"]
    assert stored(app, public["client_id"]).check_client_secret(secret)


@pytest.mark.parametrize(("changes", "error"), [
    ({"client_id": None}, "invalid_request"),
    ({"client_id": "someone-else"}, "invalid_request"),
    ({"client_secret": "wrong"}, "invalid_request"),
    ({"client_secret": 12}, "invalid_request"),
    ({"registration_access_token": "x"}, "invalid_request"),
    ({"registration_client_uri": "x"}, "invalid_request"),
    ({"client_id_issued_at": 1}, "invalid_request"),
    ({"client_secret_expires_at": 0}, "invalid_request"),
    ({"redirect_uris": ["not a uri"]}, "invalid_redirect_uri"),
    ({"scope": "email"}, "invalid_client_metadata"),
])
def test_bad_put_changes_nothing(app: Flask, client: FlaskClient, registered: dict,
                                 changes: dict, error: str):
    new = {k: v for k, v in replacement(registered, **changes).items() if v is not None}
    response = manage(client, registered, "PUT", json=new)
    assert response.status_code == 400 and response.json["error"] == error
    assert manage(client, registered).json["client_name"] == PORTAL["client_name"]


def test_put_with_the_right_secret_is_accepted(client: FlaskClient, registered: dict):
    new = replacement(registered, client_secret=registered["client_secret"])
    assert manage(client, registered, "PUT", json=new).status_code == 200


def test_put_needs_json(client: FlaskClient, registered: dict):
    response = manage(client, registered, "PUT", data="a=b",
                      content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400 and response.json["error"] == "invalid_request"


def test_pairwise_put_keeps_the_sector(client: FlaskClient, token: str):
    market = post_register(client, token, {**PORTAL, "subject_type": "pairwise"}).json
    moved = replacement(market, subject_type="pairwise", redirect_uris=["https://cho.vn/cb"])
    response = manage(client, market, "PUT", json=moved)
    assert response.status_code == 400 and response.json["error"] == "invalid_client_metadata"
    same_host = replacement(market, subject_type="pairwise",
                            redirect_uris=["https://dvc.example.vn/new"])
    assert manage(client, market, "PUT", json=same_host).status_code == 200


@pytest.mark.usefixtures("signing_keys")
def test_delete_disables_the_client_and_revokes_its_tokens(app: Flask, client: FlaskClient,
                                                           token: str):
    body = post_register(client, token, {
        **PORTAL, "grant_types": ["authorization_code", "client_credentials"]}).json
    rp = App(body["client_id"], body["client_secret"], CALLBACK)
    token_request(client, rp, {"grant_type": "client_credentials"})
    response = manage(client, body, "DELETE")
    assert response.status_code == 204 and response.data == b""
    assert manage(client, body).status_code == 401
    assert manage(client, body, "DELETE").status_code == 401
    assert stored(app, rp.client_id).disabled_at is not None
    with app.app_context():
        live = select(func.count()).select_from(Token).where(Token.revoked_at.is_(None))
        assert db.session.scalar(live) == 0
    refused = client.post("/token", data={"grant_type": "client_credentials"},
                          headers=basic(rp.client_id, rp.secret))
    assert refused.status_code == 401


def test_another_clients_token_is_401(app: Flask, client: FlaskClient, registered: dict):
    other = post_register(client, initial_token(app), {**PORTAL, "client_name": "Khác"}).json
    for method in ("GET", "DELETE"):
        response = manage(client, registered, method, token=other["registration_access_token"])
        assert response.status_code == 401 and response.json["error"] == "invalid_token"
    response = manage(client, registered, "PUT", token=other["registration_access_token"],
                      json=replacement(registered))
    assert response.status_code == 401
    assert stored(app, registered["client_id"]).disabled_at is None


@pytest.mark.parametrize("path", ["unknown-client", "x" * 100, "%00"])
def test_unknown_client_is_the_same_401(client: FlaskClient, registered: dict, path: str):
    response = client.get(f"/register/{path}",
                          headers=bearer(registered["registration_access_token"]))
    assert response.status_code == 401 and response.json["error"] == "invalid_token"


def test_cli_client_cannot_be_managed(app: Flask, client: FlaskClient):
    with app.app_context():
        made, _ = clients.create_client(db.session, clients.ClientSpec(
            name_vi="CLI", redirect_uris=[CALLBACK]), production=False)
        db.session.commit()
        client_id = made.client_id
    response = client.get(f"/register/{client_id}", headers=bearer("anything"))
    assert response.status_code == 401


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_configuration_endpoint_methods(client: FlaskClient, registered: dict, method: str):
    response = manage(client, registered, method, json={})
    assert response.status_code == 405 and response.headers["Allow"] == "GET, PUT, DELETE"


def test_management_needs_the_bearer_header(client: FlaskClient, registered: dict):
    response = client.get(f"/register/{registered['client_id']}")
    assert response.status_code == 401 and "WWW-Authenticate" in response.headers


# --- production: the provider's own calls stay on the public internet -----------------------------

PRODUCTION = {"TNID_ENV": "production", "TNID_ISSUER": "https://id.example.vn",
              "TNID_ALLOW_SQLITE_IN_PRODUCTION": "1", "TNID_ARGON2_TIME_COST": "2",
              "TNID_ARGON2_MEMORY_KIB": "19456"}


@pytest.mark.parametrize(("member", "uri", "accepted"), [
    ("backchannel_logout_uri", "https://dvc.example.vn/bc", True),
    ("backchannel_logout_uri", "https://127.0.0.1/bc", False),
    ("backchannel_logout_uri", "http://127.0.0.1:9000/bc", False),
    ("backchannel_logout_uri", "https://10.1.2.3/bc", False),
    ("backchannel_logout_uri", "https://169.254.169.254/latest", False),
    ("backchannel_logout_uri", "https://[::1]/bc", False),
    ("backchannel_logout_uri", "https://localhost/bc", False),
    ("jwks_uri", "https://192.168.1.1/jwks", False),
    ("jwks_uri", "https://keys.example.vn/jwks", True),
])
def test_production_refuses_private_addresses_for_provider_calls(
        app_factory: Any, member: str, uri: str, accepted: bool):
    production = app_factory(**PRODUCTION)
    metadata = {**PORTAL, member: uri}
    if member == "jwks_uri":
        metadata["token_endpoint_auth_method"] = "private_key_jwt"
    response = post_register(production.test_client(), initial_token(production), metadata,
                             base_url="https://id.example.vn")
    assert response.status_code == (201 if accepted else 400), response.json
    if not accepted:
        assert response.json["error"] == "invalid_client_metadata"
        assert response.json["error_description"].startswith(member)
