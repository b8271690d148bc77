"""`tnid clients create --client-id`: a fixed client_id makes registration at start-up
idempotent (the relying apps in clients_example/ use it)."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner, Result

from idp.cli import cli

APP = ["--name", "Sổ sức khỏe điện tử", "--redirect-uri", "http://127.0.0.1:5002/callback"]


def tnid(config: dict[str, Any], *args: str) -> Result:
    return CliRunner().invoke(cli, ["clients", "create", *args], env=config,
                              catch_exceptions=False)


def test_fixed_id_then_if_not_exists_prints_it_without_secret(app, config):
    first = tnid(config, *APP, "--client-id", "health-demo", "--json")
    assert first.exit_code == 0, first.output
    created = json.loads(first.stdout)
    assert created["client_id"] == "health-demo" and created["client_secret"]

    again = tnid(config, *APP, "--client-id", "health-demo", "--if-not-exists", "--json")
    assert again.exit_code == 0, again.output
    shown = json.loads(again.stdout)
    assert shown["client_id"] == "health-demo" and shown["client_secret"] is None

    # Found by id, not by name: another name with the same id is the same app (with a warning).
    renamed = tnid(config, "--name", "Khác", "--redirect-uri", "http://127.0.0.1:5002/callback",
                   "--client-id", "health-demo", "--if-not-exists", "--json")
    assert renamed.exit_code == 0 and "differ" in renamed.stderr
    listed = CliRunner().invoke(cli, ["clients", "list", "--json"], env=config)
    assert [c["client_id"] for c in json.loads(listed.stdout)] == ["health-demo"]


def test_taken_or_malformed_id_is_refused(app, config):
    assert tnid(config, *APP, "--client-id", "portal-demo").exit_code == 0
    taken = tnid(config, *APP, "--client-id", "portal-demo")
    assert taken.exit_code != 0 and "--client-id" in taken.output
    for bad in ("-x1", "ab", "có dấu", "a/b", "x" * 65):
        result = tnid(config, *APP, "--client-id", bad)
        assert result.exit_code != 0 and "--client-id" in result.output, bad
    listed = CliRunner().invoke(cli, ["clients", "list", "--json"], env=config)
    assert len(json.loads(listed.stdout)) == 1


def test_disabled_fixed_id_is_not_reused(app, config):
    assert tnid(config, *APP, "--client-id", "market-demo").exit_code == 0
    CliRunner().invoke(cli, ["clients", "disable", "market-demo"], env=config)
    result = tnid(config, *APP, "--client-id", "market-demo", "--if-not-exists")
    assert result.exit_code != 0 and "disabled" in result.output
