"""Interoperability: pyoidc (``oic``), an OpenID Certified relying-party library, completes the
code flow against a live ThaiNguyen ID over real HTTP with every client authentication method
we advertise. The library discovers the provider, builds the request, checks the ID token
against the published JWKS and calls userinfo, exactly as a province app would.
"""

from __future__ import annotations

import pytest
from joserfc.jwk import RSAKey

from tests.conftest import TEST_PASSWORD
from tests.support import oidc
from tests.support.certified_rp import REDIRECT, make_rp, run_code_flow

pytestmark = [
    # pyoidc is old and noisy: its own deprecation warnings are not ours to fix.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
]


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_secret_clients(app, live_server, make_citizen, signing_keys, method):
    citizen = make_citizen()
    registered = oidc.register(app, redirect_uris=[REDIRECT], token_endpoint_auth_method=method)
    rp = make_rp(live_server, {"client_id": registered.client_id,
                               "client_secret": registered.secret, "redirect_uris": [REDIRECT],
                               "token_endpoint_auth_method": method})
    id_token, userinfo = run_code_flow(rp, live_server, citizen.cccd, TEST_PASSWORD, method)
    assert id_token["acr"] == "urn:tnid:acr:1" and id_token["amr"] == ["pwd"]
    assert userinfo["name"] == "Nguyễn Văn An"


def test_private_key_jwt_client(app, live_server, make_citizen, signing_keys):
    citizen = make_citizen()
    key = RSAKey.generate_key(2048, parameters={"alg": "RS256", "use": "sig", "kid": "rp-1"})
    registered = oidc.register(app, redirect_uris=[REDIRECT],
                               token_endpoint_auth_method="private_key_jwt",
                               jwks={"keys": [key.as_dict(private=False)]})
    rp = make_rp(live_server, {"client_id": registered.client_id, "redirect_uris": [REDIRECT],
                               "token_endpoint_auth_method": "private_key_jwt"},
                 private_jwk=key.as_dict(private=True))
    _, userinfo = run_code_flow(rp, live_server, citizen.phone, TEST_PASSWORD,
                                "private_key_jwt")
    assert userinfo["family_name"] == "Nguyễn"


def test_public_client_with_pkce(app, live_server, make_citizen, signing_keys):
    citizen = make_citizen()
    registered = oidc.register(app, redirect_uris=[REDIRECT], token_endpoint_auth_method="none")
    rp = make_rp(live_server, {"client_id": registered.client_id, "redirect_uris": [REDIRECT],
                               "token_endpoint_auth_method": "none"})
    _, userinfo = run_code_flow(rp, live_server, citizen.cccd, TEST_PASSWORD, "none", pkce=True)
    assert userinfo["given_name"] == "Văn An"
