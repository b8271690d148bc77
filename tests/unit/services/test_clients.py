"""Tests of idp.services.clients against the real database (sqlite and postgresql)."""

from __future__ import annotations

import hashlib
import threading
import warnings
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask_babel import force_locale
from joserfc.jwk import ECKey, OctKey, RSAKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from idp.extensions import db
from idp.models import Client, InitialAccessToken, Token
from idp.services import clients
from idp.services.clients import ClientSpec
from idp.services.identifiers import InvalidInput

NOW = datetime(2025, 8, 15, 9, 0)
PORTAL = ClientSpec(name_vi="Cổng dịch vụ công", redirect_uris=["https://dvc.thainguyen.gov.vn/cb"])
RSA = RSAKey.generate_key(2048, private=True)
EC = ECKey.generate_key("P-256", private=True)
RSA_JWKS = {"keys": [RSA.as_dict(private=False)]}
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # joserfc warns about small keys: that is the point
    SMALL_RSA = RSAKey.generate_key(1024, private=True).as_dict(private=False)


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    with app.app_context():
        yield db.session


def create(session: Session, spec: ClientSpec = PORTAL, *, production: bool = False,
           **changes: Any) -> tuple[Client, str | None]:
    client, secret = clients.create_client(session, replace(spec, **changes),
                                           production=production)
    session.commit()
    return client, secret


def count(session: Session, model: type = Client) -> int:
    return session.scalar(select(func.count()).select_from(model))


def fresh(session: Session, client_id: str) -> Client:
    session.expire_all()
    client = clients.find_client(session, client_id)
    assert client is not None
    return client


# --- create_client ------------------------------------------------------------------------------

def test_create_confidential_client_with_defaults(session: Session):
    client, secret = create(session, name_vi="  Cổng   dịch vụ công ")
    row = fresh(session, client.client_id)
    assert len(row.client_id) == 32 and secret is not None and len(secret) == 43
    assert row.name_vi == row.name_en == "Cổng dịch vụ công"
    assert row.scope == "openid profile"
    assert row.grant_types == ["authorization_code"]
    assert row.token_endpoint_auth_method == "client_secret_basic"
    assert row.subject_type == "public" and row.sector_identifier is None
    assert row.id_token_signed_response_alg == "RS256" and row.min_acr is None
    assert row.trusted is False and row.created_via == "cli" and row.disabled_at is None
    assert row.client_secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert row.check_client_secret(secret)
    assert not row.check_client_secret(secret + "x") and not row.check_client_secret("")


def test_secret_is_not_stored_in_the_clear(session: Session):
    client, secret = create(session)
    row = fresh(session, client.client_id)
    for column in Client.__table__.columns:
        assert secret not in str(getattr(row, column.key))


def test_names_are_nfc_and_english_defaults_to_vietnamese(session: Session):
    client, _ = create(session, name_vi="Bệnh viện".replace("ệ", "e\u0323\u0302"),
                       name_en=" Hospital ")
    assert client.name_vi == "Bệnh viện" and client.name_en == "Hospital"


def test_scope_is_deduplicated_in_canonical_order_and_offline_adds_refresh(session: Session):
    client, _ = create(session, scope="offline_access phone openid phone")
    assert client.scope == "openid phone offline_access"
    assert client.grant_types == ["authorization_code", "refresh_token"]


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_secret_methods_get_a_secret(session: Session, method: str):
    client, secret = create(session, token_endpoint_auth_method=method)
    assert secret and fresh(session, client.client_id).check_client_secret(secret)


def test_public_client_has_no_secret(session: Session):
    client, secret = create(session, token_endpoint_auth_method="none",
                            redirect_uris=["http://127.0.0.1:8765/cb"])
    row = fresh(session, client.client_id)
    assert secret is None and row.client_secret_hash is None and row.is_public
    assert not row.check_client_secret("")


@pytest.mark.parametrize("keys", [
    {"jwks": RSA_JWKS},
    {"jwks": {"keys": [EC.as_dict(private=False) | {"use": "sig", "kid": "k1"}]}},
    {"jwks": {"keys": [RSA.as_dict(private=False), EC.as_dict(private=False)]}},
    {"jwks_uri": "https://yte.thainguyen.gov.vn/jwks.json"},
])
def test_private_key_jwt_with_public_keys(session: Session, keys: dict[str, Any]):
    client, secret = create(session, token_endpoint_auth_method="private_key_jwt", **keys)
    row = fresh(session, client.client_id)
    assert secret is None and row.client_secret_hash is None
    assert row.jwks == keys.get("jwks") and row.jwks_uri == keys.get("jwks_uri")


def test_client_credentials_needs_no_redirect_uri(session: Session):
    client, secret = create(session, redirect_uris=[], grant_types=["client_credentials"])
    assert client.grant_types == ["client_credentials"] and secret


def test_every_field_is_stored(session: Session):
    client, _ = create(
        session, name_en="Public service portal", scope="openid profile citizen",
        redirect_uris=["https://dvc.thainguyen.gov.vn/cb", "https://dvc.thainguyen.gov.vn/cb"],
        post_logout_redirect_uris=["https://dvc.thainguyen.gov.vn/"],
        backchannel_logout_uri="https://dvc.thainguyen.gov.vn/logout",
        logo_uri="https://dvc.thainguyen.gov.vn/logo.svg", min_acr="urn:tnid:acr:2",
        id_token_signed_response_alg="ES256", trusted=True,
        grant_types=["refresh_token", "authorization_code", "client_credentials"],
    )
    row = fresh(session, client.client_id)
    assert row.redirect_uris == ["https://dvc.thainguyen.gov.vn/cb"]  # duplicates collapse
    assert row.post_logout_redirect_uris == ["https://dvc.thainguyen.gov.vn/"]
    assert row.backchannel_logout_uri == "https://dvc.thainguyen.gov.vn/logout"
    assert row.logo_uri == "https://dvc.thainguyen.gov.vn/logo.svg"
    assert row.min_acr == "urn:tnid:acr:2" and row.id_token_signed_response_alg == "ES256"
    assert row.trusted is True
    assert row.grant_types == ["authorization_code", "refresh_token", "client_credentials"]


PKJWT = {"token_endpoint_auth_method": "private_key_jwt"}


@pytest.mark.parametrize(("changes", "field"), [
    ({"name_vi": ""}, "name_vi"),
    ({"name_vi": "   "}, "name_vi"),
    ({"name_vi": "A" * 121}, "name_vi"),
    ({"name_vi": "Cổng\u202edịch vụ"}, "name_vi"),  # bidi override
    ({"name_vi": "Cổng\x00"}, "name_vi"),
    ({"name_vi": None}, "name_vi"),
    ({"name_en": "B" * 121}, "name_en"),
    ({"redirect_uris": []}, "redirect_uris"),
    ({"redirect_uris": "https://dvc.thainguyen.gov.vn/cb"}, "redirect_uris"),  # not a list
    ({"redirect_uris": [None]}, "redirect_uris"),
    ({"redirect_uris": ["/cb"]}, "redirect_uris"),
    ({"redirect_uris": ["dvc.thainguyen.gov.vn/cb"]}, "redirect_uris"),
    ({"redirect_uris": ["https://dvc.thainguyen.gov.vn/cb#x"]}, "redirect_uris"),
    ({"redirect_uris": ["https://dvc.thainguyen.gov.vn/cb#"]}, "redirect_uris"),
    ({"redirect_uris": ["https://user:pass@dvc.thainguyen.gov.vn/cb"]}, "redirect_uris"),
    ({"redirect_uris": ["https://*.thainguyen.gov.vn/cb"]}, "redirect_uris"),
    ({"redirect_uris": ["https://dvc.thainguyen.gov.vn/*"]}, "redirect_uris"),
    ({"redirect_uris": ["https://dvc.thainguyen.gov.vn/" + "a" * 480]}, "redirect_uris"),
    ({"redirect_uris": [f"https://dvc.thainguyen.gov.vn/{i}" for i in range(21)]},
     "redirect_uris"),
    ({"redirect_uris": ["javascript:alert(1)"]}, "redirect_uris"),
    ({"redirect_uris": ["vn.gov.app:/cb"]}, "redirect_uris"),
    ({"redirect_uris": ["ftp://dvc.thainguyen.gov.vn/cb"]}, "redirect_uris"),
    ({"redirect_uris": ["https://dvc.thainguyen.gov.vn:99999/cb"]}, "redirect_uris"),
    ({"redirect_uris": ["https://dvc thainguyen.gov.vn/cb"]}, "redirect_uris"),
    ({"redirect_uris": ["https://dịchvụcông.vn/cb"]}, "redirect_uris"),
    ({"redirect_uris": ["https://bad_host!.vn/cb"]}, "redirect_uris"),
    ({"redirect_uris": ["https://dvc.thainguyen.gov.vn/c\nb"]}, "redirect_uris"),
    ({"post_logout_redirect_uris": ["https://dvc.thainguyen.gov.vn/#out"]},
     "post_logout_redirect_uris"),
    ({"backchannel_logout_uri": "https://a:b@dvc.thainguyen.gov.vn/bc"}, "backchannel_logout_uri"),
    ({"logo_uri": "http://cdn.thainguyen.gov.vn/logo.png"}, "logo_uri"),  # dev: http loopback only
    ({"logo_uri": "data:image/png;base64,AAAA"}, "logo_uri"),
    ({"scope": "profile"}, "scope"),
    ({"scope": ""}, "scope"),
    ({"scope": "openid admin"}, "scope"),
    ({"scope": None}, "scope"),
    ({"token_endpoint_auth_method": "client_secret_jwt"}, "token_endpoint_auth_method"),
    ({"token_endpoint_auth_method": None}, "token_endpoint_auth_method"),
    ({"grant_types": ["implicit"]}, "grant_types"),
    ({"grant_types": ["password"]}, "grant_types"),
    ({"grant_types": []}, "grant_types"),
    ({"grant_types": "authorization_code"}, "grant_types"),
    ({"grant_types": ["refresh_token"]}, "grant_types"),
    ({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"},
     "grant_types"),
    ({"grant_types": ["authorization_code", "client_credentials"],
      "token_endpoint_auth_method": "none"}, "grant_types"),
    ({"jwks": RSA_JWKS}, "jwks"),  # keys only with private_key_jwt
    ({"jwks_uri": "https://dvc.thainguyen.gov.vn/jwks"}, "jwks"),
    (PKJWT, "jwks"),  # neither
    (PKJWT | {"jwks": RSA_JWKS, "jwks_uri": "https://dvc.thainguyen.gov.vn/jwks"}, "jwks"),
    (PKJWT | {"jwks": {"keys": [RSA.as_dict(private=True)]}}, "jwks"),
    (PKJWT | {"jwks": {"keys": [EC.as_dict(private=True)]}}, "jwks"),
    (PKJWT | {"jwks": {"keys": [OctKey.generate_key(256).as_dict()]}}, "jwks"),
    (PKJWT | {"jwks": {"keys": [SMALL_RSA]}}, "jwks"),
    (PKJWT | {"jwks": {"keys": []}}, "jwks"),
    (PKJWT | {"jwks": {}}, "jwks"),
    (PKJWT | {"jwks": RSA.as_dict(private=False)}, "jwks"),  # a key, not a set
    (PKJWT | {"jwks": {"keys": ["x"]}}, "jwks"),
    (PKJWT | {"jwks": {"keys": [{"kty": "RSA", "n": "AQAB"}]}}, "jwks"),
    (PKJWT | {"jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}]}}, "jwks"),
    (PKJWT | {"jwks": {"keys": [ECKey.generate_key("secp256k1").as_dict(private=False)]}},
     "jwks"),
    (PKJWT | {"jwks": {"keys": [RSA.as_dict(private=False) | {"use": "enc"}]}}, "jwks"),
    (PKJWT | {"jwks": {"keys": [RSA.as_dict(private=False)] * 11}}, "jwks"),
    (PKJWT | {"jwks": {"keys": [{"kty": "RSA", "n": float("nan")}]}}, "jwks"),
    (PKJWT | {"jwks": {"keys": [{"kty": object()}]}}, "jwks"),
    (PKJWT | {"jwks": "not json"}, "jwks"),
    (PKJWT | {"jwks_uri": "http://keys.example.vn/jwks"}, "jwks"),  # still needs one of them
    (PKJWT | {"jwks_uri": "https://keys.example.vn/jwks#k"}, "jwks_uri"),
    ({"subject_type": "random"}, "subject_type"),
    ({"sector_identifier": "thainguyen.gov.vn"}, "sector_identifier"),  # public subjects
    ({"id_token_signed_response_alg": "HS256"}, "id_token_signed_response_alg"),
    ({"id_token_signed_response_alg": "none"}, "id_token_signed_response_alg"),
    ({"min_acr": "urn:tnid:acr:3"}, "min_acr"),
    ({"min_acr": "1"}, "min_acr"),
    ({"trusted": "yes"}, "trusted"),
])
def test_bad_specs_are_refused_and_nothing_is_written(session: Session, changes: dict[str, Any],
                                                      field: str):
    if changes.get("jwks_uri", "").startswith("http://"):
        changes = changes | {"jwks": RSA_JWKS}  # both given: refused before the URL is read
    with pytest.raises(InvalidInput) as error:
        clients.create_client(session, replace(PORTAL, **changes), production=False)
    session.rollback()
    assert error.value.field == field
    assert str(error.value.message)  # a message the operator can read
    assert count(session) == 0


def test_messages_name_the_problem(session: Session):
    cases = [({"scope": "openid admin"}, "Unknown scope admin"),
             ({"redirect_uris": ["https://a.vn/cb#x"]}, "fragment"),
             ({"redirect_uris": ["https://u@a.vn/cb"]}, "user name"),
             ({"redirect_uris": ["https://*.a.vn/cb"]}, "wildcard"),
             (PKJWT | {"jwks": {"keys": [RSA.as_dict(private=True)]}}, "private")]
    for changes, words in cases:
        with force_locale("en"), pytest.raises(InvalidInput, match=words):
            clients.validate(replace(PORTAL, **changes), production=False)


# --- http vs https ------------------------------------------------------------------------------

@pytest.mark.parametrize(("field", "uri", "in_development", "in_production"), [
    ("redirect_uris", "https://dvc.thainguyen.gov.vn/cb", True, True),
    ("redirect_uris", "http://dvc.thainguyen.gov.vn/cb", True, False),
    ("redirect_uris", "http://127.0.0.1:8080/cb", True, True),
    ("redirect_uris", "http://[::1]:8080/cb", True, True),
    ("redirect_uris", "http://localhost/cb", True, True),
    ("redirect_uris", "http://localhost.evil.vn/cb", True, False),
    ("redirect_uris", "http://127.0.0.2/cb", True, False),
    ("post_logout_redirect_uris", "http://dvc.thainguyen.gov.vn/", True, False),
    ("post_logout_redirect_uris", "http://localhost:3000/", True, True),
    ("backchannel_logout_uri", "http://dvc.thainguyen.gov.vn/bc", True, False),
    ("backchannel_logout_uri", "http://127.0.0.1:9000/bc", True, True),
    ("logo_uri", "https://cdn.thainguyen.gov.vn/logo.png", True, True),
    ("logo_uri", "http://localhost/logo.png", True, False),
    ("logo_uri", "http://cdn.thainguyen.gov.vn/logo.png", False, False),
    ("jwks_uri", "http://keys.thainguyen.gov.vn/jwks", True, False),
    ("jwks_uri", "http://127.0.0.1/jwks", True, False),
    ("jwks_uri", "https://keys.thainguyen.gov.vn/jwks", True, True),
])
def test_http_rules(session: Session, field: str, uri: str, in_development: bool,
                    in_production: bool):
    changes: dict[str, Any] = {field: [uri] if field.endswith("uris") else uri}
    if field == "jwks_uri":
        changes |= PKJWT
    spec = replace(PORTAL, **changes)
    for production, allowed in ((False, in_development), (True, in_production)):
        if allowed:
            clients.validate(spec, production=production)
        else:
            with pytest.raises(InvalidInput, match="https://") as error:
                clients.validate(spec, production=production)
            assert error.value.field == field


# --- pairwise subjects --------------------------------------------------------------------------

MARKET = ClientSpec(name_vi="Chợ nông sản", subject_type="pairwise",
                    redirect_uris=["https://cho.thainguyen.gov.vn/cb",
                                   "https://cho.thainguyen.gov.vn/cb2"])
TWO_HOSTS = ["https://cho.thainguyen.gov.vn/cb", "https://m.cho.thainguyen.gov.vn/cb"]


def test_pairwise_sector_defaults_to_the_redirect_host(session: Session):
    client, _ = create(session, MARKET)
    assert client.subject_type == "pairwise"
    assert client.sector_identifier == "cho.thainguyen.gov.vn"


def test_pairwise_with_several_hosts_needs_an_explicit_sector(session: Session):
    with force_locale("en"), pytest.raises(InvalidInput, match="several hosts") as error:
        create(session, MARKET, redirect_uris=TWO_HOSTS)
    assert error.value.field == "sector_identifier"
    session.rollback()
    client, _ = create(session, MARKET, redirect_uris=TWO_HOSTS,
                       sector_identifier=" Cho.ThaiNguyen.gov.vn ")
    assert client.sector_identifier == "cho.thainguyen.gov.vn"


@pytest.mark.parametrize("sector", [
    "dvc.thainguyen.gov.vn",      # another app's sector: would correlate its citizens
    "m.cho.thainguyen.gov.vn",    # covers only one of the hosts
    "vn", "https://cho.thainguyen.gov.vn", "cho thainguyen", "-cho.vn",
])
def test_pairwise_sector_must_cover_every_redirect_host(session: Session, sector: str):
    with pytest.raises(InvalidInput) as error:
        create(session, MARKET, redirect_uris=TWO_HOSTS, sector_identifier=sector)
    assert error.value.field == "sector_identifier"


def test_pairwise_without_redirect_uris_needs_a_sector(session: Session):
    spec = replace(MARKET, redirect_uris=[], grant_types=["client_credentials"])
    with pytest.raises(InvalidInput):
        create(session, spec)
    session.rollback()
    assert create(session, spec, sector_identifier="cho.thainguyen.gov.vn")[0].sector_identifier


# --- update, rotate, disable, find --------------------------------------------------------------

def test_update_keeps_id_and_secret(session: Session):
    client, secret = create(session)
    clients.update_client(session, client, replace(PORTAL, name_vi="Cổng DVC", scope="openid"),
                          production=False)
    session.commit()
    row = fresh(session, client.client_id)
    assert row.name_vi == "Cổng DVC" and row.scope == "openid"
    assert secret and row.check_client_secret(secret)


def test_update_with_bad_spec_changes_nothing(session: Session):
    client, _ = create(session)
    with pytest.raises(InvalidInput):
        clients.update_client(session, client, replace(PORTAL, name_vi="Mới", scope="email"),
                              production=False)
    session.commit()
    assert fresh(session, client.client_id).name_vi == PORTAL.name_vi


def test_update_to_public_client_drops_the_secret(session: Session):
    client, secret = create(session)
    clients.update_client(session, client, replace(PORTAL, token_endpoint_auth_method="none"),
                          production=False)
    session.commit()
    row = fresh(session, client.client_id)
    assert row.client_secret_hash is None and secret and not row.check_client_secret(secret)


def test_rotate_secret_invalidates_the_old_one(session: Session):
    client, old = create(session)
    new = clients.rotate_secret(session, client)
    session.commit()
    row = fresh(session, client.client_id)
    assert old and new != old
    assert row.check_client_secret(new) and not row.check_client_secret(old)


@pytest.mark.parametrize("changes", [{"token_endpoint_auth_method": "none"},
                                     PKJWT | {"jwks": RSA_JWKS}])
def test_rotate_secret_refused_without_secret_method(session: Session, changes: dict[str, Any]):
    client, _ = create(session, **changes)
    with pytest.raises(InvalidInput):
        clients.rotate_secret(session, client)
    assert fresh(session, client.client_id).client_secret_hash is None


def test_disable_keeps_the_first_date_and_revokes_tokens(session: Session):
    client, _ = create(session)
    other, _ = create(session, name_vi="Khác")
    for owner, n in ((client, 1), (client, 2), (other, 3)):
        session.add(Token(client_id=owner.client_id, scope="openid",
                          access_token_hash=f"{n:064d}", access_expires_at=NOW))
    session.commit()
    clients.disable_client(session, client, NOW)
    clients.disable_client(session, client, NOW + timedelta(days=1))
    session.commit()
    assert fresh(session, client.client_id).disabled_at == NOW
    revoked = session.scalars(select(Token.client_id).where(Token.revoked_at == NOW)).all()
    assert revoked == [client.client_id] * 2
    assert fresh(session, other.client_id).disabled_at is None


def test_enable_after_disable_keeps_tokens_revoked(session: Session):
    client, secret = create(session)
    session.add(Token(client_id=client.client_id, scope="openid",
                      access_token_hash="9" * 64, access_expires_at=NOW))
    clients.issue_registration_access_token(session, client)
    clients.disable_client(session, client, NOW)
    clients.enable_client(session, client)
    session.commit()
    row = fresh(session, client.client_id)
    assert row.disabled_at is None and row.check_client_secret(secret)
    assert row.registration_access_token_hash is None  # not given back
    assert session.scalar(select(Token.revoked_at)) == NOW


def test_find_and_list(session: Session):
    first, _ = create(session)
    second, _ = create(session, name_vi="Y tế")
    clients.disable_client(session, second, NOW)
    session.commit()
    assert clients.find_client(session, second.client_id) is second  # disabled included
    for missing in ("", "nope", "x" * 65, None):
        assert clients.find_client(session, missing) is None  # type: ignore[arg-type]
    assert [c.client_id for c in clients.list_clients(session)] == [first.client_id,
                                                                    second.client_id]


# --- initial access tokens (RFC 7591 §3) --------------------------------------------------------

def make_token(session: Session, **kwargs: Any) -> str:
    kwargs = {"now": NOW, "lifetime": timedelta(hours=24), "note": "Bệnh viện C"} | kwargs
    token = clients.create_initial_access_token(session, **kwargs)
    session.commit()
    return token


def test_initial_access_token_is_single_use_and_stored_hashed(session: Session):
    token = make_token(session)
    row = session.scalars(select(InitialAccessToken)).one()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in (row.token_hash, row.note) and row.note == "Bệnh viện C"
    assert clients.consume_initial_access_token(session, token, now=NOW)
    assert not clients.consume_initial_access_token(session, token, now=NOW)


def test_initial_access_token_expires(session: Session):
    token = make_token(session, uses=5, lifetime=timedelta(hours=1))
    assert clients.consume_initial_access_token(session, token, now=NOW + timedelta(minutes=59))
    assert not clients.consume_initial_access_token(session, token, now=NOW + timedelta(hours=1))


def test_initial_access_token_with_several_uses(session: Session):
    token = make_token(session, uses=3)
    results = [clients.consume_initial_access_token(session, token, now=NOW) for _ in range(4)]
    assert results == [True, True, True, False]
    assert session.scalars(select(InitialAccessToken.uses_left)).one() == 0


@pytest.mark.parametrize("token", ["", "wrong", "x" * 200, None])
def test_unknown_initial_access_token(session: Session, token: Any):
    make_token(session)
    assert not clients.consume_initial_access_token(session, token, now=NOW)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"uses": 0}, "uses"), ({"uses": 1001}, "uses"), ({"uses": True}, "uses"),
    ({"lifetime": timedelta(0)}, "lifetime"), ({"lifetime": timedelta(days=31)}, "lifetime"),
    ({"note": "n" * 201}, "note"),
])
def test_bad_initial_access_token_parameters(session: Session, kwargs: dict[str, Any],
                                             field: str):
    with pytest.raises(InvalidInput) as error:
        make_token(session, **kwargs)
    assert error.value.field == field
    session.rollback()
    assert count(session, InitialAccessToken) == 0


@pytest.mark.parametrize(("uses", "racers"), [(1, 2), (3, 8)])
def test_concurrent_consumes_never_overspend(session: Session, uses: int, racers: int):
    token = make_token(session, uses=uses)
    engine = db.engine
    barrier = threading.Barrier(racers)
    results: list[bool] = []
    errors: list[BaseException] = []

    def race() -> None:
        try:
            with Session(engine) as own:
                barrier.wait(timeout=10)
                results.append(clients.consume_initial_access_token(own, token, now=NOW))
                own.commit()
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=race) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert sorted(results) == [False] * (racers - uses) + [True] * uses
    session.expire_all()
    assert session.scalars(select(InitialAccessToken.uses_left)).one() == 0
