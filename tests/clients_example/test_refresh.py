"""The example apps refresh an access token that is about to expire, keep the rotated refresh
token, and say so on the page when a refresh fails."""

from __future__ import annotations

import time

from clients_example.common import rp
from tests.clients_example.test_backchannel_endpoint import sign_in


def test_an_expired_access_token_is_refreshed_and_the_new_refresh_token_kept(make_rp_app,
                                                                             monkeypatch):
    app = make_rp_app("health")
    browser = app.test_client()
    lsid = sign_in(app, browser, expires_at=time.time() - 5, refresh_token="rt-1")
    client = app.extensions["rp"].client
    calls = []

    def fake_fetch(**params):  # noqa: ANN003, ANN202
        calls.append(params)
        return {"access_token": "at-2", "refresh_token": "rt-2", "expires_in": 600,
                "token_type": "Bearer", "scope": "openid profile citizen offline_access"}

    monkeypatch.setattr(client, "fetch_access_token", fake_fetch)
    with app.test_request_context():
        from flask import session

        session["lsid"] = lsid
        assert rp.access_token() == "at-2"
        assert rp.access_token() == "at-2"  # still fresh: no second refresh
    assert calls == [{"grant_type": "refresh_token", "refresh_token": "rt-1"}]
    stored = app.extensions["rp"].store.get_session(lsid)
    assert stored["refresh_token"] == "rt-2" and stored["refreshes"] == 1
    assert stored["expires_at"] > time.time() + 500


def test_a_failed_refresh_is_explained_not_a_500(make_rp_app, monkeypatch):
    app = make_rp_app("market")
    browser = app.test_client()
    sign_in(app, browser, refresh_token="rt-1")
    client = app.extensions["rp"].client

    def refused(**params):  # noqa: ANN003, ANN202
        from authlib.integrations.base_client import OAuthError

        raise OAuthError(error="invalid_grant", description="refresh token revoked")

    monkeypatch.setattr(client, "fetch_access_token", refused)
    page = browser.get("/").text
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    answer = browser.post("/refresh", data={"csrf_token": token}, follow_redirects=True)
    assert answer.status_code == 200 and "Không làm mới được access token" in answer.text
