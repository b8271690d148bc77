"""/healthz, /readyz, and what citizens see when the database is unreachable."""

from __future__ import annotations

import pytest

from idp import create_app

UNREACHABLE = {
    "sqlite": "sqlite:////nonexistent-dir/for-tnid-tests/tnid.sqlite3",
    "postgresql": "postgresql+psycopg://tnid@/tnid?host=/nonexistent-dir&port=1&connect_timeout=2",
}


def test_healthz_is_alive(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_readyz_checks_the_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200 and response.json["database"] == "ok"


@pytest.fixture(params=sorted(UNREACHABLE))
def broken_app(request, config):  # noqa: ANN001, ANN201
    config["TNID_DATABASE_URL"] = UNREACHABLE[request.param]
    return create_app(config)


def test_readyz_is_503_when_the_database_is_unreachable(broken_app):
    response = broken_app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "database": "unreachable"}


def test_healthz_stays_up_when_the_database_is_down(broken_app):
    assert broken_app.test_client().get("/healthz").status_code == 200


def test_sign_in_with_database_down_is_a_clear_503_page(broken_app):
    client = broken_app.test_client()
    page = client.get("/login")
    assert page.status_code == 200  # the form needs no database
    from tests.conftest import csrf_token

    response = client.post("/login", data={
        "csrf_token": csrf_token(page.text), "identifier": "019085000001", "password": "x" * 10,
    })
    assert response.status_code == 503
    assert "tạm thời" in response.text  # "temporarily unavailable", in Vietnamese


def test_api_caller_gets_json_503(broken_app):
    client = broken_app.test_client()
    client.set_cookie("tnid_sso", "some-token")
    response = client.get("/", headers={"Accept": "application/json"})
    assert response.status_code == 503
    assert response.json["error"] == "temporarily_unavailable"
