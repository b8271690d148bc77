"""`tnid outbox`: the stored messages, newest first, filtered by phone, as text or JSON."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from click.testing import CliRunner

from idp import notify
from idp.cli import cli
from idp.extensions import db
from idp.models import OutboxMessage
from idp.services.clock import utcnow


@pytest.fixture
def tnid(config):  # noqa: ANN001, ANN201
    runner = CliRunner()

    def invoke(*args: str):  # noqa: ANN202
        return runner.invoke(cli, ["outbox", *args], env=config, catch_exceptions=False)

    return invoke


@pytest.fixture
def messages(app) -> None:  # noqa: ANN001
    start = utcnow() - timedelta(minutes=10)
    with app.app_context():
        for n, phone in enumerate(["+84912345678", "+84987654321", "+84912345678"]):
            notify.send_sms(db.session, phone=phone, purpose="register",
                            body=f"ThaiNguyen ID: 00000{n} là mã\n\n@id.example #00000{n}",
                            now=start + timedelta(minutes=n))
        db.session.commit()


def test_empty_outbox(app, tnid):
    result = tnid()
    assert result.exit_code == 0 and "No messages." in result.output


def test_lists_newest_first_with_the_code(app, messages, tnid):
    result = tnid()
    assert result.exit_code == 0, result.output
    assert result.output.index("000002") < result.output.index("000001") \
        < result.output.index("000000")
    assert "[outbox, stored]" in result.output
    assert "    @id.example #000002" in result.output  # multi-line bodies stay indented


@pytest.mark.parametrize("phone", ["0912345678", "0912 345 678", "+84912345678", "84912345678"])
def test_filter_by_phone_in_any_format(app, messages, tnid, phone):
    rows = json.loads(tnid("--phone", phone, "--json").output)
    assert [r["body"][15:21] for r in rows] == ["000002", "000000"]
    assert {r["recipient"] for r in rows} == {"+84912345678"}


def test_limit_and_json_fields(app, messages, tnid):
    [row] = json.loads(tnid("--limit", "1", "--json").output)
    assert set(row) == {"id", "created_at", "recipient", "purpose", "body", "backend",
                        "attempts", "delivered_at", "last_error"}
    assert row["purpose"] == "register" and row["delivered_at"] is None
    assert row["created_at"].endswith("Z")


@pytest.mark.parametrize(("args", "message"), [
    (["--phone", "hello"], "--phone"),
    (["--phone", "+1 202 555 0100"], "--phone"),
    (["--limit", "0"], "--limit"),
    (["--limit", "5000"], "--limit"),
    (["--limit", "many"], "--limit"),
])
def test_bad_options_fail_with_one_line(app, messages, tnid, args, message):
    result = tnid(*args)
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output


def test_deliver_retries_what_was_not_delivered(app_factory, config, monkeypatch):  # noqa: ANN001
    """`tnid outbox deliver` (cron): the messages a gateway refused or a stopped process left
    behind are sent with the configured backend, each once; fresh codes only."""
    from idp.notify import backends

    sent: list[str] = []
    monkeypatch.setattr(backends.HttpBackend, "deliver",
                        lambda self, m: sent.append(m.body) or backends.Delivery(True))
    settings = {"TNID_NOTIFY_BACKEND": "http", "TNID_SMS_GATEWAY_URL": "http://127.0.0.1:9/"}
    app = app_factory(**settings)
    now = utcnow()
    with app.app_context():
        # Stored but never handed to a delivery thread (the process stopped): the rows only.
        for body, age in (("ThaiNguyen ID: 123456 là mã", 1), ("ThaiNguyen ID: 654321 là mã", 20),
                          ("ThaiNguyen ID: tài khoản đã mở khóa", 60)):
            db.session.add(OutboxMessage(
                channel="sms", recipient="+84912345678", purpose="unlock", body=body,
                backend="http", attempts=0, created_at=now - timedelta(minutes=age)))
        db.session.commit()
    runner = CliRunner()
    result = runner.invoke(cli, ["outbox", "deliver"], env={**config, **settings},
                           catch_exceptions=False)
    assert result.exit_code == 0 and "Delivered 2" in result.output
    assert sorted(sent) == ["ThaiNguyen ID: 123456 là mã", "ThaiNguyen ID: tài khoản đã mở khóa"]
    again = runner.invoke(cli, ["outbox", "deliver"], env={**config, **settings})
    assert "Delivered 0" in again.output and len(sent) == 2


def test_deliver_with_the_outbox_backend_does_nothing(app, tnid):  # noqa: ANN001
    result = tnid("deliver")
    assert result.exit_code == 0 and "nothing to deliver" in result.output
