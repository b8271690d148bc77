"""Authorization code exchange at the token endpoint (RFC 6749 §4.1.3, OIDC Core §3.1.3): the
happy path for every client authentication method we advertise, and the ID token it returns
(OIDC Core §2, §3.1.3.6), checked against the published JWKS only."""

from __future__ import annotations

import base64
import hashlib
import uuid

import pytest
from sqlalchemy import select

from idp.extensions import db
from idp.models import AuditEvent, SsoSession, Token
from idp.services import audit, tokens
from idp.services.clock import epoch
from tests.support.oidc import verify
from tests.support.token_endpoint import (
    app_for,
    assertion,
    assertion_form,
    basic,
    code_form,
    decode_unverified,
    ec_key,
    exchange,
    get_code,
    issuer_of,
    jwks_server,
    jwks_url,
    public_set,
    sign_in,
)

ID_TOKEN_CLAIMS = {"iss", "sub", "aud", "azp", "exp", "iat", "auth_time", "nonce", "acr", "amr",
                   "sid", "at_hash"}


@pytest.fixture
def config(config):  # noqa: ANN001, ANN201 — every lifetime here is a configured one
    config.update(TNID_ID_TOKEN_LIFETIME_SECONDS="900", TNID_ACCESS_TOKEN_LIFETIME_SECONDS="420")
    return config


@pytest.fixture
def citizen(make_citizen, auth):  # noqa: ANN001, ANN201
    citizen = make_citizen()
    sign_in(auth, citizen)
    return citizen


def at_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def assert_token_response(response, *, refresh: bool = False) -> dict:  # noqa: ANN001
    assert response.status_code == 200, response.json
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    assert response.mimetype == "application/json"
    body = response.json
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 420
    assert ("refresh_token" in body) is refresh
    return body


def assert_userinfo_works(http, body: dict, sub: str) -> None:  # noqa: ANN001
    info = http.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.status_code == 200
    assert info.json["sub"] == sub


def test_client_secret_basic(app, client, citizen, signing_keys):
    rp = app_for(app)
    grant = get_code(client, rp)
    body = assert_token_response(exchange(client, rp, grant))
    assert body["scope"] == "openid profile"
    claims = verify(client, body["id_token"], rp.client_id)
    assert claims["sub"] == str(citizen.id)
    assert_userinfo_works(client, body, str(citizen.id))


def test_each_issuance_is_in_the_audit_trail_with_its_scopes(app, client, citizen,
                                                             signing_keys):
    rp = app_for(app)
    exchange(client, rp, get_code(client, rp))
    with app.app_context():
        entry = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "oidc:token:issued")).one()
        assert (entry.client_id, entry.citizen_id) == (rp.client_id, citizen.id)
        assert entry.details == {"grant_type": "authorization_code", "scope": "openid profile"}
        assert audit.verify_chain(db.session)[1] is None


def test_client_secret_post(app, client, citizen, signing_keys):
    rp = app_for(app, token_endpoint_auth_method="client_secret_post")
    grant = get_code(client, rp)
    response = client.post("/token", data={**code_form(rp, grant), "client_id": rp.client_id,
                                           "client_secret": rp.secret})
    body = assert_token_response(response)
    verify(client, body["id_token"], rp.client_id)
    assert_userinfo_works(client, body, str(citizen.id))


def test_public_client_with_pkce(app, client, citizen, signing_keys):
    rp = app_for(app, token_endpoint_auth_method="none")
    assert rp.secret is None
    grant = get_code(client, rp, scope="openid profile offline_access")
    response = client.post("/token", data={**code_form(rp, grant), "client_id": rp.client_id})
    body = assert_token_response(response, refresh=True)
    verify(client, body["id_token"], rp.client_id)
    assert_userinfo_works(client, body, str(citizen.id))


def test_private_key_jwt_with_registered_jwks(app, client, citizen, signing_keys):
    key = ec_key()
    rp = app_for(app, token_endpoint_auth_method="private_key_jwt", jwks=public_set(key))
    grant = get_code(client, rp)
    signed = assertion(rp.client_id, key, audience=f"{issuer_of(app)}/token")
    response = client.post("/token", data={**code_form(rp, grant), **assertion_form(signed)})
    body = assert_token_response(response)
    verify(client, body["id_token"], rp.client_id)


@pytest.mark.parametrize("audience", ["{issuer}/token", "{issuer}"])
def test_private_key_jwt_with_jwks_uri(app, client, citizen, signing_keys, audience):
    key = ec_key()
    with jwks_server(public_set(key)) as published:
        rp = app_for(app, token_endpoint_auth_method="private_key_jwt",
                     jwks_uri=jwks_url(published))
        grant = get_code(client, rp)
        signed = assertion(rp.client_id, key, audience=audience.format(issuer=issuer_of(app)))
        response = client.post("/token", data={**code_form(rp, grant), **assertion_form(signed)})
        body = assert_token_response(response)
        verify(client, body["id_token"], rp.client_id)
        assert published.hits >= 1


def test_jwks_uri_key_rotation_is_picked_up(app, client, citizen, signing_keys, monkeypatch):
    """The app rotates its key: an assertion with a kid we have not seen makes us read the
    key set again (at most every JWKS_URI_REFETCH_SECONDS; here at once)."""
    from idp.oidc import client_auth

    monkeypatch.setattr(client_auth, "JWKS_URI_REFETCH_SECONDS", 0)
    old, new = ec_key(), ec_key()
    with jwks_server(public_set(old)) as published:
        rp = app_for(app, token_endpoint_auth_method="private_key_jwt",
                     jwks_uri=jwks_url(published))
        audience = f"{issuer_of(app)}/token"
        grant = get_code(client, rp)
        first = client.post("/token", data={**code_form(rp, grant), **assertion_form(
            assertion(rp.client_id, old, audience=audience))})
        assert first.status_code == 200, first.json
        published.jwks = public_set(new)
        grant = get_code(client, rp)
        second = client.post("/token", data={**code_form(rp, grant), **assertion_form(
            assertion(rp.client_id, new, audience=audience))})
        assert second.status_code == 200, second.json


def test_es256_client_gets_an_es256_id_token(app, client, citizen, signing_keys):
    rp = app_for(app, id_token_signed_response_alg="ES256")
    body = assert_token_response(exchange(client, rp, get_code(client, rp)))
    header = decode_unverified(body["id_token"], part=0)
    assert header["alg"] == "ES256"
    published = {key["kid"]: key for key in client.get("/jwks").json["keys"]}
    assert published[header["kid"]]["kty"] == "EC"
    claims = verify(client, body["id_token"], rp.client_id)
    assert claims["at_hash"] == at_hash(body["access_token"])


def test_id_token_claims_are_exactly_the_specified_ones(app, client, citizen, signing_keys):
    rp = app_for(app)
    grant = get_code(client, rp)
    body = assert_token_response(exchange(client, rp, grant))
    claims = verify(client, body["id_token"], rp.client_id)
    with app.app_context():
        sso = db.session.scalar(select(SsoSession).where(SsoSession.citizen_id == citizen.id))
        expected = {"iss": issuer_of(app), "sub": str(citizen.id), "aud": rp.client_id,
                    "azp": rp.client_id, "auth_time": epoch(sso.auth_time),
                    "nonce": grant.nonce, "acr": sso.acr, "amr": list(sso.amr), "sid": sso.sid,
                    "at_hash": at_hash(body["access_token"])}
    assert set(claims) == ID_TOKEN_CLAIMS
    assert {k: claims[k] for k in expected} == expected
    assert claims["exp"] - claims["iat"] == 900
    assert claims["sub"] != citizen.cccd and citizen.cccd not in body["id_token"]
    assert uuid.UUID(claims["sub"]) == citizen.id


def test_pairwise_subject_differs_per_sector_and_is_stable(app, client, citizen, signing_keys):
    market = app_for(app, subject_type="pairwise", redirect_uris=["https://cho.example.vn/cb"])
    market_again = app_for(app, subject_type="pairwise",
                           redirect_uris=["https://cho.example.vn/other"])
    health = app_for(app, subject_type="pairwise", redirect_uris=["https://yte.example.vn/cb"])

    def sub(rp) -> str:  # noqa: ANN001
        body = assert_token_response(exchange(client, rp, get_code(client, rp)))
        return verify(client, body["id_token"], rp.client_id)["sub"]

    first, again, same_sector, other = sub(market), sub(market), sub(market_again), sub(health)
    assert first == again == same_sector
    assert first != other
    assert str(citizen.id) not in (first, other) and citizen.cccd not in (first, other)


def test_codes_and_tokens_are_stored_hashed(app, client, citizen, signing_keys):
    rp = app_for(app)
    grant = get_code(client, rp, scope="openid offline_access")
    body = assert_token_response(exchange(client, rp, grant), refresh=True)
    with app.app_context():
        row = db.session.scalar(select(Token).where(Token.client_id == rp.client_id))
        assert row.access_token_hash == tokens.digest(body["access_token"])
        assert row.refresh_token_hash == tokens.digest(body["refresh_token"])
        stored = " ".join(str(v) for v in row.__dict__.values())
        assert body["access_token"] not in stored and grant.code not in stored


def test_success_sets_no_cookie(app, client, citizen, signing_keys):
    rp = app_for(app)
    response = exchange(client, rp, get_code(client, rp))
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers


def test_basic_credentials_are_form_url_decoded(app, client, citizen, signing_keys):
    """RFC 6749 §2.3.1: id and secret are form-encoded before Base64 (authlib decodes)."""
    rp = app_for(app)
    grant = get_code(client, rp)
    encoded = basic(rp.client_id.replace("-", "%2D"), rp.secret.replace("_", "%5F"))
    response = client.post("/token", data=code_form(rp, grant), headers=encoded)
    assert_token_response(response)
