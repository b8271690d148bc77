"""idp.notify: every message is stored; the http backend against a real local gateway
(success, 500, timeout, connection refused) never raises to the citizen."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select, update

from idp import notify
from idp.config import ConfigError, load_settings
from idp.extensions import db
from idp.models import OutboxMessage
from idp.notify.backends import (
    Delivery,
    HttpBackend,
    LogBackend,
    OutboxBackend,
    Outgoing,
    backend_for,
)
from idp.services import one_time_codes
from idp.services.clock import utcnow

BODY = "ThaiNguyen ID: 123456 là mã xác minh số điện thoại của bạn.\n\n@id.example #123456"
PHONE = "+84912345678"


class Gateway:
    """A tiny SMS gateway: answers ``status`` (or hangs until released when ``hang``)."""

    def __init__(self) -> None:
        self.status = 200
        self.hang = False
        self.requests: list[dict] = []
        self.release = threading.Event()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                gateway.requests.append({"headers": dict(self.headers),
                                         "json": json.loads(self.rfile.read(length))})
                if gateway.hang:
                    gateway.release.wait(10)
                self.send_response(gateway.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/sms"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    g = Gateway()
    yield g
    g.stop()


def refused_url() -> str:
    with socket.socket() as s:  # a port that was free a moment ago: nobody listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/sms"


OUT = Outgoing(7, PHONE, "register", BODY)


# --- The backends on their own -----------------------------------------------------------


def test_http_backend_posts_json_with_the_bearer_token(gateway):
    result = HttpBackend(gateway.url, token="s3cret", timeout=5).deliver(OUT)
    assert result.delivered and result.error is None
    [request] = gateway.requests
    assert request["headers"]["Authorization"] == "Bearer s3cret"
    assert request["json"] == {"to": PHONE, "text": BODY, "id": 7, "purpose": "register"}


def test_http_backend_without_token_sends_no_authorization(gateway):
    assert HttpBackend(gateway.url, token=None, timeout=5).deliver(OUT).delivered
    assert "Authorization" not in gateway.requests[0]["headers"]


@pytest.mark.parametrize("status", [500, 502, 401, 404, 302])
def test_http_backend_reports_a_gateway_error(gateway, status):
    gateway.status = status
    result = HttpBackend(gateway.url, token="t", timeout=5).deliver(OUT)
    assert not result.delivered
    assert result.error == f"gateway answered HTTP {status}"


def test_http_backend_gives_up_after_its_timeout(gateway):
    gateway.hang = True
    result = HttpBackend(gateway.url, token="t", timeout=0.2).deliver(OUT)
    assert (result.delivered, result.error) == (False, "timeout")


def test_http_backend_reports_connection_refused():
    result = HttpBackend(refused_url(), token="t", timeout=2).deliver(OUT)
    assert (result.delivered, result.error) == (False, "connection failed")


def test_log_backend_masks_digits_in_production(caplog):
    with caplog.at_level(logging.INFO, logger="tnid.notify"):
        assert LogBackend(mask_digits=True).deliver(OUT).delivered
    [record] = caplog.records
    assert "123456" not in record.text and "••••••" in record.text
    assert PHONE not in str(record.__dict__)  # the number is masked too
    assert record.to == "091****678"


def test_log_backend_shows_the_text_in_development(caplog):
    with caplog.at_level(logging.INFO, logger="tnid.notify"):
        LogBackend(mask_digits=False).deliver(OUT)
    assert caplog.records[0].text == BODY


def test_backend_choice():
    assert isinstance(backend_for("outbox", production=True), OutboxBackend)
    assert backend_for("log", production=True).mask_digits is True
    assert backend_for("log", production=False).mask_digits is False
    assert isinstance(backend_for("http", production=False, url="http://x"), HttpBackend)
    with pytest.raises(ValueError):
        backend_for("http", production=False)


# --- Settings ----------------------------------------------------------------------------

PROD = {"TNID_ENV": "production", "TNID_ISSUER": "https://id.example.vn",
        "TNID_DATABASE_URL": "postgresql+psycopg://u:p@db/tnid", "TNID_SECRET_KEY": "k" * 40,
        "TNID_TRUSTED_PROXIES": "10.0.0.0/8"}


def test_outbox_in_production_starts_with_a_warning(tmp_path):
    settings = load_settings(PROD, tmp_path)
    assert settings.notify_backend == "outbox"
    assert any("TNID_NOTIFY_BACKEND=outbox" in w for w in settings.warnings)


def test_gateway_settings(tmp_path):
    settings = load_settings({**PROD, "TNID_NOTIFY_BACKEND": "http",
                              "TNID_SMS_GATEWAY_URL": "https://sms.example.vn/send",
                              "TNID_SMS_GATEWAY_TOKEN": " tok ",
                              "TNID_SMS_GATEWAY_TIMEOUT_SECONDS": "3"}, tmp_path)
    assert (settings.notify_backend, settings.sms_gateway_url, settings.sms_gateway_token,
            settings.sms_gateway_timeout_seconds) == ("http", "https://sms.example.vn/send",
                                                      "tok", 3)
    assert not any("NOTIFY" in w for w in settings.warnings)


@pytest.mark.parametrize(("extra", "needle"), [
    ({"TNID_NOTIFY_BACKEND": "sms"}, "TNID_NOTIFY_BACKEND"),
    ({"TNID_NOTIFY_BACKEND": "http"}, "needs TNID_SMS_GATEWAY_URL"),
    ({"TNID_NOTIFY_BACKEND": "http", "TNID_SMS_GATEWAY_URL": "sms.example.vn"}, "absolute"),
    ({"TNID_NOTIFY_BACKEND": "http", "TNID_SMS_GATEWAY_URL": "http://sms.example.vn"}, "https"),
    ({"TNID_SMS_GATEWAY_TIMEOUT_SECONDS": "0"}, "TIMEOUT"),
    ({"TNID_SMS_GATEWAY_TIMEOUT_SECONDS": "soon"}, "TIMEOUT"),
])
def test_bad_gateway_settings_are_refused(tmp_path, extra, needle):
    with pytest.raises(ConfigError, match=needle):
        load_settings({**PROD, **extra}, tmp_path)


def test_loopback_http_gateway_is_fine_in_production(tmp_path):
    settings = load_settings({**PROD, "TNID_NOTIFY_BACKEND": "http",
                              "TNID_SMS_GATEWAY_URL": "http://127.0.0.1:9000/sms"}, tmp_path)
    assert settings.sms_gateway_url == "http://127.0.0.1:9000/sms"


# --- send_sms: stored whatever happens, delivered after the commit -------------------------


def stored(app) -> list[OutboxMessage]:  # noqa: ANN001
    with app.app_context():
        return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def send(app, **kwargs: object) -> None:  # noqa: ANN001
    with app.app_context():
        notify.send_sms(db.session, phone=PHONE, purpose="register", body=BODY, **kwargs)
        db.session.commit()
    assert notify.drain()  # delivery runs outside the request: wait for it


def test_outbox_backend_stores_only(app):
    send(app)
    [message] = stored(app)
    assert (message.backend, message.recipient, message.body) == ("outbox", PHONE, BODY)
    assert (message.attempts, message.delivered_at, message.last_error) == (0, None, None)


def test_http_delivery_is_recorded_and_the_code_blanked(app_factory, gateway):
    app = app_factory(TNID_NOTIFY_BACKEND="http", TNID_SMS_GATEWAY_URL=gateway.url,
                      TNID_SMS_GATEWAY_TOKEN="tok")
    send(app)
    assert gateway.requests[0]["json"]["text"] == BODY  # the citizen got the code ...
    [message] = stored(app)
    assert message.backend == "http" and message.attempts == 1
    assert message.delivered_at is not None and message.last_error is None
    assert "123456" not in message.body and "******" in message.body  # ... the database not


@pytest.mark.parametrize("trouble", ["500", "timeout", "refused"])
def test_failed_delivery_keeps_the_message_with_its_error(app_factory, gateway, trouble):
    url = refused_url() if trouble == "refused" else gateway.url
    gateway.status = 500
    gateway.hang = trouble == "timeout"
    app = app_factory(TNID_NOTIFY_BACKEND="http", TNID_SMS_GATEWAY_URL=url,
                      TNID_SMS_GATEWAY_TIMEOUT_SECONDS="1")
    send(app)  # nothing raised
    [message] = stored(app)
    assert message.attempts == 1 and message.delivered_at is None and message.body == BODY
    assert message.last_error == {"500": "gateway answered HTTP 500", "timeout": "timeout",
                                  "refused": "connection failed"}[trouble]


def test_nothing_is_sent_when_the_transaction_rolls_back(app_factory, gateway):
    app = app_factory(TNID_NOTIFY_BACKEND="http", TNID_SMS_GATEWAY_URL=gateway.url)
    with app.app_context():
        notify.send_sms(db.session, phone=PHONE, purpose="register", body=BODY)
        db.session.rollback()
        db.session.commit()  # a later commit must not deliver the forgotten message
    assert notify.drain()
    assert gateway.requests == [] and stored(app) == []


def test_a_broken_backend_never_reaches_the_citizen(app):
    class Broken:
        name, delivers = "http", True

        def deliver(self, message: Outgoing):  # noqa: ANN201
            raise RuntimeError("bug")

    send(app, backend=Broken())
    [message] = stored(app)
    assert message.last_error == "backend error" and message.attempts == 1


def test_log_backend_through_the_app(app_factory, caplog):
    app = app_factory(TNID_NOTIFY_BACKEND="log")
    with caplog.at_level(logging.INFO, logger="tnid.notify"):
        send(app)
    assert any(getattr(r, "text", None) == BODY for r in caplog.records)  # development
    [message] = stored(app)
    assert message.backend == "log" and message.delivered_at is not None


# --- At most five codes per phone per hour, all flows together ------------------------------


def test_code_budget_per_phone(app):
    now = utcnow()
    with app.app_context():
        for n in range(notify.MAX_CODES_PER_PHONE):
            assert notify.may_send_code(db.session, phone=PHONE, now=now)
            one_time_codes.issue(db.session, purpose="register" if n % 2 else "recovery",
                                 phone=PHONE, secret_key="k" * 40, now=now)
        assert not notify.may_send_code(db.session, phone=PHONE, now=now)
        assert notify.may_send_code(db.session, phone="+84987654321", now=now)  # another phone
        assert notify.may_send_code(db.session, phone=PHONE, now=now + timedelta(minutes=61))
        db.session.rollback()


def test_resends_count_against_the_budget(app):
    now = utcnow()
    with app.app_context():
        issued = one_time_codes.issue(db.session, purpose="register", phone=PHONE,
                                      secret_key="k" * 40, now=now)
        issued.row.sends = notify.MAX_CODES_PER_PHONE
        db.session.flush()
        assert notify.codes_sent_recently(db.session, phone=PHONE, now=now) == 5
        assert not notify.may_send_code(db.session, phone=PHONE, now=now)
        db.session.rollback()


# --- delivery outside the request --------------------------------------------------------------


class Held:
    """A backend whose gateway answers only when the test lets it."""

    name, delivers = "http", True

    def __init__(self) -> None:
        self.release = threading.Event()
        self.sent: list[str] = []

    def deliver(self, message: Outgoing) -> Delivery:
        assert self.release.wait(10)
        self.sent.append(message.body)
        return Delivery(True)


def test_the_commit_does_not_wait_for_the_gateway(app):
    backend = Held()
    with app.app_context():
        notify.send_sms(db.session, phone=PHONE, purpose="register", body=BODY,
                        backend=backend)
        db.session.commit()  # returns while the gateway still holds the message
    [message] = stored(app)
    assert message.delivered_at is None and message.body == BODY
    backend.release.set()
    assert notify.drain()
    [message] = stored(app)
    assert backend.sent == [BODY] and message.delivered_at is not None
    assert message.attempts == 1 and "123456" not in message.body


def test_a_message_is_claimed_once_whatever_the_senders(app):
    """Two nodes (or the thread and a cron run) on the same message: one sends it."""
    from concurrent.futures import ThreadPoolExecutor

    from idp.notify import delivery

    backend = Held()
    backend.release.set()
    with app.app_context():
        message = notify.send_sms(db.session, phone=PHONE, purpose="register", body=BODY)
        db.session.commit()
        message_id, engine = message.id, db.engine
        with ThreadPoolExecutor(4) as pool:
            outcomes = list(pool.map(lambda _: delivery.deliver_one(backend, message_id,
                                                                    engine), range(4)))
    assert outcomes.count(True) == 1 and backend.sent == [BODY]


def test_a_message_being_sent_is_not_claimed_again(app):
    """A second sender that reads the row after the first one's claim, while the gateway
    still holds the first send, must not send it again (a duplicate text)."""
    from idp.notify import delivery

    backend = Held()
    with app.app_context():
        message = notify.send_sms(db.session, phone=PHONE, purpose="register", body=BODY)
        db.session.commit()
        message_id, engine = message.id, db.engine
        first = threading.Thread(target=delivery.deliver_one,
                                 args=(backend, message_id, engine))
        first.start()
        for _ in range(1000):  # until the first sender's claim is visible
            db.session.expire_all()
            if db.session.get(OutboxMessage, message_id).claimed_at is not None:
                break
            threading.Event().wait(0.01)
        assert delivery.deliver_one(backend, message_id, engine) is None
        backend.release.set()
        first.join()
    assert backend.sent == [BODY]
    [stored_message] = stored(app)
    assert stored_message.delivered_at is not None and stored_message.claimed_at is None


def test_pending_skips_codes_too_old_to_use(app):
    from idp.notify import delivery

    now = utcnow()
    with app.app_context():
        for purpose, body, age in (("register", BODY, 2), ("register", BODY, 30),
                                   ("lockout", "tạm khóa lúc 14:05 22/11/2026", 30)):
            notify.send_sms(db.session, phone=PHONE, purpose=purpose, body=body,
                            backend=Held(), now=now - timedelta(minutes=age))
        db.session.rollback()  # nothing queued: these are the "left behind" ones
        for purpose, body, age in (("register", BODY, 2), ("register", BODY, 30),
                                   ("lockout", "tạm khóa lúc 14:05 22/11/2026", 30)):
            notify.send_sms(db.session, phone=PHONE, purpose=purpose, body=body,
                            backend=OutboxBackend(), now=now - timedelta(minutes=age))
        db.session.execute(update(OutboxMessage).values(backend="http"))
        db.session.commit()
        ids = delivery.pending(db.session, "http", now=now, max_age=timedelta(days=1))
        purposes = [db.session.get(OutboxMessage, i).purpose for i in ids]
    assert purposes == ["register", "lockout"]  # the 30-minute-old code is not sent
