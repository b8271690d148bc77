"""OIDC Back-Channel Logout 1.0: every app that took part in the SSO session receives one
signed logout token over a real HTTP POST; a dead, failing or hanging app never holds the
citizen up, and is retried later (by the sign-out's thread and by `tnid logout deliver`)."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jws
from sqlalchemy import select

from idp.cli import cli
from idp.extensions import db
from idp.models import LogoutDelivery
from idp.oidc import backchannel, context
from idp.services import logout, sso_sessions
from idp.services.clock import utcnow
from idp.services.id_tokens import BACKCHANNEL_LOGOUT_EVENT
from idp.web import deps
from tests.conftest import AuthActions, csrf_token
from tests.support.logout import Receiver, dead_uri, receiver, sign_in, tokens_for
from tests.support.oidc import App, register, verify

pytestmark = pytest.mark.usefixtures("signing_keys")

ISSUER = "http://127.0.0.1:5000"  # the test configuration's default


@pytest.fixture
def inline(app_factory: Any) -> Flask:
    return app_factory(TNID_LOGOUT_DELIVERY="inline")


def apps_with(app: Flask, **uris: str) -> dict[str, App]:
    """One registered app per name, each with its back-channel logout URI; "market" is a
    pairwise app (its sub differs from the others')."""
    made = {}
    for name, uri in uris.items():
        redirect = f"https://{name}.example.vn/cb"
        made[name] = register(app, name_vi=f"Ứng dụng {name}", redirect_uris=[redirect],
                              backchannel_logout_uri=uri,
                              subject_type="pairwise" if name == "market" else "public")
    return made


def claims_of(token: str) -> tuple[dict, dict]:
    signed = jws.extract_compact(token.encode())
    return signed.protected, json.loads(signed.payload)


def logout_tokens(got: Receiver, path: str) -> list[str]:
    return [form["logout_token"][0] for form in got.received(path)]


def deliveries(app: Flask) -> list[LogoutDelivery]:
    with app.app_context():
        rows = list(db.session.scalars(select(LogoutDelivery).order_by(LogoutDelivery.id)))
        for row in rows:
            db.session.expunge(row)
        return rows


def sign_out(browser: FlaskClient, how: str, id_token: str) -> None:
    if how == "/logout":
        page = browser.get("/logout")
        response = browser.post("/logout", data={"csrf_token": csrf_token(page.text)})
    else:
        response = browser.get("/end-session?" + urlencode({"id_token_hint": id_token}))
    assert response.status_code in (200, 302)
    assert browser.get_cookie("tnid_sso") is None


@pytest.mark.parametrize("how", ["/logout", "/end-session"])
def test_every_app_of_the_session_gets_one_valid_logout_token(inline: Flask, make_citizen: Any,
                                                               how: str):
    browser = inline.test_client()
    with receiver() as got:
        rps = apps_with(inline, portal=got.uri("/portal"), market=got.uri("/market"),
                        health=got.uri("/health"))
        sign_in(AuthActions(browser), make_citizen().cccd)
        id_tokens = {name: verify(browser, tokens_for(browser, rps[name])["id_token"],
                                  rps[name].client_id) for name in ("portal", "market")}
        sign_out(browser, how, tokens_for(browser, rps["portal"])["id_token"])
        got.wait_for(2)
        assert got.received("/health") == []  # it took no part in this session
        jwks = browser.get("/jwks").json
        assert jwks["keys"]
        for name, id_token in id_tokens.items():
            (token,) = logout_tokens(got, f"/{name}")
            header, _ = claims_of(token)
            assert header["typ"] == "logout+jwt"
            claims = verify(browser, token, rps[name].client_id)  # against /jwks only
            assert claims["iss"] == ISSUER
            assert claims["sid"] == id_token["sid"]
            assert claims["sub"] == id_token["sub"]
            assert claims["events"] == {BACKCHANNEL_LOGOUT_EVENT: {}}
            assert "nonce" not in claims
            assert claims["exp"] > claims["iat"] and claims["jti"]
        assert id_tokens["portal"]["sub"] != id_tokens["market"]["sub"]  # pairwise
        assert set(got.received("/portal")[0]) == {"logout_token"}
    assert [row.delivered_at is not None for row in deliveries(inline)] == [True, True]


def test_two_sessions_each_tell_only_their_own_apps(inline: Flask, make_citizen: Any):
    citizen = make_citizen()
    laptop, phone = inline.test_client(), inline.test_client()
    with receiver() as got:
        rps = apps_with(inline, portal=got.uri("/portal"), market=got.uri("/market"))
        sign_in(AuthActions(laptop), citizen.cccd)
        sign_in(AuthActions(phone), citizen.cccd)
        on_laptop = verify(laptop, tokens_for(laptop, rps["portal"])["id_token"],
                           rps["portal"].client_id)
        tokens_for(phone, rps["market"])
        sign_out(laptop, "/logout", "")
        got.wait_for(1)
        assert got.received("/market") == []
        (token,) = logout_tokens(got, "/portal")
        assert claims_of(token)[1]["sid"] == on_laptop["sid"]


@pytest.mark.parametrize("trouble", ["dead", "error", "hang"])  # hang: past the 2 s timeout
def test_a_failing_app_is_retried_later_and_then_given_up(inline: Flask, make_citizen: Any,
                                                          trouble: str):
    browser = inline.test_client()
    with receiver(slow="hang", broken="error") as got:
        got.hang_seconds = 30  # far beyond the provider's timeout
        uri = {"dead": dead_uri(), "error": got.uri("/broken"), "hang": got.uri("/slow")}[trouble]
        rps = apps_with(inline, portal=got.uri("/portal"), flaky=uri)
        sign_in(AuthActions(browser), make_citizen().cccd)
        tokens_for(browser, rps["portal"])
        tokens_for(browser, rps["flaky"])
        sign_out(browser, "/logout", "")
        ok, bad = deliveries(inline)
        assert ok.delivered_at is not None and len(got.received("/portal")) == 1
        assert bad.delivered_at is None and bad.attempts == 1
        assert bad.last_error == {"dead": "ConnectionError", "error": "HTTP 500",
                                  "hang": "ReadTimeout"}[trouble]
        assert bad.given_up_at is None and bad.next_attempt_at > bad.created_at
    # Later runs (explicit clock): each retry at its time, never before; the last gives up.
    now, tick = bad.next_attempt_at, timedelta(milliseconds=1)
    with inline.app_context():
        signer = context.signer()
        for wait in (*logout.BACKOFF[1:], None):
            assert logout.deliver_due(db.session, now - tick, signer=signer) == (0, 0)
            assert logout.deliver_due(db.session, now, signer=signer, post=refuse) == (0, 1)
            now += wait or timedelta(0)
    (row,) = [r for r in deliveries(inline) if r.id == bad.id]
    assert row.attempts == logout.MAX_ATTEMPTS and row.given_up_at is not None
    with inline.app_context():
        later = now + timedelta(days=1)
        assert logout.deliver_due(db.session, later, signer=context.signer()) == (0, 0)


def refuse(*args: object, **kwargs: object) -> Any:
    import requests

    raise requests.ConnectionError("refused")


def test_tnid_logout_deliver_sends_what_is_due(inline: Flask, make_citizen: Any,
                                               config: dict[str, Any]):
    browser = inline.test_client()
    with receiver(portal="error") as got:
        rps = apps_with(inline, portal=got.uri("/portal"))
        sign_in(AuthActions(browser), make_citizen().cccd)
        id_token = verify(browser, tokens_for(browser, rps["portal"])["id_token"],
                          rps["portal"].client_id)
        sign_out(browser, "/logout", "")
        assert len(got.received("/portal")) == 1
        got.behaviour["/portal"] = "ok"  # the app is back
        with inline.app_context():  # its retry is due
            db.session.execute(LogoutDelivery.__table__.update().values(
                next_attempt_at=utcnow() - timedelta(seconds=1)))
            db.session.commit()
        result = CliRunner().invoke(cli, ["logout", "deliver"], env=config,
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert "Delivered 1 logout token(s); 0 failed" in result.output
        retried = logout_tokens(got, "/portal")[-1]
        claims = verify(browser, retried, rps["portal"].client_id)
        assert claims["sid"] == id_token["sid"]
        again = CliRunner().invoke(cli, ["logout", "deliver", "--json"], env=config)
        assert json.loads(again.stdout) == {"delivered": 0, "failed": 0}
    assert len(got.received("/portal")) == 2


def test_background_delivery_does_not_hold_the_citizen(app_factory: Any, make_citizen: Any,
                                                       monkeypatch: pytest.MonkeyPatch):
    """The app holds the request until the test lets it go: the citizen's response has come
    back by then, with nothing recorded yet; the thread then finishes the delivery."""
    app = app_factory(TNID_LOGOUT_DELIVERY="background")
    monkeypatch.setattr(logout, "DELIVERY_TIMEOUT_SECONDS", 60.0)
    browser = app.test_client()
    with receiver(portal="hold") as got:
        rps = apps_with(app, portal=got.uri("/portal"))
        sign_in(AuthActions(browser), make_citizen().cccd)
        tokens_for(browser, rps["portal"])
        page = browser.get("/logout")
        response = browser.post("/logout", data={"csrf_token": csrf_token(page.text)})
        assert response.status_code == 302
        (row,) = deliveries(app)
        assert row.delivered_at is None and row.last_error is None
        assert got.arrived.wait(30)  # the thread is sending while the citizen moves on
        assert got.answered == 0
        got.release.set()
        for thread in threading.enumerate():
            if thread.name == backchannel.THREAD_NAME:
                thread.join(timeout=60)
        assert got.answered == 1
    (row,) = deliveries(app)
    assert row.delivered_at is not None and row.attempts == 1


def test_background_thread_retries_quickly_then_leaves_the_rest_for_later(
        app_factory: Any, make_citizen: Any, monkeypatch: pytest.MonkeyPatch):
    app = app_factory(TNID_LOGOUT_DELIVERY="background")
    fast = tuple(timedelta(milliseconds=50 * (n + 1)) for n in range(len(logout.BACKOFF)))
    monkeypatch.setattr(logout, "BACKOFF", fast)
    browser = app.test_client()
    with receiver(portal="error") as got:
        rps = apps_with(app, portal=got.uri("/portal"))
        sign_in(AuthActions(browser), make_citizen().cccd)
        tokens_for(browser, rps["portal"])
        sign_out(browser, "/logout", "")
        for thread in threading.enumerate():
            if thread.name == backchannel.THREAD_NAME:
                thread.join(timeout=60)
        assert len(got.received("/portal")) == backchannel.QUICK_ATTEMPTS
    (row,) = deliveries(app)
    assert row.attempts == backchannel.QUICK_ATTEMPTS and row.last_error == "HTTP 500"
    assert row.given_up_at is None and row.delivered_at is None


def test_two_nodes_send_each_token_once(inline: Flask, make_citizen: Any):
    """Two senders (threads with their own sessions, as two nodes) run at the same moment:
    each delivery is claimed by one of them."""
    with receiver() as got:
        rps = apps_with(inline, **{f"app{n}": got.uri(f"/app{n}") for n in range(6)})
        browser = inline.test_client()
        sign_in(AuthActions(browser), make_citizen().cccd)
        for rp in rps.values():
            tokens_for(browser, rp)
        with inline.test_request_context():  # end the session, queue, send nothing yet
            sso = sso_sessions.load_session(db.session, browser.get_cookie("tnid_sso").value,
                                            policy=deps.session_policy(), now=utcnow())
            assert sso is not None
            logout.end_session(db.session, sso, signer=context.signer(),
                               pairwise_secret=context.pairwise_secret(), now=utcnow())
            db.session.commit()
        start, results = threading.Barrier(2), []

        def node() -> None:
            with inline.app_context():
                start.wait(10)
                results.append(logout.deliver_due(db.session, utcnow(),
                                                  signer=context.signer()))
                db.session.remove()

        threads = [threading.Thread(target=node) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sum(delivered for delivered, _ in results) == 6
        assert sorted(path for path, _ in got.posts) == sorted(f"/app{n}" for n in range(6))
