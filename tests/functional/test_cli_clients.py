"""`tnid clients create|list|show|rotate-secret|disable|registration-token`."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from joserfc.jwk import RSAKey
from sqlalchemy import func, select

from idp.cli import cli
from idp.extensions import db
from idp.models import Client, InitialAccessToken
from idp.services import clients
from idp.services.clock import utcnow

PORTAL = ["--name", "Cổng dịch vụ công", "--redirect-uri", "https://dvc.thainguyen.gov.vn/cb"]
PRODUCTION = {"TNID_ENV": "production", "TNID_ISSUER": "https://id.example.vn",
              "TNID_ALLOW_SQLITE_IN_PRODUCTION": "1", "TNID_ARGON2_TIME_COST": "2",
              "TNID_ARGON2_MEMORY_KIB": "19456"}
METADATA_KEYS = {
    "client_id", "client_name", "client_name#en", "redirect_uris", "post_logout_redirect_uris",
    "backchannel_logout_uri", "scope", "grant_types", "response_types",
    "token_endpoint_auth_method", "jwks", "jwks_uri", "subject_type", "sector_identifier",
    "id_token_signed_response_alg", "min_acr", "trusted", "logo_uri", "created_via",
    "created_at", "disabled_at",
}


@pytest.fixture
def tnid(config: dict[str, Any]):  # noqa: ANN201
    """Invoke `tnid ...` in-process with the test database in the environment."""
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(cli, list(args), env=config, catch_exceptions=False)

    return invoke


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def count(app: Flask, model: type = Client) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def stored(app: Flask, client_id: str) -> Client:
    with app.app_context():
        client = clients.find_client(db.session, client_id)
        assert client is not None
        db.session.expunge(client)
        return client


def test_create_json_shape_and_secret(app, tnid):
    created = as_json(tnid("clients", "create", *PORTAL, "--scope", "openid profile phone",
                           "--post-logout-redirect-uri", "https://dvc.thainguyen.gov.vn/",
                           "--min-acr", "urn:tnid:acr:2", "--trusted", "--json"))
    assert set(created) == METADATA_KEYS | {"client_secret"}
    assert list(created)[:2] == ["client_id", "client_secret"]
    assert created["client_name"] == created["client_name#en"] == "Cổng dịch vụ công"
    assert created["redirect_uris"] == ["https://dvc.thainguyen.gov.vn/cb"]
    assert created["scope"] == "openid profile phone"
    assert created["grant_types"] == ["authorization_code"]
    assert created["response_types"] == ["code"]
    assert created["token_endpoint_auth_method"] == "client_secret_basic"
    assert created["min_acr"] == "urn:tnid:acr:2" and created["trusted"] is True
    assert created["disabled_at"] is None
    row = stored(app, created["client_id"])
    assert row.check_client_secret(created["client_secret"])
    assert created["client_secret"] not in (row.client_secret_hash or "")


def test_create_prints_the_secret_once(app, tnid):
    result = tnid("clients", "create", *PORTAL)
    assert result.exit_code == 0, result.output
    secret = result.stdout.split("client_secret")[1].split()[0]
    client_id = result.stdout.split("client_id")[1].split()[0]
    assert stored(app, client_id).check_client_secret(secret)
    for shown in (tnid("clients", "show", client_id), tnid("clients", "list"),
                  tnid("clients", "show", client_id, "--json"), tnid("clients", "list", "--json")):
        assert shown.exit_code == 0 and client_id in shown.output
        assert secret not in shown.output and '"client_secret":' not in shown.stdout


def test_create_public_client(app, tnid):
    created = as_json(tnid("clients", "create", "--name", "Ứng dụng di động",
                           "--redirect-uri", "http://127.0.0.1:8765/cb", "--auth-method", "none",
                           "--scope", "openid profile offline_access", "--json"))
    assert created["client_secret"] is None
    assert created["grant_types"] == ["authorization_code", "refresh_token"]
    assert stored(app, created["client_id"]).client_secret_hash is None


def test_create_private_key_jwt_from_jwks_file(app, tnid, tmp_path: Path):
    public = {"keys": [RSAKey.generate_key(2048).as_dict(private=False)]}
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(public))
    created = as_json(tnid("clients", "create", "--name", "Y tế", "--redirect-uri",
                           "https://yte.thainguyen.gov.vn/cb", "--auth-method", "private_key_jwt",
                           "--jwks-file", str(path), "--json"))
    assert created["client_secret"] is None and created["jwks"] == public
    by_uri = as_json(tnid("clients", "create", "--name", "Y tế 2", "--redirect-uri",
                          "https://yte.thainguyen.gov.vn/cb", "--auth-method", "private_key_jwt",
                          "--jwks-uri", "https://yte.thainguyen.gov.vn/jwks", "--json"))
    assert by_uri["jwks_uri"] == "https://yte.thainguyen.gov.vn/jwks" and by_uri["jwks"] is None


def test_create_pairwise_and_client_credentials(app, tnid):
    market = as_json(tnid("clients", "create", "--name", "Chợ", "--subject-type", "pairwise",
                          "--redirect-uri", "https://cho.thainguyen.gov.vn/cb",
                          "--redirect-uri", "https://m.cho.thainguyen.gov.vn/cb",
                          "--sector-identifier", "cho.thainguyen.gov.vn", "--id-token-alg",
                          "ES256", "--json"))
    assert market["sector_identifier"] == "cho.thainguyen.gov.vn"
    assert market["id_token_signed_response_alg"] == "ES256"
    machine = as_json(tnid("clients", "create", "--name", "Báo cáo", "--grant-type",
                           "client_credentials", "--json"))
    assert machine["grant_types"] == ["client_credentials"] and machine["response_types"] == []


@pytest.mark.parametrize(("args", "option"), [
    (["--name", ""], "--name"),
    (["--name", "A" * 121], "--name"),
    (["--redirect-uri", "https://*.thainguyen.gov.vn/cb"], "--redirect-uri"),
    (["--redirect-uri", "https://dvc.thainguyen.gov.vn/cb#top"], "--redirect-uri"),
    (["--redirect-uri", "https://u:p@dvc.thainguyen.gov.vn/cb"], "--redirect-uri"),
    (["--redirect-uri", "/relative"], "--redirect-uri"),
    (["--post-logout-redirect-uri", "not a url"], "--post-logout-redirect-uri"),
    (["--backchannel-logout-uri", "ftp://dvc.thainguyen.gov.vn/bc"], "--backchannel-logout-uri"),
    (["--logo-uri", "http://cdn.example.vn/logo.png"], "--logo-uri"),
    (["--scope", "profile"], "--scope"),
    (["--scope", "openid admin"], "--scope"),
    (["--auth-method", "none", "--grant-type", "client_credentials"], "--grant-type"),
    (["--grant-type", "refresh_token"], "--grant-type"),
    (["--auth-method", "private_key_jwt"], "--jwks-file"),
    (["--jwks-uri", "https://dvc.thainguyen.gov.vn/jwks"], "--jwks-file"),
    (["--sector-identifier", "thainguyen.gov.vn"], "--sector-identifier"),
    (["--subject-type", "pairwise", "--sector-identifier", "other.vn"], "--sector-identifier"),
])
def test_create_refuses_bad_input_and_writes_nothing(app, tnid, args: list[str], option: str):
    base = list(PORTAL)
    if args[0] in base:
        base[base.index(args[0]) + 1] = args[1]
        args = args[2:]
    result = tnid("clients", "create", *base, *args)
    assert result.exit_code == 1, result.output
    assert result.output.strip().splitlines()[-1].startswith(f"Error: {option}: ")
    assert "Traceback" not in result.output
    assert count(app) == 0


def test_redirect_uri_is_required_for_the_code_flow(app, tnid):
    result = tnid("clients", "create", "--name", "Thiếu")
    # The CLI speaks Vietnamese first (the operators' language).
    assert result.exit_code == 1 and "--redirect-uri: Hãy đăng ký ít nhất một" in result.output


@pytest.mark.parametrize("args", [
    ["--auth-method", "client_secret_jwt"], ["--subject-type", "random"],
    ["--id-token-alg", "HS256"], ["--min-acr", "3"], ["--grant-type", "implicit"],
    ["--jwks-file", "/nonexistent/jwks.json"],
])
def test_unknown_choices_are_usage_errors(app, tnid, args: list[str]):
    result = tnid("clients", "create", *PORTAL, *args)
    assert result.exit_code == 2 and count(app) == 0


@pytest.mark.parametrize("content", ["{not json", '["a list"]', '{"keys": [{"kty": "oct", '
                                     '"k": "c2VjcmV0"}]}', "\udcff"])
def test_bad_jwks_file(app, tnid, tmp_path: Path, content: str):
    path = tmp_path / "jwks.json"
    path.write_bytes(content.encode("utf-8", "surrogateescape"))
    result = tnid("clients", "create", *PORTAL, "--auth-method", "private_key_jwt",
                  "--jwks-file", str(path))
    assert result.exit_code == 1 and "--jwks-file: " in result.output
    assert count(app) == 0


def test_production_requires_https_except_loopback(app, config, tnid):
    config.update(PRODUCTION)
    http = tnid("clients", "create", "--name", "A", "--redirect-uri", "http://a.example.vn/cb")
    assert http.exit_code == 1 and "https://" in http.output and count(app) == 0
    loopback = tnid("clients", "create", "--name", "B", "--redirect-uri", "http://127.0.0.1/cb")
    assert loopback.exit_code == 0, loopback.output
    config["TNID_ENV"] = "development"
    assert tnid("clients", "create", "--name", "C", "--redirect-uri",
                "http://a.example.vn/cb").exit_code == 0


def test_if_not_exists_is_idempotent_by_name(app, tnid):
    first = as_json(tnid("clients", "create", *PORTAL, "--if-not-exists", "--json"))
    assert first["client_secret"]
    again = tnid("clients", "create", *PORTAL, "--if-not-exists", "--json")
    second = as_json(again)
    assert second == first | {"client_secret": None}
    assert "already exists" in again.stderr and "differ" not in again.stderr
    other = tnid("clients", "create", "--name", " Cổng  dịch vụ công", "--redirect-uri",
                 "https://dvc.thainguyen.gov.vn/other", "--if-not-exists")
    assert other.exit_code == 0 and "redirect_uris differ" in other.stderr
    assert count(app) == 1
    assert tnid("clients", "create", *PORTAL).exit_code == 0  # without the flag: a new app
    assert count(app) == 2


def test_if_not_exists_still_validates_and_ignores_disabled_apps(app, tnid):
    first = as_json(tnid("clients", "create", *PORTAL, "--json"))
    bad = tnid("clients", "create", *PORTAL, "--scope", "email", "--if-not-exists")
    assert bad.exit_code == 1 and "--scope" in bad.output
    assert tnid("clients", "disable", first["client_id"]).exit_code == 0
    fresh = as_json(tnid("clients", "create", *PORTAL, "--if-not-exists", "--json"))
    assert fresh["client_id"] != first["client_id"] and fresh["client_secret"]


def test_list_and_show(app, tnid):
    a = as_json(tnid("clients", "create", *PORTAL, "--json"))
    b = as_json(tnid("clients", "create", "--name", "Y tế", "--redirect-uri",
                     "https://yte.thainguyen.gov.vn/cb", "--json"))
    listed = as_json(tnid("clients", "list", "--json"))
    assert [c["client_id"] for c in listed] == [a["client_id"], b["client_id"]]
    assert all(set(c) == METADATA_KEYS for c in listed)
    shown = as_json(tnid("clients", "show", b["client_id"], "--json"))
    assert shown == {k: v for k, v in b.items() if k != "client_secret"}
    text = tnid("clients", "show", a["client_id"])
    assert text.exit_code == 0 and "Cổng dịch vụ công" in text.output
    assert "https://dvc.thainguyen.gov.vn/cb" in text.output
    table = tnid("clients", "list")
    assert table.exit_code == 0 and "2 client(s)" in table.stderr


@pytest.mark.parametrize("command", [["show"], ["rotate-secret"], ["disable"]])
def test_unknown_client(app, tnid, command: list[str]):
    result = tnid("clients", *command, "no-such-client")
    assert result.exit_code == 1 and "No client" in result.output


def test_rotate_secret(app, tnid):
    created = as_json(tnid("clients", "create", *PORTAL, "--json"))
    rotated = as_json(tnid("clients", "rotate-secret", created["client_id"], "--json"))
    assert set(rotated) == {"client_id", "client_secret"}
    row = stored(app, created["client_id"])
    assert row.check_client_secret(rotated["client_secret"])
    assert not row.check_client_secret(created["client_secret"])
    text = tnid("clients", "rotate-secret", created["client_id"])
    assert text.exit_code == 0 and "old one no longer works" in text.output


def test_rotate_secret_refused_for_public_clients(app, tnid):
    created = as_json(tnid("clients", "create", *PORTAL, "--auth-method", "none", "--json"))
    result = tnid("clients", "rotate-secret", created["client_id"])
    assert result.exit_code == 1 and "không dùng client secret" in result.output
    assert stored(app, created["client_id"]).client_secret_hash is None


def test_disable(app, tnid):
    created = as_json(tnid("clients", "create", *PORTAL, "--json"))
    result = tnid("clients", "disable", created["client_id"])
    assert result.exit_code == 0 and "Disabled" in result.output
    disabled_at = as_json(tnid("clients", "show", created["client_id"], "--json"))["disabled_at"]
    assert disabled_at is not None
    again = tnid("clients", "disable", created["client_id"])
    assert again.exit_code == 0 and "already disabled" in again.output
    assert stored(app, created["client_id"]).disabled_at is not None


def test_registration_token(app, tnid):
    made = as_json(tnid("clients", "registration-token", "--uses", "2", "--expires-in-hours",
                        "48", "--note", "Bệnh viện C", "--json"))
    assert set(made) == {"initial_access_token", "expires_at", "uses", "note"}
    assert made["uses"] == 2 and made["note"] == "Bệnh viện C"
    with app.app_context():
        row = db.session.scalars(select(InitialAccessToken)).one()
        assert row.uses_left == 2 and row.token_hash != made["initial_access_token"]
        assert timedelta(hours=47) < row.expires_at - utcnow() <= timedelta(hours=48)
        token = made["initial_access_token"]
        assert clients.consume_initial_access_token(db.session, token, now=utcnow())
        assert clients.consume_initial_access_token(db.session, token, now=utcnow())
        assert not clients.consume_initial_access_token(db.session, token, now=utcnow())
        db.session.rollback()
    text = tnid("clients", "registration-token")
    assert text.exit_code == 0 and "shown only this once" in text.output


@pytest.mark.parametrize("args", [["--uses", "0"], ["--expires-in-hours", "0"],
                                  ["--expires-in-hours", "10000"]])
def test_registration_token_bad_options(app, tnid, args: list[str]):
    assert tnid("clients", "registration-token", *args).exit_code == 2
    assert count(app, InitialAccessToken) == 0


def test_registration_token_long_note_is_refused(app, tnid):
    result = tnid("clients", "registration-token", "--note", "n" * 201)
    assert result.exit_code == 1 and "--note: " in result.output
    assert count(app, InitialAccessToken) == 0
