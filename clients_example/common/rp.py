"""The relying-party half every example app shares: sign-in with authlib's Flask client
(discovery, PKCE S256, state, nonce), server-side sessions, the claims panel, access-token
refresh, RP-initiated logout and the back-channel logout endpoint.

An app is ``make_app(AppSpec(...), settings)`` plus its own pages (a blueprint or routes on
the returned Flask app). Nothing here imports the provider: only Flask, authlib (and joserfc,
the JOSE library authlib uses) and standard OpenID Connect.
"""

from __future__ import annotations

import functools
import hmac
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from joserfc.jwk import RSAKey
from werkzeug.wrappers import Response

from clients_example.common import logout_token
from clients_example.common.registration import Registration, register
from clients_example.common.store import Store

log = logging.getLogger(__name__)

ACR_1 = "urn:tnid:acr:1"
ACR_2 = "urn:tnid:acr:2"
REFRESH_MARGIN_SECONDS = 30  # refresh a little before the access token expires
# An unknown kid in a logout token may mean the provider rotated its keys: fetch them again,
# but not more often than this, so forged tokens cannot make the app hammer the provider.
KEY_REFETCH_SECONDS = 30


@dataclass(frozen=True)
class AppSpec:
    """What an app is and how it is registered with the provider."""

    key: str  # "portal": also the session cookie's prefix and the instance subfolder
    title: str  # Vietnamese name (shown on pages and on the provider's consent page)
    title_en: str
    client_id: str
    scope: str
    auth_method: str  # private_key_jwt | client_secret_basic | none (public client)
    subject_type: str = "public"
    sector: str | None = None
    trusted: bool = False
    extra_schema: str = ""  # the app's own tables in its SQLite store


@dataclass
class Settings:
    issuer: str  # http://127.0.0.1:5000
    base_url: str  # this app's own address, e.g. http://127.0.0.1:5001
    instance_path: Path
    tnid_command: list[str] | None = None  # default: the tnid of this virtualenv
    tnid_env: dict[str, str] = field(default_factory=dict)  # the provider's TNID_* settings


def make_app(spec: AppSpec, settings: Settings, import_name: str) -> Flask:
    """Build the app and register it with the provider (idempotent)."""
    app = Flask(import_name, instance_path=str(settings.instance_path.resolve()),
                instance_relative_config=True)
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    app.config.update(
        SECRET_KEY=_secret_key(instance),
        # All apps share the host 127.0.0.1 in the demo, and cookies ignore ports: one name
        # per app so they do not overwrite each other's (or the provider's) cookie.
        SESSION_COOKIE_NAME=f"{spec.key}_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",  # the provider's redirect back is a top-level GET
        SESSION_COOKIE_SECURE=settings.base_url.startswith("https://"),
    )
    private_key = _private_key(instance) if spec.auth_method == "private_key_jwt" else None
    registration = register(
        client_id=spec.client_id, name=spec.title, name_en=spec.title_en,
        base_url=settings.base_url, scope=spec.scope, auth_method=spec.auth_method,
        instance=instance, subject_type=spec.subject_type, sector=spec.sector,
        jwks_uri=f"{settings.base_url}/jwks.json" if private_key else None,
        trusted=spec.trusted, tnid=settings.tnid_command, env=settings.tnid_env)
    rp = RelyingParty(app, spec, settings, registration, private_key)
    app.extensions["rp"] = rp
    app.register_blueprint(bp)
    app.before_request(_check_csrf)
    app.after_request(_security_headers)
    app.add_template_filter(_show, "show")
    app.add_template_filter(_unixtime, "unixtime")
    app.context_processor(lambda: {
        "app_title": spec.title, "app_key": spec.key, "client_id": spec.client_id,
        "issuer": settings.issuer, "signin": current_signin(), "csrf_token": csrf_token,
    })
    return app


class RelyingParty:
    """The app's OAuth client, its store and its settings."""

    def __init__(self, app: Flask, spec: AppSpec, settings: Settings,
                 registration: Registration, private_key: RSAKey | None) -> None:
        self.spec, self.settings, self.registration = spec, settings, registration
        self.private_key = private_key
        self.store = Store(Path(app.instance_path) / f"{spec.key}.sqlite3", spec.extra_schema)
        self.refresh_lock = threading.Lock()  # one refresh at a time: tokens rotate
        self.keys_lock = threading.Lock()
        self.keys_fetched_at = float("-inf")
        oauth = OAuth(app)
        client_kwargs: dict[str, Any] = {
            "scope": spec.scope,
            "code_challenge_method": "S256",  # PKCE for every app, not only the public one
            "token_endpoint_auth_method": spec.auth_method,
        }
        extra: dict[str, Any] = {}
        if private_key is not None:
            # The "secret" of private_key_jwt is the private key; authlib signs the assertion.
            extra["client_auth_methods"] = [PrivateKeyJWT(headers={"kid": private_key.kid})]
        self.client = oauth.register(
            "tnid", client_id=registration.client_id,
            client_secret=private_key if private_key is not None else registration.client_secret,
            server_metadata_url=f"{settings.issuer}/.well-known/openid-configuration",
            client_kwargs=client_kwargs, **extra)

    def metadata(self) -> dict[str, Any]:
        return self.client.load_server_metadata()


def rp() -> RelyingParty:
    return current_app.extensions["rp"]


# --- the signed-in citizen -----------------------------------------------------------------

def current_signin() -> dict[str, Any] | None:
    """This browser's sign-in (from the server-side store), or None. A back-channel logout
    deletes the record, so the next request finds none."""
    if "signin" not in g:
        g.signin = rp().store.get_session(session.get("lsid"))
    return g.signin


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_signin() is None:
            return redirect(url_for("rp.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper


def claim(name: str) -> Any:
    """A claim of the signed-in citizen: userinfo first (fresh), then the ID token."""
    signin = current_signin() or {}
    return signin.get("userinfo", {}).get(name, signin.get("claims", {}).get(name))


def access_token() -> str:
    """A live access token for the signed-in citizen, refreshed when it is about to expire."""
    signin = current_signin()
    assert signin is not None
    if signin["expires_at"] - REFRESH_MARGIN_SECONDS < time.time() and signin.get("refresh_token"):
        refresh()
    return g.signin["access_token"]


def refresh() -> None:
    """Exchange the refresh token (rotated by the provider on every use) for new tokens."""
    relying = rp()
    with relying.refresh_lock:
        signin = relying.store.get_session(session.get("lsid"))
        if signin is None or not signin.get("refresh_token"):
            raise OAuthError(error="invalid_grant", description="no refresh token")
        token = relying.client.fetch_access_token(grant_type="refresh_token",
                                                  refresh_token=signin["refresh_token"])
        signin.update(_token_fields(token, signin.get("refresh_token")))
        signin["refreshes"] = signin.get("refreshes", 0) + 1
        relying.store.update_session(session["lsid"], signin)
        g.signin = signin


def fetch_userinfo() -> dict[str, Any]:
    response = rp().client.get(rp().metadata()["userinfo_endpoint"],
                               token={"access_token": access_token(), "token_type": "Bearer"})
    response.raise_for_status()
    return response.json()


def fresh_userinfo() -> dict[str, Any]:
    """The citizen's claims as the provider has them now (an officer may have verified the
    identity since the sign-in), refreshing the access token when it expired. Falls back to
    what was stored at sign-in if the provider cannot be asked."""
    signin = current_signin()
    assert signin is not None
    try:
        signin["userinfo"] = fetch_userinfo()
        rp().store.update_session(session["lsid"], signin)
    except Exception as error:  # noqa: BLE001 — the page still works with stored claims
        log.warning("userinfo failed, using the claims stored at sign-in: %s", error)
    return signin.get("userinfo", {})


def _token_fields(token: dict[str, Any], old_refresh: str | None = None) -> dict[str, Any]:
    return {
        "access_token": token["access_token"],
        "refresh_token": token.get("refresh_token", old_refresh),
        "expires_at": int(token.get("expires_at") or time.time() + int(token.get("expires_in",
                                                                                  300))),
        "scope": token.get("scope", ""),
    }


# --- CSRF for the app's own forms ----------------------------------------------------------

def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def _check_csrf() -> None:
    if request.method != "POST" or request.endpoint == "rp.backchannel_logout":
        return  # the provider's server-to-server call has no browser session
    sent = request.form.get("csrf_token", "")
    if not session.get("csrf") or not hmac.compare_digest(sent, session["csrf"]):
        abort(400, "Phiên biểu mẫu đã hết hạn, vui lòng tải lại trang.")


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; frame-ancestors 'none'; form-action 'self' "
                                + rp().settings.issuer)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if request.endpoint not in ("rp.static", "rp.jwks"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


# --- routes ----------------------------------------------------------------------------------

bp = Blueprint("rp", __name__, template_folder="templates", static_folder="static",
               static_url_path="/rp-static")


@bp.get("/login")
def login() -> Response | tuple[str, int]:
    """Start the code flow. ``?acr=2`` asks for two-factor sign-in (step-up)."""
    wanted = ACR_2 if request.args.get("acr") == "2" else None
    params: dict[str, Any] = {"ui_locales": "vi"}
    if wanted:
        params["acr_values"] = wanted
    session["next"] = _local_path(request.args.get("next"))
    session["wanted_acr"] = wanted
    try:
        # authlib makes state, nonce and the PKCE verifier and keeps them in the session.
        return rp().client.authorize_redirect(_external("rp.callback"), **params)
    except Exception as error:  # noqa: BLE001 — discovery failed: say so, not a 500
        log.warning("cannot reach the provider: %s", error)
        return _error("temporarily_unavailable", str(error), 503)


@bp.get("/callback")
def callback() -> Response | tuple[str, int]:
    relying = rp()
    issuer = request.args.get("iss")
    if issuer is not None and issuer != relying.settings.issuer:  # RFC 9207 mix-up defence
        return _error("invalid_issuer", "Phản hồi không đến từ ThaiNguyen ID.")
    try:
        # Checks state, sends the PKCE verifier, validates the ID token (signature, iss,
        # aud, exp, nonce, at_hash).
        token = relying.client.authorize_access_token()
    except OAuthError as error:
        return _error(error.error or "error", error.description)
    except Exception as error:  # noqa: BLE001 — bad ID token, provider unreachable...
        log.warning("sign-in failed: %s: %s", type(error).__name__, error)
        return _error("sign_in_failed", f"{type(error).__name__}: {error}")
    claims = dict(token["userinfo"])
    wanted = session.pop("wanted_acr", None)
    signin = {"claims": claims, "id_token": token["id_token"], "signed_in_at": int(time.time()),
              "refreshes": 0, **_token_fields(token)}
    old = session.get("lsid")
    session["lsid"] = relying.store.create_session(sid=claims.get("sid"), sub=claims["sub"],
                                                   data=signin)
    relying.store.delete_session(old)  # a new local session id on every sign-in (fixation)
    g.signin = signin
    try:
        signin["userinfo"] = fetch_userinfo()
        relying.store.update_session(session["lsid"], signin)
    except Exception as error:  # noqa: BLE001 — the sign-in stands; the panel says so
        log.warning("userinfo failed: %s", error)
    if wanted == ACR_2 and claims.get("acr") != ACR_2:
        # acr_values is a wish: the app checks what was achieved (OIDC Core §3.1.2.1).
        return _error("insufficient_acr", "ThaiNguyen ID chưa xác thực bạn bằng hai lớp, nên "
                      "ứng dụng chưa thể cho thực hiện thao tác này.", 403)
    return redirect(session.pop("next", None) or url_for("index"))


@bp.post("/logout")
def logout() -> Response:
    """RP-initiated logout: end the local session, then the provider's (which tells the
    other apps through back-channel logout)."""
    signin = current_signin()
    rp().store.delete_session(session.pop("lsid", None))
    if signin is None:
        return redirect(url_for("index"))
    return rp().client.logout_redirect(
        post_logout_redirect_uri=_external("rp.logged_out"),
        id_token_hint=signin["id_token"], ui_locales="vi")


@bp.get("/logged-out")
def logged_out() -> Response:
    try:
        rp().client.validate_logout_response()  # the state we sent comes back
    except OAuthError:
        flash("Không xác nhận được phản hồi đăng xuất (state không khớp).", "error")
        return redirect(url_for("index"))
    flash("Bạn đã đăng xuất khỏi ứng dụng và khỏi ThaiNguyen ID.", "info")
    return redirect(url_for("index"))


@bp.post("/backchannel-logout")
def backchannel_logout() -> tuple[Response, int]:
    """OIDC Back-Channel Logout §2.5-2.8: validate the logout token, end the sessions."""
    relying = rp()
    try:
        metadata = relying.metadata()
    except Exception as error:  # noqa: BLE001 — provider unreachable: it will retry
        log.warning("back-channel logout: no provider metadata: %s", error)
        return _no_store(jsonify(error="temporarily_unavailable")), 503
    try:
        claims = logout_token.validate(
            request.form.get("logout_token"), fetch_keys=_fetch_keys,
            issuer=metadata["issuer"], client_id=relying.registration.client_id,
            algorithms=metadata.get("id_token_signing_alg_values_supported", ["RS256"]))
        expires = float(claims.get("exp") or time.time() + logout_token.MAX_AGE_SECONDS)
        if not relying.store.first_use_of_jti(claims["jti"], expires + logout_token.LEEWAY_SECONDS):
            raise logout_token.InvalidLogoutToken("logout token replayed (jti seen)")
    except logout_token.InvalidLogoutToken as error:
        log.warning("back-channel logout refused: %s", error)
        return _no_store(jsonify(error="invalid_request", error_description=str(error))), 400
    ended = relying.store.end_sessions(sid=claims.get("sid"), sub=claims.get("sub"))
    log.info("back-channel logout: %d session(s) ended", ended)
    return _no_store(Response(status=200)), 200


@bp.post("/refresh")
@login_required
def refresh_now() -> Response:
    try:
        refresh()
        g.signin["userinfo"] = fetch_userinfo()  # the new access token works
        rp().store.update_session(session["lsid"], g.signin)
        flash("Đã làm mới access token bằng refresh token, và gọi userinfo thành công.", "info")
    except Exception as error:  # noqa: BLE001 — shown to the person, not a 500
        flash(f"Không làm mới được access token: {error}", "error")
    return redirect(_local_path(request.form.get("next")) or url_for("index"))


@bp.get("/jwks.json")
def jwks() -> Response:
    """private_key_jwt: the public half of the app's key, registered as its jwks_uri."""
    key = rp().private_key
    if key is None:
        abort(404)
    return jsonify(keys=[key.as_dict(private=False)])


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


def _external(endpoint: str) -> str:
    """The registered address (not the Host header the browser happened to use)."""
    return rp().settings.base_url + url_for(endpoint)


def _fetch_keys(force: bool) -> dict[str, Any]:
    """The provider's JWK Set (cached by authlib); fetched again at most every 30 s."""
    relying = rp()
    if force:
        with relying.keys_lock:
            if time.monotonic() - relying.keys_fetched_at < KEY_REFETCH_SECONDS:
                force = False
            else:
                relying.keys_fetched_at = time.monotonic()
    try:
        return relying.client.fetch_jwk_set(force=force)
    except Exception as error:  # noqa: BLE001 — unreachable provider: the token fails
        log.warning("provider JWK Set unavailable: %s", error)
        return relying.client.server_metadata.get("jwks") or {"keys": []}


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


ERRORS = {
    "access_denied": "Bạn đã từ chối chia sẻ thông tin, hoặc ThaiNguyen ID không cho phép "
                     "đăng nhập vào ứng dụng này.",
    "login_required": "Bạn cần đăng nhập ThaiNguyen ID.",
    "consent_required": "Bạn cần đồng ý chia sẻ thông tin.",
    "interaction_required": "ThaiNguyen ID cần bạn thao tác thêm.",
    "mismatching_state": "Yêu cầu đăng nhập đã hết hạn hoặc không khớp. Vui lòng thử lại.",
    "temporarily_unavailable": "Tạm thời không kết nối được ThaiNguyen ID. Vui lòng thử lại "
                               "sau ít phút.",
    "sign_in_failed": "Không hoàn tất được đăng nhập (phản hồi của ThaiNguyen ID không hợp lệ "
                      "hoặc không kết nối được). Vui lòng thử lại.",
}


def _error(code: str, description: str | None, status: int = 400) -> tuple[str, int]:
    return render_template("rp/error.html", code=code,
                           message=ERRORS.get(code) or description or code,
                           detail=description), status


def _local_path(value: str | None) -> str | None:
    """Only a path on this app (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return None
    parts = urlsplit(value)
    return value if not parts.scheme and not parts.netloc else None


def _show(value: Any) -> str:
    """A claim as JSON when it is structured (address, amr), as text otherwise."""
    if isinstance(value, dict | list | bool):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _unixtime(value: Any) -> str:
    try:
        return time.strftime("%d/%m/%Y %H:%M:%S", time.localtime(int(value)))
    except (TypeError, ValueError, OverflowError):
        return str(value)


def _secret_key(instance: Path) -> str:
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _private_key(instance: Path) -> RSAKey:
    """The app's own key pair for private_key_jwt, made once and kept in its instance folder
    (the public half is served at /jwks.json)."""
    path = instance / "private_jwk.json"
    if path.exists():
        return RSAKey.import_key(json.loads(path.read_text()))
    key = RSAKey.generate_key(2048, parameters={"alg": "RS256", "use": "sig",
                                                "kid": secrets.token_urlsafe(8)}, private=True)
    path.write_text(json.dumps(key.as_dict(private=True)))
    path.chmod(0o600)
    return key
