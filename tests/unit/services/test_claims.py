"""Pure functions of idp.services.claims: subjects, scope claims, claims requests and
verified claims. No database: citizens and clients are plain model objects."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idp.models import Citizen, Client
from idp.services import claims
from idp.services.scopes import CLAIMS_SUPPORTED, SCOPE_CLAIMS, SUPPORTED_SCOPES

SECRET = b"s" * 32
UPDATED = datetime(2025, 8, 1, 3, 0, 0)
ALL_SCOPES = list(SUPPORTED_SCOPES)


def citizen(**fields: object) -> Citizen:
    values = {"id": uuid.UUID("6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f"), "cccd": "019085000001",
              "full_name": "Nguyễn Văn An", "birthdate": date(1985, 3, 12), "gender": "male",
              "phone": "+84912300001", "email": "an@example.vn", "commune_code": "05719",
              "identity_level": 1, "status": "active", "updated_at": UPDATED, **fields}
    return Citizen(**values)


def client(subject_type: str = "public", sector: str | None = None) -> Client:
    return Client(client_id="app", subject_type=subject_type, sector_identifier=sector)


# --- subjects --------------------------------------------------------------------------------


def test_public_sub_is_the_internal_id_never_the_cccd():
    person = citizen()
    assert claims.subject(person.id, client(), SECRET) == str(person.id)
    assert person.cccd not in claims.subject(person.id, client(), SECRET)


def test_pairwise_sub_is_stable_per_sector_and_differs_between_sectors():
    person = citizen()
    market = client("pairwise", "cho.thainguyen.gov.vn")
    market_again = client("pairwise", "cho.thainguyen.gov.vn")
    health = client("pairwise", "suckhoe.thainguyen.gov.vn")
    sub = claims.subject(person.id, market, SECRET)
    assert sub == claims.subject(person.id, market_again, SECRET)  # same sector, same sub
    assert sub != claims.subject(person.id, health, SECRET)
    assert sub != str(person.id) and person.cccd not in sub
    assert claims.subject(person.id, market, b"another secret" * 3) != sub


@given(a=st.uuids(), b=st.uuids())
def test_pairwise_subs_of_two_citizens_never_collide(a, b):
    market = client("pairwise", "cho.thainguyen.gov.vn")
    assert (claims.subject(a, market, SECRET) == claims.subject(b, market, SECRET)) == (a == b)


# --- claims by scope -------------------------------------------------------------------------


def test_each_scope_releases_exactly_its_claims():
    person = citizen(identity_level=2)
    for scope in ALL_SCOPES:
        released = claims.scope_claims(person, [scope])
        assert set(released) == set(SCOPE_CLAIMS[scope]) - {"sub"}, scope


def test_profile_claims_split_the_vietnamese_name():
    released = claims.scope_claims(citizen(), ["profile"])
    assert released == {"name": "Nguyễn Văn An", "family_name": "Nguyễn",
                        "given_name": "Văn An", "birthdate": "1985-03-12", "gender": "male",
                        "locale": "vi", "updated_at": 1754017200}


def test_a_one_word_name_has_no_empty_family_name():
    released = claims.scope_claims(citizen(full_name="An"), ["profile"])
    assert released["given_name"] == "An" and "family_name" not in released


def test_email_is_not_claimed_verified_and_absent_without_an_address():
    assert claims.scope_claims(citizen(), ["email"]) == {"email": "an@example.vn",
                                                        "email_verified": False}
    assert claims.scope_claims(citizen(email=None), ["email"]) == {}


def test_phone_is_e164_and_verified():
    assert claims.scope_claims(citizen(), ["phone"]) == {"phone_number": "+84912300001",
                                                        "phone_number_verified": True}


def test_address_names_commune_province_and_country():
    assert claims.scope_claims(citizen(), ["address"])["address"] == {
        "formatted": "Xã Sảng Mộc, Thái Nguyên, Việt Nam", "locality": "Xã Sảng Mộc",
        "region": "Thái Nguyên", "country": "VN"}


def test_a_retired_commune_leaves_only_the_country():
    assert claims.address("99999") == {"country": "VN"}
    assert claims.scope_claims(citizen(commune_code="99999"), ["address"]) == {
        "address": {"country": "VN"}}


def test_no_commune_no_address_claim():
    assert claims.scope_claims(citizen(commune_code=None), ["address"]) == {}


def test_citizen_scope_gives_cccd_and_identity_level():
    assert claims.scope_claims(citizen(identity_level=2), ["citizen"]) == {
        "cccd": "019085000001", "identity_level": 2}


def test_unknown_scopes_release_nothing():
    assert claims.scope_claims(citizen(), ["openid", "offline_access", "admin", ""]) == {}


def test_claims_supported_covers_every_scope_claim_and_the_id_token_claims():
    for scope_claims in SCOPE_CLAIMS.values():
        assert set(scope_claims) <= set(CLAIMS_SUPPORTED)
    assert {"iss", "aud", "azp", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid",
            "at_hash", "verified_claims"} <= set(CLAIMS_SUPPORTED)
    assert len(CLAIMS_SUPPORTED) == len(set(CLAIMS_SUPPORTED))


# --- userinfo and claims requests --------------------------------------------------------------


def userinfo(person: Citizen, scope: str, request: object = None) -> dict:
    return claims.userinfo(person, client(), scope, pairwise_secret=SECRET,
                           claims_request=request)


def test_userinfo_without_request_is_sub_plus_scope_claims():
    info = userinfo(citizen(), "openid phone")
    assert info == {"sub": str(citizen().id), "phone_number": "+84912300001",
                    "phone_number_verified": True}


def test_a_claims_request_narrows_userinfo_to_the_names_asked():
    info = userinfo(citizen(), "openid profile phone", {"userinfo": {"given_name": None,
                                                                    "phone_number": None}})
    assert info == {"sub": str(citizen().id), "given_name": "Văn An",
                    "phone_number": "+84912300001"}


def test_a_claims_request_never_widens_beyond_the_scopes():
    info = userinfo(citizen(), "openid phone",
                    {"userinfo": {"cccd": {"essential": True}, "email": None}})
    assert info == {"sub": str(citizen().id)}


@pytest.mark.parametrize("request_", [None, {}, {"userinfo": None}, {"userinfo": {}},
                                      {"id_token": {"name": None}}, {"userinfo": "name"},
                                      "not an object", ["userinfo"]])
def test_no_usable_userinfo_request_means_all_scope_claims(request_):
    assert userinfo(citizen(), "openid phone", request_) == userinfo(citizen(), "openid phone")


def test_id_token_carries_only_claims_asked_by_name_within_scope():
    person = citizen()
    assert claims.id_token_claims(person, "openid profile", None) == {}
    assert claims.id_token_claims(person, "openid profile", {"userinfo": {"name": None}}) == {}
    asked = {"id_token": {"name": None, "cccd": None, "unknown": None}}
    assert claims.id_token_claims(person, "openid profile", asked) == {"name": "Nguyễn Văn An"}


# --- verified claims (OpenID Connect for Identity Assurance) ------------------------------------

VERIFIED_ASK = {"userinfo": {"verified_claims": {"verification": {"trust_framework": None},
                                                 "claims": {"given_name": None,
                                                            "family_name": None,
                                                            "birthdate": None, "cccd": None}}}}


def test_level_two_citizen_gets_verified_claims_when_asked():
    info = userinfo(citizen(identity_level=2), "openid profile citizen", VERIFIED_ASK)
    verified = info["verified_claims"]
    assert verified["verification"]["trust_framework"] == "vn_cccd"
    assert verified["verification"]["evidence"][0]["type"] == "document"
    assert verified["claims"] == {"given_name": "Văn An", "family_name": "Nguyễn",
                                  "birthdate": "1985-03-12", "cccd": "019085000001"}
    assert set(verified["claims"]) == set(claims.VERIFIABLE)


def test_level_one_citizen_gets_no_verified_claims():
    info = userinfo(citizen(identity_level=1), "openid profile citizen", VERIFIED_ASK)
    assert "verified_claims" not in info


def test_verified_claims_only_when_asked():
    info = userinfo(citizen(identity_level=2), "openid profile citizen")
    assert "verified_claims" not in info


def test_verified_claims_need_the_citizen_scope_and_each_claim_its_own_scope():
    person = citizen(identity_level=2)
    assert "verified_claims" not in userinfo(person, "openid profile", VERIFIED_ASK)
    only_citizen = userinfo(person, "openid citizen", VERIFIED_ASK)
    assert only_citizen["verified_claims"]["claims"] == {"cccd": "019085000001"}


def test_verified_claims_are_narrowed_to_the_claims_asked():
    ask = {"userinfo": {"verified_claims": {"claims": {"birthdate": None}}}}
    info = userinfo(citizen(identity_level=2), "openid profile citizen", ask)
    assert info["verified_claims"]["claims"] == {"birthdate": "1985-03-12"}


def test_asking_only_verified_claims_keeps_the_ordinary_scope_claims():
    ask = {"userinfo": {"verified_claims": {"claims": {"cccd": None}}}}
    info = userinfo(citizen(identity_level=2), "openid phone citizen", ask)
    assert info["phone_number"] == "+84912300001" and info["cccd"] == "019085000001"


@pytest.mark.parametrize("framework,released", [
    ({"value": "vn_cccd"}, True), ({"values": ["eidas", "vn_cccd"]}, True),
    ({"value": "eidas"}, False), ({"values": ["eidas"]}, False), (None, True),
    ({"essential": True}, True),
])
def test_a_trust_framework_we_do_not_meet_means_no_verified_claims(framework, released):
    ask = {"userinfo": {"verified_claims": {"verification": {"trust_framework": framework},
                                            "claims": {"cccd": None}}}}
    info = userinfo(citizen(identity_level=2), "openid citizen", ask)
    assert ("verified_claims" in info) is released


@pytest.mark.parametrize("odd", [None, 5, "x", [], [None, 3], {"claims": "cccd"},
                                 {"verification": "x", "claims": None}, [{"claims": {}}]])
def test_odd_verified_claims_requests_do_not_crash(odd):
    info = userinfo(citizen(identity_level=2), "openid citizen",
                    {"userinfo": {"verified_claims": odd}})
    assert info["verified_claims"]["claims"] == {"cccd": "019085000001"}
