"""Discovery values of the token, revocation and introspection endpoints (grants, client
authentication and its algorithms) and of logout, driven end to end over HTTP; values not
advertised are refused. test_discovery.py checks that every member has a test."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jws
from joserfc.jwk import OctKey, RSAKey

from tests.support.oidc import pkce, query_of, register, verify
from tests.support.token_flows import (
    assertion,
    authorize,
    basic,
    bearer,
    client_keys,
    endpoint,
    exchange,
    front,
    public_jwks,
    refresh,
    secret_post,
    token_request,
    tokens_for,
)

_KEYS: dict[str, object] = {}  # RSA generation is slow: one client key per alg per run


def key_for(alg: str):  # noqa: ANN201
    if alg not in _KEYS:
        _KEYS[alg] = client_keys(alg)
    return _KEYS[alg]


@pytest.fixture
def citizen(make_citizen):
    return make_citizen(email="an@example.vn", identity_level=2)


# --- token endpoint: grants and client authentication --------------------------------------------


def test_grant_types(app, client, rp, citizen, doc, signing_keys):
    assert doc["grant_types_supported"] == ["authorization_code", "refresh_token",
                                            "client_credentials"]
    first = tokens_for(client, rp, citizen.cccd)  # authorization_code
    renewed = refresh(client, rp, first["refresh_token"])
    assert renewed.status_code == 200 and renewed.json["refresh_token"] != first["refresh_token"]
    service = register(app, name_vi="Dịch vụ", grant_types=["authorization_code",
                                                             "client_credentials"])
    credentials = token_request(client, service, {"grant_type": "client_credentials"})
    assert credentials.status_code == 200 and "refresh_token" not in credentials.json
    for grant in ("password", "implicit", "urn:ietf:params:oauth:grant-type:device_code",
                  "urn:ietf:params:oauth:grant-type:jwt-bearer",
                  "urn:ietf:params:oauth:grant-type:token-exchange"):
        response = token_request(client, rp, {"grant_type": grant, "username": citizen.cccd,
                                              "password": "x"})
        assert response.status_code == 400, grant
        assert response.json["error"] == "unsupported_grant_type", grant


def authenticated_app(app, method: str, alg: str = "ES256"):  # noqa: ANN001, ANN201
    """An app registered with ``method`` and the form fields to authenticate it at ``aud``."""
    extra = {"jwks": public_jwks(key_for(alg))} if method == "private_key_jwt" else {}
    rp = register(app, name_vi=f"{method} {alg}", token_endpoint_auth_method=method, **extra)

    def fields(audience: str) -> dict[str, str] | None:
        if method == "private_key_jwt":
            return assertion(rp.client_id, audience, key_for(alg), alg)
        if method == "client_secret_post":
            return secret_post(rp)
        if method == "none":
            return {"client_id": rp.client_id}
        return None  # client_secret_basic: the Authorization header

    return rp, fields


def call(client, rp, path: str, data: dict, fields: dict | None):  # noqa: ANN001, ANN201
    if fields is None:
        return client.post(path, data=data, headers=basic(rp))
    return client.post(path, data={**data, **fields})


def test_token_endpoint_auth_methods(app, client, citizen, doc, signing_keys):
    methods = doc["token_endpoint_auth_methods_supported"]
    assert methods == ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
    for method in methods:
        rp, fields = authenticated_app(app, method)
        token = tokens_for(client, rp, citizen.cccd, scope="openid",
                           auth=fields(doc["token_endpoint"]))
        assert verify(client, token["id_token"], rp.client_id)["aud"] == rp.client_id
    # client_secret_jwt (an HMAC over the client secret) is not offered.
    rp = register(app, name_vi="jwt")
    hmac_key = OctKey.import_key(rp.secret.encode())
    forged = assertion(rp.client_id, doc["token_endpoint"], hmac_key, "HS256")
    verifier, challenge = pkce()
    got = authorize(client, rp, scope="openid", code_challenge=challenge,
                    code_challenge_method="S256")
    response = exchange(client, rp, got["code"], verifier, forged)
    assert response.status_code in (400, 401) and response.json["error"] == "invalid_client"


def test_private_key_jwt_algs(app, client, citizen, doc, signing_keys):
    algs = doc["token_endpoint_auth_signing_alg_values_supported"]
    assert algs == ["RS256", "ES256"]
    assert doc["revocation_endpoint_auth_signing_alg_values_supported"] == algs
    assert doc["introspection_endpoint_auth_signing_alg_values_supported"] == algs
    for alg in algs:
        rp, fields = authenticated_app(app, "private_key_jwt", alg)
        token = tokens_for(client, rp, citizen.cccd, auth=fields(doc["token_endpoint"]))
        seen = call(client, rp, endpoint(doc, "introspection_endpoint"),
                    {"token": token["access_token"]}, fields(doc["introspection_endpoint"]))
        assert seen.json["active"] is True, alg
        gone = call(client, rp, endpoint(doc, "revocation_endpoint"),
                    {"token": token["refresh_token"]}, fields(doc["revocation_endpoint"]))
        assert gone.status_code == 200, alg
        assert client.get("/userinfo", headers=bearer(token["access_token"])).status_code == 401
    # Algorithms not advertised, and a replayed assertion, are refused.
    rsa, fields = authenticated_app(app, "private_key_jwt", "RS256")
    same_key = key_for("RS256").as_dict(private=True)
    same_key.pop("alg")  # the registered key, free to sign with another algorithm
    for alg in ("PS256", "RS512"):
        bad = assertion(rsa.client_id, doc["introspection_endpoint"],
                        RSAKey.import_key(same_key), alg)
        response = call(client, rsa, endpoint(doc, "introspection_endpoint"), {"token": "x"}, bad)
        assert response.json["error"] == "invalid_client", alg
    once = fields(doc["introspection_endpoint"])
    first = call(client, rsa, endpoint(doc, "introspection_endpoint"), {"token": "x"}, once)
    replay = call(client, rsa, endpoint(doc, "introspection_endpoint"), {"token": "x"}, once)
    assert first.status_code == 200 and replay.json["error"] == "invalid_client"


def test_revocation_auth_methods(app, client, citizen, doc, signing_keys):
    methods = doc["revocation_endpoint_auth_methods_supported"]
    assert methods == doc["token_endpoint_auth_methods_supported"]
    for method in methods:
        rp, fields = authenticated_app(app, method)
        token = tokens_for(client, rp, citizen.cccd, scope="openid",
                           auth=fields(doc["token_endpoint"]))
        response = call(client, rp, endpoint(doc, "revocation_endpoint"),
                        {"token": token["access_token"]}, fields(doc["revocation_endpoint"]))
        assert response.status_code == 200, method
        assert client.get("/userinfo", headers=bearer(token["access_token"])).status_code \
            == 401, method


def test_introspection_auth_methods(app, client, citizen, doc, signing_keys):
    methods = doc["introspection_endpoint_auth_methods_supported"]
    assert methods == ["client_secret_basic", "client_secret_post", "private_key_jwt"]
    for method in [*methods, "none"]:
        rp, fields = authenticated_app(app, method)
        token = tokens_for(client, rp, citizen.cccd, scope="openid",
                           auth=fields(doc["token_endpoint"]))
        response = call(client, rp, endpoint(doc, "introspection_endpoint"),
                        {"token": token["access_token"]}, fields(doc["introspection_endpoint"]))
        if method == "none":  # not advertised: public clients cannot introspect
            assert response.json["error"] == "invalid_client"
        else:
            assert response.json["active"] is True, method



def test_introspection_auth_methods_naming_the_client_in_the_form(app, client, citizen, doc,
                                                                   signing_keys):
    """With ``client_id`` in the form, introspection reads the client and the token in one
    statement (only the columns authentication needs): every method still authenticates,
    a wrong secret or a replayed assertion still fails."""
    for method in ("client_secret_basic", "client_secret_post", "private_key_jwt"):
        rp, fields = authenticated_app(app, method)
        token = tokens_for(client, rp, citizen.cccd, scope="openid",
                           auth=fields(doc["token_endpoint"]))
        once = {"client_id": rp.client_id, **(fields(doc["introspection_endpoint"]) or {})}
        path = endpoint(doc, "introspection_endpoint")
        first = call(client, rp, path, {"token": token["access_token"]}, once) \
            if method != "client_secret_basic" else \
            client.post(path, data={"token": token["access_token"], "client_id": rp.client_id},
                        headers=basic(rp))
        assert first.json["active"] is True, method
        assert first.json["client_id"] == rp.client_id, method
        if method == "private_key_jwt":
            replay = call(client, rp, path, {"token": token["access_token"]}, once)
            assert replay.json["error"] == "invalid_client"
        elif method == "client_secret_post":
            wrong = call(client, rp, path, {"token": token["access_token"]},
                         {**once, "client_secret": "not-the-secret"})
            assert wrong.json["error"] == "invalid_client"

# --- logout --------------------------------------------------------------------------------------


def test_rp_initiated_logout(app, client, citizen, doc, signing_keys):
    rp = register(app, post_logout_redirect_uris=["https://portal.example.vn/bye"])
    token = tokens_for(client, rp, citizen.cccd, scope="openid")
    response = client.get(endpoint(doc, "end_session_endpoint"), query_string={
        "id_token_hint": token["id_token"], "state": "bye-1",
        "post_logout_redirect_uri": "https://portal.example.vn/bye"})
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == \
        "https://portal.example.vn/bye"
    assert query_of(response.headers["Location"])["state"] == "bye-1"
    got = front(client, rp, prompt="none", code_challenge=pkce()[1],
                code_challenge_method="S256")
    assert got["error"] == "login_required"


class LogoutReceiver:
    """A relying app's back-channel logout URI on a real loopback port (OIDC Back-Channel
    Logout §2.5): records each POST body and answers 200."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 — http.server's name
                length = int(self.headers.get("Content-Length", "0"))
                received.append((self.headers.get("Content-Type"),
                                 parse_qs(self.rfile.read(length).decode())))
                self.send_response(200)
                self.send_header("Cache-Control", "no-store")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.uri = f"http://127.0.0.1:{self.server.server_port}/backchannel-logout"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def inline_logout(config):
    """Logout tokens sent before the sign-out response: the test need not wait for them."""
    config["TNID_LOGOUT_DELIVERY"] = "inline"


@pytest.fixture
def receiver():
    server = LogoutReceiver()
    yield server
    server.close()


def test_backchannel_logout(inline_logout, app, client, auth, citizen, receiver, signing_keys):
    doc = client.get("/.well-known/openid-configuration").json
    assert doc["backchannel_logout_supported"] is True
    assert doc["backchannel_logout_session_supported"] is True
    rp = register(app, backchannel_logout_uri=receiver.uri)
    token = tokens_for(client, rp, citizen.cccd, scope="openid")
    id_claims = verify(client, token["id_token"], rp.client_id)
    assert id_claims["sid"]  # the session the logout token will name
    auth.logout()
    assert len(receiver.received) == 1
    content_type, form = receiver.received[0]
    assert content_type == "application/x-www-form-urlencoded"
    logout_token = form["logout_token"][0]
    assert jws.extract_compact(logout_token.encode()).headers()["typ"] == "logout+jwt"
    claims = verify(client, logout_token, rp.client_id)
    assert claims["iss"] == doc["issuer"] and claims["sid"] == id_claims["sid"]
    assert claims["sub"] == id_claims["sub"] and claims["jti"] and claims["iat"]
    assert claims["events"] == {"http://schemas.openid.net/event/backchannel-logout": {}}
    assert "nonce" not in claims
    assert client.get("/userinfo", headers=bearer(token["access_token"])).status_code == 401


def test_frontchannel_logout_is_not_offered(doc):
    assert doc["frontchannel_logout_supported"] is False
    assert "frontchannel_logout_session_supported" not in doc
    assert "check_session_iframe" not in doc
