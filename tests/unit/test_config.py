"""Tests of idp.config: defaults, production refusals, malformed values, and the one-line
refusal of the real entry points (``wsgi`` and the ``tnid`` console script)."""

from __future__ import annotations

import ipaddress
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from idp.config import (
    OPTIONS,
    OWASP_MIN_MEMORY_KIB,
    OWASP_MIN_TIME_COST,
    ConfigError,
    Settings,
    load_settings,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
PG_URL = "postgresql+psycopg://tnid@db.internal/tnid"
SECRET = "s" * 48

# A complete, safe production configuration; each refusal test breaks exactly one thing.
PRODUCTION = {
    "TNID_ENV": "production",
    "TNID_ISSUER": "https://id.thainguyen.gov.vn",
    "TNID_DATABASE_URL": PG_URL,
    "TNID_SECRET_KEY": SECRET,
    "TNID_TRUSTED_PROXIES": "10.0.0.0/24",
    # A province deployment sends SMS through its gateway (outbox alone warns at start-up).
    "TNID_NOTIFY_BACKEND": "http",
    "TNID_SMS_GATEWAY_URL": "https://sms.thainguyen.gov.vn/send",
}


def production(**changes: str | None) -> dict[str, str]:
    env = {**PRODUCTION, **changes}
    return {k: v for k, v in env.items() if v is not None}


def refuse(environ: dict[str, str], instance_path: Path, match: str) -> ConfigError:
    with pytest.raises(ConfigError, match=match) as info:
        load_settings(environ, instance_path)
    message = str(info.value)
    assert message.strip(), "the operator needs a reason"
    assert len(message.splitlines()) == 1, f"not one line: {message!r}"
    return info.value


# --- Defaults -----------------------------------------------------------------------------------


def test_defaults_are_a_working_development_setup(tmp_path: Path):
    settings = load_settings({}, tmp_path)
    assert isinstance(settings, Settings)
    assert settings.env == "development"
    assert not settings.is_production
    assert settings.issuer == "http://127.0.0.1:5000"
    assert not settings.uses_https
    assert settings.database_url == f"sqlite:///{tmp_path / 'tnid.sqlite3'}"
    assert settings.redis_url is None
    assert settings.trusted_proxies == ()
    assert settings.session_idle_minutes == 30
    assert settings.session_max_hours == 12
    assert settings.argon2_time_cost == OWASP_MIN_TIME_COST
    assert settings.argon2_memory_kib == OWASP_MIN_MEMORY_KIB
    assert settings.argon2_parallelism == 1
    assert settings.login_rate_limit == "30/minute;300/hour"
    assert settings.log_level == "INFO"
    assert settings.allow_sqlite_in_production is False


def test_default_argon2_parameters_meet_the_owasp_floor():
    defaults = {o.env: o.default for o in OPTIONS}
    assert int(defaults["TNID_ARGON2_TIME_COST"]) >= OWASP_MIN_TIME_COST
    assert int(defaults["TNID_ARGON2_MEMORY_KIB"]) >= OWASP_MIN_MEMORY_KIB


def test_every_option_is_documented_once():
    names = [o.env for o in OPTIONS]
    assert len(names) == len(set(names))
    for option in OPTIONS:
        assert option.env.startswith("TNID_")
        assert option.help.strip()


def test_development_secret_is_generated_private_and_persisted(tmp_path: Path):
    instance = tmp_path / "instance"  # does not exist yet
    settings = load_settings({}, instance)
    key_file = instance / "secret_key"
    assert key_file.is_file()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().strip() == settings.secret_key
    assert len(settings.secret_key) >= 32


def test_development_secret_is_stable_across_calls(tmp_path: Path):
    first = load_settings({}, tmp_path).secret_key
    second = load_settings({}, tmp_path).secret_key
    assert first == second


def test_development_secret_differs_per_instance_folder(tmp_path: Path):
    a = load_settings({}, tmp_path / "a").secret_key
    b = load_settings({}, tmp_path / "b").secret_key
    assert a != b


def test_generated_development_secret_comes_with_a_warning(tmp_path: Path):
    settings = load_settings({}, tmp_path)
    assert len(settings.warnings) == 1
    assert "TNID_SECRET_KEY" in settings.warnings[0]
    assert "production" in settings.warnings[0]


def test_explicit_secret_gives_no_warning_and_writes_nothing(tmp_path: Path):
    settings = load_settings({"TNID_SECRET_KEY": SECRET}, tmp_path)
    assert settings.secret_key == SECRET
    assert settings.warnings == ()
    assert not (tmp_path / "secret_key").exists()


def test_valid_production_configuration_is_accepted(tmp_path: Path):
    settings = load_settings(PRODUCTION, tmp_path)
    assert settings.is_production
    assert settings.uses_https
    assert settings.issuer == "https://id.thainguyen.gov.vn"
    assert settings.database_url == PG_URL
    assert settings.secret_key == SECRET
    assert settings.warnings == ()
    assert not (tmp_path / "secret_key").exists(), "production never generates a key"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("production", "production"),
        (" Production ", "production"),
        ("PRODUCTION", "production"),
        ("development", "development"),
        ("Development\n", "development"),
    ],
)
def test_env_name_is_case_and_space_insensitive(tmp_path: Path, raw: str, expected: str):
    assert load_settings(production(TNID_ENV=raw), tmp_path).env == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://id.thainguyen.gov.vn/", "https://id.thainguyen.gov.vn"),
        ("  https://id.thainguyen.gov.vn  ", "https://id.thainguyen.gov.vn"),
        ("https://thainguyen.gov.vn/id/", "https://thainguyen.gov.vn/id"),
        ("https://id.thainguyen.gov.vn:8443", "https://id.thainguyen.gov.vn:8443"),
    ],
)
def test_issuer_is_trimmed_of_spaces_and_trailing_slash(tmp_path: Path, raw: str, expected: str):
    assert load_settings(production(TNID_ISSUER=raw), tmp_path).issuer == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", ()),
        (" , ,", ()),
        ("10.0.0.1", (ipaddress.ip_network("10.0.0.1/32"),)),
        ("10.0.0.0/8, 192.168.1.10 ,2001:db8::/32",
         (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("192.168.1.10/32"),
          ipaddress.ip_network("2001:db8::/32"))),
        ("10.1.2.3/8", (ipaddress.ip_network("10.0.0.0/8"),)),  # host bits tolerated
    ],
)
def test_trusted_proxies_are_parsed(tmp_path: Path, raw: str, expected: tuple):
    assert load_settings({"TNID_TRUSTED_PROXIES": raw}, tmp_path).trusted_proxies == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("true", True), ("YES", True), (" 1 ", True),
     ("0", False), ("false", False), ("No", False), ("", False)],
)
def test_flag_values(tmp_path: Path, raw: str, expected: bool):
    environ = {"TNID_ALLOW_SQLITE_IN_PRODUCTION": raw}
    assert load_settings(environ, tmp_path).allow_sqlite_in_production is expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("debug", "DEBUG"), (" warning ", "WARNING"), ("ERROR", "ERROR"), ("", "INFO")],
)
def test_log_level_is_normalised(tmp_path: Path, raw: str, expected: str):
    assert load_settings({"TNID_LOG_LEVEL": raw}, tmp_path).log_level == expected


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////var/lib/tnid/tnid.sqlite3",
        "sqlite:///:memory:",
        "postgresql+psycopg://tnid:secret@db:5432/tnid",
    ],
)
def test_supported_database_urls(tmp_path: Path, url: str):
    assert load_settings({"TNID_DATABASE_URL": url}, tmp_path).database_url == url


def test_plain_postgresql_url_means_psycopg3(tmp_path: Path):
    settings = load_settings({"TNID_DATABASE_URL": "postgresql://tnid@db/tnid"}, tmp_path)
    assert settings.database_url == "postgresql+psycopg://tnid@db/tnid"


def test_production_without_trusted_proxies_warns(tmp_path: Path):
    settings = load_settings(production(TNID_TRUSTED_PROXIES=None), tmp_path)
    assert any("TNID_TRUSTED_PROXIES" in w for w in settings.warnings)


@pytest.mark.parametrize(("environ", "match"), [
    ({"TNID_REDIS_URL": "foo"}, "TNID_REDIS_URL"),
    ({"TNID_REDIS_URL": "http://cache:6379"}, "TNID_REDIS_URL"),
    ({"TNID_LOGIN_RATE_LIMIT": "lots"}, "TNID_LOGIN_RATE_LIMIT"),
    ({"TNID_LOGIN_RATE_LIMIT": "   "}, "TNID_LOGIN_RATE_LIMIT"),
    ({"TNID_DATABASE_URL": "sqlite:garbage"}, "TNID_DATABASE_URL"),
    ({"TNID_DATABASE_URL": "sqlite://"}, "TNID_DATABASE_URL"),
    ({"TNID_ISSUER": "http://[::1"}, "TNID_ISSUER"),
    ({"TNID_LOGOUT_DELIVERY": "carrier-pigeon"}, "TNID_LOGOUT_DELIVERY"),
])
def test_more_malformed_values_are_refused(tmp_path: Path, environ: dict, match: str):
    refuse(environ, tmp_path, match)


def test_rate_limit_and_redis_are_kept(tmp_path: Path):
    settings = load_settings({"TNID_LOGIN_RATE_LIMIT": "5/minute", "TNID_REDIS_URL":
                              "redis://cache:6379/0"}, tmp_path)
    assert settings.login_rate_limit == "5/minute"
    assert settings.redis_url == "redis://cache:6379/0"


def test_integer_settings_are_read(tmp_path: Path):
    settings = load_settings(
        {"TNID_SESSION_IDLE_MINUTES": " 15 ", "TNID_SESSION_MAX_HOURS": "8",
         "TNID_ARGON2_TIME_COST": "3", "TNID_ARGON2_MEMORY_KIB": "65536",
         "TNID_ARGON2_PARALLELISM": "4", "TNID_REDIS_URL": "redis://cache:6379/0",
         "TNID_LOGIN_RATE_LIMIT": " 10/minute "},
        tmp_path,
    )
    assert (settings.session_idle_minutes, settings.session_max_hours) == (15, 8)
    assert (settings.argon2_time_cost, settings.argon2_memory_kib,
            settings.argon2_parallelism) == (3, 65536, 4)
    assert settings.redis_url == "redis://cache:6379/0"
    assert settings.login_rate_limit == "10/minute"


def test_development_accepts_fast_argon2_and_plain_http(tmp_path: Path):
    settings = load_settings(
        {"TNID_ARGON2_TIME_COST": "1", "TNID_ARGON2_MEMORY_KIB": "64",
         "TNID_ISSUER": "http://tnid.test:5000"},
        tmp_path,
    )
    assert (settings.argon2_time_cost, settings.argon2_memory_kib) == (1, 64)
    assert settings.issuer == "http://tnid.test:5000"


# --- Production refusals ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        pytest.param({"TNID_SECRET_KEY": None}, "TNID_SECRET_KEY is required", id="no-secret"),
        pytest.param({"TNID_SECRET_KEY": ""}, "TNID_SECRET_KEY is required", id="empty-secret"),
        pytest.param({"TNID_SECRET_KEY": "s" * 31}, "at least 32", id="short-secret"),
        pytest.param({"TNID_SECRET_KEY": "k"}, "at least 32", id="one-char-secret"),
        pytest.param({"TNID_ISSUER": "http://id.thainguyen.gov.vn"}, "https://",
                     id="http-issuer"),
        pytest.param({"TNID_ISSUER": "http://10.0.0.5:5000"}, "https://",
                     id="http-private-ip"),
        pytest.param({"TNID_ISSUER": "http://0.0.0.0:5000"}, "https://", id="http-any-addr"),
        pytest.param({"TNID_ISSUER": "http://localhost.evil.example"}, "https://",
                     id="http-localhost-lookalike"),
        pytest.param({"TNID_ISSUER": "http://127.0.0.1.nip.io"}, "https://",
                     id="http-loopback-lookalike"),
        pytest.param({"TNID_ISSUER": "https://id.thainguyen.gov.vn/?tenant=1"},
                     "query or fragment", id="issuer-query"),
        pytest.param({"TNID_ISSUER": "https://id.thainguyen.gov.vn/#top"},
                     "query or fragment", id="issuer-fragment"),
        pytest.param({"TNID_ISSUER": "id.thainguyen.gov.vn"}, "absolute", id="issuer-no-scheme"),
        pytest.param({"TNID_ISSUER": "ftp://id.thainguyen.gov.vn"}, "absolute",
                     id="issuer-ftp"),
        pytest.param({"TNID_ISSUER": "https://"}, "absolute", id="issuer-no-host"),
        pytest.param({"TNID_ISSUER": ""}, "absolute", id="issuer-empty"),
        pytest.param({"TNID_DATABASE_URL": None}, "SQLite", id="default-sqlite"),
        pytest.param({"TNID_DATABASE_URL": "sqlite:////srv/tnid.sqlite3"}, "SQLite",
                     id="explicit-sqlite"),
        pytest.param({"TNID_DATABASE_URL": "sqlite:////srv/tnid.sqlite3",
                      "TNID_ALLOW_SQLITE_IN_PRODUCTION": "0"}, "SQLite", id="sqlite-flag-0"),
        pytest.param({"TNID_ARGON2_TIME_COST": "1"}, "OWASP", id="argon2-time"),
        pytest.param({"TNID_ARGON2_MEMORY_KIB": str(OWASP_MIN_MEMORY_KIB - 1)}, "OWASP",
                     id="argon2-memory"),
        pytest.param({"TNID_ARGON2_TIME_COST": "1", "TNID_ARGON2_MEMORY_KIB": "64"}, "OWASP",
                     id="argon2-test-params"),
    ],
)
def test_production_refuses_unsafe_configuration(tmp_path: Path, changes: dict, match: str):
    refuse(production(**changes), tmp_path, match)
    assert not (tmp_path / "secret_key").exists()


@pytest.mark.parametrize(
    "issuer",
    [
        "http://127.0.0.1:5000",
        "http://127.0.0.1",
        "http://127.8.9.10:8080",
        "http://localhost:5000",
        "http://LOCALHOST:5000",
        "http://[::1]:5000",
        "http://[::1]",
    ],
)
def test_production_allows_http_on_loopback(tmp_path: Path, issuer: str):
    settings = load_settings(production(TNID_ISSUER=issuer), tmp_path)
    assert settings.issuer == issuer
    assert not settings.uses_https


@pytest.mark.parametrize("flag", ["1", "true", "yes", "TRUE"])
def test_production_allows_sqlite_when_asked(tmp_path: Path, flag: str):
    settings = load_settings(
        production(TNID_DATABASE_URL=None, TNID_ALLOW_SQLITE_IN_PRODUCTION=flag), tmp_path
    )
    assert settings.database_url.startswith("sqlite:///")
    assert settings.allow_sqlite_in_production is True


def test_production_accepts_argon2_exactly_at_the_floor(tmp_path: Path):
    settings = load_settings(
        production(TNID_ARGON2_TIME_COST=str(OWASP_MIN_TIME_COST),
                   TNID_ARGON2_MEMORY_KIB=str(OWASP_MIN_MEMORY_KIB)),
        tmp_path,
    )
    assert settings.argon2_time_cost == OWASP_MIN_TIME_COST
    assert settings.argon2_memory_kib == OWASP_MIN_MEMORY_KIB


@pytest.mark.parametrize(
    ("environ", "match"),
    [
        ({"TNID_SECRET_KEY": "short"}, "at least 32"),
        ({"TNID_ISSUER": "https://x.example/?q=1"}, "query or fragment"),
        ({"TNID_ISSUER": "not-a-url"}, "absolute"),
        ({"TNID_ISSUER": "not a url"}, "spaces"),
    ],
)
def test_development_also_refuses_malformed_secret_and_issuer(
    tmp_path: Path, environ: dict, match: str
):
    refuse(environ, tmp_path, match)


# --- Malformed values ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "match"),
    [
        pytest.param({"TNID_ENV": "staging"}, "TNID_ENV", id="env-staging"),
        pytest.param({"TNID_ENV": "prod"}, "TNID_ENV", id="env-prod"),
        pytest.param({"TNID_ENV": ""}, "TNID_ENV", id="env-empty"),
        pytest.param({"TNID_ENV": "staging\nproduction"}, "TNID_ENV", id="env-newline"),
        pytest.param({"TNID_SESSION_IDLE_MINUTES": "abc"}, "whole number", id="idle-text"),
        pytest.param({"TNID_SESSION_IDLE_MINUTES": ""}, "whole number", id="idle-empty"),
        pytest.param({"TNID_SESSION_IDLE_MINUTES": "1.5"}, "whole number", id="idle-float"),
        pytest.param({"TNID_SESSION_IDLE_MINUTES": "30m"}, "whole number", id="idle-unit"),
        pytest.param({"TNID_SESSION_IDLE_MINUTES": "0"}, "between 1 and 1440", id="idle-zero"),
        pytest.param({"TNID_SESSION_IDLE_MINUTES": "-5"}, "between", id="idle-negative"),
        pytest.param({"TNID_SESSION_IDLE_MINUTES": "1441"}, "between", id="idle-too-big"),
        pytest.param({"TNID_SESSION_MAX_HOURS": "0"}, "between 1 and 720", id="max-zero"),
        pytest.param({"TNID_SESSION_MAX_HOURS": "721"}, "between", id="max-too-big"),
        pytest.param({"TNID_SESSION_MAX_HOURS": "12h"}, "whole number", id="max-unit"),
        pytest.param({"TNID_ARGON2_TIME_COST": "0"}, "between 1 and 20", id="time-zero"),
        pytest.param({"TNID_ARGON2_TIME_COST": "21"}, "between", id="time-too-big"),
        pytest.param({"TNID_ARGON2_TIME_COST": "two"}, "whole number", id="time-text"),
        pytest.param({"TNID_ARGON2_MEMORY_KIB": "7"}, "between 8 and", id="mem-too-small"),
        pytest.param({"TNID_ARGON2_MEMORY_KIB": str(4 * 1024 * 1024 + 1)}, "between",
                     id="mem-too-big"),
        pytest.param({"TNID_ARGON2_MEMORY_KIB": "19MiB"}, "whole number", id="mem-unit"),
        pytest.param({"TNID_ARGON2_PARALLELISM": "0"}, "between 1 and 16", id="par-zero"),
        pytest.param({"TNID_ARGON2_PARALLELISM": "17"}, "between", id="par-too-big"),
        pytest.param({"TNID_ALLOW_SQLITE_IN_PRODUCTION": "maybe"}, "0 or 1", id="flag-maybe"),
        pytest.param({"TNID_ALLOW_SQLITE_IN_PRODUCTION": "2"}, "0 or 1", id="flag-2"),
        pytest.param({"TNID_ALLOW_SQLITE_IN_PRODUCTION": "on"}, "0 or 1", id="flag-on"),
        pytest.param({"TNID_TRUSTED_PROXIES": "not-an-ip"}, "TNID_TRUSTED_PROXIES",
                     id="proxy-word"),
        pytest.param({"TNID_TRUSTED_PROXIES": "10.0.0.0/33"}, "TNID_TRUSTED_PROXIES",
                     id="proxy-prefix"),
        pytest.param({"TNID_TRUSTED_PROXIES": "10.0.0.0/8, 300.1.1.1"}, "300.1.1.1",
                     id="proxy-octet"),
        pytest.param({"TNID_TRUSTED_PROXIES": "192.168.0.1-192.168.0.9"},
                     "TNID_TRUSTED_PROXIES", id="proxy-range"),
        pytest.param({"TNID_TRUSTED_PROXIES": "10.0.0.1;10.0.0.2"}, "TNID_TRUSTED_PROXIES",
                     id="proxy-semicolon"),
        pytest.param({"TNID_LOG_LEVEL": "VERBOSE"}, "TNID_LOG_LEVEL", id="log-verbose"),
        pytest.param({"TNID_LOG_LEVEL": "trace"}, "TNID_LOG_LEVEL", id="log-trace"),
        pytest.param({"TNID_LOG_LEVEL": "CRITICAL"}, "TNID_LOG_LEVEL", id="log-critical"),
        pytest.param({"TNID_LOG_LEVEL": "   "}, "TNID_LOG_LEVEL", id="log-blank"),
        pytest.param({"TNID_DATABASE_URL": "mysql://tnid@db/tnid"}, "TNID_DATABASE_URL",
                     id="db-mysql"),
        pytest.param({"TNID_DATABASE_URL": "postgres://tnid@db/tnid"}, "TNID_DATABASE_URL",
                     id="db-postgres-alias"),
        pytest.param({"TNID_DATABASE_URL": "postgresql+psycopg2://tnid@db/tnid"},
                     "TNID_DATABASE_URL", id="db-psycopg2"),
        pytest.param({"TNID_DATABASE_URL": "oracle://db/tnid"}, "TNID_DATABASE_URL",
                     id="db-oracle"),
        pytest.param({"TNID_DATABASE_URL": "/var/lib/tnid.sqlite3"}, "TNID_DATABASE_URL",
                     id="db-bare-path"),
    ],
)
def test_malformed_values_are_refused_in_one_line(tmp_path: Path, environ: dict, match: str):
    refuse(environ, tmp_path, match)


@pytest.mark.parametrize(
    "environ",
    [
        {"TNID_ENV": "staging"},
        {"TNID_SESSION_IDLE_MINUTES": "abc"},
        {"TNID_TRUSTED_PROXIES": "nope"},
    ],
)
def test_malformed_values_are_also_refused_in_production(tmp_path: Path, environ: dict):
    with pytest.raises(ConfigError):
        load_settings(production(**environ), tmp_path)


# --- Entry points refuse to start with one line -------------------------------------------------


def entry_point_env(tmp_path: Path, **tnid: str) -> dict[str, str]:
    """The caller's environment without any TNID_* setting, plus the given ones."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TNID_")}
    env["TNID_INSTANCE_PATH"] = str(tmp_path / "instance")
    env.update(tnid)
    return env


@pytest.mark.parametrize(
    ("tnid", "reason"),
    [
        pytest.param({"TNID_ENV": "production", "TNID_DATABASE_URL": PG_URL,
                      "TNID_ISSUER": "https://id.thainguyen.gov.vn"},
                     "TNID_SECRET_KEY is required", id="no-secret"),
        pytest.param({"TNID_ENV": "production"}, "SQLite", id="no-secret-default-sqlite"),
        pytest.param({"TNID_ENV": "staging"}, "TNID_ENV", id="bad-env"),
    ],
)
def test_wsgi_refuses_to_start_with_one_line(tmp_path: Path, tnid: dict, reason: str):
    result = subprocess.run(
        [sys.executable, "-c", "import wsgi"],
        env=entry_point_env(tmp_path, **tnid), cwd=REPO_ROOT,
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ThaiNguyen ID refuses to start:")
    assert reason in lines[0]
    assert not (tmp_path / "instance" / "secret_key").exists()


def test_tnid_init_refuses_production_without_secret(tmp_path: Path):
    tnid = Path(sys.executable).parent / "tnid"
    assert tnid.is_file(), "the tnid console script is installed in the venv"
    result = subprocess.run(
        [str(tnid), "init"],
        env=entry_point_env(tmp_path, TNID_ENV="production", TNID_DATABASE_URL=PG_URL,
                            TNID_ISSUER="https://id.thainguyen.gov.vn"),
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "configuration error" in lines[0]
    assert "TNID_SECRET_KEY" in lines[0]
    assert result.stdout == ""
    assert not (tmp_path / "instance").exists(), "nothing is created before refusing"


# --- Edge cases found in review -------------------------------------------------------------------


@pytest.mark.parametrize("issuer", [
    "https://id.example.vn/?", "https://id.example.vn/#", "https://id.exa\nmple.vn",
    "https://id.example.vn/\tpath", "https://id example.vn",
])
def test_issuer_with_empty_query_fragment_or_control_characters_is_refused(tmp_path, issuer):
    refuse(production(TNID_ISSUER=issuer), tmp_path, "TNID_ISSUER")


def test_whitespace_only_secret_is_refused_in_production(tmp_path: Path):
    refuse(production(TNID_SECRET_KEY=" " * 40), tmp_path, "TNID_SECRET_KEY")


@pytest.mark.parametrize("content", ["", "short", "   \n"])
def test_weak_development_secret_file_is_replaced(tmp_path: Path, content: str):
    (tmp_path / "secret_key").write_text(content)
    settings = load_settings({}, tmp_path)
    assert len(settings.secret_key) >= 32
    assert (tmp_path / "secret_key").read_text() == settings.secret_key
    assert stat.S_IMODE(os.stat(tmp_path / "secret_key").st_mode) == 0o600
