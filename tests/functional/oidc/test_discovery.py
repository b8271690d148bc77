"""Every value in the discovery document is true and tested (OIDC Discovery 1.0, RFC 8414).

This file checks the document itself, its endpoints and the JWKS, and that every member is
claimed by a test here or in test_discovery_values.py / test_discovery_clients.py (which drive
each advertised value end to end and show that values not advertised are refused).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from joserfc import jws

from tests.support.oidc import register
from tests.support.token_flows import ALL_SCOPES, bearer, tokens_for

# Each member of the document and the test that proves it (in one of the test_discovery*
# files). A member without an entry fails test_every_member_is_covered.
COVERED = {
    "issuer": "test_issuer_is_the_configured_one",
    "authorization_endpoint": "test_every_endpoint_lives_under_the_issuer_and_answers",
    "token_endpoint": "test_every_endpoint_lives_under_the_issuer_and_answers",
    "userinfo_endpoint": "test_every_endpoint_lives_under_the_issuer_and_answers",
    "jwks_uri": "test_jwks_publishes_rs256_and_es256_public_keys",
    "registration_endpoint": "test_every_endpoint_lives_under_the_issuer_and_answers",
    "revocation_endpoint": "test_every_endpoint_lives_under_the_issuer_and_answers",
    "introspection_endpoint": "test_every_endpoint_lives_under_the_issuer_and_answers",
    "pushed_authorization_request_endpoint": "test_pushed_authorization_request",
    "end_session_endpoint": "test_rp_initiated_logout",
    "scopes_supported": "test_every_scope_can_be_requested_and_granted",
    "response_types_supported": "test_response_types",
    "response_modes_supported": "test_response_modes",
    "grant_types_supported": "test_grant_types",
    "subject_types_supported": "test_subject_types",
    "id_token_signing_alg_values_supported": "test_id_token_signing_algs",
    "token_endpoint_auth_methods_supported": "test_token_endpoint_auth_methods",
    "token_endpoint_auth_signing_alg_values_supported": "test_private_key_jwt_algs",
    "revocation_endpoint_auth_methods_supported": "test_revocation_auth_methods",
    "revocation_endpoint_auth_signing_alg_values_supported": "test_private_key_jwt_algs",
    "introspection_endpoint_auth_methods_supported": "test_introspection_auth_methods",
    "introspection_endpoint_auth_signing_alg_values_supported": "test_private_key_jwt_algs",
    "code_challenge_methods_supported": "test_code_challenge_methods",
    "claims_supported": "test_claims_supported_is_exactly_what_responses_carry",
    "claim_types_supported": "test_claims_supported_is_exactly_what_responses_carry",
    "claims_parameter_supported": "test_claims_parameter",
    "request_parameter_supported": "test_request_objects_are_refused",
    "request_uri_parameter_supported": "test_request_objects_are_refused",
    "require_pushed_authorization_requests": "test_response_types",
    "authorization_response_iss_parameter_supported": "test_iss_in_every_response",
    "acr_values_supported": "test_acr_values",
    "prompt_values_supported": "test_prompt_values",
    "ui_locales_supported": "test_ui_locales",
    "claims_locales_supported": "test_claims_and_display_parameters",
    "display_values_supported": "test_claims_and_display_parameters",
    "backchannel_logout_supported": "test_backchannel_logout",
    "backchannel_logout_session_supported": "test_backchannel_logout",
    "frontchannel_logout_supported": "test_frontchannel_logout_is_not_offered",
    "verified_claims_supported": "test_verified_claims_metadata",
    "trust_frameworks_supported": "test_verified_claims_metadata",
    "evidence_supported": "test_verified_claims_metadata",
    "documents_supported": "test_verified_claims_metadata",
    "documents_check_methods_supported": "test_verified_claims_metadata",
    "claims_in_verified_claims_supported": "test_verified_claims_metadata",
}
# How each endpoint is called (RFC 6749, RFC 7009, RFC 7662, RFC 9126, RFC 7591, ...).
ENDPOINT_METHODS = {
    "authorization_endpoint": "GET", "token_endpoint": "POST", "userinfo_endpoint": "GET",
    "jwks_uri": "GET", "registration_endpoint": "POST", "revocation_endpoint": "POST",
    "introspection_endpoint": "POST", "pushed_authorization_request_endpoint": "POST",
    "end_session_endpoint": "GET",
}
REQUIRED = {"issuer", "authorization_endpoint", "token_endpoint", "jwks_uri",
            "response_types_supported", "subject_types_supported",
            "id_token_signing_alg_values_supported"}  # OIDC Discovery §3
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


@pytest.fixture
def doc(client) -> dict:
    return client.get("/.well-known/openid-configuration").json


def path_of(doc: dict, name: str) -> str:
    url = doc[name]
    assert url.startswith(doc["issuer"] + "/"), (name, url)
    return url[len(doc["issuer"]):]


def test_the_document_is_public_cacheable_json(client):
    response = client.get("/.well-known/openid-configuration")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert "max-age" in response.headers["Cache-Control"]
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert REQUIRED <= set(response.json)


def test_rfc8414_document_is_the_same(client, doc):
    response = client.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200 and response.json == doc


def test_every_member_is_covered(doc):
    assert set(doc) <= set(COVERED), set(doc) - set(COVERED)
    source = "".join(path.read_text()
                     for path in Path(__file__).parent.glob("test_discovery*.py"))
    missing = {name for name in COVERED.values() if f"def {name}(" not in source}
    assert not missing, missing


@pytest.mark.parametrize("issuer", ["https://id.thainguyen.example.vn",
                                    "https://sso.example.vn/tnid", "http://127.0.0.1:8080"])
def test_issuer_is_the_configured_one(app_factory, issuer):
    http = app_factory(TNID_ISSUER=issuer).test_client()
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        doc = http.get(path).json
        assert doc["issuer"] == issuer
        for name in ENDPOINT_METHODS:
            if name in doc:
                assert doc[name].startswith(issuer + "/"), doc[name]


def test_every_endpoint_lives_under_the_issuer_and_answers(client, doc, signing_keys):
    for name in {"authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
                 "revocation_endpoint", "introspection_endpoint",
                 "pushed_authorization_request_endpoint", "end_session_endpoint"}:
        assert name in doc, name
    advertised = {k for k in doc if k.endswith("_endpoint") or k == "jwks_uri"}
    assert advertised <= set(ENDPOINT_METHODS), advertised - set(ENDPOINT_METHODS)
    for name in advertised:
        response = client.open(path_of(doc, name), method=ENDPOINT_METHODS[name])
        assert response.status_code not in (404, 405), (name, response.status_code)
        assert response.status_code < 500, (name, response.status_code)


def test_endpoints_not_advertised_are_not_served(client, doc):
    """An endpoint is in the document exactly when the app routes it (no dead links)."""
    if "registration_endpoint" not in doc:
        assert client.post("/register", json={}).status_code in (404, 405)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_the_documents_are_read_only(client, method):
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server",
                 "/jwks"):
        response = client.open(path, method=method)
        assert response.status_code == 405 and response.mimetype == "application/json"
        assert response.headers["Allow"] == "GET"


def test_jwks_publishes_rs256_and_es256_public_keys(client, doc, signing_keys):
    response = client.get(path_of(doc, "jwks_uri"))
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert "max-age" in response.headers["Cache-Control"]
    keys = response.json["keys"]
    kids = [key["kid"] for key in keys]
    assert len(kids) == len(set(kids))
    for key in keys:
        assert key["use"] == "sig" and key["alg"] in ("RS256", "ES256") and key["kid"]
        assert not PRIVATE_MEMBERS & set(key), key["kid"]
        assert key["kty"] == {"RS256": "RSA", "ES256": "EC"}[key["alg"]]
        if key["kty"] == "EC":
            assert key["crv"] == "P-256"
    # Every advertised ID token algorithm has a key; the next key is published before use.
    for alg in doc["id_token_signing_alg_values_supported"]:
        assert sum(key["alg"] == alg for key in keys) >= 2, alg


def test_id_tokens_name_a_published_key(app, client, make_citizen, doc, signing_keys):
    rp = register(app)
    token = tokens_for(client, rp, make_citizen().cccd, scope="openid")
    header = jws.extract_compact(token["id_token"].encode()).headers()
    kids = {key["kid"] for key in client.get(path_of(doc, "jwks_uri")).json["keys"]}
    assert header["kid"] in kids and header["alg"] == "RS256"


def test_every_scope_can_be_requested_and_granted(app, client, make_citizen, doc,
                                                  signing_keys):
    scopes = doc["scopes_supported"]
    assert set(scopes) == set(ALL_SCOPES.split())
    rp = register(app, scope=" ".join(scopes))
    token = tokens_for(client, rp, make_citizen(email="an@example.vn").cccd,
                       scope=" ".join(scopes))
    assert set(token["scope"].split()) == set(scopes)
    assert "refresh_token" in token and "id_token" in token  # offline_access, openid
    info = client.get(path_of(doc, "userinfo_endpoint"), headers=bearer(token["access_token"]))
    assert {"name", "email", "phone_number", "address", "cccd"} <= set(info.json)
