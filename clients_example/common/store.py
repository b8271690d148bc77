"""Server-side sessions of a relying app, in SQLite in its instance folder.

The browser's cookie holds only a random local session id; what the app knows about the
sign-in (ID token, claims, tokens) lives here, indexed by the provider's ``sid`` and ``sub``,
so a back-channel logout call — which carries no cookie — can end the browser's session.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    sid TEXT,
    sub TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_sid ON sessions (sid);
CREATE INDEX IF NOT EXISTS sessions_sub ON sessions (sub);
CREATE TABLE IF NOT EXISTS seen_logout_tokens (
    jti TEXT PRIMARY KEY,
    expires_at REAL NOT NULL
);
"""


class Store:
    """One SQLite file; a connection per operation (the app serves requests in threads)."""

    def __init__(self, path: Path, extra_schema: str = "") -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self.connect() as db:
            db.executescript(SCHEMA + extra_schema)

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=10)
        db.row_factory = sqlite3.Row
        try:
            with db:  # commit on success, roll back on error
                yield db
        finally:
            db.close()

    # --- sessions ---------------------------------------------------------------------------

    def create_session(self, *, sid: str | None, sub: str, data: dict[str, Any]) -> str:
        session_id = secrets.token_urlsafe(32)
        with self.connect() as db:
            db.execute("INSERT INTO sessions (id, sid, sub, data, created_at) VALUES (?,?,?,?,?)",
                       (session_id, sid, sub, json.dumps(data), time.time()))
        return session_id

    def get_session(self, session_id: object) -> dict[str, Any] | None:
        if not isinstance(session_id, str) or not session_id:
            return None
        with self.connect() as db:
            row = db.execute("SELECT data FROM sessions WHERE id = ?", (session_id,)).fetchone()
        return json.loads(row["data"]) if row else None

    def update_session(self, session_id: str, data: dict[str, Any]) -> bool:
        with self.connect() as db:
            cursor = db.execute("UPDATE sessions SET data = ? WHERE id = ?",
                                (json.dumps(data), session_id))
        return cursor.rowcount == 1

    def delete_session(self, session_id: object) -> None:
        if isinstance(session_id, str):
            with self.connect() as db:
                db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    def end_sessions(self, *, sid: str | None, sub: str | None) -> int:
        """Back-Channel Logout §2.7: with a ``sid``, the sessions of that provider session (for
        that ``sub`` when given); with only a ``sub``, every session of that citizen."""
        with self.connect() as db:
            if sid and sub:
                cursor = db.execute("DELETE FROM sessions WHERE sid = ? AND sub = ?", (sid, sub))
            elif sid:
                cursor = db.execute("DELETE FROM sessions WHERE sid = ?", (sid,))
            elif sub:
                cursor = db.execute("DELETE FROM sessions WHERE sub = ?", (sub,))
            else:
                return 0
        return cursor.rowcount

    def count_sessions(self) -> int:
        with self.connect() as db:
            return db.execute("SELECT count(*) FROM sessions").fetchone()[0]

    # --- logout token replay ---------------------------------------------------------------

    def first_use_of_jti(self, jti: str, expires_at: float) -> bool:
        """Remember a logout token's ``jti`` until it expires; False if already seen."""
        now = time.time()
        with self.connect() as db:
            db.execute("DELETE FROM seen_logout_tokens WHERE expires_at < ?", (now,))
            try:
                db.execute("INSERT INTO seen_logout_tokens (jti, expires_at) VALUES (?, ?)",
                           (jti, expires_at))
            except sqlite3.IntegrityError:
                return False
        return True
