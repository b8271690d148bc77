"""Scopes ThaiNguyen ID offers, the claims each one releases, and the assurance values.

The consent page and the discovery document are built from these tables, so what a citizen
is shown is exactly what the app receives.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

SUPPORTED_SCOPES: tuple[str, ...] = (
    "openid", "profile", "email", "phone", "address", "citizen", "offline_access",
)

SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "openid": ("sub",),
    "profile": ("name", "given_name", "family_name", "birthdate", "gender", "locale",
                "updated_at"),
    "email": ("email", "email_verified"),
    "phone": ("phone_number", "phone_number_verified"),
    "address": ("address",),
    "citizen": ("cccd", "identity_level"),
    "offline_access": (),
}

# What the consent page says each scope shares, in the citizen's words.
SCOPE_DESCRIPTIONS = {
    "profile": _l("Full name, date of birth and gender"),
    "email": _l("Email address"),
    "phone": _l("Phone number"),
    "address": _l("Commune / ward and province where you live"),
    "citizen": _l("Citizen ID number (CCCD) and identity level"),
    "offline_access": _l("Stay connected when you are not using the app"),
}

ACR_ONE_FACTOR = "urn:tnid:acr:1"
ACR_TWO_FACTORS = "urn:tnid:acr:2"
ACR_VALUES: tuple[str, ...] = (ACR_ONE_FACTOR, ACR_TWO_FACTORS)
ACR_RANK = {ACR_ONE_FACTOR: 1, ACR_TWO_FACTORS: 2}

# Every claim an ID token or the userinfo response can carry (OIDC Discovery §3): the ID
# token's own (OIDC Core §2, §3.1.3.6; sid from Front-/Back-Channel Logout), the scopes'
# claims, and verified_claims (OpenID Connect for Identity Assurance).
ID_TOKEN_CLAIMS: tuple[str, ...] = (
    "iss", "sub", "aud", "azp", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid",
    "at_hash",
)
CLAIMS_SUPPORTED: tuple[str, ...] = tuple(
    dict.fromkeys(
        [*ID_TOKEN_CLAIMS, "verified_claims"]
        + [claim for claims in SCOPE_CLAIMS.values() for claim in claims]
    )
)
