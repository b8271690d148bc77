"""Shared fixtures. The whole suite runs once per database: ``pytest --db=sqlite`` and
``pytest --db=postgresql`` (the latter starts its own throw-away server)."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, select, text
from werkzeug.serving import make_server

from idp import create_app, database
from idp.extensions import db
from idp.models import Base, Citizen
from idp.services import accounts
from idp.services.clock import utcnow
from idp.web import deps
from tests.support.postgres import TemporaryPostgres

TEST_PASSWORD = "mật khẩu thử nghiệm 2025"
# Fast argon2 for the suite; the production floor is checked by tests of idp.config.
FAST_ARGON2 = {"TNID_ARGON2_TIME_COST": "1", "TNID_ARGON2_MEMORY_KIB": "64"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--db", choices=("sqlite", "postgresql"), default="sqlite",
                     help="database backend the whole suite runs against")


def pytest_report_header(config: pytest.Config) -> str:
    return f"ThaiNguyen ID test database: {config.getoption('--db')}"


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    return request.config.getoption("--db")


@pytest.fixture(scope="session")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'tnid-test.sqlite3'}"
        return
    server = TemporaryPostgres()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def migrated(database_url: str) -> str:
    engine = create_engine(database_url)
    database.upgrade(engine)
    engine.dispose()
    return database_url


@pytest.fixture
def config(migrated: str, tmp_path: Path) -> dict[str, Any]:
    """Settings for one test's app; a test may change them before asking for ``app``."""
    return {
        "TNID_ENV": "development",
        "TNID_DATABASE_URL": migrated,
        "TNID_SECRET_KEY": "t" * 48,
        "TNID_INSTANCE_PATH": str(tmp_path / "instance"),
        "TNID_LOG_LEVEL": "WARNING",
        **FAST_ARGON2,
    }


@pytest.fixture
def app_factory(config: dict[str, Any]) -> Iterator[Callable[..., Flask]]:
    """Build apps with extra TNID_* settings; their tables are emptied afterwards."""
    made: list[Flask] = []

    def make(**overrides: str) -> Flask:
        made.append(create_app({**config, **overrides}))
        return made[-1]

    yield make
    for app in made:
        with app.app_context():
            db.session.remove()
            _empty_tables()
            db.engine.dispose()


@pytest.fixture
def app(app_factory: Callable[..., Flask]) -> Flask:
    return app_factory()


def _empty_tables() -> None:
    with db.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(text(f"DELETE FROM {table.name}"))


_KEY_ROWS: list[dict[str, Any]] = []


@pytest.fixture
def signing_keys(app: Flask) -> None:
    """The provider's signing keys. Generated once per run (RSA key generation is slow) and
    put back in the emptied table for each test that needs them."""
    from sqlalchemy import insert

    from idp.models import SigningKey
    from idp.services import keys

    keys.forget_published()  # another test may have left other kids in this process's memory
    with app.app_context():
        if not _KEY_ROWS:
            keys.ensure_keys(db.session, keys.box_for(app.config["SECRET_KEY"]), utcnow())
            db.session.commit()
            columns = [c.name for c in SigningKey.__table__.columns]
            _KEY_ROWS.extend({c: getattr(row, c) for c in columns}
                             for row in db.session.scalars(select(SigningKey)))
        else:
            db.session.execute(insert(SigningKey), _KEY_ROWS)
            db.session.commit()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def live_server(app_factory: Callable[..., Flask]) -> Iterator[str]:
    """An app on a real loopback port (threaded) whose issuer is that address, for real HTTP
    clients and browsers. It shares the test database with ``app``."""
    served: dict[str, Flask] = {}
    server = make_server("127.0.0.1", 0, lambda environ, start: served["app"](environ, start),
                         threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    served["app"] = app_factory(TNID_ISSUER=url)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield url
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def runner(app: Flask):  # noqa: ANN201
    return app.test_cli_runner()


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


CitizenFactory = Callable[..., Citizen]


@pytest.fixture
def make_citizen(app: Flask) -> CitizenFactory:
    """Create a citizen through the real service; defaults are a valid Thái Nguyên citizen."""
    counter = iter(range(1, 10_000))

    def make(password: str | None = TEST_PASSWORD, **fields: Any) -> Citizen:
        n = next(counter)
        values = {
            "cccd": f"019085{n:06d}", "full_name": "Nguyễn Văn An", "birthdate": "1985-03-12",
            "phone": f"09123{n:05d}", "commune_code": "05719", **fields,
        }
        with app.app_context():
            citizen = accounts.create_citizen(
                db.session, accounts.NewCitizen(**values), passwords=deps.passwords(),
                password=password, today=utcnow().date(),
            )
            db.session.commit()
            db.session.refresh(citizen)
            db.session.expunge(citizen)
            return citizen

    return make


class AuthActions:
    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def login(self, identifier: str, password: str = TEST_PASSWORD, **headers: str):  # noqa: ANN201
        page = self.client.get("/login", headers=headers)
        return self.client.post(
            "/login", headers=headers,
            data={"csrf_token": csrf_token(page.text), "identifier": identifier,
                  "password": password},
        )

    def logout(self):  # noqa: ANN201
        page = self.client.get("/logout")
        return self.client.post("/logout", data={"csrf_token": csrf_token(page.text)})


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)
