"""Tests of idp.services.logout against the real database, with explicit clocks and a fake
HTTP poster (the real receiver is in tests/functional/oidc/test_backchannel_logout.py)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from flask import Flask
from joserfc import jws, jwt
from joserfc.jwk import KeySet
from sqlalchemy import func, select, update

from idp.extensions import db
from idp.models import Client, LogoutDelivery, SessionClient, SsoSession, Token
from idp.services import claims, clients, keys, logout, sso_sessions, tokens
from idp.services.clock import epoch
from idp.services.id_tokens import BACKCHANNEL_LOGOUT_EVENT, Signer

T0 = datetime(2025, 8, 15, 1, 0, 0)
ISSUER = "https://id.example.vn"
SECRET = b"p" * 32

pytestmark = pytest.mark.usefixtures("signing_keys")


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield
        db.session.rollback()


@pytest.fixture
def signer(app: Flask, ctx: None) -> Signer:
    return Signer(session=db.session, box=keys.box_for(app.config["SECRET_KEY"]), issuer=ISSUER)


@pytest.fixture
def citizen_id(make_citizen: Any) -> uuid.UUID:
    return make_citizen().id


class FakePost:
    """Answers with the given outcomes in turn (the last one repeats): a status or an error."""

    def __init__(self, *outcomes: int | Exception) -> None:
        self.outcomes, self.calls = list(outcomes), []

    def __call__(self, uri: str, **kwargs: Any) -> Any:
        self.calls.append((uri, kwargs))
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, Exception):
            raise outcome
        return SimpleNamespace(status_code=outcome, close=lambda: None)


def app_client(name: str, *, uri: str | None = "https://{name}.vn/bc", pairwise: bool = False,
               disabled: bool = False) -> Client:
    client, _ = clients.create_client(db.session, clients.ClientSpec(
        name_vi=name, redirect_uris=[f"https://{name}.vn/cb"],
        backchannel_logout_uri=uri.format(name=name) if uri else None,
        subject_type="pairwise" if pairwise else "public"), production=False)
    if disabled:
        client.disabled_at = T0
    return client


def session_for(citizen_id: uuid.UUID, *apps: Client) -> SsoSession:
    from idp.models import Citizen

    _, sso = sso_sessions.start_session(
        db.session, db.session.get(Citizen, citizen_id), amr=["pwd"], acr="urn:tnid:acr:1",
        ip="203.0.113.7", user_agent="test", now=T0)
    for client in apps:
        tokens.record_session_client(db.session, sso.sid, client.client_id, str(citizen_id))
    db.session.commit()
    return sso


def end(sso: SsoSession, signer: Signer, now: datetime = T0) -> list[int]:
    ids = logout.end_session(db.session, sso, signer=signer, pairwise_secret=SECRET, now=now)
    db.session.commit()
    return ids


def rows() -> list[LogoutDelivery]:
    db.session.expire_all()
    return list(db.session.scalars(select(LogoutDelivery).order_by(LogoutDelivery.id)))


def payload(token: str) -> tuple[dict, dict]:
    signed = jws.extract_compact(token.encode())
    return signed.protected, json.loads(signed.payload)


# --- ending a session -----------------------------------------------------------------------------

def test_only_apps_of_the_session_with_a_uri_get_a_token(ctx: None, signer: Signer,
                                                         citizen_id: uuid.UUID):
    portal, market = app_client("portal"), app_client("market", pairwise=True)
    silent, stopped = app_client("silent", uri=None), app_client("stopped", disabled=True)
    absent = app_client("absent")
    sso = session_for(citizen_id, portal, market, silent, stopped)
    other = session_for(citizen_id, absent)
    ids = end(sso, signer)
    queued = rows()
    assert [r.id for r in queued] == ids
    assert [r.client_id for r in queued] == [portal.client_id, market.client_id]
    assert [r.uri for r in queued] == ["https://portal.vn/bc", "https://market.vn/bc"]
    assert all(r.next_attempt_at == T0 and r.attempts == 0 for r in queued)
    jwks = KeySet.import_key_set(keys.public_jwks(db.session, T0))
    for row, client in zip(queued, (portal, market), strict=True):
        token = jwt.decode(row.logout_token, jwks, algorithms=["RS256"])
        assert token.header["typ"] == "logout+jwt"
        assert token.claims == {
            "iss": ISSUER, "aud": client.client_id, "iat": epoch(T0), "exp": epoch(T0) + 120,
            "jti": token.claims["jti"], "sid": sso.sid,
            "sub": claims.subject(citizen_id, client, SECRET),
            "events": {BACKCHANNEL_LOGOUT_EVENT: {}}}
    assert payload(queued[0].logout_token)[1]["sub"] != payload(queued[1].logout_token)[1]["sub"]
    assert db.session.scalar(select(func.count()).select_from(SsoSession)) == 1  # the other
    left = db.session.scalars(select(SessionClient.sid)).all()
    assert left == [other.sid]


def add_token(client: Client, citizen_id: uuid.UUID, sid: str, scope: str, *,
              refresh: bool, access_until: datetime = T0 + timedelta(minutes=10)) -> int:
    row = Token(client_id=client.client_id, citizen_id=citizen_id, scope=scope,
                access_token_hash=uuid.uuid4().hex,
                refresh_token_hash=uuid.uuid4().hex if refresh else None, issued_at=T0,
                access_expires_at=access_until,
                refresh_expires_at=T0 + timedelta(days=30) if refresh else None, sid=sid)
    db.session.add(row)
    db.session.flush()
    return row.id


def test_tokens_of_the_session_end_except_offline_refresh_grants(ctx: None, signer: Signer,
                                                                 citizen_id: uuid.UUID):
    portal = app_client("portal")
    sso, other = session_for(citizen_id, portal), session_for(citizen_id, portal)
    made = {
        "access only": add_token(portal, citizen_id, sso.sid, "openid", refresh=False),
        "online refresh": add_token(portal, citizen_id, sso.sid, "openid", refresh=True),
        "offline": add_token(portal, citizen_id, sso.sid, "openid offline_access", refresh=True),
        "offline, old access": add_token(portal, citizen_id, sso.sid, "openid offline_access",
                                         refresh=True, access_until=T0 - timedelta(hours=1)),
        "other session": add_token(portal, citizen_id, other.sid, "openid", refresh=True),
    }
    db.session.commit()
    now = T0 + timedelta(minutes=1)
    end(sso, signer, now)
    db.session.expire_all()
    got = {name: db.session.get(Token, id_) for name, id_ in made.items()}
    assert got["access only"].revoked_at == now
    assert got["online refresh"].revoked_at == now
    assert got["offline"].revoked_at is None and got["offline"].access_expires_at == now
    assert not tokens.is_active(got["offline"], now)
    assert got["offline, old access"].access_expires_at == T0 - timedelta(hours=1)
    assert got["other session"].revoked_at is None
    assert got["other session"].access_expires_at == T0 + timedelta(minutes=10)


def test_find_session(ctx: None, citizen_id: uuid.UUID):
    sso = session_for(citizen_id)
    assert logout.find_session(db.session, sso.sid) is sso
    assert logout.find_session(db.session, "unknown") is None
    assert logout.find_session(db.session, "") is None
    assert logout.find_session(db.session, "x" * 500) is None


# --- delivering -----------------------------------------------------------------------------------

@pytest.fixture
def queued(ctx: None, signer: Signer, citizen_id: uuid.UUID) -> list[int]:
    return end(session_for(citizen_id, app_client("portal"), app_client("health")), signer)


@pytest.mark.parametrize("status", [200, 204])
def test_200_or_204_is_delivered(queued: list[int], signer: Signer, status: int):
    post = FakePost(status)
    assert logout.deliver_due(db.session, T0, signer=signer, post=post) == (2, 0)
    uri, sent = post.calls[0]
    assert uri == "https://portal.vn/bc"
    assert sent["data"] == {"logout_token": rows()[0].logout_token}
    assert sent["timeout"] == logout.DELIVERY_TIMEOUT_SECONDS
    assert sent["allow_redirects"] is False
    assert all(r.delivered_at == T0 and r.attempts == 1 and r.last_error is None
               for r in rows())
    assert logout.undelivered(db.session, queued) == []
    assert logout.deliver_due(db.session, T0 + timedelta(days=1), signer=signer,
                              post=post) == (0, 0)
    assert len(post.calls) == 2


@pytest.mark.parametrize(("outcome", "error"), [
    (500, "HTTP 500"), (302, "HTTP 302"), (400, "HTTP 400"), (201, "HTTP 201"),
    (requests.ConnectTimeout("x"), "ConnectTimeout"),
    (requests.ReadTimeout("x"), "ReadTimeout"),
    (requests.ConnectionError("x"), "ConnectionError"),
    (requests.exceptions.InvalidURL("x"), "InvalidURL"),
])
def test_failures_are_recorded_and_retried_with_backoff(queued: list[int], signer: Signer,
                                                        outcome: Any, error: str):
    post, now = FakePost(outcome), T0
    for attempt in range(1, logout.MAX_ATTEMPTS + 1):
        assert logout.deliver_due(db.session, now, signer=signer, post=post) == (0, 2)
        row = rows()[0]
        assert row.attempts == attempt and row.last_error == error
        if attempt < logout.MAX_ATTEMPTS:
            wait = logout.BACKOFF[attempt - 1]
            assert row.next_attempt_at == now + wait and row.given_up_at is None
            tick = timedelta(milliseconds=1)
            assert logout.deliver_due(db.session, now + wait - tick, signer=signer,
                                      post=post) == (0, 0)
            now += wait
    assert all(r.given_up_at == now for r in rows())
    assert logout.undelivered(db.session, queued) == []
    assert logout.deliver_due(db.session, now + timedelta(days=9), signer=signer,
                              post=post) == (0, 0)
    assert len(post.calls) == 2 * logout.MAX_ATTEMPTS


def test_a_retry_that_succeeds_stops_the_schedule(queued: list[int], signer: Signer):
    post = FakePost(500, 500, 200)
    assert logout.deliver_due(db.session, T0, signer=signer, post=post) == (0, 2)
    later = T0 + logout.BACKOFF[0]
    assert logout.deliver_due(db.session, later, signer=signer, post=post) == (2, 0)
    assert [r.delivered_at for r in rows()] == [later, later]
    assert [r.last_error for r in rows()] == [None, None]


def test_ids_and_limit_choose_what_is_sent(queued: list[int], signer: Signer):
    post = FakePost(200)
    assert logout.deliver_due(db.session, T0, signer=signer, post=post, ids=queued[1:]) == (1, 0)
    assert [uri for uri, _ in post.calls] == ["https://health.vn/bc"]
    assert logout.undelivered(db.session, queued) == queued[:1]
    assert logout.deliver_due(db.session, T0, signer=signer, post=post, ids=[]) == (0, 0)
    assert logout.deliver_due(db.session, T0, signer=signer, post=post, limit=1) == (1, 0)


def test_a_late_retry_carries_a_freshly_signed_token(queued: list[int], signer: Signer):
    first = rows()[0].logout_token
    post = FakePost(500, 200)
    logout.deliver_due(db.session, T0, signer=signer, post=post, ids=queued[:1])
    assert post.calls[0][1]["data"]["logout_token"] == first  # still fresh: sent as made
    later = T0 + timedelta(minutes=40)
    logout.deliver_due(db.session, later, signer=signer, post=post, ids=queued[:1])
    resent = post.calls[1][1]["data"]["logout_token"]
    (old_header, old), (header, new) = payload(first), payload(resent)
    assert header["typ"] == "logout+jwt" and header["alg"] == old_header["alg"]
    assert new["iat"] == epoch(later) and new["exp"] > epoch(later)
    assert new["jti"] != old["jti"]
    assert {k: new[k] for k in ("iss", "aud", "sub", "sid", "events")} == \
        {k: old[k] for k in ("iss", "aud", "sub", "sid", "events")}
    jwks = KeySet.import_key_set(keys.public_jwks(db.session, later))
    jwt.decode(resent, jwks, algorithms=["RS256", "ES256"])
    assert rows()[0].logout_token == resent


def test_a_delivery_claimed_elsewhere_is_left_alone(queued: list[int], signer: Signer):
    """Another node's claim (attempts + 1, leased): not sent here until the lease ends."""
    db.session.execute(update(LogoutDelivery).where(LogoutDelivery.id == queued[0]).values(
        attempts=1, next_attempt_at=T0 + logout.LEASE))
    db.session.commit()
    post = FakePost(200)
    assert logout.deliver_due(db.session, T0, signer=signer, post=post) == (1, 0)
    assert [uri for uri, _ in post.calls] == ["https://health.vn/bc"]
    # That node died mid-send: once the lease is over the delivery is claimable again.
    assert logout.deliver_due(db.session, T0 + logout.LEASE, signer=signer, post=post) == (1, 0)
    assert rows()[0].attempts == 2 and rows()[0].delivered_at == T0 + logout.LEASE


def test_a_signing_failure_is_recorded_and_retried(queued: list[int], signer: Signer):
    class Broken(Signer):
        def sign(self, claims: dict, alg: str, typ: str = "JWT") -> str:
            raise KeyError(alg)

    broken = Broken(session=signer.session, box=signer.box, issuer=ISSUER)
    late = T0 + timedelta(hours=1)  # old enough to be signed again
    post = FakePost(200)
    assert logout.deliver_due(db.session, late, signer=broken, post=post) == (0, 2)
    assert post.calls == []
    assert [(r.attempts, r.last_error) for r in rows()] == [(1, "KeyError")] * 2
    assert rows()[0].next_attempt_at == late + logout.BACKOFF[0]
    assert logout.deliver_due(db.session, late + logout.BACKOFF[0], signer=signer,
                              post=post) == (2, 0)


def test_sign_out_racing_an_app_being_disabled_never_deadlocks(
        app: Flask, ctx: None, backend: str, signer: Signer, citizen_id: uuid.UUID):
    """Sign-out changes a session's tokens in two statements (revoke some, end the access of
    the offline grants): it locks them all in id order first. Otherwise: A holds row 1; C
    (disabling the app, which locks in id order) waits on it; sign-out (B) takes row 2 and
    waits on row 1 behind C; A lets go, C takes row 1 and waits on B's row 2: deadlock."""
    import threading

    from sqlalchemy import text
    from sqlalchemy.orm import Session as OrmSession

    portal = app_client("portal")
    sso = session_for(citizen_id)
    offline = add_token(portal, citizen_id, sso.sid, "openid offline_access", refresh=True)
    plain = add_token(portal, citizen_id, sso.sid, "openid", refresh=False)
    db.session.commit()
    assert offline < plain
    engine, sso_id = db.engine, sso.id
    errors: list[BaseException] = []
    done: list[str] = []

    def run(label: str, change: Any) -> None:
        try:
            with app.app_context(), OrmSession(engine) as session, session.begin():
                change(session)
            done.append(label)
        except BaseException as error:  # noqa: BLE001 — reported by the assertion below
            errors.append(error)

    def sign_out(session: Any) -> None:
        logout.end_session(session, session.get(SsoSession, sso_id), signer=signer,
                           pairwise_secret=SECRET, now=T0)

    def disable_app(session: Any) -> None:
        clients.disable_client(session, session.get(Client, portal.id), T0)

    if backend == "sqlite":  # one writer at a time
        run("B", sign_out)
        run("C", disable_app)
        assert not errors and done == ["B", "C"]
        return
    with engine.connect() as holder:
        holder.execute(text("SELECT id FROM tokens WHERE id = :id FOR UPDATE"), {"id": offline})
        c = threading.Thread(target=run, args=("C", disable_app))
        c.start()
        _wait_until_blocked(engine, 1)
        b = threading.Thread(target=run, args=("B", sign_out))
        b.start()
        _wait_until_blocked(engine, 2)
        holder.rollback()
    c.join(timeout=30)
    b.join(timeout=30)
    assert not errors, errors
    assert sorted(done) == ["B", "C"]


def _wait_until_blocked(engine: Any, count: int) -> None:
    import time

    from sqlalchemy import text

    with engine.connect() as watcher:
        for _ in range(1000):
            if watcher.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar() \
                    >= count:
                return
            watcher.rollback()
            time.sleep(0.01)
    raise AssertionError(f"{count} blocked backends expected")
