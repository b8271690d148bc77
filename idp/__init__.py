"""ThaiNguyen ID: the citizen identity and single sign-on provider of Thái Nguyên province."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask

from idp.config import Settings, load_settings
from idp.web.request import FormRequest


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. ``test_config`` holds TNID_* overrides (and plain Flask keys)."""
    overrides = dict(test_config or {})
    instance_path = overrides.get("TNID_INSTANCE_PATH") or os.environ.get("TNID_INSTANCE_PATH")
    app = Flask(__name__, instance_path=instance_path or None, instance_relative_config=True)
    app.request_class = FormRequest
    environ = {**os.environ, **{k: str(v) for k, v in overrides.items() if k.startswith("TNID_")}}
    settings = load_settings(environ, Path(app.instance_path))
    _configure_flask(app, settings)
    app.config.update({k: v for k, v in overrides.items() if not k.startswith("TNID_")})

    from idp.web import logs

    logs.configure(settings.log_level)
    for warning in settings.warnings:
        app.logger.warning(warning)

    _init_extensions(app, settings)
    _register_blueprints(app)
    return app


def _configure_flask(app: Flask, settings: Settings) -> None:
    from idp.database import engine_options

    secure = settings.uses_https
    app.config.from_mapping(
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(settings.database_url),
        # The cookie session only carries the CSRF token, language and flashed messages;
        # who is signed in lives server-side (idp.services.sso_sessions).
        SESSION_COOKIE_NAME="__Host-tnid" if secure else "tnid",
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_max_hours),
        PREFERRED_URL_SCHEME="https" if secure else "http",
        MAX_CONTENT_LENGTH=256 * 1024,
        WTF_CSRF_TIME_LIMIT=2 * 3600,
        WTF_CSRF_SSL_STRICT=False,  # see idp.web.origin_check
        BABEL_DEFAULT_LOCALE="vi",
        BABEL_DEFAULT_TIMEZONE="Asia/Ho_Chi_Minh",
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).parent / "translations"),
        RATELIMIT_STORAGE_URI=settings.redis_url or "memory://",
        RATELIMIT_HEADERS_ENABLED=False,
        # Redis down must not take sign-in down: count in memory until it is back (/readyz
        # reports it meanwhile).
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
        RATELIMIT_KEY_PREFIX="tnid",
    )
    app.extensions["tnid.settings"] = settings
    from idp.web.cookie_session import CachedSerializerSessionInterface

    app.session_interface = CachedSerializerSessionInterface()


def _init_extensions(app: Flask, settings: Settings) -> None:
    from idp.database import install_sqlite_pragmas
    from idp.extensions import babel, csrf, db, limiter
    from idp.services.passwords import PasswordService
    from idp.web import errors, i18n, logs, origin_check, proxy, security_headers

    db.init_app(app)
    with app.app_context():
        install_sqlite_pragmas(db.engine)

    csrf.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale)
    limiter.init_app(app)
    detach_limiter_middleware(app, limiter)
    i18n.init_app(app)
    logs.init_app(app)
    errors.init_app(app)
    origin_check.init_app(app)
    security_headers.init_app(app, hsts=settings.uses_https)
    app.wsgi_app = proxy.TrustedProxyMiddleware(app.wsgi_app, settings.trusted_proxies)
    app.extensions["tnid.passwords"] = PasswordService(
        time_cost=settings.argon2_time_cost,
        memory_kib=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
    )


def detach_limiter_middleware(app: Flask, limiter: object) -> None:
    """No default limits are set: only decorated views are limited, and the decorator checks
    by itself. The extension's per-request hooks (check, header injection with headers
    disabled, context reset) would cost every token, userinfo or JWKS request ~0.1 ms for
    nothing, so they are detached. Its context lives on the request context anyway."""
    app.before_request_funcs[None].remove(limiter._check_request_limit)
    app.after_request_funcs[None] = [
        f for f in app.after_request_funcs[None]
        if getattr(f, "func", None) is not type(limiter)._Limiter__inject_headers]
    app.teardown_request_funcs[None] = [
        f for f in app.teardown_request_funcs[None]
        if getattr(f, "__func__", None) is not type(limiter)._Limiter__release_context]


def _register_blueprints(app: Flask) -> None:
    from idp import account, admin, auth, oidc, ops

    app.register_blueprint(ops.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(admin.bp)
    from idp.web import dev_outbox

    app.register_blueprint(dev_outbox.bp)  # 404 in production
    oidc.init_app(app)
