"""PKCE at the authorization endpoint (RFC 7636 §4.3, RFC 9700 §2.1.1): S256 only, mandatory
for public clients. The token-side verifier checks are tested with the token endpoint."""

from __future__ import annotations

import pytest

from tests.support.authorize import at_app, exchange, issuer, through
from tests.support.oidc import App, authorize_query, pkce, register


@pytest.fixture
def public_rp(app) -> App:  # noqa: ANN001
    return register(app, token_endpoint_auth_method="none")


@pytest.fixture
def confidential_rp(app) -> App:  # noqa: ANN001
    return register(app)


@pytest.fixture
def signed_in(auth, make_citizen) -> None:  # noqa: ANN001
    auth.login(make_citizen().cccd)


def refused(client, rp: App, **params: str | None) -> dict[str, str]:  # noqa: ANN001
    got = at_app(client.get(authorize_query(rp, state="s-1", **params)), rp)
    assert (got["error"], got["state"], got["iss"]) == ("invalid_request", "s-1",
                                                        issuer(client))
    assert "code" not in got
    return got


def test_public_client_without_code_challenge_is_refused(client, public_rp, signed_in):
    got = refused(client, public_rp)
    assert "PKCE" in got["error_description"]


@pytest.mark.parametrize("rp_name", ["public_rp", "confidential_rp"])
def test_plain_method_is_refused(client, request, signed_in, rp_name):
    verifier, _ = pkce()
    refused(client, request.getfixturevalue(rp_name), code_challenge=verifier,
            code_challenge_method="plain")


@pytest.mark.parametrize("rp_name", ["public_rp", "confidential_rp"])
def test_missing_method_is_refused_rather_than_taken_as_plain(client, request, signed_in,
                                                              rp_name):
    refused(client, request.getfixturevalue(rp_name), code_challenge=pkce()[1])


@pytest.mark.parametrize("method", ["s256", "S512", "S256 ", "none"])
def test_unknown_method_is_refused(client, confidential_rp, signed_in, method):
    refused(client, confidential_rp, code_challenge=pkce()[1], code_challenge_method=method)


def test_method_without_challenge_is_refused(client, public_rp, signed_in):
    refused(client, public_rp, code_challenge_method="S256")


@pytest.mark.parametrize("challenge", ["short", "a" * 42, "a" * 129, "a" * 42 + "+",
                                       "a" * 42 + "=", "ä" * 43])
def test_malformed_challenge_is_refused(client, confidential_rp, signed_in, challenge):
    refused(client, confidential_rp, code_challenge=challenge, code_challenge_method="S256")


@pytest.mark.parametrize("rp_name", ["public_rp", "confidential_rp"])
def test_good_s256_challenge_is_accepted_and_the_code_redeems(client, request, signed_in,
                                                              signing_keys, rp_name):
    rp = request.getfixturevalue(rp_name)
    verifier, challenge = pkce()
    got = through(client, client.get(authorize_query(
        rp, code_challenge=challenge, code_challenge_method="S256")), rp)
    assert "code" in got and got["iss"] == issuer(client)
    token = exchange(client, rp, got["code"], verifier)
    assert token.status_code == 200, token.json


def test_confidential_client_may_still_omit_pkce(client, confidential_rp, signed_in,
                                                 signing_keys):
    """Mandatory for public clients only; a confidential app that sends no challenge
    authenticates at the token endpoint instead (RFC 9700 §2.1.1 recommends, not requires)."""
    got = through(client, client.get(authorize_query(confidential_rp)), confidential_rp)
    token = exchange(client, confidential_rp, got["code"], None)
    assert token.status_code == 200, token.json


def test_pkce_is_checked_before_anyone_signs_in(client, public_rp):
    """A bad request is reported at once, not after the citizen typed a password."""
    refused(client, public_rp)
