"""Tests of the dynamic-registration parts of idp.services.clients: registration access
tokens (RFC 7592 §1.2) and RFC 7591 metadata names, against the real database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from idp.extensions import db
from idp.models import Client
from idp.services import clients
from idp.services.identifiers import InvalidInput

T0 = datetime(2025, 8, 15, 1, 0, 0)
METADATA = {"client_name": "Chợ nông sản", "redirect_uris": ["https://cho.example.vn/cb"]}


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    with app.app_context():
        yield db.session
        db.session.rollback()


def made(session: Session, **metadata: Any) -> Client:
    spec = clients.spec_from_metadata({**METADATA, **metadata})
    client, _ = clients.create_client(session, spec, production=False,
                                      created_via="registration")
    session.commit()
    return client


def test_registration_access_token_checks_and_rotates(session: Session):
    client = made(session)
    assert not clients.check_registration_access_token(client, "anything")  # none issued yet
    token = clients.issue_registration_access_token(session, client)
    assert client.registration_access_token_hash != token
    assert clients.check_registration_access_token(client, token)
    for wrong in ("", token + "x", None, 42, "x" * 500):
        assert not clients.check_registration_access_token(client, wrong)
    new = clients.rotate_registration_access_token(session, client, token)
    assert new is not None and new != token
    assert clients.check_registration_access_token(client, new)
    assert not clients.check_registration_access_token(client, token)
    assert clients.rotate_registration_access_token(session, client, token) is None


def test_only_one_of_two_rotations_with_one_token_wins(session: Session):
    client = made(session)
    token = clients.issue_registration_access_token(session, client)
    session.commit()
    assert clients.rotate_registration_access_token(session, client, token) is not None
    # A second request that read the row before the first rotation committed:
    stale = Client(id=client.id, registration_access_token_hash=clients.hash_secret(token))
    assert clients.rotate_registration_access_token(session, stale, token) is None


def test_disabling_ends_the_registration_access_token(session: Session):
    client = made(session)
    token = clients.issue_registration_access_token(session, client)
    clients.disable_client(session, client, T0)
    assert client.registration_access_token_hash is None
    assert not clients.check_registration_access_token(client, token)


def test_province_decisions_never_come_from_metadata(session: Session):
    spec = clients.spec_from_metadata({**METADATA, "trusted": True, "min_acr": "urn:tnid:acr:2",
                                       "sector_identifier": "example.vn"})
    assert spec.trusted is False and spec.min_acr is None and spec.sector_identifier is None
    client = made(session)
    client.trusted, client.min_acr = True, "urn:tnid:acr:2"
    kept = clients.spec_from_metadata({**METADATA, "trusted": False}, existing=client)
    assert kept.trusted is True and kept.min_acr == "urn:tnid:acr:2"


def test_pairwise_update_keeps_the_sector(session: Session):
    client = made(session, subject_type="pairwise")
    assert client.sector_identifier == "cho.example.vn"
    spec = clients.spec_from_metadata({**METADATA, "subject_type": "pairwise"}, existing=client)
    assert spec.sector_identifier == "cho.example.vn"
    to_public = clients.spec_from_metadata(METADATA, existing=client)
    assert to_public.sector_identifier is None


def test_null_members_count_as_absent(session: Session):
    spec = clients.spec_from_metadata({**METADATA, "scope": None, "grant_types": None,
                                       "logo_uri": None})
    assert spec.scope == "openid profile" and spec.grant_types is None and spec.logo_uri is None


def test_sector_identifier_uri_is_refused():
    with pytest.raises(InvalidInput) as error:
        clients.spec_from_metadata({**METADATA, "sector_identifier_uri": "https://x.vn/s"})
    assert error.value.field == "sector_identifier"
    assert clients.MEMBER_OF[error.value.field] == "subject_type"


@pytest.mark.parametrize(("raw", "grants", "ok"), [
    (None, ["authorization_code"], True),
    (["code"], ["authorization_code"], True),
    (["code", "code"], ["authorization_code", "refresh_token"], True),
    ([], ["client_credentials"], True),
    (["code"], ["client_credentials"], False),
    ([], ["authorization_code"], False),
    (["token"], ["authorization_code"], False),
    (["code id_token"], ["authorization_code"], False),
    ("code", ["authorization_code"], False),
    ([None], ["authorization_code"], False),
    ([["code"]], ["authorization_code"], False),
])
def test_response_types(raw: Any, grants: list[str], ok: bool):
    if ok:
        clients.check_response_types(raw, grants)
    else:
        with pytest.raises(InvalidInput):
            clients.check_response_types(raw, grants)


def test_registered_metadata_uses_rfc_names(session: Session):
    client = made(session, token_endpoint_auth_method="none",
                  backchannel_logout_uri="https://cho.example.vn/bc")
    data = clients.registered_metadata(client)
    assert data["client_name"] == "Chợ nông sản" and data["client_name#en"] == "Chợ nông sản"
    assert data["response_types"] == ["code"]
    assert data["backchannel_logout_session_required"] is True
    assert "client_secret_expires_at" not in data and "jwks" not in data
    assert "trusted" not in data and "min_acr" not in data


def test_client_ids_never_look_like_command_line_options():
    assert not any(clients._new_client_id().startswith("-") for _ in range(2000))
