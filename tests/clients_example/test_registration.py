"""Start-up registration through the real `tnid clients create --client-id ... --if-not-exists`
against the suite's database: idempotent, the secret kept in the instance folder, a lost
secret replaced, other addresses reported."""

from __future__ import annotations

import json
import stat

import pytest

from clients_example.common.registration import RegistrationError, register

BASE = "http://127.0.0.1:5002"


def health(config, instance, base: str = BASE):  # noqa: ANN001, ANN201
    return register(client_id="tnid-demo-health", name="Sổ sức khỏe điện tử",
                    name_en="Health records", base_url=base,
                    scope="openid profile citizen offline_access",
                    auth_method="client_secret_basic", instance=instance, env=config)


def test_registration_is_idempotent_and_keeps_the_secret(app, config, tmp_path):
    first = health(config, tmp_path)
    assert first.client_id == "tnid-demo-health" and first.client_secret
    assert first.metadata["backchannel_logout_uri"] == f"{BASE}/backchannel-logout"
    assert first.metadata["post_logout_redirect_uris"] == [f"{BASE}/logged-out"]
    saved = tmp_path / "client.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert json.loads(saved.read_text())["client_secret"] == first.client_secret

    again = health(config, tmp_path)  # restart: same app, same secret
    assert (again.client_id, again.client_secret) == (first.client_id, first.client_secret)

    saved.unlink()  # instance folder lost: a new secret replaces the unknown one
    renewed = health(config, tmp_path)
    assert renewed.client_secret and renewed.client_secret != first.client_secret


def test_pairwise_public_client_needs_no_secret(app, config, tmp_path):
    market = register(client_id="tnid-demo-market", name="Chợ 4.0", name_en="Market 4.0",
                      base_url="http://127.0.0.1:5003", scope="openid profile phone",
                      auth_method="none", subject_type="pairwise", instance=tmp_path,
                      env=config)
    assert market.client_secret is None
    assert market.metadata["subject_type"] == "pairwise"
    assert market.metadata["token_endpoint_auth_method"] == "none"
    assert not (tmp_path / "client.json").exists()


def test_other_addresses_are_reported_not_changed(app, config, tmp_path):
    health(config, tmp_path)
    with pytest.raises(RegistrationError, match="other addresses"):
        health(config, tmp_path, base="http://127.0.0.1:6002")
