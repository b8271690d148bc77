"""The audit trail: append-only entries, each carrying the hash of the previous one, so
`verify_chain` finds the first entry that was altered, removed or inserted afterwards.

Writers are serialised on the chain's tail: on PostgreSQL by a transaction-scoped advisory
lock, on SQLite by the database's single writer lock (taken by the INSERT, before the previous
entry is read). The entry becomes visible with the caller's commit, together with the change it
records, or not at all.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.orm import Session

from idp.database import PreparedWrite
from idp.models import AuditEvent
from idp.services.clock import utcnow

GENESIS = "0" * 64
AUDIT_LOCK_ID = 7_019_2026  # any number, distinct from the migration lock


# Built once: statements with bound parameters compile once and are served from the cache.
_TABLE = AuditEvent.__table__
_COLUMNS = ["created_at", "actor_type", "actor_id", "citizen_id", "action", "outcome", "ip",
            "client_id", "details", "prev_hash", "hash"]
_TAIL_BEFORE = (select(_TABLE.c.hash).where(_TABLE.c.id < bindparam("entry_id"))
                .order_by(_TABLE.c.id.desc()).limit(1))
_SEAL = (update(_TABLE).where(_TABLE.c.id == bindparam("entry_id"))
         .values(prev_hash=bindparam("prev_hash"), hash=bindparam("hash")))
# ``record``'s three statements, run on the DBAPI cursor (see PreparedWrite).
_APPEND_ONE = PreparedWrite(insert(_TABLE).returning(_TABLE.c.id), columns=_COLUMNS)
_TAIL_BEFORE_ONE = PreparedWrite(_TAIL_BEFORE)
_SEAL_ONE = PreparedWrite(_SEAL)
_TAIL_ONE = PreparedWrite(select(_TABLE.c.id, _TABLE.c.hash).order_by(_TABLE.c.id.desc())
                          .limit(1))
_APPEND_SEALED_ONE = PreparedWrite(insert(_TABLE), columns=["id", *_COLUMNS])
_LOCK_ONE = PreparedWrite(text(f"SELECT pg_advisory_xact_lock({AUDIT_LOCK_ID})"))


def record(
    session: Session,
    action: str,
    *,
    actor_type: str = "citizen",
    actor_id: str | uuid.UUID | None = None,
    citizen_id: uuid.UUID | None = None,
    outcome: str = "success",
    ip: str | None = None,
    client_id: str | None = None,
    details: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> int:
    """Append an entry (written, not committed) and return its id. ``details`` must be
    JSON-serialisable and must never hold secrets (passwords, codes, tokens).

    Prepared statements on the DBAPI cursor rather than the ORM or Core execution: the token
    endpoint records every issuance, and those layers cost it a fifth of its throughput."""
    if session.get_bind().dialect.name == "postgresql":
        _LOCK_ONE.first(session, {})
    values: dict[str, Any] = {
        "created_at": (now or utcnow()).replace(microsecond=0), "actor_type": actor_type,
        "actor_id": str(actor_id) if actor_id is not None else None,
        "citizen_id": citizen_id, "action": action[:64], "outcome": outcome,
        "ip": (ip or None) and ip[:45], "client_id": client_id,
        "details": dict(details or {}),
    }
    if _holds_sqlite_write_lock(session):
        # The transaction has written already, so it holds SQLite's writer lock and the tail
        # cannot move: read it, then write the entry once, sealed (the token endpoint's
        # case — one statement and one index update fewer while every other writer waits).
        tail = _TAIL_ONE.first(session, {})
        values.update(id=tail[0] + 1 if tail else 1, prev_hash=tail[1] if tail else GENESIS)
        values["hash"] = _hash(values)
        _APPEND_SEALED_ONE.first(session, values)
        return values["id"]
    # Otherwise the INSERT takes SQLite's writer lock before the tail is read; the placeholder
    # hash is unique so that two entries can never collide before their real hashes are set.
    entry_id = _APPEND_ONE.first(
        session, {**values, "prev_hash": GENESIS, "hash": secrets.token_hex(32)})[0]
    previous = (_TAIL_BEFORE_ONE.first(session, {"entry_id": entry_id}) or (None,))[0]
    values.update(id=entry_id, prev_hash=previous or GENESIS)
    _SEAL_ONE.first(session, {"entry_id": entry_id, "prev_hash": values["prev_hash"],
                            "hash": _hash(values)})
    return entry_id


def _holds_sqlite_write_lock(session: Session) -> bool:
    connection = session.connection()
    # Python's sqlite3 opens a transaction at a transaction's first write, not before.
    return (connection.dialect.name == "sqlite"
            and connection.connection.dbapi_connection.in_transaction)


# In parameter order, so that the ids come back matched to the entries.
_APPEND_MANY = insert(_TABLE).returning(_TABLE.c.id, sort_by_parameter_order=True)


def record_many(
    session: Session,
    action: str,
    entries: Sequence[Mapping[str, Any]],
    *,
    actor_type: str,
    actor_id: str | uuid.UUID | None = None,
    outcome: str = "success",
    ip: str | None = None,
    client_id: str | None = None,
    now: datetime | None = None,
) -> None:
    """Append several entries of one action, actor and moment (each ``entries`` item: its
    ``citizen_id`` and ``details``) in three statements instead of three per entry: the same
    chain as that many ``record`` calls (written, not committed). For bulk work (an import's
    per-citizen entries), where ``record`` in a loop cost ~0.15 ms (SQLite) to ~0.7 ms
    (PostgreSQL) per entry. Under the same lock as ``record``, so nobody's entry comes between
    ours: each one chains to the one before it."""
    if not entries:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SELECT pg_advisory_xact_lock({AUDIT_LOCK_ID})"))
    common: dict[str, Any] = {
        "created_at": (now or utcnow()).replace(microsecond=0), "actor_type": actor_type,
        "actor_id": str(actor_id) if actor_id is not None else None, "action": action[:64],
        "outcome": outcome, "ip": (ip or None) and ip[:45], "client_id": client_id,
    }
    rows = [{**common, "citizen_id": entry.get("citizen_id"),
             "details": dict(entry.get("details") or {})} for entry in entries]
    ids = session.execute(_APPEND_MANY, [
        {**row, "prev_hash": GENESIS, "hash": secrets.token_hex(32)} for row in rows]
    ).scalars().all()
    previous = session.scalar(_TAIL_BEFORE, {"entry_id": ids[0]}) or GENESIS
    seals = []
    for entry_id, row in zip(ids, rows, strict=True):
        row.update(id=entry_id, prev_hash=previous)
        previous = _hash(row)
        seals.append({"entry_id": entry_id, "prev_hash": row["prev_hash"], "hash": previous})
    session.execute(_SEAL, seals)


def entry_hash(entry: AuditEvent) -> str:
    """SHA-256 over the entry's canonical JSON, which includes the previous entry's hash."""
    return _hash({name: getattr(entry, name) for name in _HASHED})


_HASHED = ("id", "created_at", "actor_type", "actor_id", "citizen_id", "action", "outcome",
           "ip", "client_id", "details", "prev_hash")


def _hash(values: Mapping[str, Any]) -> str:
    body = {name: values[name] for name in _HASHED}
    body["created_at"] = values["created_at"].replace(microsecond=0).isoformat()
    body["citizen_id"] = str(values["citizen_id"]) if values["citizen_id"] else None
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                           default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    entry_id: int
    reason: str  # altered | inserted | missing-or-reordered


def verify_chain(session: Session, *, batch: int = 5000, limit: int | None = None
                 ) -> tuple[int, ChainBreak | None]:
    """Walk the trail in order; return (entries checked, the first break or None).

    - altered: the entry's content no longer gives its hash;
    - inserted: the entry sits between two entries that chain to each other;
    - missing-or-reordered: the entry does not chain to the one before it (that one was
      removed, or the order changed).

    Constant memory on millions of entries: plain rows in keyset batches, nothing kept in the
    session (the caller's objects stay attached). ``limit`` stops after that many entries
    (the console's button; the command line checks everything)."""
    expected_prev, checked = GENESIS, 0
    before_prev: str | None = None  # the prev_hash of the entry just checked
    previous_id = 0
    rows = _entries(session, batch)
    entry = next(rows, None)
    while entry is not None and (limit is None or checked < limit):
        following = next(rows, None)
        if entry.prev_hash != expected_prev:
            if following is not None and following.prev_hash == expected_prev:
                return checked, ChainBreak(entry.id, "inserted")  # chained around it
            if before_prev is not None and entry.prev_hash == before_prev:
                return checked - 1, ChainBreak(previous_id, "inserted")
            return checked, ChainBreak(entry.id, "missing-or-reordered")
        if _hash(entry._mapping) != entry.hash:
            return checked, ChainBreak(entry.id, "altered")
        before_prev, previous_id = entry.prev_hash, entry.id
        expected_prev, checked = entry.hash, checked + 1
        entry = following
    return checked, None


def _entries(session: Session, batch: int) -> Iterator[Any]:
    """Rows of the hashed columns and ``hash``, in id order."""
    table = AuditEvent.__table__
    columns = [table.c[name] for name in (*_HASHED, "hash")]
    last_id = 0
    while True:
        rows = session.execute(select(*columns).where(table.c.id > last_id)
                               .order_by(table.c.id).limit(batch)).all()
        if not rows:
            return
        yield from rows
        last_id = rows[-1].id
