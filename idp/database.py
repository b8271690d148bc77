"""Engine set-up and schema migrations (alembic; the schema never comes from create_all)."""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, Select, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, scoped_session

MIGRATIONS = Path(__file__).parent / "migrations"


# Pooled connections kept open per process: at least gunicorn's threads per worker (4 in the
# README and the benchmark), or threads beyond it open and close a fresh connection on every
# request —
# a new backend process on PostgreSQL, four PRAGMAs on SQLite. On SQLite each thread also
# keeps a read connection of its own (``thread_reader``): with the overflow of 10, up to 10
# threads per worker.
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
        # Reads of the database file through a memory map, not a read() call per page: the
        # hot read-only endpoints (introspection, userinfo) gain ~3-5 % on one vCPU. Writes
        # still go through SQLite's journal as before.
        cursor.execute("PRAGMA mmap_size=268435456")
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


# The connection a read-only block holds (see ``read_scope``), per thread and per request, and
# whether it is the thread's own (``thread_reader``: kept) or a pooled one (closed after).
_held: ContextVar[tuple[Connection, bool] | None] = ContextVar("tnid_read_connection",
                                                               default=None)


@contextmanager
def reader(db: Any) -> Iterator[Any]:
    """Something to run read-only Core statements on: the request's ORM session if it already
    has one, else the connection a ``read_scope`` holds, else a connection for just this
    statement (the thread's own on SQLite, a pooled one otherwise). Read-only endpoints
    (userinfo, introspection, client lookups) then never pay for an ORM session, and a
    request never holds a second pooled connection while its session takes one (pool
    exhaustion)."""
    if db.session.registry.has():
        yield db.session
        return
    held = _held.get()
    if held is not None:
        yield held[0]
        return
    engine = db.engine
    if engine.dialect.name == "sqlite":
        yield thread_reader(engine)
        return
    with engine.connect() as connection:
        yield connection


@contextmanager
def read_scope(db: Any) -> Iterator[None]:
    """One connection for all the ``reader`` statements of a block (client lookup, then token
    lookup) instead of one checkout each: a checkout costs a ``pool_pre_ping`` round trip on
    PostgreSQL. Code in the block that needs the ORM session calls ``release_read_scope``
    first, so the request still holds one pooled connection at a time."""
    engine = db.engine
    own = engine.dialect.name == "sqlite"
    token = _held.set((thread_reader(engine), True) if own else (engine.connect(), False))
    try:
        yield
    finally:
        release_read_scope()
        _held.reset(token)


def release_read_scope() -> None:
    """Stop using the held connection (a pooled one goes back to the pool); later reads go to
    the session or take a connection of their own."""
    held = _held.get()
    if held is not None:
        _held.set(None)
        connection, owned = held
        if not owned:
            connection.close()


class _OwnedReader:
    """One thread's read connection, in autocommit mode (no implicit BEGIN, ever: every
    statement reads the latest commit) and ``query_only``; handed back to the pool as it was
    when the thread (or the engine) is gone and this holder with it."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.dbapi = connection.connection.dbapi_connection
        self.pid = _pid
        self._isolation_level = self.dbapi.isolation_level
        self.dbapi.isolation_level = None
        _pragma(self.dbapi, "query_only = ON")

    def usable(self) -> bool:
        connection = self.connection
        if connection.closed or connection.invalidated:
            return False
        if self.dbapi.in_transaction:  # a BEGIN someone sent: end it rather than read old data
            self.dbapi.rollback()
        return True

    def __del__(self) -> None:
        if self.pid != _pid:
            # A forked child's copy of its parent's connection: SQLite forbids using it, so it
            # is neither reset nor closed nor put in this process's pool.
            _INHERITED.append(self.connection)
            return
        with contextlib.suppress(Exception):  # interpreter shutdown: no pool to return to
            _pragma(self.dbapi, "query_only = OFF")
            self.dbapi.isolation_level = self._isolation_level
        with contextlib.suppress(Exception):
            self.connection.close()


def _pragma(dbapi_connection: Any, setting: str) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA {setting}")
    finally:
        cursor.close()


_pid = os.getpid()
_INHERITED: list[Connection] = []
_readers_lock = threading.Lock()
_engines_with_readers: weakref.WeakSet[Engine] = weakref.WeakSet()


def _after_fork() -> None:
    """In a forked child: a lock another thread held at the fork would never be released
    here, and the parent's pooled SQLite connections must not be used (SQLite's rule):
    the child's pools forget them without closing them (SQLAlchemy's advice for forks)."""
    global _pid, _readers_lock
    _pid = os.getpid()
    _readers_lock = threading.Lock()
    for engine in list(_engines_with_readers):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_after_fork)


def thread_reader(engine: Engine) -> Connection:
    """SQLite only: the calling thread's own connection for read-only statements, kept across
    requests. Checking a connection out of the pool and back in costs several times what
    SQLite takes to find a token by its hash, on every introspection, userinfo and client
    lookup. Only ``PreparedRead`` runs on it; ``PRAGMA query_only`` makes a write through it
    fail at once. Each thread holds it besides its ORM session's connection: the pool
    (``POOL_SIZE`` plus overflow) must allow two per gunicorn thread."""
    pid, readers = engine.__dict__.get("_tnid_thread_readers", (None, None))
    if pid != _pid:  # first use, or a forked child: never share a parent's connection
        with _readers_lock:  # threads meeting a fresh engine at once must share one registry
            pid, readers = engine.__dict__.get("_tnid_thread_readers", (None, None))
            if pid != _pid:
                readers = threading.local()
                engine.__dict__["_tnid_thread_readers"] = (_pid, readers)
                _engines_with_readers.add(engine)
    owned: _OwnedReader | None = getattr(readers, "owned", None)
    if owned is None or not owned.usable():
        owned = readers.owned = _OwnedReader(engine.connect())
    return owned.connection


@dataclass(frozen=True)
class _CompiledRead:
    sql: str
    bind_order: tuple[str, ...] | None  # positional paramstyles (SQLite's ``?``), else None
    labels: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]


class PreparedRead:
    """A read-only Core SELECT, compiled once per dialect and run straight on the DBAPI
    cursor; each value goes through the result processor SQLAlchemy itself would apply, so
    rows read back exactly as ``connection.execute(statement)`` reads them.

    For the hottest single-row reads (the userinfo token, the introspecting client and its
    token): SQLAlchemy's per-statement machinery (compiled-cache key, execution context,
    result and row objects) costs more than SQLite takes to run the query. Engine events
    (``before_cursor_execute``/``after_cursor_execute``) still fire, and a DBAPI error is
    raised as SQLAlchemy's (``OperationalError`` -> 503) with its parameters hidden."""

    def __init__(self, statement: Select) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, str], _CompiledRead] = {}

    def _compile(self, dialect: Dialect) -> _CompiledRead:
        key = (dialect.name, dialect.driver)
        compiled = self._compiled.get(key)
        if compiled is None:
            sql = self.statement.compile(dialect=dialect)
            columns = self.statement.selected_columns
            compiled = _CompiledRead(
                sql=sql.string,
                bind_order=tuple(sql.positiontup) if sql.positiontup is not None else None,
                labels=tuple(columns.keys()),
                processors=tuple(c.type._cached_result_processor(dialect, None)
                                 for c in columns))
            self._compiled[key] = compiled
        return compiled

    def first(self, on: Connection | Session | scoped_session,
              params: dict[str, Any]) -> Mapping[str, Any] | None:
        """The first row as ``{label: value}``, or None. ``params`` are plain strings and
        numbers (no bind processing is applied). On an ORM session the statement runs the
        usual way (autoflush first): only plain connections take the short path."""
        if not isinstance(on, Connection):  # a Session or the scoped_session proxy
            return on.execute(self.statement, params).mappings().first()
        connection = on
        dialect = connection.dialect
        compiled = self._compile(dialect)
        parameters: Any = (params if compiled.bind_order is None
                           else tuple(params[name] for name in compiled.bind_order))
        row = _fetch_one(connection, compiled.sql, parameters)
        return None if row is None else _processed(row, compiled.labels, compiled.processors)


def _processed(row: Any, labels: tuple[str, ...],
               processors: tuple[Callable[[Any], Any] | None, ...]) -> dict[str, Any]:
    """A DBAPI row as ``{label: value}``, each value through SQLAlchemy's result processor."""
    return {label: value if process is None or value is None else process(value)
            for label, process, value in zip(labels, processors, row, strict=True)}


def _fetch_one(connection: Connection, sql: str, parameters: Any) -> Any:
    """Run ``sql`` on the connection's DBAPI cursor; its first row (or None). Engine events
    fire; a DBAPI error becomes SQLAlchemy's with the parameters hidden."""
    dialect = connection.dialect
    dbapi_connection = connection.connection.dbapi_connection
    has_events = connection._has_events or connection.engine._has_events
    cursor = dbapi_connection.cursor()
    try:
        if has_events:
            connection.dispatch.before_cursor_execute(
                connection, cursor, sql, parameters, None, False)
        try:
            cursor.execute(sql, parameters)
            row = cursor.fetchone() if cursor.description else None
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, cursor):
                connection.invalidate(error)
            raise DBAPIError.instance(sql, parameters, error, dialect.loaded_dbapi.Error,
                                      hide_parameters=True, dialect=dialect) from error
        if has_events:
            connection.dispatch.after_cursor_execute(
                connection, cursor, sql, parameters, None, False)
    finally:
        cursor.close()
    return row


@dataclass(frozen=True)
class _CompiledWrite:
    sql: str
    bind_order: tuple[str, ...] | None
    processors: Mapping[str, Callable[[Any], Any] | None]
    # Parameters whose type stores None as a value of its own (JSON: 'null', as Core does).
    evaluates_none: frozenset[str]
    constants: Mapping[str, Any]  # values bound in the statement itself (LIMIT 1)
    # What the statement returns (RETURNING or SELECT columns), for ``row``.
    labels: tuple[str, ...]
    result_processors: tuple[Callable[[Any], Any] | None, ...]


class PreparedWrite:
    """A Core statement (INSERT/UPDATE, or a SELECT inside a write) compiled once per
    dialect and run straight on the DBAPI cursor of the session's own connection, inside its
    transaction; each parameter goes through the bind processor SQLAlchemy itself would apply
    (UUIDs, JSON, datetimes), so what is stored is exactly what ``session.execute`` stores.

    For the audit trail's statements, which every token issuance pays: SQLAlchemy's
    per-statement machinery cost more than SQLite takes to run them. ``first`` returns the
    row's values unprocessed (for integers and strings); ``row`` processes them as
    ``session.execute`` would (datetimes, UUIDs, JSON)."""

    def __init__(self, statement: Any, *, columns: list[str] | None = None) -> None:
        self.statement = statement
        self.columns = columns  # an INSERT's columns (the keys every call passes)
        self._compiled: dict[tuple[str, str], _CompiledWrite] = {}

    def _compile(self, dialect: Dialect) -> _CompiledWrite:
        key = (dialect.name, dialect.driver)
        compiled = self._compiled.get(key)
        if compiled is None:
            sql = self.statement.compile(dialect=dialect, column_keys=self.columns)
            # A SELECT's columns, an INSERT's or UPDATE's RETURNING; a text() statement has none.
            returned = getattr(self.statement, "exported_columns", ())
            compiled = _CompiledWrite(
                sql=sql.string,
                bind_order=tuple(sql.positiontup) if sql.positiontup is not None else None,
                processors={name: bind.type._cached_bind_processor(dialect)
                            for name, bind in sql.binds.items()},
                evaluates_none=frozenset(name for name, bind in sql.binds.items()
                                         if bind.type.should_evaluate_none),
                constants={name: bind.effective_value for name, bind in sql.binds.items()
                           if not bind.required and bind.key not in (self.columns or ())},
                labels=tuple(column.key for column in returned),
                result_processors=tuple(c.type._cached_result_processor(dialect, None)
                                        for c in returned))
            self._compiled[key] = compiled
        return compiled

    def first(self, session: Session | scoped_session, params: Mapping[str, Any]) -> Any:
        """Execute; the first row of what it returns (RETURNING, SELECT) or None."""
        return self._execute(session, params)[1]

    def row(self, session: Session | scoped_session,
            params: Mapping[str, Any]) -> dict[str, Any] | None:
        """Execute; the first returned row as ``{label: value}`` with each value processed as
        ``session.execute`` would, or None."""
        compiled, row = self._execute(session, params)
        return (None if row is None
                else _processed(row, compiled.labels, compiled.result_processors))

    def _execute(self, session: Session | scoped_session,
                 params: Mapping[str, Any]) -> tuple[_CompiledWrite, Any]:
        connection = session.connection()
        compiled = self._compile(connection.dialect)
        processors, evaluates_none = compiled.processors, compiled.evaluates_none
        values = {name: value if (value is None and name not in evaluates_none)
                  or (process := processors.get(name)) is None else process(value)
                  for name, value in (compiled.constants | params).items()}
        parameters: Any = (values if compiled.bind_order is None
                           else tuple(values[name] for name in compiled.bind_order))
        return compiled, _fetch_one(connection, compiled.sql, parameters)
