"""The audit chain: appended entries verify; altering, removing or reordering one is found."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import delete, select, update

from idp.extensions import db
from idp.models import AuditEvent
from idp.services import audit


@pytest.fixture(autouse=True)
def _context(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield


def _append(n: int) -> list[int]:
    ids = []
    for i in range(n):
        entry_id = audit.record(db.session, "account:login", actor_id=f"citizen-{i}",
                             citizen_id=uuid.uuid4(), ip="203.0.113.7",
                             details={"method": "pwd", "n": i})
        ids.append(entry_id)
    db.session.commit()
    return ids


def test_entries_chain_to_their_predecessor(app) -> None:
    ids = _append(3)
    rows = [db.session.get(AuditEvent, i) for i in ids]
    assert rows[0].prev_hash == audit.GENESIS
    assert rows[1].prev_hash == rows[0].hash and rows[2].prev_hash == rows[1].hash
    assert audit.verify_chain(db.session) == (3, None)


def test_an_altered_entry_is_found(app) -> None:
    ids = _append(4)
    db.session.execute(update(AuditEvent).where(AuditEvent.id == ids[2])
                       .values(details={"method": "otp", "n": 2}))
    db.session.commit()
    checked, broken = audit.verify_chain(db.session)
    assert checked == 2 and broken == audit.ChainBreak(ids[2], "altered")


def test_a_removed_entry_is_found(app) -> None:
    ids = _append(4)
    db.session.execute(delete(AuditEvent).where(AuditEvent.id == ids[1]))
    db.session.commit()
    checked, broken = audit.verify_chain(db.session, batch=2)
    assert checked == 1 and broken == audit.ChainBreak(ids[2], "missing-or-reordered")


def test_an_entry_that_is_not_committed_leaves_no_trace(app) -> None:
    _append(1)
    audit.record(db.session, "account:login", outcome="failure")
    db.session.rollback()
    assert audit.verify_chain(db.session) == (1, None)


def test_record_many_chains_like_record(app) -> None:
    # Between single entries, and an altered one among them is still found.
    _append(2)
    people = [uuid.uuid4() for _ in range(3)]
    audit.record_many(db.session, "staff:citizen:import_updated", [
        {"citizen_id": c, "details": {"fields": ["email"]}} for c in people],
        actor_type="staff", actor_id="s-1", ip="203.0.113.7")
    audit.record_many(db.session, "staff:citizen:import_updated", [], actor_type="staff")
    _append(1)
    assert audit.verify_chain(db.session) == (6, None)
    entries = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [e.citizen_id for e in entries[2:5]] == people
    assert {(e.actor_type, e.actor_id, e.ip) for e in entries[2:5]} == {
        ("staff", "s-1", "203.0.113.7")}
    db.session.execute(update(AuditEvent).where(AuditEvent.id == entries[3].id)
                       .values(details={"fields": ["phone"]}))
    assert audit.verify_chain(db.session)[1] == audit.ChainBreak(entries[3].id, "altered")
