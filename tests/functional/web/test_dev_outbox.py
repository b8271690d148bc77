"""``/dev/outbox``: the last 50 messages in development; no such page in production."""

from __future__ import annotations

from idp import notify
from idp.extensions import db


def send(app, count: int) -> None:  # noqa: ANN001
    with app.app_context():
        for n in range(count):
            notify.send_sms(db.session, phone="+84912345678", purpose="register",
                            body=f"ThaiNguyen ID: {n:06d} là mã <b>xác minh</b>")
        db.session.commit()


def test_lists_the_last_fifty_newest_first(app, client):
    send(app, 55)
    page = client.get("/dev/outbox")
    assert page.status_code == 200
    assert page.text.count('class="outbox-message"') == 50
    assert page.text.index("000054") < page.text.index("000053")
    assert "000004" not in page.text  # the five oldest are left out
    assert "&lt;b&gt;xác minh&lt;/b&gt;" in page.text  # message text is escaped


def test_empty(client):
    page = client.get("/dev/outbox")
    assert page.status_code == 200 and 'id="outbox-empty"' in page.text


def test_no_such_page_in_production(app_factory):
    app = app_factory(TNID_ENV="production", TNID_ALLOW_SQLITE_IN_PRODUCTION="1",
                      TNID_TRUSTED_PROXIES="127.0.0.1", TNID_ARGON2_TIME_COST="2",
                      TNID_ARGON2_MEMORY_KIB="19456")
    send(app, 1)
    response = app.test_client().get("/dev/outbox")
    assert response.status_code == 404
    assert "000000" not in response.text
