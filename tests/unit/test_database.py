"""Tests of idp.database and the alembic migrations, on the suite's backend (sqlite or
postgresql); every test runs on both, branching on ``backend`` where they differ."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from flask import Flask
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from idp import database
from idp.extensions import db
from idp.models import Base, SsoSession

TABLES = {"citizens", "sso_sessions"}


def schema_diff(engine: Engine) -> list:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)


@pytest.fixture
def engine(migrated: str) -> Iterator[Engine]:
    engine = create_engine(migrated)
    database.install_sqlite_pragmas(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def fresh_engine(backend: str, database_url: str, tmp_path) -> Iterator[Engine]:
    """An engine on a brand-new, empty database of the suite's backend."""
    if backend == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'fresh.sqlite3'}",
                               **database.engine_options("sqlite://"))
        database.install_sqlite_pragmas(engine)
        yield engine
        engine.dispose()
        return
    name = f"tnid_fresh_{uuid.uuid4().hex[:12]}"
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(make_url(database_url).set(database=name))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


# --- Migrations ---------------------------------------------------------------------------------


def test_suite_database_is_at_head(engine: Engine):
    head = database.head_revision(engine)
    assert head is not None
    assert database.current_revision(engine) == head


def test_migrated_schema_matches_the_models(engine: Engine):
    assert schema_diff(engine) == []


def test_migrated_tables_exist(engine: Engine):
    assert TABLES <= set(inspect(engine).get_table_names())


def test_upgrade_is_idempotent(engine: Engine):
    head = database.head_revision(engine)
    database.upgrade(engine)
    assert database.current_revision(engine) == head
    assert schema_diff(engine) == []


def test_downgrade_to_base_then_upgrade_on_fresh_database(fresh_engine: Engine):
    assert database.current_revision(fresh_engine) is None
    assert not TABLES & set(inspect(fresh_engine).get_table_names())

    database.upgrade(fresh_engine)
    head = database.head_revision(fresh_engine)
    assert database.current_revision(fresh_engine) == head
    assert TABLES <= set(inspect(fresh_engine).get_table_names())
    assert schema_diff(fresh_engine) == []

    database.downgrade(fresh_engine, "base")
    assert database.current_revision(fresh_engine) is None
    assert not TABLES & set(inspect(fresh_engine).get_table_names())

    database.upgrade(fresh_engine)
    assert database.current_revision(fresh_engine) == head
    assert schema_diff(fresh_engine) == []
    with fresh_engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO citizens (id, cccd, full_name, name_folded, birthdate, gender, phone, "
            "identity_level, status, created_at, updated_at) VALUES (:id, '019085000001', "
            "'Nguyễn Văn An', 'nguyen van an', '1985-03-12', 'male', '+84912345678', 1, "
            "'active', "
            ":now, :now)"),
            {"id": uuid.uuid4().hex if fresh_engine.dialect.name == "sqlite"
             else str(uuid.uuid4()), "now": datetime(2025, 8, 15)},
        )
        assert connection.scalar(text("SELECT count(*) FROM citizens")) == 1


def test_migration_step_by_step_matches_head(fresh_engine: Engine):
    database.upgrade(fresh_engine, "head")
    head = database.current_revision(fresh_engine)
    database.downgrade(fresh_engine, "-1")
    assert database.current_revision(fresh_engine) != head
    database.upgrade(fresh_engine, "+1")
    assert database.current_revision(fresh_engine) == head


# --- Engine options and pragmas -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///tmp/x.sqlite3", {"connect_args": {"timeout": 10,
                                                      "check_same_thread": False},
                                     "pool_size": 10, "hide_parameters": True}),
        ("sqlite://", {"connect_args": {"timeout": 10, "check_same_thread": False},
                       "pool_size": 10, "hide_parameters": True}),
        ("postgresql+psycopg://tnid@db/tnid",
         {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 10, "hide_parameters": True}),
    ],
)
def test_engine_options(url: str, expected: dict):
    assert database.engine_options(url) == expected


def test_connection_settings(app: Flask, backend: str):
    with app.app_context():
        engine = db.engine
        assert engine.dialect.name == backend
        with engine.connect() as connection:
            if backend == "sqlite":
                assert connection.scalar(text("PRAGMA journal_mode")).lower() == "wal"
                assert connection.scalar(text("PRAGMA foreign_keys")) == 1
                assert connection.scalar(text("PRAGMA busy_timeout")) > 0
                assert connection.scalar(text("PRAGMA synchronous")) == 1  # NORMAL
            else:
                assert engine.dialect.driver == "psycopg"
                assert engine.pool._pre_ping is True
                assert connection.scalar(text("SHOW server_encoding")) == "UTF8"
                assert connection.scalar(text("SHOW client_encoding")) == "UTF8"
                assert int(connection.scalar(text("SHOW server_version_num"))) >= 120000


def test_pragmas_apply_to_every_new_connection(app: Flask, backend: str):
    with app.app_context():
        engine = db.engine
        engine.dispose()
        for _ in range(3):
            with engine.connect() as connection:
                if backend == "sqlite":
                    assert connection.scalar(text("PRAGMA foreign_keys")) == 1
                else:
                    assert connection.scalar(text("SELECT 1")) == 1
            engine.dispose()


def test_install_sqlite_pragmas_is_a_no_op_elsewhere():
    engine = create_engine("postgresql+psycopg://tnid@db.invalid/tnid")
    database.install_sqlite_pragmas(engine)  # must not connect nor fail
    engine.dispose()


def test_vietnamese_text_round_trips(app: Flask, make_citizen):
    name = "Đặng Thị Hồng Nhung"
    citizen = make_citizen(full_name=name)
    with app.app_context():
        stored = db.session.scalar(
            text("SELECT full_name FROM citizens WHERE cccd = :cccd"), {"cccd": citizen.cccd}
        )
        assert stored == name


# --- Constraints enforced by the database -------------------------------------------------------


def sso_row(citizen_id: uuid.UUID) -> SsoSession:
    now = datetime(2025, 8, 15, 1, 0)
    return SsoSession(
        token_hash=uuid.uuid4().bytes * 2, sid=uuid.uuid4().hex, citizen_id=citizen_id,
        auth_time=now, amr=["pwd"], acr="urn:tnid:acr:1", created_at=now, last_seen_at=now,
        ip="203.0.113.7", user_agent="test",
    )


def test_foreign_key_is_enforced(app: Flask):
    with app.app_context():
        db.session.add(sso_row(uuid.uuid4()))
        with pytest.raises(IntegrityError):
            db.session.flush()
        db.session.rollback()
        assert db.session.scalar(text("SELECT count(*) FROM sso_sessions")) == 0


def test_deleting_a_citizen_cascades_to_sessions(app: Flask, make_citizen):
    citizen = make_citizen()
    with app.app_context():
        db.session.add(sso_row(citizen.id))
        db.session.commit()
        db.session.execute(text("DELETE FROM citizens"))
        db.session.commit()
        assert db.session.scalar(text("SELECT count(*) FROM sso_sessions")) == 0


@pytest.mark.parametrize(
    ("column", "value"),
    [("identity_level", 3), ("identity_level", 0), ("gender", "other")],
)
def test_check_constraints_are_enforced(app: Flask, make_citizen, column: str, value):
    citizen = make_citizen()
    with app.app_context():
        with pytest.raises(IntegrityError):
            db.session.execute(text(f"UPDATE citizens SET {column} = :value WHERE cccd = :cccd"),
                               {"value": value, "cccd": citizen.cccd})
            db.session.flush()
        db.session.rollback()


@pytest.mark.parametrize("column", ["cccd", "phone"])
def test_unique_constraints_are_enforced(app: Flask, make_citizen, column: str):
    first, second = make_citizen(), make_citizen()
    with app.app_context():
        with pytest.raises(IntegrityError):
            db.session.execute(
                text(f"UPDATE citizens SET {column} = :value WHERE cccd = :cccd"),
                {"value": getattr(first, column), "cccd": second.cccd},
            )
        db.session.rollback()


def test_duplicate_session_token_hash_is_refused(app: Flask, make_citizen):
    citizen = make_citizen()
    with app.app_context():
        row = sso_row(citizen.id)
        db.session.add(row)
        db.session.commit()
        twin = sso_row(citizen.id)
        twin.token_hash = row.token_hash
        db.session.add(twin)
        with pytest.raises(IntegrityError):
            db.session.flush()
        db.session.rollback()


# --- PreparedRead: the hot reads on the DBAPI cursor ------------------------------------------


@pytest.fixture
def token_pair(app: Flask, make_citizen) -> dict[str, str]:
    from datetime import timedelta

    from idp.services import clients, tokens
    from idp.services.clock import utcnow

    citizen = make_citizen()
    with app.app_context():
        client, _secret = clients.create_client(db.session, clients.ClientSpec(
            name_vi="Đọc nhanh", redirect_uris=["https://rp.example.vn/cb"],
            scope="openid profile phone offline_access"), production=False)
        pair = {"access_token": "a" * 43, "refresh_token": "r" * 64,
                "scope": "openid profile phone", "expires_in": 3600}
        tokens.save_token(db.session, pair, client=client, citizen_id=citizen.id,
                          now=utcnow(), lifetimes=tokens.Lifetimes(*[timedelta(days=1)] * 4))
        db.session.commit()
        return {**pair, "client_id": client.client_id}


def test_prepared_reads_match_sqlalchemy_execution(app: Flask, token_pair):
    from idp.oidc.introspection import _CLIENT_AND_TOKEN
    from idp.services import tokens

    with app.app_context(), db.engine.connect() as connection:
        for view in tokens.VIEWS.values():
            for kind, statement in view.by_hash.items():
                params = {"digest": tokens.digest(token_pair[kind])}
                expected = connection.execute(statement, params).mappings().first()
                assert expected is not None
                assert view.reads[kind].first(connection, params) == dict(expected)
                assert view.reads[kind].first(connection, {"digest": "0" * 64}) is None
        params = {"client_id": token_pair["client_id"],
                  "digest": tokens.digest(token_pair["access_token"])}
        expected = connection.execute(_CLIENT_AND_TOKEN.statement, params).mappings().first()
        assert _CLIENT_AND_TOKEN.first(connection, params) == dict(expected)


def test_prepared_reads_fire_engine_events_and_raise_sqlalchemy_errors(app: Flask):
    from sqlalchemy import bindparam, column, event, select, table
    from sqlalchemy.exc import DBAPIError

    seen: list[str] = []

    def record(_connection, _cursor, statement, *_args) -> None:  # noqa: ANN001
        seen.append(statement)

    missing = database.PreparedRead(
        select(column("x")).select_from(table("no_such_table", column("x")))
        .where(column("x") == bindparam("secret")))
    with app.app_context():
        engine = db.engine
        event.listen(engine, "before_cursor_execute", record)
        try:
            with engine.connect() as connection, pytest.raises(DBAPIError) as raised:
                missing.first(connection, {"secret": "s3cr3t-value"})
        finally:
            event.remove(engine, "before_cursor_execute", record)
    assert seen and "no_such_table" in seen[0]
    assert "s3cr3t-value" not in str(raised.value)  # parameters stay out of error logs


def test_prepared_writes_store_what_core_stores(app: Flask, make_citizen):
    """UUIDs, datetimes, JSON — and None in a JSON column, which Core stores as JSON 'null',
    not SQL NULL — come out of ``PreparedWrite`` exactly as out of ``session.execute``."""
    from datetime import timedelta

    from sqlalchemy import insert, select

    from idp.models import Token
    from idp.services import clients, tokens
    from idp.services.clock import utcnow

    citizen = make_citizen()
    with app.app_context():
        client, _secret = clients.create_client(db.session, clients.ClientSpec(
            name_vi="Ghi nhanh", redirect_uris=["https://rp.example.vn/cb"],
            scope="openid"), production=False)
        now = utcnow().replace(microsecond=0)
        row = {"client_id": client.client_id, "citizen_id": citizen.id, "issued_at": now,
               "family_id": uuid.uuid4(), "family_expires_at": None, "code_id": None,
               "sid": None, "auth_time": now, "acr": "1", "amr": None, "claims": None,
               "scope": "openid", "access_token_hash": "p" * 64,
               "access_expires_at": now + timedelta(minutes=10), "refresh_token_hash": None,
               "refresh_expires_at": None, "revoked_at": None, "refresh_used_at": None}
        tokens._INSERT_TOKEN.first(db.session, row)
        db.session.execute(insert(Token.__table__), [{**row, "access_token_hash": "c" * 64,
                                                      "family_id": uuid.uuid4()}])
        db.session.commit()
        columns = [Token.__table__.c[name] for name in row if name != "family_id"]
        stored = [db.session.execute(select(*columns, Token.amr.is_(None), Token.claims.is_(None),
                                            text("CAST(tokens.amr AS TEXT)"))
                                     .where(Token.access_token_hash == digest)).one()
                  for digest in ("p" * 64, "c" * 64)]
    prepared, core = ([v for v in r if v not in ("p" * 64, "c" * 64)] for r in stored)
    assert prepared == core


def test_prepared_write_rows_read_back_what_session_execute_reads(app: Flask, make_citizen):
    """``PreparedWrite.row`` processes a RETURNING row (UUIDs, datetimes, JSON) and a SELECT
    inside a write as ``session.execute`` does; no row is None."""
    from datetime import timedelta

    from sqlalchemy import bindparam, select, update

    from idp.models import AuthorizationCode, Citizen, CitizenStatus
    from idp.services import clients, tokens
    from idp.services.clock import utcnow

    citizen = make_citizen()
    table = AuthorizationCode.__table__
    claim = update(table).where(table.c.code_hash == bindparam("b_hash")).values(
        used_at=bindparam("b_now")).returning(*table.columns)
    by_id = select(*Citizen.__table__.columns).where(Citizen.__table__.c.id == bindparam("id"))
    with app.app_context():
        client, _secret = clients.create_client(db.session, clients.ClientSpec(
            name_vi="Đổi mã", redirect_uris=["https://rp.example.vn/cb"], scope="openid"),
            production=False)
        now = utcnow()
        for code in ("first", "second"):
            tokens.save_code(db.session, code, client_id=client.client_id,
                             citizen_id=citizen.id, redirect_uri="https://rp.example.vn/cb",
                             scope="openid", nonce=None, code_challenge=None,
                             code_challenge_method=None, claims={"userinfo": {"name": None}},
                             sid="s" * 43, auth_time=now, acr="1", amr=["pwd", "otp"],
                             created_at=now, expires_at=now + timedelta(minutes=1))
        prepared = database.PreparedWrite(claim).row(
            db.session, {"b_hash": tokens.digest("first"), "b_now": now})
        core = db.session.execute(claim, {"b_hash": tokens.digest("second"), "b_now": now}
                                  ).mappings().one()
        read = database.PreparedWrite(by_id).row(db.session, {"id": citizen.id})
        expected = db.session.execute(by_id, {"id": citizen.id}).mappings().one()
        missing = database.PreparedWrite(by_id).row(db.session, {"id": uuid.uuid4()})
        # A text() statement returns no declared columns: its row is read, unprocessed.
        assert database.PreparedWrite(text("SELECT 1")).first(db.session, {}) == (1,)
        assert database.PreparedWrite(text("SELECT 1 WHERE 1 = 0")).row(db.session, {}) is None
        db.session.rollback()
    differing = {"id", "code_hash"}
    assert {k: v for k, v in prepared.items() if k not in differing} == \
        {k: v for k, v in core.items() if k not in differing}
    assert prepared["citizen_id"] == citizen.id and prepared["amr"] == ["pwd", "otp"]
    assert prepared["used_at"] == now and isinstance(prepared["auth_time"], datetime)
    assert read == dict(expected) and read["id"] == citizen.id
    # Values the raw row would also compare equal to: a str for the enum, 0 for False.
    assert isinstance(read["status"], CitizenStatus) and read["unlock_required"] is False
    assert missing is None


# --- reader: the thread's own read connection on SQLite ---------------------------------------


def test_reader_keeps_one_read_only_connection_per_thread_on_sqlite(app: Flask, backend: str,
                                                                   token_pair):
    import sqlite3
    import threading

    from idp.services import tokens

    def commit_scope(scope: str) -> None:  # another request's write, committed
        db.session.execute(text("UPDATE tokens SET scope = :scope"), {"scope": scope})
        db.session.commit()
        db.session.remove()

    def scope_read() -> tuple[object, str]:
        with database.reader(db) as connection:
            found = tokens.read_token(connection, token_pair["access_token"], view="userinfo")
        return connection, found.scope

    with app.app_context():
        with database.reader(db) as first:
            pass
        with database.reader(db) as second, database.read_scope(db):
            with database.reader(db) as held:
                # What another request committed meanwhile is read (no transaction is kept).
                commit_scope("openid")
                found = tokens.read_token(held, token_pair["access_token"], view="userinfo")
        if backend != "sqlite":  # PostgreSQL: a pooled connection each time, closed after
            assert first is not second and first.closed and second.closed
            return
        assert first is second is held and not first.closed
        assert found is not None and found.scope == "openid"
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            first.connection.dbapi_connection.execute("DELETE FROM tokens")
        # A refused write leaves no transaction behind: later commits are still read.
        commit_scope("openid phone")
        assert scope_read() == (first, "openid phone")
        # Even a BEGIN sent on it by mistake is ended before the next read.
        first.connection.dbapi_connection.execute("BEGIN")
        commit_scope("openid email")
        assert scope_read() == (first, "openid email")

        others: list = []

        def read_in_another_thread() -> None:
            with app.app_context(), database.reader(db) as connection:
                others.append(connection)

        before = db.engine.pool.checkedout()
        worker = threading.Thread(target=read_in_another_thread)
        worker.start()
        worker.join()
        assert others and others[0] is not first
        # The thread has ended: its connection went back to the pool, writable again.
        assert db.engine.pool.checkedout() == before
        with db.engine.connect() as connection:
            connection.execute(text("CREATE TEMP TABLE scratch (x INTEGER)"))


def test_threads_meeting_a_fresh_engine_each_get_a_live_reader(app: Flask, backend: str):
    import threading

    readers: list = []
    barrier = threading.Barrier(8)

    def first_read() -> None:
        with app.app_context():
            barrier.wait()
            with database.reader(db) as connection:
                readers.append((connection, connection.closed))
                barrier.wait()  # every thread still holds what it got

    with app.app_context():
        db.session.remove()
    threads = [threading.Thread(target=first_read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(readers) == 8 and not any(closed for _connection, closed in readers)
    assert len({id(connection) for connection, _closed in readers}) == 8


def test_migration_0006_folds_existing_names(fresh_engine: Engine):
    database.upgrade(fresh_engine, "0005")
    citizen_id = uuid.uuid4()
    with fresh_engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO citizens (id, cccd, full_name, birthdate, gender, phone, "
            "identity_level, status, created_at, updated_at) VALUES (:id, '019085000001', "
            "'Đặng Thị Ánh', '1985-03-12', 'female', '+84912345678', 1, 'active', :now, :now)"),
            {"id": citizen_id.hex if fresh_engine.dialect.name == "sqlite" else str(citizen_id),
             "now": datetime(2025, 8, 15)},
        )
    database.upgrade(fresh_engine, "head")
    with fresh_engine.connect() as connection:
        assert connection.scalar(text("SELECT name_folded FROM citizens")) == "dang thi anh"
