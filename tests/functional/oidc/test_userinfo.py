"""UserInfo endpoint (OIDC Core §5.3, RFC 6750) over HTTP: claims by consented scope, the
claims request, pairwise subjects, and every way a token can be refused."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import update

from idp.extensions import db
from idp.models import Citizen, CitizenStatus, Token
from idp.services import clients
from idp.services.clock import epoch, utcnow
from tests.support.oidc import register, verify
from tests.support.token_flows import ALL_SCOPES, basic, bearer, refresh, tokens_for

PROFILE = {"name", "given_name", "family_name", "birthdate", "gender", "locale", "updated_at"}
EXPECTED = {
    "openid": set(),
    "profile": PROFILE,
    "email": {"email", "email_verified"},
    "phone": {"phone_number", "phone_number_verified"},
    "address": {"address"},
    "citizen": {"cccd", "identity_level"},
    "offline_access": set(),
}


@pytest.fixture
def citizen(make_citizen):
    return make_citizen(email="an@example.vn")


@pytest.fixture
def rp(app):
    return register(app)


@pytest.fixture
def access_token(client, rp, citizen, signing_keys) -> str:
    return tokens_for(client, rp, citizen.cccd)["access_token"]


def challenge_of(response) -> str:  # noqa: ANN001
    assert response.status_code in (400, 401, 403)
    assert response.headers["Cache-Control"] == "no-store"
    header = response.headers["WWW-Authenticate"]
    assert header.startswith('Bearer realm="')
    return header


# --- the happy paths ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_userinfo_by_get_and_post_with_the_bearer_header(client, access_token, citizen, method):
    response = client.open("/userinfo", method=method, headers=bearer(access_token))
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    info = response.json
    assert info["sub"] == str(citizen.id)
    assert citizen.cccd not in info["sub"]


def test_every_scope_releases_its_documented_values(client, access_token, citizen):
    info = client.get("/userinfo", headers=bearer(access_token)).json
    assert info == {
        "sub": str(citizen.id),
        "name": "Nguyễn Văn An", "given_name": "Văn An", "family_name": "Nguyễn",
        "birthdate": "1985-03-12", "gender": "male", "locale": "vi",
        "updated_at": epoch(citizen.updated_at),
        "email": "an@example.vn", "email_verified": False,
        "phone_number": "+84912300001", "phone_number_verified": True,
        "address": {"formatted": "Xã Sảng Mộc, Thái Nguyên, Việt Nam",
                    "locality": "Xã Sảng Mộc", "region": "Thái Nguyên", "country": "VN"},
        "cccd": "019085000001", "identity_level": 1,
    }


@pytest.mark.parametrize("scope", [s for s in EXPECTED if s != "openid"])
def test_each_scope_alone_releases_exactly_its_claims(client, rp, citizen, signing_keys, scope):
    token = tokens_for(client, rp, citizen.cccd, scope=f"openid {scope}")
    assert token["scope"].split() == ["openid", scope]
    info = client.get("/userinfo", headers=bearer(token["access_token"])).json
    assert set(info) == {"sub"} | EXPECTED[scope]


def test_openid_alone_releases_only_the_subject(client, rp, citizen, signing_keys):
    token = tokens_for(client, rp, citizen.cccd, scope="openid")
    assert client.get("/userinfo", headers=bearer(token["access_token"])).json == {
        "sub": str(citizen.id)}


def test_nothing_beyond_the_scopes_the_app_may_have(app, client, citizen, signing_keys):
    market = register(app, name_vi="Chợ Thái Nguyên", scope="openid profile phone")
    token = tokens_for(client, market, citizen.cccd, scope=ALL_SCOPES)
    assert token["scope"] == "openid profile phone"
    info = client.get("/userinfo", headers=bearer(token["access_token"])).json
    assert set(info) == {"sub"} | PROFILE | EXPECTED["phone"]
    assert "cccd" not in info and "address" not in info and "email" not in info


def test_email_claims_are_absent_when_the_citizen_has_no_email(client, rp, make_citizen,
                                                               signing_keys):
    person = make_citizen()
    token = tokens_for(client, rp, person.cccd, scope="openid email")
    assert client.get("/userinfo", headers=bearer(token["access_token"])).json == {
        "sub": str(person.id)}


# --- claims request (OIDC Core §5.5) and verified claims (Identity Assurance) -----------------


def test_claims_request_narrows_userinfo(client, rp, citizen, signing_keys):
    asked = {"userinfo": {"given_name": {"essential": True}, "phone_number": None,
                          "not_a_claim": None}}
    token = tokens_for(client, rp, citizen.cccd, claims=json.dumps(asked))
    info = client.get("/userinfo", headers=bearer(token["access_token"])).json
    assert info == {"sub": str(citizen.id), "given_name": "Văn An",
                    "phone_number": "+84912300001"}


def test_claims_request_cannot_reach_beyond_the_consented_scopes(client, rp, citizen,
                                                                 signing_keys):
    asked = {"userinfo": {"cccd": {"essential": True}, "name": None}}
    token = tokens_for(client, rp, citizen.cccd, scope="openid profile",
                       claims=json.dumps(asked))
    info = client.get("/userinfo", headers=bearer(token["access_token"])).json
    assert info == {"sub": str(citizen.id), "name": "Nguyễn Văn An"}


VERIFIED = {"userinfo": {"verified_claims": {
    "verification": {"trust_framework": None},
    "claims": {"given_name": None, "family_name": None, "birthdate": None, "cccd": None}}}}


def test_verified_claims_for_an_identity_checked_in_person(client, rp, make_citizen,
                                                           signing_keys):
    person = make_citizen(identity_level=2)
    token = tokens_for(client, rp, person.cccd, claims=json.dumps(VERIFIED))
    info = client.get("/userinfo", headers=bearer(token["access_token"])).json
    verified = info["verified_claims"]
    assert verified["verification"]["trust_framework"] == "vn_cccd"
    assert verified["verification"]["evidence"][0]["document_details"] == {"type": "idcard"}
    assert verified["claims"] == {"given_name": "Văn An", "family_name": "Nguyễn",
                                  "birthdate": "1985-03-12", "cccd": person.cccd}
    assert info["identity_level"] == 2


def test_no_verified_claims_for_a_self_registered_identity(client, rp, citizen, signing_keys):
    token = tokens_for(client, rp, citizen.cccd, claims=json.dumps(VERIFIED))
    info = client.get("/userinfo", headers=bearer(token["access_token"])).json
    assert "verified_claims" not in info and info["identity_level"] == 1


def test_verified_claims_stay_within_the_scopes(client, rp, make_citizen, signing_keys):
    person = make_citizen(identity_level=2)
    token = tokens_for(client, rp, person.cccd, scope="openid citizen",
                       claims=json.dumps(VERIFIED))
    info = client.get("/userinfo", headers=bearer(token["access_token"])).json
    assert info["verified_claims"]["claims"] == {"cccd": person.cccd}  # no name: no profile


# --- subjects -------------------------------------------------------------------------------


def test_pairwise_sub_matches_the_id_token_and_is_per_sector(app, client, citizen,
                                                             signing_keys):
    market = register(app, name_vi="Chợ", subject_type="pairwise",
                      redirect_uris=["https://cho.example.vn/cb"])
    health = register(app, name_vi="Sức khỏe", subject_type="pairwise",
                      redirect_uris=["https://suckhoe.example.vn/cb"])
    subs = []
    for rp in (market, health):
        token = tokens_for(client, rp, citizen.cccd, scope="openid profile")
        info = client.get("/userinfo", headers=bearer(token["access_token"])).json
        assert info["sub"] == verify(client, token["id_token"], rp.client_id)["sub"]
        subs.append(info["sub"])
    assert subs[0] != subs[1]
    assert str(citizen.id) not in subs and citizen.cccd not in "".join(subs)


def test_public_sub_matches_the_id_token(client, rp, citizen, signing_keys):
    token = tokens_for(client, rp, citizen.cccd, scope="openid")
    info = client.get("/userinfo", headers=bearer(token["access_token"])).json
    assert info["sub"] == verify(client, token["id_token"], rp.client_id)["sub"] == str(
        citizen.id)


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": ""},
                                     {"Authorization": "Basic dXNlcjpwYXNz"},
                                     {"Authorization": "Bearer"},
                                     {"Authorization": "Token abc"}])
def test_no_bearer_credentials_is_401_with_a_bare_challenge(client, headers):
    response = client.get("/userinfo", headers=headers)
    assert response.status_code == 401
    assert "error=" not in challenge_of(response)  # RFC 6750 §3.1: no error code then


@pytest.mark.parametrize("value", ["garbage", "a" * 43, "x" * 5000, "a b c", "bearer-é",
                                   "\u00ff" * 10])
def test_unknown_or_malformed_tokens_are_401_invalid_token(client, value):
    response = client.get("/userinfo", headers={"Authorization": f"Bearer {value}"})
    assert response.status_code == 401
    assert 'error="invalid_token"' in challenge_of(response)
    assert response.json["error"] == "invalid_token"


def test_scheme_is_case_insensitive(client, access_token):
    response = client.get("/userinfo", headers={"Authorization": f"bearer {access_token}"})
    assert response.status_code == 200


def test_expired_token_is_401(app, client, access_token):
    with app.app_context():
        db.session.execute(update(Token).values(
            access_expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    response = client.get("/userinfo", headers=bearer(access_token))
    assert 'error="invalid_token"' in challenge_of(response)


def test_revoked_token_is_401(client, rp, access_token):
    assert client.post("/revoke", data={"token": access_token},
                       headers=basic(rp)).status_code == 200
    response = client.get("/userinfo", headers=bearer(access_token))
    assert 'error="invalid_token"' in challenge_of(response)


def test_client_credentials_token_speaks_for_no_citizen(app, client, signing_keys):
    service = register(app, name_vi="Dịch vụ nội bộ",
                       grant_types=["authorization_code", "client_credentials"])
    response = client.post("/token", data={"grant_type": "client_credentials"},
                           headers=basic(service))
    assert response.status_code == 200, response.json
    info = client.get("/userinfo", headers=bearer(response.json["access_token"]))
    assert 'error="invalid_token"' in challenge_of(info)


@pytest.mark.parametrize("status", [CitizenStatus.LOCKED, CitizenStatus.DISABLED])
def test_token_of_a_locked_citizen_is_401(app, client, access_token, citizen, status):
    with app.app_context():
        db.session.execute(update(Citizen).where(Citizen.id == citizen.id)
                           .values(status=status))
        db.session.commit()
    response = client.get("/userinfo", headers=bearer(access_token))
    assert 'error="invalid_token"' in challenge_of(response)


def test_token_of_a_disabled_app_is_401(app, client, rp, access_token):
    with app.app_context():
        clients.disable_client(db.session, clients.find_client(db.session, rp.client_id),
                               utcnow())
        db.session.commit()
    response = client.get("/userinfo", headers=bearer(access_token))
    assert 'error="invalid_token"' in challenge_of(response)


def test_token_without_openid_scope_is_403_insufficient_scope(client, rp, citizen,
                                                              signing_keys):
    first = tokens_for(client, rp, citizen.cccd, scope="openid profile offline_access")
    narrowed = client.post("/token", data={"grant_type": "refresh_token", "scope": "profile",
                                           "refresh_token": first["refresh_token"]},
                           headers=basic(rp))
    assert narrowed.status_code == 200, narrowed.json
    assert narrowed.json["scope"] == "profile"
    response = client.get("/userinfo", headers=bearer(narrowed.json["access_token"]))
    assert response.status_code == 403
    header = challenge_of(response)
    assert 'error="insufficient_scope"' in header and 'scope="openid"' in header


def test_refreshed_token_works_and_the_old_one_keeps_its_short_life(client, rp, citizen,
                                                                     signing_keys):
    first = tokens_for(client, rp, citizen.cccd)
    second = refresh(client, rp, first["refresh_token"]).json
    for token in (first, second):
        assert client.get("/userinfo", headers=bearer(token["access_token"])).status_code == 200


def test_token_in_the_query_string_is_not_accepted(client, access_token):
    response = client.get(f"/userinfo?access_token={access_token}")
    assert response.status_code == 400
    assert 'error="invalid_request"' in challenge_of(response)


def test_token_in_a_form_body_is_not_accepted(client, access_token):
    response = client.post("/userinfo", data={"access_token": access_token})
    assert response.status_code == 400
    assert 'error="invalid_request"' in challenge_of(response)


def test_token_in_query_as_well_as_header_is_refused(client, access_token):
    response = client.get(f"/userinfo?access_token={access_token}",
                          headers=bearer(access_token))
    assert response.status_code == 400


@pytest.mark.parametrize("body,content_type", [
    ("{not json", "application/json"), ("x" * 1000, "text/plain"),
    ("a=1&a=2", "application/x-www-form-urlencoded"),
])
def test_post_bodies_do_not_disturb_the_bearer_header(client, access_token, body,
                                                      content_type):
    response = client.post("/userinfo", data=body, content_type=content_type,
                           headers=bearer(access_token))
    assert response.status_code == 200 and "sub" in response.json


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_wrong_method_is_405_json(client, access_token, method):
    response = client.open("/userinfo", method=method, headers=bearer(access_token))
    assert response.status_code == 405
    assert response.mimetype == "application/json"
    assert response.json["error"] == "method_not_allowed"
    assert set(response.headers["Allow"].replace(" ", "").split(",")) == {"GET", "POST"}
