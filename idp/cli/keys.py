"""``tnid keys rotate|list``: the signing keys published in the JWKS."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import click
from flask import Flask

from idp.cli.common import echo_json, fail, with_app
from idp.extensions import db
from idp.models import SigningKey
from idp.services import keys as key_service
from idp.services.clock import utcnow
from idp.web import deps

CLOCK_SKEW = timedelta(minutes=5)


@click.group()
def keys() -> None:
    """Signing keys for ID tokens and logout tokens."""


@keys.command("rotate")
@click.option("--alg", type=click.Choice(key_service.SUPPORTED_ALGS), default=None,
              help="Rotate only this algorithm (default: all).")
@with_app
def rotate(app: Flask, alg: str | None) -> None:
    """Retire the active key, start signing with the already published next key, publish a
    new next key; then remove retired keys whose publication time is over."""
    now = utcnow()
    box = key_service.box_for(deps.settings().secret_key)
    try:
        result = key_service.rotate(db.session, box, now, published_for=published_for(),
                                    alg=alg)
        purged = key_service.purge_unpublished(db.session, now)
        db.session.commit()
    except key_service.KeyStoreError as error:
        db.session.rollback()
        fail(str(error))
    for r in result.rotations:
        click.echo(f"{r.alg}: {', '.join(r.retired) or '(none)'} -> {r.activated}  "
                   f"(next: {r.created})")
    click.echo(f"Removed {purged} retired key(s) no longer published.")


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the keys as JSON.")
@with_app
def list_(app: Flask, as_json: bool) -> None:
    """List signing keys (public facts only, never private material)."""
    now = utcnow()
    rows = [_public(row, now) for row in key_service.all_keys(db.session)]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        click.echo(f"{row['alg']:6} {row['status']:8} {row['kid']}  created {row['created_at']}"
                   f"  {'published' if row['published'] else 'unpublished'}"
                   + (f" until {row['unpublish_after']}" if row["unpublish_after"] else ""))
    click.echo(f"{len(rows)} key(s).", err=True)


def published_for() -> timedelta:
    """A retired key stays published while what it signed is valid, plus clock skew.

    ID tokens are the longest-lived thing these keys sign (logout tokens are short-lived).
    """
    return timedelta(seconds=deps.settings().id_token_lifetime_seconds) + CLOCK_SKEW


def _public(row: SigningKey, now: datetime) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat(timespec="seconds") if value else None

    return {
        "kid": row.kid, "alg": row.alg, "status": row.status,
        "published": key_service.is_published(row, now),
        "created_at": iso(row.created_at), "activated_at": iso(row.activated_at),
        "retired_at": iso(row.retired_at), "unpublish_after": iso(row.unpublish_after),
    }
