"""A relying app built on pyoidc (``oic``), an OpenID Certified RP library, plus a citizen who
signs in and agrees on the real pages. Used by the interoperability test and by
``scripts/interop-check`` against a running ``make demo``."""

from __future__ import annotations

import re
import secrets
from urllib.parse import urljoin, urlsplit

import requests

REDIRECT = "https://rp.example.vn/callback"


def citizen_browser_to_callback(auth_url: str, base: str, identifier: str, password: str) -> str:
    """Play the citizen: sign in and agree on the real pages; return the callback URL."""
    browser = requests.Session()
    response = browser.get(auth_url, allow_redirects=False)
    for _ in range(10):
        location = response.headers.get("Location", "")
        if location.startswith(REDIRECT):
            return location
        if response.status_code in (301, 302, 303):
            response = browser.get(urljoin(base, location), allow_redirects=False)
            continue
        if response.status_code != 200:
            raise AssertionError(f"{response.status_code}: {response.text[:300]}")
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', response.text)
        path = urlsplit(response.url).path
        form = {"csrf_token": token.group(1)}
        if path == "/login":
            form.update(identifier=identifier, password=password)
        elif path == "/consent":
            form.update(decision="allow")
        else:
            raise AssertionError(f"unexpected page {path}")
        response = browser.post(response.url, data=form, allow_redirects=False)
    raise AssertionError("never reached the app's callback")


def make_rp(base: str, registration: dict, private_jwk: dict | None = None):  # noqa: ANN201
    from oic.oic import Client
    from oic.oic.message import RegistrationResponse
    from oic.utils.authn.client import CLIENT_AUTHN_METHOD
    from oic.utils.keyio import KeyBundle

    rp = Client(client_authn_method=CLIENT_AUTHN_METHOD, verify_ssl=False)
    rp.provider_config(base)  # discovery; pyoidc checks the issuer matches
    rp.store_registration_info(RegistrationResponse(**registration))
    rp.redirect_uris = [REDIRECT]
    if private_jwk is not None:
        rp.keyjar.add_kb("", KeyBundle([private_jwk]))
    return rp


def run_code_flow(rp, base: str, identifier: str, password: str, method: str,  # noqa: ANN001
                  *, pkce: bool = False, userinfo_method: str = "GET") -> tuple[dict, dict]:
    """Authorization code flow end to end; returns (ID token claims, userinfo)."""
    from oic.oic.message import AuthorizationResponse

    state, nonce = secrets.token_urlsafe(8), secrets.token_urlsafe(8)
    args = {"client_id": rp.client_id, "response_type": "code", "scope": ["openid", "profile"],
            "nonce": nonce, "redirect_uri": REDIRECT, "state": state}
    verifier = None
    if pkce:
        challenge, verifier = rp.add_code_challenge()
        args.update(challenge)
    url = rp.construct_AuthorizationRequest(request_args=args).request(rp.authorization_endpoint)
    callback = citizen_browser_to_callback(url, base, identifier, password)
    response = rp.parse_response(AuthorizationResponse, info=urlsplit(callback).query,
                                 sformat="urlencoded")
    assert response["state"] == state
    assert response["iss"] == base  # RFC 9207
    request_args = {"code": response["code"], "redirect_uri": REDIRECT}
    if verifier:
        request_args["code_verifier"] = verifier
    if method == "none":  # a public client only names itself (RFC 6749 §4.1.3)
        request_args["client_id"] = rp.client_id
    tokens = rp.do_access_token_request(state=state, request_args=request_args,
                                        authn_method=None if method == "none" else method)
    id_token = tokens["id_token"]  # pyoidc verified its signature against the JWKS
    assert id_token["nonce"] == nonce and id_token["aud"] == [rp.client_id]
    userinfo = rp.do_user_info_request(method=userinfo_method, state=state)
    assert userinfo["sub"] == id_token["sub"], userinfo.to_dict()
    return id_token.to_dict(), userinfo.to_dict()
