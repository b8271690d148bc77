"""Fixtures shared by the protocol tests; a test module may override any of them."""

from __future__ import annotations

import pytest

from tests.support.oidc import register
from tests.support.token_flows import tokens_for


@pytest.fixture
def citizen(make_citizen):  # noqa: ANN001, ANN201
    return make_citizen()


@pytest.fixture
def rp(app):  # noqa: ANN001, ANN201
    """A confidential app (client_secret_basic) allowed every scope."""
    return register(app)


@pytest.fixture
def tokens(client, rp, citizen, signing_keys) -> dict:  # noqa: ANN001
    """Tokens from a full code flow for ``citizen`` at ``rp``."""
    return tokens_for(client, rp, citizen.cccd)


@pytest.fixture
def doc(client) -> dict:  # noqa: ANN001
    """The discovery document as a relying app reads it."""
    return client.get("/.well-known/openid-configuration").json
