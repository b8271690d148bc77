"""An example app built for in-process tests: registration and the provider's metadata are
stubbed (the browser test and test_registration.py use the real ones)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from joserfc.jwk import KeySet, RSAKey

from clients_example import health, market, portal
from clients_example.common import rp as rp_module
from clients_example.common.registration import Registration
from clients_example.common.rp import Settings

ISSUER = "http://127.0.0.1:5000"
PROVIDER_KEY = RSAKey.generate_key(2048, parameters={"kid": "p1", "alg": "RS256"}, private=True)
FACTORIES = {"portal": portal.create_app, "health": health.create_app,
             "market": market.create_app}


@pytest.fixture
def make_rp_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[str], Flask]:
    def fake_register(*, client_id: str, auth_method: str, **_: object) -> Registration:
        secret = "s3cret" if auth_method == "client_secret_basic" else None
        return Registration(client_id=client_id, client_secret=secret, metadata={})

    monkeypatch.setattr(rp_module, "register", fake_register)

    def make(key: str) -> Flask:
        app = FACTORIES[key](Settings(issuer=ISSUER, base_url="http://127.0.0.1:5999",
                                      instance_path=tmp_path / key))
        app.config["TESTING"] = True
        client = app.extensions["rp"].client
        jwks = KeySet([PROVIDER_KEY]).as_dict(private=False)
        client.server_metadata.update({
            "_loaded_at": 1, "issuer": ISSUER, "jwks": jwks,
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "authorization_endpoint": f"{ISSUER}/authorize", "token_endpoint": f"{ISSUER}/token",
            "userinfo_endpoint": "http://127.0.0.1:9/userinfo",  # refused at once
            "end_session_endpoint": f"{ISSUER}/end-session", "jwks_uri": f"{ISSUER}/jwks"})
        client.fetch_jwk_set = lambda force=False: jwks  # no network in these tests
        return app

    return make
