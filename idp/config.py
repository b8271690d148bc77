"""Settings from ``TNID_*`` environment variables, documented and validated at start-up.

Every option is listed in ``OPTIONS`` with its default and what it does; the README's
configuration table is generated from the same text. Production refuses to start on an unsafe
configuration and says why in one line (``ConfigError``).
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from limits import parse_many
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

# Argon2id floor from OWASP's Password Storage Cheat Sheet (m=19 MiB, t=2, p=1).
OWASP_MIN_MEMORY_KIB = 19456
OWASP_MIN_TIME_COST = 2


class ConfigError(Exception):
    """The configuration is unsafe or malformed; the message is one line for the operator."""


@dataclass(frozen=True)
class Option:
    env: str
    default: str | None
    help: str


OPTIONS: tuple[Option, ...] = (
    Option("TNID_ENV", "development", "development | production. Production enforces every "
           "safety check below."),
    Option("TNID_ISSUER", "http://127.0.0.1:5000", "Public base URL of the provider; https "
           "required in production (loopback http allowed for local testing)."),
    Option("TNID_DATABASE_URL", None, "SQLAlchemy URL. Default: SQLite file tnid.sqlite3 in "
           "the instance folder. Production: postgresql+psycopg://..."),
    Option("TNID_ALLOW_SQLITE_IN_PRODUCTION", "0", "Set to 1 to run a single-node commune "
           "pilot on SQLite in production."),
    Option("TNID_SECRET_KEY", None, "Signs cookies and derives encryption keys. Required in "
           "production (at least 32 characters). Development generates one into the instance "
           "folder."),
    Option("TNID_REDIS_URL", None, "redis://... for rate-limit counters shared by all nodes; "
           "in-process memory when unset (one node only)."),
    Option("TNID_TRUSTED_PROXIES", "", "Comma-separated IPs/CIDRs of the TLS load balancers "
           "whose X-Forwarded-For / X-Forwarded-Proto are believed."),
    Option("TNID_SESSION_IDLE_MINUTES", "30", "Sign-in session ends after this much "
           "inactivity."),
    Option("TNID_SESSION_MAX_HOURS", "12", "Sign-in session ends this long after sign-in, "
           "whatever the activity."),
    Option("TNID_ARGON2_TIME_COST", "2", "Argon2id iterations (production minimum 2)."),
    Option("TNID_ARGON2_MEMORY_KIB", "19456", "Argon2id memory in KiB (production minimum "
           "19456 = 19 MiB)."),
    Option("TNID_ARGON2_PARALLELISM", "1", "Argon2id lanes."),
    Option("TNID_LOGIN_RATE_LIMIT", "30/minute;300/hour", "Sign-in form submissions allowed "
           "per client IP (flask-limiter syntax)."),
    Option("TNID_QR_RATE_LIMIT", "20/minute;200/hour", "QR sign-in requests a desktop browser "
           "may start per client IP (flask-limiter syntax)."),
    Option("TNID_QR_APPROVE_RATE_LIMIT", "10/minute;30/hour", "QR sign-in approvals (number "
           "picks) allowed per account (flask-limiter syntax)."),
    Option("TNID_CODE_LIFETIME_SECONDS", "60", "Authorization codes expire this long after "
           "issue (single use)."),
    Option("TNID_ACCESS_TOKEN_LIFETIME_SECONDS", "600", "Access token lifetime."),
    Option("TNID_ID_TOKEN_LIFETIME_SECONDS", "600", "ID token lifetime; retired signing keys "
           "stay published this long (plus 5 minutes) after rotation."),
    Option("TNID_REFRESH_TOKEN_IDLE_DAYS", "30", "A refresh token unused this long expires "
           "(sliding: each rotation starts a new period)."),
    Option("TNID_REFRESH_TOKEN_MAX_DAYS", "90", "No refresh token of a grant lives past this, "
           "however often it is used."),
    Option("TNID_LOGOUT_DELIVERY", "background", "background | inline: send back-channel "
           "logout tokens after the response (default) or before it."),
    Option("TNID_INSTANCE_PATH", None, "Folder for the SQLite database and the development "
           "secret key. Default: instance/ next to the idp package."),
    Option("TNID_NOTIFY_BACKEND", "outbox", "outbox | log | http: how SMS reach citizens. "
           "outbox only stores them (read with `tnid outbox`; start-up warns in production); "
           "log writes a log line (digits masked in production); http posts to the SMS "
           "gateway below. log and http deliver in a background thread after the commit; "
           "`tnid outbox deliver` retries (cron)."),
    Option("TNID_SMS_GATEWAY_URL", None, "URL the http backend POSTs each SMS to as JSON "
           "{to, text, id, purpose}; https required in production (loopback excepted)."),
    Option("TNID_SMS_GATEWAY_TOKEN", None, "Bearer token sent to the SMS gateway "
           "(Authorization header)."),
    Option("TNID_SMS_GATEWAY_TIMEOUT_SECONDS", "5", "Give up on the SMS gateway after this "
           "long; the message stays stored with its error."),
    Option("TNID_LOG_LEVEL", "INFO", "DEBUG | INFO | WARNING | ERROR. Logs are JSON lines on "
           "stderr."),
)


@dataclass(frozen=True)
class Settings:
    env: str
    issuer: str
    database_url: str
    secret_key: str
    redis_url: str | None
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    session_idle_minutes: int
    session_max_hours: int
    argon2_time_cost: int
    argon2_memory_kib: int
    argon2_parallelism: int
    login_rate_limit: str
    log_level: str
    allow_sqlite_in_production: bool
    code_lifetime_seconds: int = 60
    access_token_lifetime_seconds: int = 600
    id_token_lifetime_seconds: int = 600
    refresh_token_idle_days: int = 30
    refresh_token_max_days: int = 90
    logout_delivery: str = "background"
    qr_rate_limit: str = "20/minute;200/hour"
    qr_approve_rate_limit: str = "10/minute;30/hour"
    notify_backend: str = "outbox"
    sms_gateway_url: str | None = None
    sms_gateway_token: str | None = None
    sms_gateway_timeout_seconds: int = 5
    warnings: tuple[str, ...] = field(default=())

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def uses_https(self) -> bool:
        return self.issuer.startswith("https://")


def load_settings(environ: Mapping[str, str], instance_path: Path) -> Settings:
    """Read, validate and return the settings; raise ConfigError with a one-line reason."""
    raw = {o.env: environ.get(o.env, o.default) for o in OPTIONS}
    env = (raw["TNID_ENV"] or "").strip().lower()
    if env not in ("development", "production"):
        raise ConfigError(f"TNID_ENV must be 'development' or 'production', not {env!r}.")
    production = env == "production"
    warnings: list[str] = []

    issuer = _issuer(raw["TNID_ISSUER"] or "", production)
    database_url = _database_url(
        raw["TNID_DATABASE_URL"] or f"sqlite:///{instance_path / 'tnid.sqlite3'}")
    allow_sqlite = _flag("TNID_ALLOW_SQLITE_IN_PRODUCTION", raw)
    if production and database_url.startswith("sqlite:") and not allow_sqlite:
        raise ConfigError(
            "Refusing SQLite in production: set TNID_DATABASE_URL to PostgreSQL, or "
            "TNID_ALLOW_SQLITE_IN_PRODUCTION=1 for a single-node pilot."
        )

    secret_key = (raw["TNID_SECRET_KEY"] or "").strip()
    if production and not secret_key:
        raise ConfigError("TNID_SECRET_KEY is required in production.")
    if secret_key and len(secret_key) < 32:
        raise ConfigError("TNID_SECRET_KEY must be at least 32 characters.")
    if not secret_key:
        secret_key = _development_secret(instance_path)
        warnings.append("TNID_SECRET_KEY is not set: using a development key from the "
                        "instance folder. Never do this in production.")

    time_cost = _int("TNID_ARGON2_TIME_COST", raw, 1, 20)
    memory_kib = _int("TNID_ARGON2_MEMORY_KIB", raw, 8, 4 * 1024 * 1024)
    if production and (time_cost < OWASP_MIN_TIME_COST or memory_kib < OWASP_MIN_MEMORY_KIB):
        raise ConfigError("Argon2id parameters are below OWASP's minimum (m=19456 KiB, t=2).")

    redis_url = _redis_url(raw["TNID_REDIS_URL"])
    notify_backend, gateway_url = _notify(raw, production, warnings)
    if production and not raw["TNID_TRUSTED_PROXIES"]:
        warnings.append("TNID_TRUSTED_PROXIES is empty: behind a load balancer every citizen "
                        "shares its address and one sign-in rate limit.")

    return Settings(
        env=env,
        issuer=issuer,
        database_url=database_url,
        secret_key=secret_key,
        redis_url=redis_url,
        trusted_proxies=_networks(raw["TNID_TRUSTED_PROXIES"] or ""),
        session_idle_minutes=_int("TNID_SESSION_IDLE_MINUTES", raw, 1, 24 * 60),
        session_max_hours=_int("TNID_SESSION_MAX_HOURS", raw, 1, 24 * 30),
        argon2_time_cost=time_cost,
        argon2_memory_kib=memory_kib,
        argon2_parallelism=_int("TNID_ARGON2_PARALLELISM", raw, 1, 16),
        login_rate_limit=_rate_limit("TNID_LOGIN_RATE_LIMIT", raw),
        log_level=_log_level(raw["TNID_LOG_LEVEL"] or "INFO"),
        allow_sqlite_in_production=allow_sqlite,
        code_lifetime_seconds=_int("TNID_CODE_LIFETIME_SECONDS", raw, 10, 600),
        access_token_lifetime_seconds=_int("TNID_ACCESS_TOKEN_LIFETIME_SECONDS", raw, 60, 86400),
        id_token_lifetime_seconds=_int("TNID_ID_TOKEN_LIFETIME_SECONDS", raw, 60, 86400),
        refresh_token_idle_days=_int("TNID_REFRESH_TOKEN_IDLE_DAYS", raw, 1, 365),
        refresh_token_max_days=_int("TNID_REFRESH_TOKEN_MAX_DAYS", raw, 1, 3650),
        logout_delivery=_choice("TNID_LOGOUT_DELIVERY", raw, ("background", "inline")),
        qr_rate_limit=_rate_limit("TNID_QR_RATE_LIMIT", raw),
        qr_approve_rate_limit=_rate_limit("TNID_QR_APPROVE_RATE_LIMIT", raw),
        notify_backend=notify_backend,
        sms_gateway_url=gateway_url,
        sms_gateway_token=(raw["TNID_SMS_GATEWAY_TOKEN"] or "").strip() or None,
        sms_gateway_timeout_seconds=_int("TNID_SMS_GATEWAY_TIMEOUT_SECONDS", raw, 1, 60),
        warnings=tuple(warnings),
    )


def _database_url(value: str) -> str:
    value = value.strip()
    if value.startswith("postgresql://"):  # always psycopg 3, never a missing psycopg2
        value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
    try:
        url = make_url(value)
    except ArgumentError:
        raise ConfigError("TNID_DATABASE_URL is not a database URL.") from None
    if url.drivername not in ("sqlite", "postgresql+psycopg"):
        raise ConfigError("TNID_DATABASE_URL must be a sqlite:/// or postgresql+psycopg:// URL.")
    if url.drivername == "sqlite" and not url.database:
        raise ConfigError("TNID_DATABASE_URL for SQLite needs a file path (sqlite:///path).")
    return value


def _redis_url(value: str | None) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    if not value.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("TNID_REDIS_URL must start with redis://, rediss:// or unix://.")
    return value


def _rate_limit(name: str, raw: Mapping[str, str | None]) -> str:
    value = (raw[name] or "").strip()
    try:
        if not parse_many(value):
            raise ValueError(value)
    except ValueError:
        raise ConfigError(f"{name} must look like '30/minute;300/hour', not {value!r}.") from None
    return value


def _issuer(value: str, production: bool) -> str:
    value = value.strip()
    if any(ch.isspace() or ord(ch) < 32 for ch in value):
        raise ConfigError("TNID_ISSUER must not contain spaces or control characters.")
    if "?" in value or "#" in value:
        raise ConfigError("TNID_ISSUER must not have a query or fragment (OIDC Discovery §3).")
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        raise ConfigError(f"TNID_ISSUER is not a valid URL: {value!r}.") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ConfigError(f"TNID_ISSUER must be an absolute http(s) URL, not {value!r}.")
    if production and parts.scheme == "http" and not _is_loopback(host):
        raise ConfigError("TNID_ISSUER must use https:// in production (http only on loopback).")
    return value.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _development_secret(instance_path: Path) -> str:
    """A stable per-checkout key, so development restarts keep sessions and encrypted data."""
    path = instance_path / "secret_key"
    if path.exists():
        existing = path.read_text().strip()
        if len(existing) >= 32:
            return existing
        path.unlink()  # empty or truncated: replace it rather than sign with a weak key
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never world-readable
    with os.fdopen(fd, "w") as file:
        file.write(key)
    return key


def _flag(name: str, raw: Mapping[str, str | None]) -> bool:
    value = (raw[name] or "0").strip().lower()
    if value not in ("0", "1", "true", "false", "yes", "no"):
        raise ConfigError(f"{name} must be 0 or 1, not {value!r}.")
    return value in ("1", "true", "yes")


def _int(name: str, raw: Mapping[str, str | None], low: int, high: int) -> int:
    value = (raw[name] or "").strip()
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {value!r}.") from None
    if not low <= number <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, not {number}.")
    return number


def _choice(name: str, raw: Mapping[str, str | None], allowed: tuple[str, ...]) -> str:
    value = (raw[name] or "").strip().lower()
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, not {value!r}.")
    return value


def _networks(value: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    networks = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(f"TNID_TRUSTED_PROXIES has a bad address: {item!r}.") from None
    return tuple(networks)


def _notify(raw: Mapping[str, str | None], production: bool,
            warnings: list[str]) -> tuple[str, str | None]:
    """The SMS backend and gateway URL (idp.notify)."""
    backend = _choice("TNID_NOTIFY_BACKEND", raw, ("outbox", "log", "http"))
    url = (raw["TNID_SMS_GATEWAY_URL"] or "").strip() or None
    if backend == "http":
        if url is None:
            raise ConfigError("TNID_NOTIFY_BACKEND=http needs TNID_SMS_GATEWAY_URL.")
        try:
            parts = urlsplit(url)
            host = parts.hostname
        except ValueError:
            raise ConfigError("TNID_SMS_GATEWAY_URL is not a valid URL.") from None
        if parts.scheme not in ("http", "https") or not host:
            raise ConfigError("TNID_SMS_GATEWAY_URL must be an absolute http(s) URL.")
        if production and parts.scheme == "http" and not _is_loopback(host):
            raise ConfigError("TNID_SMS_GATEWAY_URL must use https:// in production.")
    if production and backend == "outbox":
        warnings.append("TNID_NOTIFY_BACKEND=outbox: SMS codes are only stored, never sent. "
                        "Fine for a pilot where officers read them with `tnid outbox`; set "
                        "http and TNID_SMS_GATEWAY_URL to reach citizens' phones.")
    return backend, url


def _log_level(value: str) -> str:
    level = value.strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"TNID_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {value!r}.")
    return level
