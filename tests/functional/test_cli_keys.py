"""The `tnid` command and signing keys: init creates them, keys rotate | list."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from idp.cli import cli
from idp.extensions import db
from idp.models import SigningKey
from idp.services import keys

PRIVATE_MEMBERS = ("\"d\"", "\"p\"", "\"q\"", "\"dp\"", "\"dq\"", "\"qi\"", "PRIVATE KEY")


@pytest.fixture
def tnid(config):  # noqa: ANN001, ANN201
    """Invoke `tnid ...` in-process with the test database in the environment."""
    runner = CliRunner()

    def invoke(*args: str):  # noqa: ANN202
        return runner.invoke(cli, list(args), env=config, catch_exceptions=False)

    return invoke


def key_rows(app) -> list[SigningKey]:  # noqa: ANN001
    with app.app_context():
        rows = list(db.session.scalars(select(SigningKey)))
        db.session.expunge_all()
        return rows


def census(app) -> Counter[tuple[str, str]]:  # noqa: ANN001
    return Counter((row.alg, row.status) for row in key_rows(app))


ONE_EACH = Counter({("RS256", "active"): 1, ("RS256", "next"): 1,
                    ("ES256", "active"): 1, ("ES256", "next"): 1})


def test_init_creates_signing_keys_once(app, tnid):
    first = tnid("init")
    assert first.exit_code == 0, first.output
    assert "Signing keys: 4 created." in first.output
    kids = {row.kid for row in key_rows(app)}
    second = tnid("init")
    assert second.exit_code == 0, second.output
    assert "up to date" in second.output and "Signing keys already in place." in second.output
    assert {row.kid for row in key_rows(app)} == kids and census(app) == ONE_EACH


def test_rotate_promotes_next_and_prints_old_and_new_kids(app, tnid):
    assert tnid("init").exit_code == 0
    before = {(row.alg, row.status): row.kid for row in key_rows(app)}
    result = tnid("keys", "rotate")
    assert result.exit_code == 0, result.output
    for alg in keys.SUPPORTED_ALGS:
        assert f"{alg}: {before[(alg, 'active')]} -> {before[(alg, 'next')]}" in result.output
    assert "Removed 0 retired key(s)" in result.output
    assert census(app) == ONE_EACH + Counter({("RS256", "retired"): 1, ("ES256", "retired"): 1})
    retired = [row for row in key_rows(app) if row.status == "retired"]
    for row in retired:  # ID-token lifetime (600 s by default) + 5 minutes of clock skew
        assert row.unpublish_after - row.retired_at == timedelta(seconds=600 + 300)


def test_rotate_uses_the_configured_id_token_lifetime(app, config, tnid):
    assert tnid("init").exit_code == 0
    config["TNID_ID_TOKEN_LIFETIME_SECONDS"] = "3600"
    assert tnid("keys", "rotate", "--alg", "ES256").exit_code == 0
    (retired,) = [row for row in key_rows(app) if row.status == "retired"]
    assert retired.unpublish_after - retired.retired_at == timedelta(seconds=3600 + 300)


def test_rotate_one_alg(app, tnid):
    assert tnid("init").exit_code == 0
    result = tnid("keys", "rotate", "--alg", "ES256")
    assert result.exit_code == 0, result.output
    assert "ES256:" in result.output and "RS256:" not in result.output
    assert census(app) == ONE_EACH + Counter({("ES256", "retired"): 1})


def test_rotate_purges_keys_past_their_unpublish_time(app, tnid):
    assert tnid("init").exit_code == 0
    assert tnid("keys", "rotate").exit_code == 0
    with app.app_context():  # pretend the retired keys' publication time is over
        for row in db.session.scalars(select(SigningKey).where(SigningKey.status == "retired")):
            row.unpublish_after = datetime(2000, 1, 1)
        db.session.commit()
    result = tnid("keys", "rotate")
    assert result.exit_code == 0, result.output
    assert "Removed 2 retired key(s)" in result.output
    assert census(app) == ONE_EACH + Counter({("RS256", "retired"): 1, ("ES256", "retired"): 1})


@pytest.mark.parametrize("alg", ["HS256", "rs256", "none", ""])
def test_rotate_refuses_a_bad_alg_and_changes_nothing(app, tnid, alg):
    assert tnid("init").exit_code == 0
    kids = {row.kid: row.status for row in key_rows(app)}
    result = tnid("keys", "rotate", "--alg", alg)
    assert result.exit_code == 2 and "Invalid value for '--alg'" in result.output
    assert {row.kid: row.status for row in key_rows(app)} == kids


def test_rotate_before_init_says_to_run_init(app, tnid):
    result = tnid("keys", "rotate")
    assert result.exit_code == 1 and "tnid init" in result.output
    assert "Traceback" not in result.output and key_rows(app) == []


def test_list_shows_public_facts_only(app, tnid):
    assert tnid("init").exit_code == 0
    assert tnid("keys", "rotate", "--alg", "RS256").exit_code == 0
    text = tnid("keys", "list")
    assert text.exit_code == 0, text.output
    assert text.output.count("active") == 2 and text.output.count("retired") == 1
    assert "5 key(s)." in text.output
    listed = tnid("keys", "list", "--json")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert {r["kid"] for r in rows} == {row.kid for row in key_rows(app)}
    assert set(rows[0]) == {"kid", "alg", "status", "published", "created_at", "activated_at",
                            "retired_at", "unpublish_after"}
    assert [r["alg"] for r in rows] == ["RS256"] * 3 + ["ES256"] * 2
    assert all(r["published"] for r in rows)
    (retired,) = [r for r in rows if r["status"] == "retired"]
    assert retired["retired_at"] and retired["unpublish_after"]
    for output in (text.output, listed.output):
        assert not any(member in output for member in PRIVATE_MEMBERS)


def test_list_with_no_keys(app, tnid):
    result = tnid("keys", "list", "--json")
    assert result.exit_code == 0 and json.loads(result.output) == []
