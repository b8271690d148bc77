"""Discovery values of the authorization endpoint, subjects, ID tokens and claims, driven end
to end over HTTP; values not advertised are refused. test_discovery.py checks that every
member of the document has a test (here or in test_discovery_clients.py)."""

from __future__ import annotations

import json

import pytest
from joserfc import jws

from idp.services.identifiers import InvalidInput
from tests.support.oidc import authorize_query, pkce, register, verify
from tests.support.token_flows import (
    authorize,
    basic,
    bearer,
    endpoint,
    exchange,
    front,
    tokens_for,
)


@pytest.fixture
def citizen(make_citizen):
    return make_citizen(email="an@example.vn", identity_level=2)


def signed_in(client, rp, citizen) -> None:  # noqa: ANN001
    """Signed in, and agreed to what authorize_query asks by default."""
    tokens_for(client, rp, citizen.cccd, scope="openid profile")


# --- authorization endpoint -----------------------------------------------------------------------


@pytest.mark.parametrize("response_type", ["token", "id_token", "code id_token", "code token",
                                           "id_token token", "none", "CODE"])
def test_response_types(client, rp, citizen, doc, signing_keys, response_type):
    assert doc["response_types_supported"] == ["code"]
    assert doc["require_pushed_authorization_requests"] is False
    signed_in(client, rp, citizen)  # a plain front-channel request works (no PAR needed)
    got = front(client, rp, response_type=response_type, code_challenge=pkce()[1],
                code_challenge_method="S256")
    assert got["error"] == "unsupported_response_type" and "code" not in got


@pytest.mark.parametrize("mode", ["fragment", "form_post", "jwt", "query.jwt", "Query"])
def test_response_modes(client, rp, citizen, doc, signing_keys, mode):
    assert doc["response_modes_supported"] == ["query"]
    signed_in(client, rp, citizen)
    challenge = pkce()[1]
    ok = front(client, rp, response_mode="query", code_challenge=challenge,
               code_challenge_method="S256")
    assert "code" in ok
    refused = front(client, rp, response_mode=mode, code_challenge=challenge,
                    code_challenge_method="S256")
    assert refused["error"] == "invalid_request" and "code" not in refused


def test_code_challenge_methods(app, client, rp, citizen, doc, signing_keys):
    assert doc["code_challenge_methods_supported"] == ["S256"]
    signed_in(client, rp, citizen)
    verifier, challenge = pkce()
    got = front(client, rp, code_challenge=challenge, code_challenge_method="S256")
    assert exchange(client, rp, got["code"], verifier).status_code == 200
    for method in ("plain", "S512", "s256"):
        got = front(client, rp, code_challenge=verifier, code_challenge_method=method)
        assert got["error"] == "invalid_request", method
    public = register(app, name_vi="Ứng dụng di động", token_endpoint_auth_method="none")
    got = authorize(client, public, scope="openid")  # no PKCE from a public client
    assert got["error"] == "invalid_request"


def test_request_objects_are_refused(client, rp, citizen, doc, signing_keys):
    assert doc["request_parameter_supported"] is False
    assert doc["request_uri_parameter_supported"] is False
    signed_in(client, rp, citizen)
    got = front(client, rp, request="eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im9wZW5pZCJ9.",
                code_challenge=pkce()[1], code_challenge_method="S256")
    assert got["error"] == "request_not_supported"
    # A request_uri the PAR endpoint did not issue is never fetched, nor redirected.
    page = client.get(authorize_query(rp, request_uri="https://portal.example.vn/req.jwt"))
    assert page.status_code == 400 and "Location" not in page.headers


def test_pushed_authorization_request(client, rp, citizen, doc, signing_keys):
    signed_in(client, rp, citizen)
    verifier, challenge = pkce()
    params = {"response_type": "code", "client_id": rp.client_id, "scope": "openid profile",
              "redirect_uri": rp.redirect_uri, "state": "s1", "code_challenge": challenge,
              "code_challenge_method": "S256"}
    pushed = client.post(endpoint(doc, "pushed_authorization_request_endpoint"), data=params,
                         headers=basic(rp))
    assert pushed.status_code == 201 and pushed.json["expires_in"] > 0
    request_uri = pushed.json["request_uri"]
    assert request_uri.startswith("urn:ietf:params:oauth:request_uri:")
    got = authorize(client, rp, request_uri=request_uri, response_type=None, scope=None,
                    redirect_uri=None, state=None, nonce=None)
    assert got["state"] == "s1" and "code" in got
    assert exchange(client, rp, got["code"], verifier).status_code == 200
    again = client.get(authorize_query(rp, request_uri=request_uri, response_type=None,
                                       scope=None, redirect_uri=None))
    assert again.status_code == 400 and "Location" not in again.headers  # single use


def test_iss_in_every_response(client, rp, citizen, doc, signing_keys):
    assert doc["authorization_response_iss_parameter_supported"] is True
    fresh = client.application.test_client()
    error = front(fresh, rp, prompt="none", code_challenge=pkce()[1],
                  code_challenge_method="S256")
    assert error["error"] == "login_required" and error["iss"] == doc["issuer"]
    got = authorize(client, rp, identifier=citizen.cccd, scope="openid",
                    code_challenge=pkce()[1], code_challenge_method="S256")
    assert "code" in got and got["iss"] == doc["issuer"]


def test_acr_values(client, rp, citizen, doc, signing_keys):
    advertised = doc["acr_values_supported"]
    assert advertised == ["urn:tnid:acr:1", "urn:tnid:acr:2"]
    for acr in ["urn:tnid:acr:1", "urn:example:unknown"]:
        token = tokens_for(client, rp, citizen.cccd, scope="openid", acr_values=acr)
        # A wish: the ID token says what was achieved (OIDC Core §3.1.2.1), always advertised.
        assert verify(client, token["id_token"], rp.client_id)["acr"] in advertised
    # Two factors wished: the second factor is asked (tests/functional/auth/test_second_factor.py).
    wished = client.get(authorize_query(rp, scope="openid", acr_values="urn:tnid:acr:2",
                                        code_challenge=pkce()[1], code_challenge_method="S256"))
    assert "/login/second-factor" in wished.headers["Location"]
    essential = json.dumps({"id_token": {"acr": {"essential": True,
                                                 "value": "urn:example:unknown"}}})
    got = front(client, rp, claims=essential, code_challenge=pkce()[1],
                code_challenge_method="S256")
    assert got["error"] == "invalid_request"


def test_prompt_values(client, rp, citizen, doc, signing_keys):
    assert doc["prompt_values_supported"] == ["none", "login", "consent", "select_account"]
    fresh = client.application.test_client()
    assert front(fresh, rp, prompt="none", code_challenge=pkce()[1],
                 code_challenge_method="S256")["error"] == "login_required"
    tokens_for(client, rp, citizen.cccd, scope="openid profile")
    challenge = {"code_challenge": pkce()[1], "code_challenge_method": "S256"}
    assert "code" in front(client, rp, prompt="none", scope="openid profile", **challenge)
    screens = {"login": 'autocomplete="current-password"', "consent": 'name="decision"',
               "select_account": 'name="choice"'}
    for prompt, marker in screens.items():
        response = client.get(authorize_query(rp, prompt=prompt, scope="openid profile",
                                              **challenge))
        while response.status_code == 302 and not response.headers["Location"].startswith(
                rp.redirect_uri):
            response = client.get(response.headers["Location"])
        assert response.status_code == 200 and marker in response.text, prompt
    got = front(client, rp, prompt="create", **challenge)
    assert got["error"] == "invalid_request"


def test_ui_locales(app, rp, doc):
    assert doc["ui_locales_supported"] == ["vi", "en"]
    for wish, shown in [("vi", "vi"), ("en", "en"), ("en-US", "en"), ("fr en", "en"),
                        ("fr", "vi")]:
        browser = app.test_client()
        response = browser.get(authorize_query(rp, ui_locales=wish, code_challenge=pkce()[1],
                                               code_challenge_method="S256"))
        while response.status_code == 302:
            response = browser.get(response.headers["Location"])
        assert response.status_code == 200 and f'<html lang="{shown}"' in response.text, wish


def test_claims_and_display_parameters(client, rp, citizen, doc, signing_keys):
    assert doc["claims_locales_supported"] == ["vi"]
    assert doc["display_values_supported"] == ["page"]
    token = tokens_for(client, rp, citizen.cccd, scope="openid profile", claims_locales="vi",
                       display="page")
    info = client.get(endpoint(doc, "userinfo_endpoint"), headers=bearer(token["access_token"]))
    assert info.json["locale"] == "vi" and info.json["family_name"] == "Nguyễn"


def test_claims_parameter(client, rp, citizen, doc, signing_keys):
    assert doc["claims_parameter_supported"] is True
    asked = {"id_token": {"name": None, "cccd": {"essential": True}},
             "userinfo": {"phone_number": None}}
    token = tokens_for(client, rp, citizen.cccd, claims=json.dumps(asked))
    claims = verify(client, token["id_token"], rp.client_id)
    assert claims["name"] == "Nguyễn Văn An" and claims["cccd"] == citizen.cccd
    info = client.get(endpoint(doc, "userinfo_endpoint"), headers=bearer(token["access_token"]))
    assert set(info.json) == {"sub", "phone_number"}
    for bad in ("{not json", "[]", json.dumps({"userinfo": 5}),
                json.dumps({"id_token": {"name": 1}})):
        got = front(client, rp, claims=bad, code_challenge=pkce()[1],
                    code_challenge_method="S256")
        assert got["error"] == "invalid_request", bad


# --- subjects, ID tokens and claims ------------------------------------------------------------


def test_subject_types(app, client, citizen, doc, signing_keys):
    assert doc["subject_types_supported"] == ["public", "pairwise"]
    public = register(app)
    subs = {}
    for name, uri in [("a", "https://cho.example.vn/a"), ("b", "https://cho.example.vn/b"),
                      ("c", "https://suckhoe.example.vn/cb")]:
        rp = register(app, name_vi=name, subject_type="pairwise", redirect_uris=[uri])
        token = tokens_for(client, rp, citizen.cccd, scope="openid")
        subs[name] = verify(client, token["id_token"], rp.client_id)["sub"]
    token = tokens_for(client, public, citizen.cccd, scope="openid")
    assert verify(client, token["id_token"], public.client_id)["sub"] == str(citizen.id)
    assert subs["a"] == subs["b"] != subs["c"]  # one sector, one sub
    assert str(citizen.id) not in subs.values()


def test_id_token_signing_algs(app, client, citizen, doc, signing_keys):
    assert doc["id_token_signing_alg_values_supported"] == ["RS256", "ES256"]
    for alg in doc["id_token_signing_alg_values_supported"]:
        rp = register(app, name_vi=alg, id_token_signed_response_alg=alg)
        token = tokens_for(client, rp, citizen.cccd, scope="openid")
        assert jws.extract_compact(token["id_token"].encode()).headers()["alg"] == alg
        assert verify(client, token["id_token"], rp.client_id)["iss"] == doc["issuer"]
    for alg in ("HS256", "none", "PS256"):
        with pytest.raises(InvalidInput):
            register(app, id_token_signed_response_alg=alg)


def test_claims_supported_is_exactly_what_responses_carry(app, client, citizen, doc,
                                                          signing_keys):
    assert doc["claim_types_supported"] == ["normal"]
    rp = register(app)
    every_claim = {name: None for name in doc["claims_supported"]}
    asked = {"id_token": every_claim,
             "userinfo": {"verified_claims": {"claims": {"given_name": None}}}}
    token = tokens_for(client, rp, citizen.cccd, claims=json.dumps(asked))
    id_claims = verify(client, token["id_token"], rp.client_id)
    info = client.get(endpoint(doc, "userinfo_endpoint"), headers=bearer(token["access_token"]))
    assert not {"_claim_names", "_claim_sources"} & set(info.json)  # normal claims only
    # What a citizen who shared every scope can release (the userinfo asks nothing narrower).
    assert set(id_claims) | set(info.json) == set(doc["claims_supported"])


def test_verified_claims_metadata(app, client, citizen, doc, signing_keys):
    assert doc["verified_claims_supported"] is True
    rp = register(app)
    asked = {"userinfo": {"verified_claims": {"verification": {"trust_framework": None},
                                              "claims": {n: None for n in doc[
                                                  "claims_in_verified_claims_supported"]}}}}
    token = tokens_for(client, rp, citizen.cccd, claims=json.dumps(asked))
    verified = client.get(endpoint(doc, "userinfo_endpoint"),
                          headers=bearer(token["access_token"])).json["verified_claims"]
    verification = verified["verification"]
    assert [verification["trust_framework"]] == doc["trust_frameworks_supported"]
    assert {e["type"] for e in verification["evidence"]} == set(doc["evidence_supported"])
    assert {e["document_details"]["type"] for e in verification["evidence"]} == set(
        doc["documents_supported"])
    assert {c["check_method"] for e in verification["evidence"] for c in e["check_details"]} \
        == set(doc["documents_check_methods_supported"])
    assert set(verified["claims"]) == set(doc["claims_in_verified_claims_supported"])
