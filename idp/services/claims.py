"""What a relying app learns about a citizen: ``sub`` (public or pairwise) and the claims of
the scopes the citizen agreed to (OIDC Core §5.4), narrowed by a ``claims`` request (§5.5),
plus ``verified_claims`` (OpenID Connect for Identity Assurance 1.0) for level-2 identities.

Never a claim outside the consented scopes: the consent page lists scopes, so a claims
request can only narrow what the scopes release, not widen it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from idp.models import Citizen, Client
from idp.services import identifiers
from idp.services.clock import epoch
from idp.services.scopes import SCOPE_CLAIMS

COUNTRY = "VN"
# The citizen's language. Accounts do not store a preference yet, and the language of the
# app's back-channel call (token, userinfo) says nothing about the citizen: Vietnamese.
DEFAULT_LOCALE = "vi"
VERIFIED_CLAIMS = "verified_claims"
TRUST_FRAMEWORK = "vn_cccd"
DOCUMENT_TYPE = "idcard"
# IDA Schema §5.1.1.1: "vpip", the physical document checked by a person in person.
CHECK_METHOD = "vpip"
# Claims that can appear inside verified_claims, and the scope each belongs to.
VERIFIABLE: dict[str, str] = {"given_name": "profile", "family_name": "profile",
                              "birthdate": "profile", "cccd": "citizen"}


def subject(citizen_id: object, client: Client, pairwise_secret: bytes) -> str:
    """Public ``sub``: the internal id (stable, never the CCCD). Pairwise: an HMAC over the
    client's sector and that id, so two sectors cannot link their users (OIDC Core §8.1)."""
    if client.subject_type != "pairwise":
        return str(citizen_id)
    sector = (client.sector_identifier or "").encode()
    mac = hmac.new(pairwise_secret, sector + b"|" + str(citizen_id).encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


def scope_claims(citizen: Citizen, scopes: list[str] | set[str],
                 locale: str = DEFAULT_LOCALE) -> dict:
    """Every claim the granted scopes release (OIDC Core §5.4); empty values are left out."""
    claims: dict[str, Any] = {}
    if "profile" in scopes:
        family, given = identifiers.split_vietnamese_name(citizen.full_name)
        claims.update(
            name=citizen.full_name, family_name=family, given_name=given,
            birthdate=citizen.birthdate.isoformat(), gender=citizen.gender,
            locale=locale, updated_at=epoch(citizen.updated_at),
        )
    if "email" in scopes and citizen.email:
        # Not yet verified by a link: say so rather than imply it.
        claims.update(email=citizen.email, email_verified=False)
    if "phone" in scopes:
        # Verified by SMS at registration or in person by an officer.
        claims.update(phone_number=citizen.phone, phone_number_verified=True)
    if "address" in scopes and citizen.commune_code:
        claims["address"] = address(citizen.commune_code)
    if "citizen" in scopes:
        claims.update(cccd=citizen.cccd, identity_level=citizen.identity_level)
    return {k: v for k, v in claims.items() if v not in ("", None)}


def address(commune_code: str) -> dict:
    """OIDC Core §5.1.1 address: commune as locality, province as region."""
    try:
        commune = identifiers.commune_name(commune_code)
        province = identifiers.commune_province_name(commune_code)
    except identifiers.InvalidInput:  # a unit retired by a later reform
        return {"country": COUNTRY}
    return {"formatted": f"{commune}, {province}, Việt Nam", "locality": commune,
            "region": province, "country": COUNTRY}


def requested(claims_request: dict | None, member: str) -> dict | None:
    """The ``userinfo`` or ``id_token`` member of a claims request, if any."""
    if not isinstance(claims_request, dict):
        return None
    value = claims_request.get(member)
    return value if isinstance(value, dict) else None


def allowed_claims(scopes: list[str] | set[str]) -> set[str]:
    return {claim for scope in scopes for claim in SCOPE_CLAIMS.get(scope, ())}


def userinfo(citizen: Citizen, client: Client, scope: str, *, pairwise_secret: bytes,
             claims_request: dict | None = None, locale: str = DEFAULT_LOCALE) -> dict:
    """The userinfo response (OIDC Core §5.3.2).

    Without a claims request: every claim of the scopes. A request that names ordinary
    claims narrows the answer to those (data minimisation: an app asking for ``name`` gets
    ``name``); ``verified_claims`` is released only when asked for (IDA §6).
    """
    scopes = scope.split()
    released = scope_claims(citizen, scopes, locale)
    asked = requested(claims_request, "userinfo")
    if asked is not None:
        named = {name for name in asked if name != VERIFIED_CLAIMS}
        if named:
            released = {k: v for k, v in released.items() if k in named}
        if VERIFIED_CLAIMS in asked:
            verified = verified_claims(citizen, scopes, asked[VERIFIED_CLAIMS])
            if verified:
                released[VERIFIED_CLAIMS] = verified
    return {"sub": subject(citizen.id, client, pairwise_secret), **released}


def id_token_claims(citizen: Citizen, scope: str, claims_request: dict | None,
                    locale: str = DEFAULT_LOCALE) -> dict:
    """ID tokens carry only the claims an app asked for by name in ``claims.id_token``
    (OIDC Core §5.5), still within the consented scopes."""
    asked = requested(claims_request, "id_token")
    if not asked:
        return {}
    released = scope_claims(citizen, scope.split(), locale)
    return {k: v for k, v in released.items() if k in asked}


def verified_claims(citizen: Citizen, scopes: list[str] | set[str],
                    request: object = None) -> dict | None:
    """OpenID Connect for Identity Assurance: only a level-2 identity (checked in person by
    an officer against the CCCD card) is asserted as verified, only under the ``citizen``
    scope, and each verified claim only when its own scope was granted too.

    ``request`` is the ``verified_claims`` member of the claims request (an object, or an
    array of them, IDA §5.3): its ``claims`` narrow the answer, and a ``trust_framework``
    constraint we cannot meet means no verified claims at all (IDA §5.6).
    """
    if citizen.identity_level < 2 or "citizen" not in scopes:
        return None
    requests = [r for r in (request if isinstance(request, list) else [request])
                if isinstance(r, dict)]
    if any(not _framework_acceptable(r) for r in requests):
        return None
    names = {name for r in requests if isinstance(r.get("claims"), dict)
             for name in r["claims"]}
    family, given = identifiers.split_vietnamese_name(citizen.full_name)
    values = {"given_name": given, "family_name": family,
              "birthdate": citizen.birthdate.isoformat(), "cccd": citizen.cccd}
    released = {name: value for name, value in values.items()
                if value and VERIFIABLE[name] in scopes and (not names or name in names)}
    if not released:
        return None
    return {
        "verification": {
            "trust_framework": TRUST_FRAMEWORK, "assurance_level": "2",
            "evidence": [{"type": "document",
                          "check_details": [{"check_method": CHECK_METHOD}],
                          "document_details": {"type": DOCUMENT_TYPE}}],
        },
        "claims": released,
    }


def _framework_acceptable(request: dict) -> bool:
    verification = request.get("verification")
    wanted = verification.get("trust_framework") if isinstance(verification, dict) else None
    if not isinstance(wanted, dict):
        return True  # null or absent: any framework will do
    values = wanted.get("values") if isinstance(wanted.get("values"), list) \
        else [wanted["value"]] if "value" in wanted else None
    return values is None or TRUST_FRAMEWORK in values
