"""What a relying app may register: the metadata rules shared by ``tnid clients``, the admin
console and dynamic registration (RFC 7591 §2, OIDC Registration §2, RP-Initiated Logout §3.1,
Back-Channel Logout §2.2).

A ``ClientSpec`` is untrusted: every rule raises ``InvalidInput`` naming the ``ClientSpec``
field. ``validate`` returns the values of the ``Client`` columns and writes nothing.
"""

from __future__ import annotations

import ipaddress
import json
import re
import unicodedata
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask_babel import lazy_gettext as _l
from joserfc.jwk import KeySet

from idp.models.client import AUTH_METHODS
from idp.services.identifiers import InvalidInput, Message
from idp.services.scopes import ACR_VALUES, SUPPORTED_SCOPES

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
SECRET_METHODS = ("client_secret_basic", "client_secret_post")
SUBJECT_TYPES = ("public", "pairwise")
ID_TOKEN_ALGS = ("RS256", "ES256")
MAX_URIS, MAX_URI_LENGTH, MAX_NAME_LENGTH = 20, 500, 120
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
# Where plain http is allowed: (loopback hosts in production, any host in development).
_HTTP_RULES = {"redirect": (True, True), "logo": (False, False), "jwks_uri": (False, True)}
_PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_EC_CURVES = frozenset({"P-256"})  # ES256 is the only EC algorithm we accept (discovery)
_MAX_JWKS_KEYS, _MAX_JWKS_CHARS, _MIN_RSA_BITS = 10, 20_000, 2048
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


@dataclass(frozen=True)
class ClientSpec:
    """Raw, untrusted metadata of a relying app (CLI, admin form or RFC 7591 JSON)."""

    name_vi: str
    name_en: str | None = None  # defaults to name_vi
    redirect_uris: Sequence[str] = ()
    post_logout_redirect_uris: Sequence[str] = ()
    backchannel_logout_uri: str | None = None
    scope: str = "openid profile"
    grant_types: Sequence[str] | None = None  # authorization_code (+ refresh_token if offline)
    token_endpoint_auth_method: str = "client_secret_basic"
    jwks: dict | None = None  # private_key_jwt: a JWK Set of public keys
    jwks_uri: str | None = None
    subject_type: str = "public"
    sector_identifier: str | None = None  # pairwise: defaults to the redirect URIs' one host
    id_token_signed_response_alg: str = "RS256"
    min_acr: str | None = None
    trusted: bool = False
    logo_uri: str | None = None


def validate(spec: ClientSpec, *, production: bool) -> dict[str, Any]:
    """Check every field of ``spec``; return the values of the ``Client`` columns."""
    name_vi = _name("name_vi", spec.name_vi)
    name_en = _name("name_en", spec.name_en) if _given(spec.name_en) else name_vi
    method = _choice("token_endpoint_auth_method", spec.token_endpoint_auth_method, AUTH_METHODS)
    scopes = _scope(spec.scope)
    grants = _grant_types(spec.grant_types, scopes, method)
    redirect_uris = _uris("redirect_uris", spec.redirect_uris, production)
    if "authorization_code" in grants and not redirect_uris:
        raise InvalidInput("redirect_uris", _l("Register at least one redirect URI."))
    subject_type = _choice("subject_type", spec.subject_type, SUBJECT_TYPES)
    if not isinstance(spec.trusted, bool):
        raise InvalidInput("trusted", _l("Trusted must be true or false."))
    jwks, jwks_uri = _keys(spec, method, production)
    return {
        "name_vi": name_vi, "name_en": name_en, "redirect_uris": redirect_uris,
        "post_logout_redirect_uris": _uris(
            "post_logout_redirect_uris", spec.post_logout_redirect_uris, production),
        "backchannel_logout_uri": _uri("backchannel_logout_uri", spec.backchannel_logout_uri,
                                       production) if _given(spec.backchannel_logout_uri) else None,
        "logo_uri": _uri("logo_uri", spec.logo_uri, production, kind="logo")
        if _given(spec.logo_uri) else None,
        "scope": " ".join(scopes), "grant_types": grants, "token_endpoint_auth_method": method,
        "jwks": jwks, "jwks_uri": jwks_uri, "subject_type": subject_type,
        "sector_identifier": _sector(spec.sector_identifier, subject_type, redirect_uris),
        "id_token_signed_response_alg": _choice(
            "id_token_signed_response_alg", spec.id_token_signed_response_alg, ID_TOKEN_ALGS),
        "min_acr": _choice("min_acr", spec.min_acr, ACR_VALUES) if _given(spec.min_acr)
        else None, "trusted": spec.trusted,
    }


def _given(value: object) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _choice(field: str, value: object, allowed: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise InvalidInput(field, _l("Choose one of: %(allowed)s.", allowed=", ".join(allowed)))
    return value


def _name(field: str, raw: object) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInput(field, _l("Please enter the app's name."))
    name = " ".join(unicodedata.normalize("NFC", raw[:1000]).split())
    if len(raw) > 1000 or len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(field, _l("The app's name is too long (at most 120 characters)."))
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in name):
        raise InvalidInput(field, _l("The app's name cannot contain control characters."))
    return name


def _strings(field: str, raw: object, limit: int) -> list[str]:
    if isinstance(raw, str) or not isinstance(raw, Sequence) \
            or not all(isinstance(item, str) for item in raw):
        raise InvalidInput(field, _l("Give a list of text values."))
    if len(raw) > limit:
        raise InvalidInput(field, _l("Give at most %(limit)d values.", limit=limit))
    return list(dict.fromkeys(raw))  # duplicates collapse, order kept


def _scope(raw: object) -> list[str]:
    if not isinstance(raw, str) or len(raw) > 500:
        raise InvalidInput("scope", _l("The scope must be scope names separated by spaces."))
    for token in raw.split():
        if token not in SUPPORTED_SCOPES:
            raise InvalidInput("scope", _l("Unknown scope %(scope)s. Supported: %(supported)s.",
                                           scope=token[:40], supported=" ".join(SUPPORTED_SCOPES)))
    if "openid" not in raw.split():
        raise InvalidInput("scope", _l("The scope must include openid."))
    return [s for s in SUPPORTED_SCOPES if s in raw.split()]


def _grant_types(raw: Sequence[str] | None, scopes: list[str], method: str) -> list[str]:
    if raw is None:
        raw = ["authorization_code"] + (["refresh_token"] if "offline_access" in scopes else [])
    grants = _strings("grant_types", raw, len(GRANT_TYPES))
    for grant in grants:
        if grant not in GRANT_TYPES:
            raise InvalidInput("grant_types", _l("Unknown grant type %(grant)s. Allowed: "
                               "%(allowed)s.", grant=grant[:40], allowed=", ".join(GRANT_TYPES)))
    if not grants:
        raise InvalidInput("grant_types", _l("Give at least one grant type."))
    if "refresh_token" in grants and "authorization_code" not in grants:
        raise InvalidInput("grant_types", _l("refresh_token needs the authorization_code grant."))
    if "client_credentials" in grants and method == "none":
        raise InvalidInput("grant_types", _l(
            "Public clients (auth method none) cannot use the client_credentials grant."))
    return [g for g in GRANT_TYPES if g in grants]


def _uris(field: str, raw: object, production: bool) -> list[str]:
    uris = [_uri(field, item, production) for item in _strings(field, raw, MAX_URIS)]
    return list(dict.fromkeys(uris))


def _uri(field: str, raw: object, production: bool, kind: str = "redirect") -> str:
    """An absolute http(s) URL without fragment, user info or wildcard (RFC 6749 §3.1.2)."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInput(field, _l("Please enter an address (URL)."))
    uri = raw.strip()
    if (problem := _uri_problem(uri, production, kind)) is not None:
        raise InvalidInput(field, problem)
    return uri


def _uri_problem(uri: str, production: bool, kind: str) -> Message | None:
    shown = uri[:80]
    if len(uri) > MAX_URI_LENGTH:
        return _l("The address is too long (at most 500 characters).")
    if not uri.isascii() or any(c.isspace() or not c.isprintable() for c in uri):
        return _l("The address %(uri)s must be ASCII without spaces.", uri=shown)
    if "*" in uri:
        return _l("The address %(uri)s cannot contain wildcards (*).", uri=shown)
    if "#" in uri:
        return _l("The address %(uri)s cannot contain a fragment (#).", uri=shown)
    try:
        parts = urlsplit(uri)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    if not port_ok or parts.scheme not in ("http", "https") or not parts.hostname:
        return _l("The address %(uri)s must be an absolute https:// URL.", uri=shown)
    if "@" in parts.netloc:
        return _l("The address %(uri)s cannot contain a user name or password.", uri=shown)
    if not _valid_host(parts.hostname):
        return _l("The address %(uri)s has an invalid host name.", uri=shown)
    loopback_in_production, any_in_development = _HTTP_RULES[kind]
    loopback = parts.hostname in LOOPBACK_HOSTS
    if parts.scheme == "http" and not ((loopback and (loopback_in_production or not production))
                                       or (any_in_development and not production)):
        return _l("The address %(uri)s must use https://.", uri=shown)
    return None


def _valid_host(host: str) -> bool:
    try:
        return bool(ipaddress.ip_address(host))
    except ValueError:
        return len(host) <= 253 and _HOSTNAME.fullmatch(host) is not None


def _keys(spec: ClientSpec, method: str, production: bool) -> tuple[dict | None, str | None]:
    has_jwks, has_uri = spec.jwks is not None, _given(spec.jwks_uri)
    if method != "private_key_jwt":
        if has_jwks or has_uri:
            raise InvalidInput("jwks", _l("Public keys (jwks or jwks_uri) are only used with "
                                          "the private_key_jwt authentication method."))
        return None, None
    if has_jwks == has_uri:
        raise InvalidInput("jwks", _l("private_key_jwt needs exactly one of jwks or jwks_uri."))
    if has_uri:
        return None, _uri("jwks_uri", spec.jwks_uri, production, "jwks_uri")
    return _public_jwks(spec.jwks), None


def _public_jwks(raw: object) -> dict:
    """A JWK Set (RFC 7517 §5) of 1-10 public signing keys: RSA >= 2048 bits or EC."""
    bad = InvalidInput("jwks", _l("The jwks value is not a valid JWK Set of public keys."))
    try:
        text = json.dumps(raw, allow_nan=False)
    except (TypeError, ValueError):
        raise bad from None
    keys = raw.get("keys") if isinstance(raw, dict) else None
    if len(text) > _MAX_JWKS_CHARS or not isinstance(keys, list) or not keys \
            or len(keys) > _MAX_JWKS_KEYS or not all(isinstance(k, dict) for k in keys):
        raise bad
    if any(_PRIVATE_JWK_MEMBERS & key.keys() for key in keys):
        raise InvalidInput("jwks", _l("The jwks value contains private or secret key material: "
                                      "register public keys only."))
    if any(k.get("kty") not in ("RSA", "EC") or k.get("use", "sig") != "sig"
           or (k["kty"] == "EC" and k.get("crv") not in _EC_CURVES) for k in keys):
        raise bad
    try:
        with warnings.catch_warnings():  # joserfc warns on small RSA keys; refused below
            warnings.simplefilter("ignore")
            key_set = KeySet.import_key_set(json.loads(text))
    except Exception:  # noqa: BLE001 - joserfc raises many types on hostile input
        raise bad from None
    if any(k.is_private for k in key_set.keys):
        raise bad
    if any(k.key_type == "RSA" and k.raw_value.key_size < _MIN_RSA_BITS for k in key_set.keys):
        raise InvalidInput("jwks", _l("RSA keys must be at least 2048 bits long."))
    return json.loads(text)


def _sector(raw: object, subject_type: str, redirect_uris: list[str]) -> str | None:
    """OIDC Core §8.1: pairwise subjects are computed per sector, a host the app controls."""
    if subject_type == "public":
        if _given(raw):
            raise InvalidInput("sector_identifier", _l(
                "A sector identifier is only used with pairwise subject identifiers."))
        return None
    hosts = sorted({urlsplit(uri).hostname or "" for uri in redirect_uris})
    if not _given(raw):
        if len(hosts) == 1:
            return hosts[0]
        raise InvalidInput("sector_identifier", _l(
            "The redirect URIs use several hosts (or none): give the sector identifier, a host "
            "name that covers them all."))
    sector = raw.strip().lower() if isinstance(raw, str) else ""
    if not _valid_host(sector) or ("." not in sector and sector not in hosts):
        raise InvalidInput("sector_identifier", _l(
            "The sector identifier must be a host name such as dichvucong.thainguyen.gov.vn."))
    # Otherwise an app could choose another app's sector and correlate its citizens.
    if any(host != sector and not host.endswith("." + sector) for host in hosts):
        raise InvalidInput("sector_identifier", _l(
            "Every redirect URI must be on %(sector)s or one of its subdomains.", sector=sector))
    return sector
