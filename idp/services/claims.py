"""What a relying app learns about a citizen: ``sub`` (public or pairwise) and the claims of
the scopes the citizen agreed to (OIDC Core §5.4), narrowed by a ``claims`` request (§5.5).
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


def subject(citizen_id: object, client: Client, pairwise_secret: bytes) -> str:
    """Public ``sub``: the internal id (stable, never the CCCD). Pairwise: an HMAC over the
    client's sector and that id, so two sectors cannot link their users (OIDC Core §8.1)."""
    if client.subject_type != "pairwise":
        return str(citizen_id)
    sector = (client.sector_identifier or "").encode()
    mac = hmac.new(pairwise_secret, sector + b"|" + str(citizen_id).encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


def scope_claims(citizen: Citizen, scopes: list[str] | set[str], locale: str = "vi") -> dict:
    """Every claim the granted scopes release."""
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
    return claims


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


def userinfo(citizen: Citizen, client: Client, scope: str, *, pairwise_secret: bytes,
             claims_request: dict | None = None, locale: str = "vi") -> dict:
    """The userinfo response: scope claims, narrowed to the names asked for when the app sent
    a claims request; never a claim outside the consented scopes."""
    scopes = scope.split()
    released = scope_claims(citizen, scopes, locale)
    asked = requested(claims_request, "userinfo")
    if asked is not None:
        allowed = {c for s in scopes for c in SCOPE_CLAIMS.get(s, ())}
        explicitly = {name for name in asked if name in allowed}
        if explicitly:
            released = {k: v for k, v in released.items() if k in explicitly}
        if "verified_claims" in asked and "citizen" in scopes:
            verified = verified_claims(citizen)
            if verified:
                released["verified_claims"] = verified
    return {"sub": subject(citizen.id, client, pairwise_secret), **released}


def id_token_claims(citizen: Citizen, scope: str, claims_request: dict | None,
                    locale: str = "vi") -> dict:
    """ID tokens carry only the claims an app asked for by name in ``claims.id_token``."""
    asked = requested(claims_request, "id_token")
    if not asked:
        return {}
    released = scope_claims(citizen, scope.split(), locale)
    return {k: v for k, v in released.items() if k in asked}


def verified_claims(citizen: Citizen) -> dict | None:
    """OpenID Connect for Identity Assurance: only a level-2 identity (checked in person
    against the CCCD card) is asserted as verified."""
    if citizen.identity_level < 2:
        return None
    family, given = identifiers.split_vietnamese_name(citizen.full_name)
    return {
        "verification": {"trust_framework": "vn_cccd", "assurance_level": "2",
                         "evidence": [{"type": "document", "method": "pipp",
                                       "document_details": {"type": "idcard"}}]},
        "claims": {"given_name": given, "family_name": family,
                   "birthdate": citizen.birthdate.isoformat(), "cccd": citizen.cccd},
    }
