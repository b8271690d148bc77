"""The README's configuration table and command reference stay true to the code."""

from __future__ import annotations

from pathlib import Path

import pytest

from idp.cli import cli
from idp.config import OPTIONS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.env)
def test_every_setting_is_documented(option):
    assert f"| `{option.env}` |" in README


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_command_is_documented(command):
    assert f"tnid {command}" in README


def test_readme_gives_the_two_commands():
    assert "make demo" in README and "make test" in README
