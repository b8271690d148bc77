"""idp.services.consents: what covers a request, and how agreements add up (real database)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from idp.extensions import db
from idp.models import Consent
from idp.services import consents
from tests.support.oidc import register

T0 = datetime(2025, 8, 15, 1, 0, 0)


def agreed(*scopes: str) -> Consent:
    return Consent(scopes=sorted(scopes))


@pytest.mark.parametrize("consent,asked,covered", [
    (None, ["openid"], False),                       # an unknown app asks the first time
    (None, [], False),
    (agreed(), ["openid"], True),                    # openid alone shares no personal data
    (agreed("profile"), ["openid", "profile"], True),
    (agreed("profile", "phone"), ["profile"], True),  # fewer than agreed
    (agreed("profile"), ["openid", "profile", "phone"], False),  # a new scope asks again
    (agreed("profile"), ["citizen"], False),
    (agreed("profile"), ["profile", "profile"], True),
])
def test_covers(consent, asked, covered):
    assert consents.covers(consent, asked) is covered


@pytest.fixture
def ids(app, make_citizen):
    person = make_citizen()
    return person.id, register(app).client_id


def test_grant_records_then_adds_scopes(app, ids):
    citizen_id, client_id = ids
    with app.app_context():
        consents.grant(db.session, citizen_id, client_id, ["openid", "profile"], T0)
        db.session.commit()
        later = T0 + timedelta(days=1)
        row = consents.grant(db.session, citizen_id, client_id, ["phone"], later)
        db.session.commit()
        assert row.scopes == ["openid", "phone", "profile"]  # the union, sorted
        assert row.granted_at == T0 and row.updated_at == later
        assert consents.covers(consents.find(db.session, citizen_id, client_id),
                               ["profile", "phone"])
        assert db.session.scalar(select(func.count()).select_from(Consent)) == 1


def test_granting_what_is_covered_writes_nothing(app, ids):
    citizen_id, client_id = ids
    with app.app_context():
        consents.grant(db.session, citizen_id, client_id, ["openid", "profile"], T0,
                       implicit=True)
        db.session.commit()
        row = consents.grant(db.session, citizen_id, client_id, ["profile"],
                             T0 + timedelta(hours=1), implicit=True)
        assert row.updated_at == T0 and not db.session.dirty


def test_implicit_consent_becomes_explicit_once_the_citizen_agrees(app, ids):
    citizen_id, client_id = ids
    with app.app_context():
        row = consents.grant(db.session, citizen_id, client_id, ["profile"], T0,
                             implicit=True)
        assert row.implicit is True
        row = consents.grant(db.session, citizen_id, client_id, ["profile"], T0)
        assert row.implicit is False
        row = consents.grant(db.session, citizen_id, client_id, ["phone"], T0, implicit=True)
        db.session.commit()
        assert row.implicit is False  # a trusted app's sign-in does not undo an agreement


def test_two_first_grants_at_once_merge_into_one_row(app, ids, monkeypatch):
    """The loser of the race on the unique (citizen, app) row updates the winner's row."""
    citizen_id, client_id = ids
    with app.app_context():
        consents.grant(db.session, citizen_id, client_id, ["profile"], T0)
        db.session.commit()
        db.session.expunge_all()
        real_find, calls = consents.find, []

        def find_missing_first(*args: object) -> Consent | None:
            calls.append(args)
            return None if len(calls) == 1 else real_find(*args)

        monkeypatch.setattr(consents, "find", find_missing_first)
        row = consents.grant(db.session, citizen_id, client_id, ["phone"], T0)
        db.session.commit()
        assert row.scopes == ["phone", "profile"] and len(calls) == 2
        assert db.session.scalar(select(func.count()).select_from(Consent)) == 1
