"""Engine set-up and schema migrations (alembic; the schema never comes from create_all)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import make_url

MIGRATIONS = Path(__file__).parent / "migrations"


# Pooled connections kept open per process: at least gunicorn's threads per worker (8 in the
# benchmark), or threads beyond it open and close a fresh connection on every request —
# a new backend process on PostgreSQL, four PRAGMAs on SQLite.
POOL_SIZE = 10


def engine_options(database_url: str) -> dict[str, Any]:
    # hide_parameters: errors in logs never carry a CCCD, phone or hash.
    if make_url(database_url).get_backend_name() == "sqlite":
        # timeout = SQLite's busy timeout: writers wait for each other instead of failing.
        return {"connect_args": {"timeout": 10, "check_same_thread": False},
                "pool_size": POOL_SIZE, "hide_parameters": True}
    return {"pool_pre_ping": True, "pool_size": POOL_SIZE, "max_overflow": 10,
            "hide_parameters": True}


def install_sqlite_pragmas(engine: Engine) -> None:
    """WAL lets readers and one writer work at once; foreign keys are off by default."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


# The connection a read-only block holds (see ``read_scope``); per thread and per request.
_held: ContextVar[Connection | None] = ContextVar("tnid_read_connection", default=None)


@contextmanager
def reader(db: Any) -> Iterator[Any]:
    """Something to run read-only Core statements on: the request's ORM session if it already
    has one, else the connection a ``read_scope`` holds, else a pooled connection for just
    this statement. Read-only endpoints (userinfo, introspection, client lookups) then never
    pay for an ORM session, and a request never holds a second connection while its session
    takes one (pool exhaustion)."""
    if db.session.registry.has():
        yield db.session
        return
    held = _held.get()
    if held is not None:
        yield held
        return
    with db.engine.connect() as connection:
        yield connection


@contextmanager
def read_scope(db: Any) -> Iterator[None]:
    """One pooled connection for all the ``reader`` statements of a block (client lookup,
    then token lookup) instead of one checkout each: a checkout costs ~20 µs on SQLite and a
    ``pool_pre_ping`` round trip on PostgreSQL. Code in the block that needs the ORM session
    calls ``release_read_scope`` first, so the request still holds one connection at a
    time."""
    token = _held.set(db.engine.connect())
    try:
        yield
    finally:
        release_read_scope()
        _held.reset(token)


def release_read_scope() -> None:
    """Give the held connection back to the pool; later reads go to the session or the pool."""
    held = _held.get()
    if held is not None:
        _held.set(None)
        held.close()
