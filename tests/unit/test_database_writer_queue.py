"""The SQLite writer queue (idp.database.install_writer_queue): the threads of one process
take turns on a lock before writing, instead of polling SQLite's busy handler.

The engines here have a busy timeout of 0: SQLite itself then refuses a second writer at
once ("database is locked"), so a test passes only if the queue made the writer wait.
These run on a SQLite file of their own whatever the suite's backend is.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from idp import database

# Long enough for a blocked thread to have reached its wait, were it not blocked.
SETTLE_SECONDS = 0.3


@pytest.fixture
def engine(tmp_path) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'queue.sqlite3'}",
                           connect_args={"timeout": 0, "check_same_thread": False})
    database.install_sqlite_pragmas(engine)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER)"))
        connection.execute(text("INSERT INTO counter VALUES (1, 0)"))
    yield engine
    engine.dispose()


def queue_held(engine: Engine) -> bool:
    return engine.__dict__["_tnid_writer_queue"].lock.locked()


def bump(connection) -> None:  # noqa: ANN001
    connection.execute(text("UPDATE counter SET n = n + 1 WHERE id = 1"))


def count(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT n FROM counter")).scalar_one()


def test_a_second_writer_waits_for_the_first_to_commit(engine: Engine):
    second_about_to_write, second_done = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def second_writer() -> None:
        try:
            with engine.begin() as connection:
                second_about_to_write.set()
                bump(connection)
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            second_done.set()

    with engine.connect() as first:
        bump(first)
        assert queue_held(engine)
        worker = threading.Thread(target=second_writer)
        worker.start()
        assert second_about_to_write.wait(5)
        assert not second_done.wait(SETTLE_SECONDS)  # queued, not refused by SQLite
        first.commit()
    worker.join(10)
    assert errors == [] and second_done.is_set()
    assert count(engine) == 2
    assert not queue_held(engine)


def test_many_threads_writing_at_once_all_succeed(engine: Engine):
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def writer() -> None:
        start.wait()
        try:
            for _ in range(20):
                with engine.begin() as connection:
                    bump(connection)
                    connection.execute(text("SELECT n FROM counter")).scalar_one()
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    workers = [threading.Thread(target=writer) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert errors == []
    assert count(engine) == 160
    assert not queue_held(engine)


@pytest.mark.parametrize("end", ["commit", "rollback", "close", "invalidate"])
def test_every_end_of_a_write_transaction_frees_the_queue(engine: Engine, end: str):
    connection = engine.connect()
    bump(connection)
    assert queue_held(engine)
    if end == "close":  # back to the pool, which rolls back
        connection.close()
    else:
        getattr(connection, end)()
        connection.close()
    assert not queue_held(engine)
    with engine.begin() as other:  # SQLite's lock is free too
        bump(other)
    assert count(engine) == (2 if end == "commit" else 1)


def test_an_orm_session_commit_frees_the_queue(engine: Engine):
    with Session(engine) as session:
        bump(session)
        assert queue_held(engine)
        session.commit()
        assert not queue_held(engine)
        bump(session)  # a new transaction queues again
        assert queue_held(engine)
    assert not queue_held(engine)  # closing the session rolled it back
    assert count(engine) == 1


def test_a_failed_write_keeps_its_place_until_rolled_back(engine: Engine):
    with engine.connect() as connection:
        bump(connection)
        with pytest.raises(IntegrityError):
            connection.execute(text("INSERT INTO counter VALUES (1, 0)"))
        assert queue_held(engine)
        connection.rollback()
        assert not queue_held(engine)


def test_reads_do_not_queue(engine: Engine):
    with engine.connect() as reading:
        reading.execute(text("SELECT n FROM counter")).scalar_one()
        assert not queue_held(engine)
        with engine.begin() as writing:  # a reader never holds a writer back
            bump(writing)
    assert count(engine) == 1


def test_a_holder_that_never_ends_delays_others_no_longer_than_sqlite_would(
        engine: Engine, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(database, "BUSY_TIMEOUT_SECONDS", 0.2)
    with engine.connect() as stuck:
        bump(stuck)
        outcome: list[BaseException] = []

        def other_writer() -> None:
            try:
                with engine.begin() as connection:
                    bump(connection)
            except BaseException as error:  # noqa: BLE001
                outcome.append(error)

        worker = threading.Thread(target=other_writer)
        worker.start()
        worker.join(10)
        # The wait ended and SQLite answered, as it would have without the queue.
        assert len(outcome) == 1 and isinstance(outcome[0], OperationalError)
        assert "locked" in str(outcome[0])
        stuck.rollback()
    assert not queue_held(engine)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_a_forked_child_does_not_inherit_its_parents_place(engine: Engine):
    with engine.connect() as connection:
        bump(connection)
        assert queue_held(engine)
        pid = os.fork()
        if pid == 0:  # the child: exit at once, telling whether the queue is free
            os._exit(1 if queue_held(engine) else 0)
        _, status = os.waitpid(pid, 0)
        connection.rollback()
    assert os.waitstatus_to_exitcode(status) == 0


def test_installing_twice_queues_once(engine: Engine):
    database.install_writer_queue(engine)
    with engine.begin() as connection:
        bump(connection)  # with two locks from two installs, a lock would stay held
    assert not queue_held(engine)
    assert count(engine) == 1


def test_autocommit_writes_do_not_queue(engine: Engine):
    """An autocommit statement has no commit at which to hand the lock over: it is left to
    SQLite (the thread readers are autocommit, and query_only besides)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        bump(connection)
        assert not queue_held(engine)
    assert count(engine) == 1
