"""The console's relying apps: list, register, edit, rotate the secret, disable and enable,
usage; who may do what (superadmin writes, auditor reads, officer nothing); bad input."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from idp.admin.guard import STAFF_KEY
from idp.extensions import db
from idp.models import AuditEvent, Client
from idp.services import clients
from tests.conftest import csrf_token
from tests.functional.admin.conftest import SANG_MOC
from tests.support.oidc import App, authorize_query, register
from tests.support.token_endpoint import (
    assertion,
    assertion_form,
    basic,
    ec_key,
    issuer_of,
    public_set,
)

REASON = "Sở TT&TT yêu cầu theo công văn 123"
PORTAL_FORM = {
    "name_vi": "Cổng dịch vụ công", "name_en": "Public-service portal",
    "redirect_uris": "https://dvc.thainguyen.gov.vn/callback\nhttp://127.0.0.1:8001/cb",
    "post_logout_redirect_uris": "https://dvc.thainguyen.gov.vn/",
    "backchannel_logout_uri": "https://dvc.thainguyen.gov.vn/backchannel",
    "logo_uri": "https://dvc.thainguyen.gov.vn/logo.png",
    "scopes": ["openid", "profile", "citizen"],
    "grant_types": ["authorization_code", "client_credentials"],
    "token_endpoint_auth_method": "client_secret_basic", "subject_type": "public",
    "id_token_signed_response_alg": "RS256", "min_acr": "", "reason": REASON,
}
PRODUCTION = {"TNID_ENV": "production", "TNID_ISSUER": "https://id.example.vn",
              "TNID_ALLOW_SQLITE_IN_PRODUCTION": "1", "TNID_ARGON2_TIME_COST": "2",
              "TNID_ARGON2_MEMORY_KIB": "19456"}


@pytest.fixture
def admin(staff_client: Callable[..., FlaskClient]) -> FlaskClient:
    browser = staff_client("superadmin")
    browser.get("/admin/apps?lang=en")  # the messages below are checked in English
    return browser


def post_form(browser: FlaskClient, path: str, data: dict[str, Any], *,
              page: str | None = None, **kwargs: Any):  # noqa: ANN201
    token = csrf_token(browser.get(page or path).text)
    return browser.post(path, data={"csrf_token": token, **data}, **kwargs)


def app_count(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Client))


def entries(app: Flask, action: str) -> list[AuditEvent]:
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                  .order_by(AuditEvent.id)).all()
        db.session.expunge_all()
        return list(rows)


def only_app(app: Flask) -> Client:
    with app.app_context():
        row = db.session.scalars(select(Client)).one()
        db.session.expunge(row)
        return row


def shown_secret(html: str) -> str:
    marker = 'id="client-secret">'
    start = html.index(marker) + len(marker)
    return html[start:html.index("<", start)]


def client_credentials(http: FlaskClient, client_id: str, secret: str):  # noqa: ANN201
    return http.post("/token", data={"grant_type": "client_credentials"},
                     headers=basic(client_id, secret))


# --- list and detail ------------------------------------------------------------------------------

def test_list_shows_apps_with_their_figures(app, admin, signing_keys):
    portal = register(app, name_vi="Cổng dịch vụ công", name_en="Public-service portal",
                      logo_uri="https://dvc.thainguyen.gov.vn/logo.png")
    market = register(app, name_vi="Chợ 4.0", token_endpoint_auth_method="none",
                      subject_type="pairwise", min_acr="urn:tnid:acr:2", trusted=True)
    with app.app_context():
        clients.disable_client(db.session, clients.find_client(db.session, market.client_id),
                               clients_now())
        db.session.commit()
    page = admin.get("/admin/apps")
    assert page.status_code == 200
    for text in ("Cổng dịch vụ công", "Public-service portal", portal.client_id,
                 market.client_id, "client_secret_basic", "pairwise", "logo.png"):
        assert text in page.text
    assert page.text.count('class="badge badge-off"') == 1
    assert 'href="/admin/apps/new"' in page.text
    detail = admin.get(f"/admin/apps/{portal.client_id}")
    assert detail.status_code == 200 and "dvc" not in detail.headers.get("Cache-Control", "")
    assert portal.redirect_uri in detail.text and "chart-app-tokens" in detail.text
    assert admin.get("/admin/apps/nope").status_code == 404


def clients_now():  # noqa: ANN201
    from idp.services.clock import utcnow
    return utcnow()


def test_auditor_reads_but_every_write_is_refused_and_recorded(app, staff_client):
    rp = register(app, name_vi="Sổ sức khỏe")
    auditor = staff_client("auditor")
    assert auditor.get("/admin/apps").status_code == 200
    detail = auditor.get(f"/admin/apps/{rp.client_id}")
    assert detail.status_code == 200 and "/disable" not in detail.text
    assert 'href="/admin/apps/new"' not in auditor.get("/admin/apps").text
    token = _token_of(auditor)
    for path, data in ((f"/admin/apps/{rp.client_id}/disable", {"reason": REASON}),
                       (f"/admin/apps/{rp.client_id}/rotate-secret", {"reason": REASON}),
                       (f"/admin/apps/{rp.client_id}/edit", {**PORTAL_FORM}),
                       ("/admin/apps/new", {**PORTAL_FORM, "name_vi": "Khác"})):
        assert auditor.post(path, data={"csrf_token": token, **data}).status_code == 403
    assert auditor.get("/admin/apps/new").status_code == 403
    assert len(entries(app, "staff:access_denied")) == 5
    assert only_app(app).disabled_at is None and app_count(app) == 1
    assert entries(app, "staff:app:disabled") == []


def _token_of(browser: FlaskClient) -> str:
    """A CSRF token of this browser's session, from a page every visitor can open."""
    return csrf_token(browser.get("/login").text)


def test_officer_gets_403_on_every_apps_page(app, staff_client):
    rp = register(app, name_vi="Sổ sức khỏe")
    officer = staff_client("officer", [SANG_MOC])
    for path in ("/admin/apps", f"/admin/apps/{rp.client_id}", "/admin/apps/new",
                 f"/admin/apps/{rp.client_id}/edit"):
        assert officer.get(path).status_code == 403
    token = _token_of(officer)
    response = officer.post(f"/admin/apps/{rp.client_id}/disable",
                            data={"csrf_token": token, "reason": REASON})
    assert response.status_code == 403
    denied = entries(app, "staff:access_denied")
    assert len(denied) == 5 and denied[-1].details["what"] == "clients:write"
    assert only_app(app).disabled_at is None


def test_signed_out_visitor_is_sent_to_sign_in(client):
    response = client.get("/admin/apps")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


# --- registering ----------------------------------------------------------------------------------

def test_register_confidential_app_shows_the_secret_once_and_it_works(app, admin, client,
                                                                     signing_keys):
    response = post_form(admin, "/admin/apps/new", PORTAL_FORM)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    secret = shown_secret(response.text)
    row = only_app(app)
    assert row.client_id in response.text and row.check_client_secret(secret)
    assert (row.name_en, row.scope, row.created_via) == ("Public-service portal",
                                                         "openid profile citizen", "console")
    assert row.redirect_uris == ["https://dvc.thainguyen.gov.vn/callback",
                                 "http://127.0.0.1:8001/cb"]
    # Never shown again: not on the app page nor the edit page.
    for path in (f"/admin/apps/{row.client_id}", f"/admin/apps/{row.client_id}/edit",
                 "/admin/apps"):
        assert secret not in admin.get(path).text
    assert client_credentials(client, row.client_id, secret).status_code == 200
    assert client_credentials(client, row.client_id, secret + "x").status_code == 401
    [entry] = entries(app, "staff:app:registered")
    assert entry.actor_id == str(admin.staff.id) and entry.client_id == row.client_id
    assert entry.details["reason"] == REASON and "redirect_uris" in entry.details["fields"]
    assert secret not in str(entry.details)


def test_resubmitted_registration_does_not_register_twice(app, admin):
    token = csrf_token(admin.get("/admin/apps/new").text)
    data = {"csrf_token": token, **PORTAL_FORM}
    assert admin.post("/admin/apps/new", data=data).status_code == 200
    again = admin.post("/admin/apps/new", data=data)
    assert again.status_code == 400 and "already has this name" in again.text
    assert app_count(app) == 1


def test_register_client_secret_post(app, admin, client, signing_keys):
    form = {**PORTAL_FORM, "token_endpoint_auth_method": "client_secret_post"}
    secret = shown_secret(post_form(admin, "/admin/apps/new", form).text)
    row = only_app(app)
    response = client.post("/token", data={"grant_type": "client_credentials",
                                           "client_id": row.client_id, "client_secret": secret})
    assert response.status_code == 200


def test_register_public_app_has_no_secret(app, admin):
    form = {**PORTAL_FORM, "token_endpoint_auth_method": "none", "grant_types":
            ["authorization_code"], "subject_type": "pairwise",
            "redirect_uris": "https://cho.thainguyen.vn/cb"}
    response = post_form(admin, "/admin/apps/new", form)
    assert response.status_code == 303
    row = only_app(app)
    assert response.headers["Location"].endswith(f"/admin/apps/{row.client_id}")
    assert row.client_secret_hash is None and row.sector_identifier == "cho.thainguyen.vn"
    assert "Rotate" not in admin.get(response.headers["Location"]).text
    assert "/rotate-secret" not in admin.get(response.headers["Location"]).text


def test_register_private_key_jwt_with_a_jwks(app, admin, client, signing_keys):
    import json

    key = ec_key("portal-1")
    form = {**PORTAL_FORM, "token_endpoint_auth_method": "private_key_jwt",
            "jwks": json.dumps(public_set(key)), "id_token_signed_response_alg": "ES256"}
    response = post_form(admin, "/admin/apps/new", form)
    assert response.status_code == 303
    row = only_app(app)
    assert row.client_secret_hash is None and row.jwks["keys"][0]["kid"] == "portal-1"
    signed = assertion(row.client_id, key, audience=issuer_of(app) + "/token")
    token = client.post("/token", data={"grant_type": "client_credentials",
                                        **assertion_form(signed)})
    assert token.status_code == 200, token.json


@pytest.mark.parametrize(("changes", "message"), [
    ({"name_vi": "  "}, "Please enter the app&#39;s name."),
    ({"redirect_uris": "https://dvc.thainguyen.gov.vn/*"}, "cannot contain wildcards"),
    ({"redirect_uris": "dvc.thainguyen.gov.vn/cb"}, "must be an absolute https:// URL"),
    ({"scopes": ["openid", "bank_account"]}, "Unknown scope bank_account"),
    ({"scopes": ["profile"]}, "The scope must include openid."),
    ({"token_endpoint_auth_method": "private_key_jwt", "jwks": "{not json"},
     "The public keys are not valid JSON."),
    ({"token_endpoint_auth_method": "private_key_jwt", "jwks": "[" * 30000},
     "The public keys are not valid JSON."),
    ({"token_endpoint_auth_method": "private_key_jwt", "jwks": '{"keys": []}'},
     "not a valid JWK Set"),
    ({"token_endpoint_auth_method": "private_key_jwt"}, "exactly one of jwks or jwks_uri"),
    ({"token_endpoint_auth_method": "magic"}, "Choose one of"),
    ({"subject_type": "pairwise", "redirect_uris": "https://a.vn/cb\nhttps://b.vn/cb"},
     "give the sector identifier"),
    ({"min_acr": "urn:tnid:acr:9"}, "Choose one of"),
    ({"reason": ""}, "Please give the reason for this change."),
    ({"reason": "ok"}, "between 5 and 500 characters"),
])
def test_bad_input_is_explained_and_nothing_is_written(app, admin, changes, message):
    response = post_form(admin, "/admin/apps/new", {**PORTAL_FORM, **changes})
    assert response.status_code == 400
    assert message in response.text
    assert "Nothing was saved" in response.text
    assert app_count(app) == 0 and entries(app, "staff:app:registered") == []


def test_production_refuses_plain_http_except_loopback(app_factory, make_staff):
    production = app_factory(**PRODUCTION)
    staff = make_staff("superadmin")
    admin = production.test_client()
    base = {"base_url": "https://id.example.vn"}
    with admin.session_transaction(**base) as session:
        session[STAFF_KEY] = {"id": str(staff.id), "v": staff.session_version,
                              "iat": int(time.time()), "seen": int(time.time())}
        session["lang"] = "en"
    form = {**PORTAL_FORM, "redirect_uris": "http://dvc.thainguyen.gov.vn/cb"}
    token = csrf_token(admin.get("/admin/apps/new", **base).text)
    response = admin.post("/admin/apps/new", data={"csrf_token": token, **form}, **base)
    assert response.status_code == 400 and "must use https://" in response.text
    assert app_count(production) == 0
    loopback = {**PORTAL_FORM, "redirect_uris": "http://127.0.0.1:8001/cb"}
    response = admin.post("/admin/apps/new", data={"csrf_token": token, **loopback}, **base)
    assert response.status_code == 200 and app_count(production) == 1


def test_missing_csrf_token_is_refused(app, admin):
    response = admin.post("/admin/apps/new", data=PORTAL_FORM)
    assert response.status_code == 400 and app_count(app) == 0
    rp = register(app, name_vi="Sổ sức khỏe")
    response = admin.post(f"/admin/apps/{rp.client_id}/disable", data={"reason": REASON})
    assert response.status_code == 400 and only_app(app).disabled_at is None


def test_english_page_explains_in_english(app, admin):
    response = post_form(admin, "/admin/apps/new?lang=en", {**PORTAL_FORM, "name_vi": ""})
    assert response.status_code == 400 and "Please enter the app" in response.text


# --- editing --------------------------------------------------------------------------------------

def edit_form(rp: App, **changes: Any) -> dict[str, Any]:
    return {**PORTAL_FORM, "name_vi": "Sổ sức khỏe", "redirect_uris": rp.redirect_uri,
            "grant_types": ["authorization_code"], "post_logout_redirect_uris": "",
            "backchannel_logout_uri": "", "logo_uri": "", "name_en": "",
            "scopes": ["openid", "profile", "phone", "citizen", "address", "email",
                       "offline_access"], **changes}


def test_edit_page_shows_the_registration(app, admin):
    rp = register(app, name_vi="Sổ sức khỏe", min_acr="urn:tnid:acr:2")
    page = admin.get(f"/admin/apps/{rp.client_id}/edit")
    assert page.status_code == 200
    assert 'value="Sổ sức khỏe"' in page.text and rp.redirect_uri in page.text
    assert 'value="urn:tnid:acr:2" selected' in page.text or \
        'selected value="urn:tnid:acr:2"' in page.text


def test_edit_records_the_changed_fields(app, admin):
    rp = register(app, name_vi="Sổ sức khỏe")
    path = f"/admin/apps/{rp.client_id}/edit"
    grants = ["authorization_code", "refresh_token"]
    response = post_form(admin, path, edit_form(rp, grant_types=grants, trusted="y",
                                                min_acr="urn:tnid:acr:2"))
    assert response.status_code == 303, response.text
    row = only_app(app)
    assert row.trusted and row.min_acr == "urn:tnid:acr:2"
    assert row.check_client_secret(rp.secret)  # the secret stays
    [entry] = entries(app, "staff:app:updated")
    assert entry.details == {"reason": REASON, "fields": ["min_acr", "trusted"]}
    # Saving the same values again changes nothing and records nothing.
    again = post_form(admin, path, edit_form(rp, grant_types=grants, trusted="y",
                                             min_acr="urn:tnid:acr:2"))
    assert again.status_code == 303 and len(entries(app, "staff:app:updated")) == 1


def test_edit_with_bad_input_changes_nothing(app, admin):
    rp = register(app, name_vi="Sổ sức khỏe")
    response = post_form(admin, f"/admin/apps/{rp.client_id}/edit",
                         edit_form(rp, name_vi="Tên mới", redirect_uris="ftp://x.vn/cb"))
    assert response.status_code == 400 and "absolute https://" in response.text
    assert only_app(app).name_vi == "Sổ sức khỏe" and entries(app, "staff:app:updated") == []


def test_edit_to_a_secret_method_shows_a_new_secret_once(app, admin, client, signing_keys):
    rp = register(app, name_vi="Chợ", token_endpoint_auth_method="none")
    response = post_form(admin, f"/admin/apps/{rp.client_id}/edit", edit_form(
        rp, name_vi="Chợ", grant_types=["authorization_code", "client_credentials"]))
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    secret = shown_secret(response.text)
    assert client_credentials(client, rp.client_id, secret).status_code == 200
    [entry] = entries(app, "staff:app:updated")
    assert "client_secret" in entry.details["fields"] and secret not in str(entry.details)


# --- actions --------------------------------------------------------------------------------------

def service_app(app: Flask) -> App:
    return register(app, name_vi="Dịch vụ", grant_types=["authorization_code",
                                                          "client_credentials"])


def test_rotate_secret_old_fails_new_works(app, admin, client, signing_keys):
    rp = service_app(app)
    response = post_form(admin, f"/admin/apps/{rp.client_id}/rotate-secret", {"reason": REASON},
                         page=f"/admin/apps/{rp.client_id}")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    secret = shown_secret(response.text)
    assert client_credentials(client, rp.client_id, rp.secret).status_code == 401
    assert client_credentials(client, rp.client_id, secret).status_code == 200
    [entry] = entries(app, "staff:app:secret_rotated")
    assert entry.details == {"reason": REASON} and entry.client_id == rp.client_id


def test_rotate_needs_a_reason(app, admin, client, signing_keys):
    rp = service_app(app)
    response = post_form(admin, f"/admin/apps/{rp.client_id}/rotate-secret", {"reason": " "},
                         page=f"/admin/apps/{rp.client_id}")
    assert response.status_code == 400 and "Please give the reason" in response.text
    assert client_credentials(client, rp.client_id, rp.secret).status_code == 200
    assert entries(app, "staff:app:secret_rotated") == []


def test_rotate_refused_for_an_app_without_secret(app, admin):
    rp = register(app, name_vi="Chợ", token_endpoint_auth_method="none")
    response = post_form(admin, f"/admin/apps/{rp.client_id}/rotate-secret", {"reason": REASON},
                         page=f"/admin/apps/{rp.client_id}")
    assert response.status_code == 303 and entries(app, "staff:app:secret_rotated") == []


def test_disable_stops_tokens_and_enable_restores(app, admin, client, signing_keys):
    rp = service_app(app)
    issued = client_credentials(client, rp.client_id, rp.secret).json["access_token"]
    page = f"/admin/apps/{rp.client_id}"
    response = post_form(admin, f"{page}/disable", {"reason": REASON}, page=page)
    assert response.status_code == 303
    refused = client_credentials(client, rp.client_id, rp.secret)
    assert refused.status_code == 401 and refused.json["error"] == "invalid_client"
    # No new authorization either: an unknown app gets an error page, never a redirect.
    assert client.get(authorize_query(rp)).status_code == 400
    # Its existing tokens were revoked.
    other = service_app_named(app, "Kiểm tra")
    body = client.post("/introspect", data={"token": issued},
                       headers=basic(other.client_id, other.secret)).json
    assert body == {"active": False}
    assert "Enable the app" in admin.get(page).text
    [entry] = entries(app, "staff:app:disabled")
    assert entry.details == {"reason": REASON}
    response = post_form(admin, f"{page}/enable", {"reason": REASON}, page=page)
    assert response.status_code == 303
    assert client_credentials(client, rp.client_id, rp.secret).status_code == 200
    assert len(entries(app, "staff:app:enabled")) == 1


def service_app_named(app: Flask, name: str) -> App:
    return register(app, name_vi=name, grant_types=["authorization_code",
                                                     "client_credentials"])


def test_disable_needs_a_reason(app, admin):
    rp = service_app(app)
    page = f"/admin/apps/{rp.client_id}"
    response = post_form(admin, f"{page}/disable", {"reason": ""}, page=page)
    assert response.status_code == 400 and "Please give the reason" in response.text
    assert only_app(app).disabled_at is None and entries(app, "staff:app:disabled") == []


def test_get_never_acts(app, admin):
    rp = service_app(app)
    for action in ("disable", "enable", "rotate-secret"):
        assert admin.get(f"/admin/apps/{rp.client_id}/{action}").status_code == 405
    assert only_app(app).disabled_at is None


def test_vietnamese_by_default(app, staff_client):
    admin = staff_client("superadmin")
    assert "Đăng ký ứng dụng" in admin.get("/admin/apps").text
    response = post_form(admin, "/admin/apps/new", {**PORTAL_FORM, "reason": ""})
    assert response.status_code == 400
    assert "Vui lòng nêu lý do của thay đổi này." in response.text


def test_edit_cannot_take_another_enabled_apps_name(app, admin):
    register(app, name_vi="Sổ sức khỏe")
    rp = register(app, name_vi="Chợ 4.0")
    response = post_form(admin, f"/admin/apps/{rp.client_id}/edit", edit_form(rp))
    assert response.status_code == 400 and "already has this name" in response.text


def test_edit_keeps_the_pairwise_sector_when_left_empty(app, admin):
    rp = register(app, name_vi="Chợ 4.0", subject_type="pairwise",
                  redirect_uris=["https://cho.thainguyen.vn/cb"])
    moved = "https://app.cho.thainguyen.vn/cb"
    response = post_form(admin, f"/admin/apps/{rp.client_id}/edit", edit_form(
        rp, name_vi="Chợ 4.0", subject_type="pairwise", sector_identifier="",
        redirect_uris=moved))
    assert response.status_code == 303
    row = only_app_by_id(app, rp.client_id)
    assert row.redirect_uris == [moved] and row.sector_identifier == "cho.thainguyen.vn"
    elsewhere = post_form(admin, f"/admin/apps/{rp.client_id}/edit", edit_form(
        rp, name_vi="Chợ 4.0", subject_type="pairwise", redirect_uris="https://other.vn/cb"))
    assert elsewhere.status_code == 400 and "cho.thainguyen.vn" in elsewhere.text


def test_edit_to_a_public_client_drops_the_secret(app, admin):
    rp = register(app, name_vi="Sổ sức khỏe")
    response = post_form(admin, f"/admin/apps/{rp.client_id}/edit",
                         edit_form(rp, token_endpoint_auth_method="none",
                                   grant_types=["authorization_code", "refresh_token"]))
    assert response.status_code == 303
    assert only_app(app).client_secret_hash is None
    [entry] = entries(app, "staff:app:updated")
    assert entry.details["fields"] == ["token_endpoint_auth_method", "client_secret"]


def only_app_by_id(app: Flask, client_id: str) -> Client:
    with app.app_context():
        row = clients.find_client(db.session, client_id)
        assert row is not None
        db.session.expunge(row)
        return row
