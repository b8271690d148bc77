"""Errors of the authorization endpoint (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6, RFC 9207).

An unknown client or an unverified redirect URI gets a page and never a redirect; every other
error goes back to the registered redirect URI with ``state`` and ``iss``.
"""

from __future__ import annotations

import json
import secrets
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idp.extensions import db
from idp.services import clients
from idp.services.clock import utcnow
from tests.support.authorize import at_app, exchange, go, issuer, leaves_for, submit, through
from tests.support.oidc import REDIRECT, App, authorize_query, pkce, register


@pytest.fixture
def rp(app) -> App:  # noqa: ANN001
    return register(app)


def assert_page(response, text: str = "") -> None:  # noqa: ANN001
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert response.mimetype == "text/html"
    assert text in response.text


def params_for(rp: App, **extra: str | None) -> dict[str, str]:
    _, challenge = pkce()
    values = {"response_type": "code", "client_id": rp.client_id, "redirect_uri": rp.redirect_uri,
              "scope": "openid profile", "state": "st-123", "nonce": "n-1",
              "code_challenge": challenge, "code_challenge_method": "S256", **extra}
    return {k: v for k, v in values.items() if v is not None}


# --- pages, never redirects ------------------------------------------------------------------


@pytest.mark.parametrize("client_id", [None, "", "no-such-app", "x" * 1000, "' OR 1=1 --"])
def test_unknown_or_missing_client_gets_a_page(client, rp, client_id):
    response = client.get("/authorize?" + urlencode(params_for(rp, client_id=client_id)),
                          headers={"Accept-Language": "en"})
    assert_page(response, "not registered with ThaiNguyen ID")


def test_duplicated_client_id_gets_a_page(client, rp):
    query = urlencode(params_for(rp)) + "&client_id=" + rp.client_id
    assert_page(client.get("/authorize?" + query))


def test_disabled_client_gets_a_page(app, client, rp):
    with app.app_context():
        clients.disable_client(db.session, clients.find_client(db.session, rp.client_id),
                               utcnow())
        db.session.commit()
    assert_page(client.get(authorize_query(rp)))


@pytest.mark.parametrize("redirect_uri", [
    None, "", "https://evil.example/callback", REDIRECT + "/", REDIRECT + "?next=x",
    REDIRECT + "#frag", REDIRECT.upper(), REDIRECT.replace("https", "http"),
    "https://portal.example.vn.evil.example/callback", "//evil.example", "javascript:alert(1)",
    REDIRECT + "x" * 5000,
])
def test_unregistered_or_missing_redirect_uri_gets_a_page(client, rp, redirect_uri):
    # Every other parameter is wrong as well: nothing may be sent to an unverified address.
    response = client.get("/authorize?" + urlencode(params_for(
        rp, redirect_uri=redirect_uri, response_type="token", scope="profile")))
    assert_page(response)


def test_duplicated_redirect_uri_gets_a_page_even_when_both_are_registered(client, rp):
    query = urlencode(params_for(rp)) + "&" + urlencode({"redirect_uri": rp.redirect_uri})
    assert_page(client.get("/authorize?" + query))


def test_pages_for_unknown_client_also_on_post(client, rp):
    response = client.post("/authorize", data=params_for(rp, client_id="nope"))
    assert_page(response)


def test_json_body_is_not_read_so_the_request_has_no_client(client, rp):
    response = client.post("/authorize", json=params_for(rp))
    assert_page(response)


@pytest.mark.parametrize("path", [
    "/authorize/resume", "/authorize/cancel", "/authorize/resume?interaction=",
    "/authorize/cancel?interaction=x", "/authorize/resume?interaction=" + "a" * 20000,
])
def test_resume_and_cancel_without_a_valid_interaction_get_a_page(client, path):
    assert_page(client.get(path))


@pytest.mark.parametrize("method", ["put", "delete", "patch"])
def test_other_methods_are_refused(client, rp, method):
    response = getattr(client, method)(authorize_query(rp))
    assert response.status_code == 405
    assert "Location" not in response.headers


# --- errors that go back to the app ----------------------------------------------------------


def redirected_error(client, rp: App, query: str) -> dict[str, str]:  # noqa: ANN001
    got = at_app(client.get("/authorize?" + query), rp)
    assert "code" not in got
    assert got["iss"] == issuer(client)
    return got


@pytest.mark.parametrize("name", [
    "response_type", "scope", "state", "nonce", "code_challenge", "code_challenge_method",
    "prompt", "max_age", "claims", "login_hint", "ui_locales", "acr_values",
])
def test_duplicated_parameter_is_invalid_request(client, rp, name):
    values = params_for(rp, prompt="login", max_age="60", claims="{}", login_hint="x",
                        ui_locales="vi", acr_values="urn:tnid:acr:1")
    query = urlencode(values) + "&" + urlencode({name: values[name]})
    got = redirected_error(client, rp, query)
    assert got["error"] == "invalid_request"
    assert got["state"] == "st-123"


@pytest.mark.parametrize(("response_type", "error"), [
    (None, "invalid_request"), ("token", "unsupported_response_type"),
    ("id_token", "unsupported_response_type"), ("code id_token", "unsupported_response_type"),
    ("code token", "unsupported_response_type"), ("none", "unsupported_response_type"),
    ("CODE", "unsupported_response_type"),
])
def test_only_response_type_code(client, rp, response_type, error):
    got = redirected_error(client, rp, urlencode(params_for(rp, response_type=response_type)))
    assert (got["error"], got["state"]) == (error, "st-123")


@pytest.mark.parametrize("scope", [None, "profile", "openidprofile", "OPENID profile"])
def test_openid_scope_is_required(client, rp, scope):
    got = redirected_error(client, rp, urlencode(params_for(rp, scope=scope)))
    assert (got["error"], got["state"]) == ("invalid_scope", "st-123")


@pytest.mark.parametrize("mode", ["fragment", "form_post", "jwt", "query.jwt"])
def test_response_mode_other_than_query_is_refused(client, rp, mode):
    got = redirected_error(client, rp, urlencode(params_for(rp, response_mode=mode)))
    assert (got["error"], got["state"]) == ("invalid_request", "st-123")


def test_request_object_is_not_supported(client, rp):
    got = redirected_error(client, rp, urlencode(params_for(
        rp, request="eyJhbGciOiJub25lIn0.eyJzdGF0ZSI6IngifQ.")))
    assert (got["error"], got["state"]) == ("request_not_supported", "st-123")


@pytest.mark.parametrize("prompt", ["bogus", "login bogus", "none login", "none consent",
                                    "none select_account"])
def test_bad_prompt_is_invalid_request(client, rp, prompt):
    got = redirected_error(client, rp, urlencode(params_for(rp, prompt=prompt)))
    assert got["error"] == "invalid_request"


@pytest.mark.parametrize("max_age", ["-1", "abc", "1.5", "1e3", "\uff19", "9" * 20, " 5"])
def test_bad_max_age_is_invalid_request(client, rp, max_age):
    got = redirected_error(client, rp, urlencode(params_for(rp, max_age=max_age)))
    assert got["error"] == "invalid_request"


@pytest.mark.parametrize("name", ["nonce", "login_hint", "claims", "id_token_hint", "x-extra"])
def test_oversized_parameter_is_invalid_request(client, rp, name):
    got = redirected_error(client, rp, urlencode(params_for(rp, **{name: "a" * 5000})))
    assert (got["error"], got["state"]) == ("invalid_request", "st-123")


def test_nonce_longer_than_can_be_stored_is_invalid_request(client, rp):
    got = redirected_error(client, rp, urlencode(params_for(rp, nonce="n" * 256)))
    assert (got["error"], got["state"]) == ("invalid_request", "st-123")


def test_oversized_request_is_invalid_request(client, rp):
    extra = {f"extra{i}": "b" * 3000 for i in range(4)}
    got = redirected_error(client, rp, urlencode(params_for(rp, **extra)))
    assert got["error"] == "invalid_request"


def test_the_largest_accepted_request_survives_the_sign_in_screens(client, rp, make_citizen):
    """The pending request travels in the interaction token: at the size limit it must still
    fit (random text does not compress)."""
    citizen = make_citizen()
    extra = {"nonce": secrets.token_urlsafe(200)[:255],
             "x-one": secrets.token_urlsafe(3000)[:4000],
             "x-two": secrets.token_urlsafe(3000)[:3300]}
    got = through(client, go(client, rp, **extra), rp, identifier=citizen.cccd)
    assert "code" in got


def test_the_longest_accepted_values_are_stored_with_the_code(client, rp, make_citizen, auth,
                                                              signing_keys):
    """Every value the code keeps fits its column (PostgreSQL refuses what SQLite would
    silently keep)."""
    auth.login(make_citizen().cccd)
    claims = json.dumps({"id_token": {f"x{i:03}": None for i in range(300)}})[:3000]
    claims = claims[:claims.rindex(",")] + "}}"
    verifier, challenge = pkce()
    values = {"nonce": "n" * 255, "state": "s" * 2000, "claims": claims,
              "scope": "openid profile " + "bogus " * 400, "code_challenge": challenge}
    got = through(client, go(client, rp, **values), rp)
    assert "code" in got and got["state"] == "s" * 2000
    token = exchange(client, rp, got["code"], verifier)
    assert token.status_code == 200, token.json


def test_error_without_state_has_no_state_but_still_iss(client, rp):
    got = redirected_error(client, rp, urlencode(params_for(rp, state=None,
                                                            response_type="token")))
    assert "state" not in got


def test_empty_parameters_count_as_omitted(client, rp, make_citizen, auth):
    """RFC 6749 §3.1: ``prompt=`` and ``max_age=`` are as if absent; ``state=`` is not
    echoed."""
    auth.login(make_citizen().cccd)
    query = urlencode(params_for(rp, prompt="", max_age="", state="", ui_locales=""))
    got = through(client, client.get("/authorize?" + query), rp)
    assert "code" in got and "state" not in got
    assert got["iss"] == issuer(client)


def test_post_with_a_form_body_reports_errors_to_the_app(client, rp):
    response = client.post("/authorize", data=params_for(rp, response_type="token"))
    got = at_app(response, rp)
    assert (got["error"], got["state"], got["iss"]) == (
        "unsupported_response_type", "st-123", issuer(client))


def test_post_with_a_form_body_issues_a_code(client, rp, make_citizen, auth, signing_keys):
    auth.login(make_citizen().cccd)
    verifier, challenge = pkce()
    response = client.post("/authorize", data=params_for(rp, code_challenge=challenge))
    got = through(client, response, rp)
    assert (got["state"], got["iss"]) == ("st-123", issuer(client))
    assert exchange(client, rp, got["code"], verifier).status_code == 200


# --- scopes ----------------------------------------------------------------------------------


def test_unknown_and_unregistered_scopes_are_ignored(app, client, make_citizen, auth,
                                                     signing_keys):
    """OIDC Core §3.1.2.1: scope values not understood are ignored; RFC 6749 §3.3: the app
    gets at most what it is registered for, and the token response says what it got."""
    rp = register(app, scope="openid profile")
    auth.login(make_citizen().cccd)
    verifier, challenge = pkce()
    response = go(client, rp, scope="openid profile citizen bogus", code_challenge=challenge)
    consent_page = client.get(response.headers["Location"])
    assert "Họ và tên" in consent_page.text and "Số CCCD" not in consent_page.text
    got = at_app(client.get(submit(client, consent_page, decision="allow")
                            .headers["Location"]), rp)
    token = exchange(client, rp, got["code"], verifier)
    assert token.json["scope"] == "openid profile"


def test_every_redirect_from_authorize_carries_the_issuer(client, rp, make_citizen, auth):
    """RFC 9207 §2: success, errors, denial and cancellation all carry ``iss``."""
    iss = issuer(client)
    seen = [at_app(go(client, rp, prompt="none"), rp)]  # login_required
    auth.login(make_citizen().cccd)
    response = go(client, rp)
    consent_page = client.get(response.headers["Location"])
    cancel = submit(client, consent_page, decision="deny")
    seen.append(at_app(client.get(cancel.headers["Location"]), rp))
    seen.append(through(client, go(client, rp), rp))  # consent given, code
    seen.append(at_app(go(client, rp, response_type="token"), rp))
    assert [q.get("error") for q in seen] == [
        "login_required", "access_denied", None, "unsupported_response_type"]
    assert all(q["iss"] == iss for q in seen)


# --- whatever arrives: a page or a redirect to the registered URI, never a crash --------------

INTERNAL = ("/login?interaction=", "/consent?interaction=", "/select-account?interaction=")
NAMES = ["response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "prompt",
         "max_age", "claims", "id_token_hint", "login_hint", "ui_locales", "acr_values",
         "code_challenge", "code_challenge_method", "response_mode", "request", "request_uri"]
HOSTILE = st.one_of(
    st.text(max_size=40), st.sampled_from(["", "code", "openid", "none", "login", "S256", "0",
                                           "{}", "[", "null", '{"id_token":{"acr":5}}']),
    st.text(alphabet="{}[]\":,0123456789abcnul ", max_size=60))


@pytest.fixture(params=["anonymous", "signed_in"])
def browser(request, client, make_citizen, auth, signing_keys):  # noqa: ANN001, ANN201
    if request.param == "signed_in":
        auth.login(make_citizen().cccd)
    return client


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(extra=st.lists(st.tuples(st.sampled_from(NAMES) | st.text(max_size=10), HOSTILE),
                      max_size=6),
       keep_client=st.booleans(), keep_redirect=st.booleans(), method=st.sampled_from(
           ["get", "post"]))
def test_hostile_requests_never_crash_nor_leave_for_an_unverified_uri(
        browser, rp, extra, keep_client, keep_redirect, method):
    base = params_for(rp)
    pairs = [(k, v) for k, v in base.items()
             if (k != "client_id" or keep_client) and (k != "redirect_uri" or keep_redirect)]
    pairs += extra
    if method == "get":
        response = browser.get("/authorize?" + urlencode(pairs))
    else:
        response = browser.post("/authorize", data=urlencode(pairs),
                                content_type="application/x-www-form-urlencoded")
    assert response.status_code in (302, 400, 403), response.status_code
    if response.status_code == 302:
        location = response.headers["Location"]
        assert leaves_for(response, rp) or location.startswith(INTERNAL), location
        if leaves_for(response, rp):
            assert "iss=" in location
