"""Tests of idp.services.tokens' bulk changes (revocations, sign-out's access expiry, the purge)
against the real database. On PostgreSQL they also race one another over a family whose rows
no longer sit in id order in the table: every change locks rows in id order, so none of them
can deadlock with another (the CI failure of two requests replaying one refresh token)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, select, text, update
from sqlalchemy.orm import Session

from idp.extensions import db
from idp.models import Token
from idp.services import clients, housekeeping, tokens

T0 = datetime(2026, 11, 22, 9, 0, 0)
SID = "s" * 43


@pytest.fixture
def family(app: Flask, make_citizen: Any) -> Iterator[dict[str, Any]]:
    """Three live rows of one family and session, the first one moved to the end of the
    table (an UPDATE writes a new row version there): scan order is no longer id order."""
    citizen = make_citizen()
    with app.app_context():
        client, _secret = clients.create_client(db.session, clients.ClientSpec(
            name_vi="Khóa theo thứ tự", redirect_uris=["https://rp.example.vn/cb"],
            scope="openid offline_access"), production=False)
        family_id = uuid.uuid4()
        rows = [Token(client_id=client.client_id, citizen_id=citizen.id, sid=SID,
                      scope="openid offline_access", access_token_hash=f"{n}" * 64,
                      refresh_token_hash=f"r{n}".ljust(64, "0"), issued_at=T0,
                      access_expires_at=T0 + timedelta(minutes=10),
                      refresh_expires_at=T0 + timedelta(days=30), family_id=family_id)
                for n in range(3)]
        db.session.add_all(rows)
        db.session.commit()
        ids = [row.id for row in rows]
        # A new hash changes an indexed column: no in-place (HOT) update on PostgreSQL, the
        # row's new version goes to the end of the table and of every index.
        db.session.execute(update(Token).where(Token.id == ids[0])
                           .values(access_token_hash="f" * 64))
        db.session.commit()
        yield {"ids": ids, "family_id": family_id, "client_id": client.client_id,
               "engine": db.engine}


def now() -> datetime:
    return T0 + timedelta(minutes=1)


CHANGES: dict[str, Callable[[Session, dict[str, Any]], int]] = {
    "revoke_family": lambda s, f: tokens.revoke_family(s, f["family_id"], now()),
    "end_access_for_sid": lambda s, f: tokens.end_access_for_sid(s, SID, now()),
    "revoke_for_sid": lambda s, f: tokens.revoke_for_sid(s, SID, now()),
    "revoke_for_client": lambda s, f: tokens.revoke_for_client(s, f["client_id"], now()),
    # The purge's delete (housekeeping), which locks in the same order.
    "delete_rows": lambda s, f: housekeeping.delete_rows(
        s, Token, Token.family_id == f["family_id"]),
}


@pytest.mark.parametrize("name", CHANGES)
def test_each_change_reaches_the_whole_family(app: Flask, family: dict[str, Any], name: str):
    with app.app_context():
        changed = CHANGES[name](db.session, family)
        db.session.commit()
        rows = db.session.scalars(select(Token).where(Token.id.in_(family["ids"]))).all()
    # revoke_for_sid keeps offline grants (these are): nothing to change.
    assert changed == (0 if name == "revoke_for_sid" else 3)
    if name == "revoke_for_sid":
        assert all(row.revoked_at is None for row in rows)
    elif name == "end_access_for_sid":
        assert all(row.access_expires_at == now() and row.revoked_at is None for row in rows)
    elif name == "delete_rows":
        assert rows == []
    else:
        assert all(row.revoked_at == now() for row in rows)


@pytest.mark.parametrize("name", [n for n in CHANGES if n != "revoke_for_sid"])
def test_changes_racing_another_change_never_deadlock(app: Flask, backend: str,
                                                      family: dict[str, Any], name: str):
    """A holds the family's last row; B (the change under test) locks what it can and waits
    on it; C, another change of the family that locks in id order, starts after B. When A
    lets go, B and C both finish. Were B to lock in scan order (2, 3, 1 here), it would take
    row 1 last, which C holds while waiting on B's row 2: PostgreSQL's deadlock."""
    engine: Engine = family["engine"]
    ids = family["ids"]
    errors: list[BaseException] = []
    done: list[str] = []

    def run(label: str, change: Callable[[Session], object]) -> None:
        try:
            with Session(engine) as session, session.begin():
                change(session)
            done.append(label)
        except BaseException as error:  # noqa: BLE001 — reported by the assertion below
            errors.append(error)

    def other_change(session: Session) -> None:
        if backend != "sqlite":
            session.execute(select(Token.id).where(Token.family_id == family["family_id"])
                            .order_by(Token.id).with_for_update())
        session.execute(update(Token).where(Token.family_id == family["family_id"])
                        .values(acr="2"))

    if backend == "sqlite":  # one writer at a time: the changes simply run one after another
        run("B", lambda s: CHANGES[name](s, family))
        run("C", other_change)
        assert not errors and done == ["B", "C"]
        return
    with engine.connect() as holder:
        holder.execute(text("SELECT id FROM tokens WHERE id = :id FOR UPDATE"), {"id": ids[2]})
        b = threading.Thread(target=run, args=("B", lambda s: CHANGES[name](s, family)))
        b.start()
        _wait_until_blocked(engine, count=1)
        c = threading.Thread(target=run, args=("C", other_change))
        c.start()
        _wait_until_blocked(engine, count=2)
        holder.rollback()
    b.join(timeout=30)
    c.join(timeout=30)
    assert not errors, errors
    assert sorted(done) == ["B", "C"]


def _wait_until_blocked(engine: Engine, *, count: int) -> None:
    """Until ``count`` other backends wait on a lock (pg_locks), at most ten seconds."""
    import time

    with engine.connect() as watcher:
        for _ in range(1000):
            waiting = watcher.execute(text(
                "SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar()
            watcher.rollback()
            if waiting >= count:
                return
            time.sleep(0.01)
    raise AssertionError(f"{count} blocked backends expected")
