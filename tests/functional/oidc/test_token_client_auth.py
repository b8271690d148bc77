"""Client authentication at the token endpoint (RFC 6749 §2.3, §5.2; RFC 7523 §3; OIDC Core
§9): wrong and missing credentials, mixed methods, and forged, stale or replayed
``private_key_jwt`` assertions. Each refusal is ``invalid_client`` and spends nothing: the app
can still exchange its code afterwards."""

from __future__ import annotations

import base64
import time

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.support.token_endpoint import (
    ASSERTION_TYPE,
    app_for,
    assertion,
    assertion_form,
    basic,
    code_form,
    ec_key,
    get_code,
    issuer_of,
    jwks_server,
    jwks_url,
    public_set,
    sign_in,
)


@pytest.fixture
def browser(client, make_citizen, auth):  # noqa: ANN001, ANN201
    sign_in(auth, make_citizen())
    return client


def assert_invalid_client(response, status: int = 401) -> None:  # noqa: ANN001
    assert response.status_code == status, response.json
    assert response.json["error"] == "invalid_client"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Basic ")


def test_wrong_secret_with_basic_is_401_with_www_authenticate(app, browser, signing_keys):
    rp = app_for(app)
    grant = get_code(browser, rp)
    response = browser.post("/token", data=code_form(rp, grant),
                            headers=basic(rp.client_id, "wrong-" + rp.secret))
    assert_invalid_client(response)
    ok = browser.post("/token", data=code_form(rp, grant), headers=basic(rp.client_id, rp.secret))
    assert ok.status_code == 200


def test_wrong_secret_with_post(app, browser, signing_keys):
    rp = app_for(app, token_endpoint_auth_method="client_secret_post")
    grant = get_code(browser, rp)
    response = browser.post("/token", data={**code_form(rp, grant), "client_id": rp.client_id,
                                            "client_secret": "wrong"})
    assert_invalid_client(response)


@pytest.mark.parametrize("how", ["basic", "post", "none"])
def test_unknown_client(app, browser, signing_keys, how):
    rp = app_for(app)
    form = code_form(rp, get_code(browser, rp))
    if how == "basic":
        response = browser.post("/token", data=form, headers=basic("no-such-app", "secret"))
    elif how == "post":
        response = browser.post("/token", data={**form, "client_id": "no-such-app",
                                                "client_secret": "secret"})
    else:
        response = browser.post("/token", data={**form, "client_id": "no-such-app"})
    assert response.json["error"] == "invalid_client"
    assert response.status_code in (400, 401)
    if how == "basic":
        assert_invalid_client(response)


def test_no_client_authentication_at_all(app, browser, signing_keys):
    rp = app_for(app)
    assert_invalid_client(browser.post("/token", data=code_form(rp, get_code(browser, rp))))


def test_secret_in_header_and_body_is_refused(app, browser, signing_keys):
    rp = app_for(app)
    grant = get_code(browser, rp)
    response = browser.post("/token", data={**code_form(rp, grant), "client_id": rp.client_id,
                                            "client_secret": rp.secret},
                            headers=basic(rp.client_id, rp.secret))
    assert response.status_code == 400
    assert response.json["error"] == "invalid_request"
    assert browser.post("/token", data=code_form(rp, grant),
                        headers=basic(rp.client_id, rp.secret)).status_code == 200


def test_client_id_in_body_must_name_the_authenticated_client(app, browser, signing_keys):
    rp, other = app_for(app), app_for(app)
    grant = get_code(browser, rp)
    response = browser.post("/token", data={**code_form(rp, grant), "client_id": other.client_id},
                            headers=basic(rp.client_id, rp.secret))
    assert_invalid_client(response)
    same = browser.post("/token", data={**code_form(rp, grant), "client_id": rp.client_id},
                        headers=basic(rp.client_id, rp.secret))
    assert same.status_code == 200


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post",
                                    "private_key_jwt"])
def test_confidential_client_cannot_use_method_none(app, browser, signing_keys, method):
    spec = {"jwks": public_set(ec_key())} if method == "private_key_jwt" else {}
    rp = app_for(app, token_endpoint_auth_method=method, **spec)
    response = browser.post("/token", data={**code_form(rp, get_code(browser, rp)),
                                            "client_id": rp.client_id})
    assert_invalid_client(response)


def test_basic_client_cannot_switch_to_post(app, browser, signing_keys):
    rp = app_for(app)
    response = browser.post("/token", data={**code_form(rp, get_code(browser, rp)),
                                            "client_id": rp.client_id, "client_secret": rp.secret})
    assert_invalid_client(response)


@pytest.mark.parametrize("header", [
    "Basic", "Basic !!!not-base64!!!", "Basic " + base64.b64encode(b"\xff\xfe:\xfd").decode(),
    "Basic " + base64.b64encode(b"no-colon").decode(), "Basic w6k=:é", "Basic " + "A" * 5000,
])
def test_malformed_basic_header(app, browser, signing_keys, header):
    rp = app_for(app)
    response = browser.post("/token", data=code_form(rp, get_code(browser, rp)),
                            headers={"Authorization": header})
    assert_invalid_client(response)


# --- private_key_jwt ---------------------------------------------------------------------------


@pytest.fixture
def key():  # noqa: ANN201
    return ec_key()


@pytest.fixture
def jwt_app(app, key):  # noqa: ANN001, ANN201
    return app_for(app, token_endpoint_auth_method="private_key_jwt", jwks=public_set(key))


def post_assertion(http, rp, grant, signed: str, **extra: str):  # noqa: ANN001, ANN201
    return http.post("/token", data={**code_form(rp, grant), **assertion_form(signed), **extra})


def now() -> int:
    return int(time.time())


@pytest.mark.parametrize("problem", [
    "wrong_key", "expired", "wrong_audience", "iss_not_sub", "no_jti", "too_long",
    "future_nbf", "other_client_sub", "no_exp",
])
def test_bad_client_assertion(app, browser, signing_keys, key, jwt_app, problem):
    audience = f"{issuer_of(app)}/token"
    other = app_for(app, token_endpoint_auth_method="private_key_jwt", jwks=public_set(ec_key()))
    signed = {
        "wrong_key": lambda: assertion(jwt_app.client_id, ec_key(key.kid), audience=audience),
        "expired": lambda: assertion(jwt_app.client_id, key, audience=audience,
                                     iat=now() - 600, exp=now() - 300),
        "wrong_audience": lambda: assertion(jwt_app.client_id, key,
                                            audience="https://elsewhere.example.vn/token"),
        "iss_not_sub": lambda: assertion(jwt_app.client_id, key, audience=audience,
                                         iss=other.client_id),
        "no_jti": lambda: assertion(jwt_app.client_id, key, audience=audience, jti=None),
        "too_long": lambda: assertion(jwt_app.client_id, key, audience=audience,
                                      lifetime=7 * 24 * 3600),
        "future_nbf": lambda: assertion(jwt_app.client_id, key, audience=audience,
                                        nbf=now() + 600),
        "other_client_sub": lambda: assertion(other.client_id, key, audience=audience),
        "no_exp": lambda: assertion(jwt_app.client_id, key, audience=audience, exp=None),
    }[problem]
    grant = get_code(browser, jwt_app)
    response = post_assertion(browser, jwt_app, grant, signed())
    assert response.json["error"] == "invalid_client", response.json
    assert response.headers["Cache-Control"] == "no-store"
    good = assertion(jwt_app.client_id, key, audience=audience)
    assert post_assertion(browser, jwt_app, grant, good).status_code == 200


def test_replayed_assertion_is_refused(app, browser, signing_keys, key, jwt_app):
    signed = assertion(jwt_app.client_id, key, audience=f"{issuer_of(app)}/token")
    assert post_assertion(browser, jwt_app, get_code(browser, jwt_app), signed).status_code == 200
    replay = post_assertion(browser, jwt_app, get_code(browser, jwt_app), signed)
    assert replay.status_code in (400, 401)
    assert replay.json["error"] == "invalid_client"


def test_same_jti_for_another_client_is_not_a_replay(app, browser, signing_keys, key, jwt_app):
    other_key = ec_key()
    other = app_for(app, token_endpoint_auth_method="private_key_jwt", jwks=public_set(other_key))
    audience = f"{issuer_of(app)}/token"
    mine = assertion(jwt_app.client_id, key, audience=audience, jti="shared-jti")
    theirs = assertion(other.client_id, other_key, audience=audience, jti="shared-jti")
    assert post_assertion(browser, jwt_app, get_code(browser, jwt_app), mine).status_code == 200
    assert post_assertion(browser, other, get_code(browser, other), theirs).status_code == 200


@pytest.mark.parametrize("signed", [
    "", "not-a-jwt", "a.b.c", "e30.e30.", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
    base64.urlsafe_b64encode(b"\x00" * 300).decode(), "é.é.é", "..", "x" * 4000,
])
def test_malformed_assertion(app, browser, signing_keys, jwt_app, signed):
    response = post_assertion(browser, jwt_app, get_code(browser, jwt_app), signed)
    assert response.status_code in (400, 401)
    assert response.json["error"] == "invalid_client"


def test_unsigned_assertion_with_alg_none(app, browser, signing_keys, jwt_app):
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    claims = (f'{{"iss":"{jwt_app.client_id}","sub":"{jwt_app.client_id}",'
              f'"aud":"{issuer_of(app)}/token","exp":{now() + 60},"jti":"x1"}}')
    header = b64(b'{"alg":"none"}')
    signed = f"{header}.{b64(claims.encode())}."
    response = post_assertion(browser, jwt_app, get_code(browser, jwt_app), signed)
    assert response.json["error"] == "invalid_client"


def test_wrong_assertion_type(app, browser, signing_keys, key, jwt_app):
    signed = assertion(jwt_app.client_id, key, audience=f"{issuer_of(app)}/token")
    response = browser.post("/token", data={
        **code_form(jwt_app, get_code(browser, jwt_app)),
        "client_assertion_type": ASSERTION_TYPE + "-not", "client_assertion": signed})
    assert response.json["error"] == "invalid_client"


def test_assertion_and_secret_together_are_refused(app, browser, signing_keys, key, jwt_app):
    signed = assertion(jwt_app.client_id, key, audience=f"{issuer_of(app)}/token")
    response = post_assertion(browser, jwt_app, get_code(browser, jwt_app), signed,
                              client_secret="anything")
    assert response.json["error"] == "invalid_request"


def test_rsa_client_key(app, browser, signing_keys):
    rsa = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})
    rp = app_for(app, token_endpoint_auth_method="private_key_jwt", jwks=public_set(rsa))
    signed = assertion(rp.client_id, rsa, audience=f"{issuer_of(app)}/token")
    assert post_assertion(browser, rp, get_code(browser, rp), signed).status_code == 200
    ps256 = jwt.encode({"alg": "PS256", "kid": "rsa-1"}, {
        "iss": rp.client_id, "sub": rp.client_id, "aud": f"{issuer_of(app)}/token",
        "exp": now() + 60, "jti": "ps"}, rsa, algorithms=["PS256"])
    refused = post_assertion(browser, rp, get_code(browser, rp), ps256)
    assert refused.json["error"] == "invalid_client"  # not in the advertised algorithms


def test_unreachable_jwks_uri(app, browser, signing_keys, key):
    with jwks_server(public_set(key)) as published:
        uri = jwks_url(published)
    rp = app_for(app, token_endpoint_auth_method="private_key_jwt", jwks_uri=uri)
    signed = assertion(rp.client_id, key, audience=f"{issuer_of(app)}/token")
    response = post_assertion(browser, rp, get_code(browser, rp), signed)
    assert response.json["error"] == "invalid_client"


def test_jwks_uri_serving_garbage(app, browser, signing_keys, key):
    with jwks_server({"keys": [{"kty": "nonsense"}]}) as published:
        rp = app_for(app, token_endpoint_auth_method="private_key_jwt",
                     jwks_uri=jwks_url(published))
        signed = assertion(rp.client_id, key, audience=f"{issuer_of(app)}/token")
        response = post_assertion(browser, rp, get_code(browser, rp), signed)
    assert response.json["error"] == "invalid_client"


@pytest.mark.parametrize("misbehaviour", ["huge", "redirect", "server_error", "not_json"])
def test_misbehaving_jwks_uri(app, browser, signing_keys, key, misbehaviour):
    with jwks_server(public_set(key)) as published, jwks_server(public_set(key)) as good:
        if misbehaviour == "huge":
            published.raw = b'{"keys": [], "padding": "' + b"x" * 70_000 + b'"}'
        elif misbehaviour == "redirect":
            published.status, published.location = 302, jwks_url(good)
        elif misbehaviour == "server_error":
            published.status = 500
        else:
            published.raw = b"<html>not a key set</html>"
        rp = app_for(app, token_endpoint_auth_method="private_key_jwt",
                     jwks_uri=jwks_url(published))
        signed = assertion(rp.client_id, key, audience=f"{issuer_of(app)}/token")
        response = post_assertion(browser, rp, get_code(browser, rp), signed)
        assert response.json["error"] == "invalid_client"
        assert good.hits == 0


def test_assertion_jti_with_control_characters_is_refused_not_a_crash(app, browser,
                                                                     signing_keys):
    """PostgreSQL cannot store NUL in text: such a jti must be an invalid_client, not a 500."""
    rsa = RSAKey.generate_key(2048, parameters={"kid": "rsa-nul"})
    rp = app_for(app, token_endpoint_auth_method="private_key_jwt", jwks=public_set(rsa))
    signed = assertion(rp.client_id, rsa, audience=f"{issuer_of(app)}/token", jti="a\x00b")
    assert_invalid_client(post_assertion(browser, rp, get_code(browser, rp), signed), 400)
