"""``tnid clients create|list|show|rotate-secret|disable|registration-token``.

Secrets and initial access tokens are printed once, when they are made; only their SHA-256
hashes are stored.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn

import click
from flask import Flask
from sqlalchemy import select

from idp.cli.common import echo_json, fail, with_app
from idp.extensions import db
from idp.models import Client
from idp.models.client import AUTH_METHODS
from idp.services import clients as service
from idp.services.clients import GRANT_TYPES, ID_TOKEN_ALGS, SUBJECT_TYPES, ClientSpec
from idp.services.clock import utcnow
from idp.services.identifiers import InvalidInput
from idp.services.scopes import ACR_VALUES
from idp.web import deps

# ClientSpec field -> the option that sets it, so errors name what the operator typed.
OPTION_OF = {
    "name_vi": "--name", "name_en": "--name-en", "redirect_uris": "--redirect-uri",
    "post_logout_redirect_uris": "--post-logout-redirect-uri",
    "backchannel_logout_uri": "--backchannel-logout-uri", "scope": "--scope",
    "grant_types": "--grant-type", "token_endpoint_auth_method": "--auth-method",
    "jwks": "--jwks-file", "jwks_uri": "--jwks-uri", "subject_type": "--subject-type",
    "sector_identifier": "--sector-identifier", "id_token_signed_response_alg": "--id-token-alg",
    "min_acr": "--min-acr", "trusted": "--trusted", "logo_uri": "--logo-uri",
    "lifetime": "--expires-in-hours", "uses": "--uses", "note": "--note",
}
MAX_JWKS_FILE = 64 * 1024
# --client-id: a fixed id lets a deployment script register its app idempotently. Unreserved
# URI characters only (it travels in URLs and forms); never a leading "-" (an option).
CLIENT_ID_PATTERN = re.compile(r"[A-Za-z0-9_.~][A-Za-z0-9_.~-]{2,63}")


@click.group()
def clients() -> None:
    """Relying apps (OpenID Connect clients)."""


@clients.command("create")
@click.option("--name", "name_vi", required=True, help="Name citizens see (Vietnamese).")
@click.option("--name-en", default=None, help="English name. Default: --name.")
@click.option("--redirect-uri", "redirect_uris", multiple=True,
              help="Exact redirect URI; repeat for several.")
@click.option("--post-logout-redirect-uri", "post_logout_redirect_uris", multiple=True)
@click.option("--backchannel-logout-uri", default=None)
@click.option("--scope", default="openid profile", show_default=True,
              help="Scopes the app may ask for; must include openid.")
@click.option("--auth-method", "token_endpoint_auth_method", type=click.Choice(AUTH_METHODS),
              default="client_secret_basic", show_default=True,
              help="none = public client (PKCE required).")
@click.option("--jwks-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="private_key_jwt: JWK Set file with the app's public keys.")
@click.option("--jwks-uri", default=None, help="private_key_jwt: URL of the app's JWK Set.")
@click.option("--subject-type", type=click.Choice(SUBJECT_TYPES), default="public",
              show_default=True)
@click.option("--sector-identifier", default=None,
              help="pairwise: host grouping the redirect URIs. Default: their single host.")
@click.option("--id-token-alg", "id_token_signed_response_alg",
              type=click.Choice(ID_TOKEN_ALGS), default="RS256", show_default=True)
@click.option("--min-acr", type=click.Choice(ACR_VALUES), default=None,
              help="Lowest sign-in level the app accepts.")
@click.option("--trusted", is_flag=True, help="Mark as a trusted first-party app.")
@click.option("--logo-uri", default=None)
@click.option("--grant-type", "grant_types", type=click.Choice(GRANT_TYPES), multiple=True,
              help="Repeat for several. Default: authorization_code (+ refresh_token with "
                   "offline_access).")
@click.option("--client-id", "fixed_id", default=None,
              help="Use this client_id (3-64 letters, digits, . _ ~ -) instead of a random one.")
@click.option("--if-not-exists", is_flag=True,
              help="If an enabled app has this --name (or this --client-id), print it (without "
                   "secret) and exit 0.")
@click.option("--json", "as_json", is_flag=True, help="Print client_id, client_secret and "
              "the registered metadata as JSON.")
@with_app
def create(app: Flask, jwks_file: Path | None, grant_types: tuple[str, ...],
           fixed_id: str | None, if_not_exists: bool, as_json: bool, **fields: Any) -> None:
    """Register an app. Its secret is printed now and never again."""
    spec = ClientSpec(jwks=_read_jwks(jwks_file) if jwks_file else None,
                      grant_types=grant_types or None, **fields)
    production = deps.settings().is_production
    if fixed_id is not None and not CLIENT_ID_PATTERN.fullmatch(fixed_id):
        fail("--client-id: use 3 to 64 letters, digits, '.', '_', '~' or '-', not starting "
             "with '-'.")
    try:
        values = service.validate(spec, production=production)
        existing = _existing(fixed_id, values["name_vi"]) if if_not_exists else None
        if existing is None:
            if fixed_id is not None and service.find_client(db.session, fixed_id) is not None:
                fail(f"--client-id: {fixed_id} is already registered.")
            client, secret = service.create_client(db.session, spec, production=production)
            if fixed_id is not None:
                client.client_id = fixed_id
            db.session.commit()
    except InvalidInput as error:
        db.session.rollback()
        _invalid(error)
    if existing is not None:
        differing = [k for k, v in values.items() if getattr(existing, k) != v]
        click.echo(f"Client {existing.client_id} ({existing.name_vi}) already exists; "
                   "nothing changed.", err=True)
        if differing:
            click.echo(f"Warning: its registered {', '.join(differing)} differ from the "
                       "options given.", err=True)
        client, secret = existing, None
    if as_json:
        echo_json({"client_id": client.client_id, "client_secret": secret,
                   **metadata(client)})
        return
    if existing is None:
        click.echo(f"Created client {client.client_id} ({client.name_vi}).")
    _echo_secret(client, secret)


@clients.command("list")
@click.option("--json", "as_json", is_flag=True)
@with_app
def list_(app: Flask, as_json: bool) -> None:
    """List every app, oldest first (disabled ones included)."""
    rows = [metadata(c) for c in service.list_clients(db.session)]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        status = "disabled" if row["disabled_at"] else "active"
        click.echo(f"{row['client_id']}  {row['token_endpoint_auth_method']:19}  {status:8}  "
                   f"{row['client_name']}")
    click.echo(f"{len(rows)} client(s).", err=True)


@clients.command("show")
@click.argument("client_id")
@click.option("--json", "as_json", is_flag=True)
@with_app
def show(app: Flask, client_id: str, as_json: bool) -> None:
    """Show one app's registered metadata."""
    data = metadata(_find(client_id))
    if as_json:
        echo_json(data)
        return
    for name, value in data.items():
        if isinstance(value, list | dict):
            value = json.dumps(value, ensure_ascii=False) if value else None
        click.echo(f"{name:29} {value if value not in (None, '') else '-'}")


@clients.command("rotate-secret")
@click.argument("client_id")
@click.option("--json", "as_json", is_flag=True)
@with_app
def rotate(app: Flask, client_id: str, as_json: bool) -> None:
    """Replace the app's client secret; the old one stops working at once."""
    client = _find(client_id)
    try:
        secret = service.rotate_secret(db.session, client)
        db.session.commit()
    except InvalidInput as error:
        db.session.rollback()
        _invalid(error)
    if as_json:
        echo_json({"client_id": client.client_id, "client_secret": secret})
        return
    click.echo(f"New secret for {client.client_id} ({client.name_vi}); the old one no "
               "longer works.")
    _echo_secret(client, secret)


@clients.command("disable")
@click.argument("client_id")
@with_app
def disable(app: Flask, client_id: str) -> None:
    """Stop the app from signing citizens in and revoke its tokens."""
    client = _find(client_id)
    if client.disabled_at is not None:
        click.echo(f"Client {client.client_id} was already disabled.")
        return
    service.disable_client(db.session, client, utcnow())
    db.session.commit()
    click.echo(f"Disabled client {client.client_id} ({client.name_vi}); its tokens are revoked.")


@clients.command("registration-token")
@click.option("--expires-in-hours", type=click.IntRange(1, 24 * 30), default=24,
              show_default=True)
@click.option("--uses", type=click.IntRange(1, 1000), default=1, show_default=True,
              help="How many apps may register with it.")
@click.option("--note", default=None, help="Who it is for (kept with the token).")
@click.option("--json", "as_json", is_flag=True)
@with_app
def registration_token(app: Flask, expires_in_hours: int, uses: int, note: str | None,
                       as_json: bool) -> None:
    """Make an initial access token for dynamic client registration (RFC 7591 §3)."""
    now = utcnow()
    lifetime = timedelta(hours=expires_in_hours)
    try:
        token = service.create_initial_access_token(db.session, now=now, lifetime=lifetime,
                                                    uses=uses, note=note)
        db.session.commit()
    except InvalidInput as error:
        db.session.rollback()
        _invalid(error)
    expires_at = (now + lifetime).isoformat(timespec="seconds") + "Z"
    if as_json:
        echo_json({"initial_access_token": token, "expires_at": expires_at, "uses": uses,
                   "note": note})
        return
    click.echo(f"Initial access token (valid until {expires_at}, {uses} use(s)):\n{token}\n"
               "Send it as 'Authorization: Bearer <token>' to the registration endpoint. "
               "It is shown only this once.")


def metadata(client: Client) -> dict[str, Any]:
    """The registered metadata, with RFC 7591 names where one exists."""
    return {
        "client_id": client.client_id,
        "client_name": client.name_vi,
        "client_name#en": client.name_en,
        "redirect_uris": list(client.redirect_uris),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "scope": client.scope,
        "grant_types": list(client.grant_types),
        "response_types": ["code"] if "authorization_code" in client.grant_types else [],
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "jwks": client.jwks,
        "jwks_uri": client.jwks_uri,
        "subject_type": client.subject_type,
        "sector_identifier": client.sector_identifier,
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
        "min_acr": client.min_acr,
        "trusted": client.trusted,
        "logo_uri": client.logo_uri,
        "created_via": client.created_via,
        "created_at": client.created_at.isoformat(timespec="seconds") + "Z",
        "disabled_at": client.disabled_at.isoformat(timespec="seconds") + "Z"
        if client.disabled_at else None,
    }


def _find(client_id: str) -> Client:
    client = service.find_client(db.session, client_id)
    if client is None:
        fail(f"No client with client_id {client_id!r}.")
    assert client is not None
    return client


def _existing(fixed_id: str | None, name_vi: str) -> Client | None:
    """--if-not-exists: the app with that --client-id (which must be enabled), else by name."""
    if fixed_id is None:
        return _enabled_by_name(name_vi)
    client = service.find_client(db.session, fixed_id)
    if client is not None and client.disabled_at is not None:
        fail(f"--client-id: {fixed_id} is registered but disabled.")
    return client


def _enabled_by_name(name_vi: str) -> Client | None:
    query = select(Client).where(Client.name_vi == name_vi, Client.disabled_at.is_(None))
    return db.session.scalars(query.order_by(Client.id)).first()


def _read_jwks(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as file:
            text = file.read(MAX_JWKS_FILE + 1)
        if len(text) > MAX_JWKS_FILE:
            fail(f"--jwks-file: {path} is too large for a JWK Set.")
        return json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        fail(f"--jwks-file: cannot read a JSON JWK Set from {path}: {error}")


def _echo_secret(client: Client, secret: str | None) -> None:
    click.echo(f"client_id      {client.client_id}")
    if secret is not None:
        click.echo(f"client_secret  {secret}")
        click.echo("Store the secret now: it is shown only this once.")
    elif client.token_endpoint_auth_method in service.SECRET_METHODS:
        click.echo("client_secret  (not shown again; use 'tnid clients rotate-secret')")


def _invalid(error: InvalidInput) -> NoReturn:
    fail(f"{OPTION_OF.get(error.field, error.field)}: {error.message}")
    raise AssertionError("unreachable")
