"""Languages: the Vietnamese catalog is complete and compiled, pages pick the right language.

Catalog maintenance: ``scripts/translations all``, then translate every empty msgstr in
``idp/translations/vi/LC_MESSAGES/messages.po`` and run ``scripts/translations compile``.
"""

from __future__ import annotations

import re
from collections import Counter
from html import unescape
from pathlib import Path
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from tests.conftest import csrf_token

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "idp" / "translations"
POT = TRANSLATIONS / "messages.pot"
VI_PO = TRANSLATIONS / "vi" / "LC_MESSAGES" / "messages.po"
VI_MO = TRANSLATIONS / "vi" / "LC_MESSAGES" / "messages.mo"
SCRIPT = ROOT / "scripts" / "translations"
# Same as the -k options of scripts/translations (checked below).
KEYWORDS = {
    **DEFAULT_KEYWORDS,
    "_l": None,
    "lazy_gettext": None,
    "lazy_ngettext": (1, 2),
    "lazy_pgettext": ((1, "c"), 2),
    "lazy_npgettext": ((1, "c"), 2, 3),
}
# printf-style conversions as Python's % operator reads them (named or positional).
PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[diouxXeEfFgGcrsa%]")

GENERIC_FAILURE = (
    "The ID or phone number, or the password, is not correct. Please check and try again."
)


def _key(message) -> tuple[str | None, str]:  # noqa: ANN001
    msgid = message.id if isinstance(message.id, str) else message.id[0]
    return message.context, msgid


def _strings(value: str | tuple[str, ...] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _read_po(path: Path) -> Catalog:
    with path.open("rb") as f:
        return read_po(f, locale="vi")


@pytest.fixture(scope="module")
def extracted() -> dict[tuple[str | None, str], tuple[str, ...]]:
    """Every msgid in idp/, found the way pybabel finds it (same babel.cfg, same keywords)."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f)
    found: dict[tuple[str | None, str], tuple[str, ...]] = {}
    for _filename, _lineno, message, _comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        ids = _strings(message)
        found[(context, ids[0])] = ids
    return found


@pytest.fixture(scope="module")
def vi_catalog() -> Catalog:
    return _read_po(VI_PO)


def test_extraction_finds_python_and_template_messages(extracted):
    msgids = {msgid for _, msgid in extracted}
    assert GENERIC_FAILURE in msgids  # lazy_gettext as _l in idp/auth/login.py
    assert "Sign in" in msgids  # {{ _('...') }} in idp/templates/auth/login.html
    assert "Hello, %(name)s" in msgids  # a template call with a keyword argument


def test_script_uses_the_same_extraction_keywords():
    script = SCRIPT.read_text(encoding="utf-8")
    in_script = {spec.split(":")[0] for spec in re.findall(r"^\s*-k (\S+)", script, re.M)}
    assert in_script == set(KEYWORDS) - set(DEFAULT_KEYWORDS)


def test_every_message_has_a_vietnamese_translation(extracted, vi_catalog):
    translations = {_key(m): m for m in vi_catalog if m.id}
    problems = []
    for key in sorted(extracted, key=lambda k: (k[0] or "", k[1])):
        message = translations.get(key)
        if message is None:
            problems.append(f"missing from the .po: {key[1]!r}")
        elif message.fuzzy:
            problems.append(f"fuzzy: {key[1]!r}")
        elif not all(s.strip() for s in _strings(message.string)) or not message.string:
            problems.append(f"not translated: {key[1]!r}")
    assert not problems, "run scripts/translations all and translate:\n" + "\n".join(problems)


def test_the_catalog_header_is_not_fuzzy(vi_catalog):
    # pybabel compile silently skips a catalog whose header is fuzzy.
    assert not vi_catalog.fuzzy
    assert str(vi_catalog.locale) == "vi"


def test_placeholders_match_between_english_and_vietnamese(vi_catalog):
    mismatched = []
    for message in vi_catalog:
        if not message.id or not message.string:
            continue
        # Vietnamese has one plural form, used for every count: it follows the plural msgid.
        source = _strings(message.id)[-1]
        for text in _strings(message.string):
            if Counter(PLACEHOLDER.findall(source)) != Counter(PLACEHOLDER.findall(text)):
                mismatched.append(f"{source!r} -> {text!r}")
    assert not mismatched, "\n".join(mismatched)


def test_babel_finds_no_errors_in_the_catalog(vi_catalog):
    errors = [f"{message.id!r}: {error}" for message, errs in vi_catalog.check() for error in errs]
    assert not errors, "\n".join(errors)


def test_committed_pot_matches_the_sources(extracted):
    with POT.open("rb") as f:
        template = read_po(f)
    assert {_key(m) for m in template if m.id} == set(extracted), (
        "idp/translations/messages.pot is stale: run scripts/translations all"
    )


def test_compiled_mo_is_up_to_date_with_the_po(vi_catalog):
    want = {
        _key(m): _strings(m.string)
        for m in vi_catalog
        if m.id and m.string and not m.fuzzy
    }
    with VI_MO.open("rb") as f:
        compiled = read_mo(f)
    have = {_key(m): _strings(m.string) for m in compiled if m.id}
    assert have == want, "messages.mo is stale: run scripts/translations compile"


# --- pages ------------------------------------------------------------------------------------


def _vi(msgid: str) -> str:
    message = _read_po(VI_PO).get(msgid)
    assert message is not None and message.string, msgid
    return message.string


def _is_vietnamese(page) -> bool:  # noqa: ANN001
    text = unescape(page.text)
    return '<html lang="vi">' in text and "Đăng nhập" in text and "Sign in" not in text


def _is_english(page) -> bool:  # noqa: ANN001
    text = unescape(page.text)
    return '<html lang="en">' in text and "Sign in" in text and "Đăng nhập" not in text


def _switch_link(page, code: str) -> str:  # noqa: ANN001
    match = re.search(rf'<a href="([^"]*)" lang="{code}" hreflang="{code}"', page.text)
    assert match, f"no switch link to {code!r} on the page"
    return unescape(match.group(1))


def test_vietnamese_is_the_default(client):
    page = client.get("/login")
    assert page.status_code == 200
    assert _is_vietnamese(page)
    assert _vi("Sign in to ThaiNguyen ID") in page.text


def test_browser_language_english(client):
    page = client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert page.status_code == 200
    assert _is_english(page)
    assert "Sign in to ThaiNguyen ID" in page.text


def test_browser_language_vietnamese_first(client):
    page = client.get("/login", headers={"Accept-Language": "vi-VN,vi;q=0.9,en;q=0.8"})
    assert _is_vietnamese(page)


def test_ui_locales_english(client):
    assert _is_english(client.get("/login?ui_locales=en"))


def test_ui_locales_takes_the_first_supported_language(client):
    # ui_locales (from the relying app) beats the browser's Accept-Language.
    page = client.get("/login", query_string={"ui_locales": "fr vi"},
                      headers={"Accept-Language": "en"})
    assert _is_vietnamese(page)


def test_language_switch_is_remembered(client):
    assert _is_english(client.get("/login?lang=en"))
    assert _is_english(client.get("/login"))
    assert _is_vietnamese(client.get("/login?lang=vi"))
    assert _is_vietnamese(client.get("/login", headers={"Accept-Language": "en"}))


def test_switch_link_for_the_other_language_keeps_the_query(client):
    page = client.get("/login?client_id=demo&ui_locales=vi&next=%2F")
    assert _is_vietnamese(page)
    assert 'class="lang-current" lang="vi"' in page.text
    link = urlsplit(_switch_link(page, "en"))
    assert link.path == ""  # query-only: stays on this page, never echoes the path
    assert parse_qsl(link.query) == [
        ("client_id", "demo"), ("ui_locales", "vi"), ("next", "/"), ("lang", "en")
    ]
    assert _is_english(client.get(urljoin("/login", _switch_link(page, "en"))))


def test_switch_link_never_points_off_site(client):
    page = client.get("/%5Cevil.example/x")
    assert page.status_code == 404
    link = _switch_link(page, "en")
    assert link.startswith("?") and "evil.example" not in link


def test_switch_link_replaces_an_earlier_lang(client):
    page = client.get("/login?lang=en&client_id=demo")
    link = urlsplit(_switch_link(page, "vi"))
    assert parse_qsl(link.query) == [("client_id", "demo"), ("lang", "vi")]


@pytest.mark.parametrize("lang", ["xx", "", "EN ", "vi-VN" * 100])
def test_unsupported_lang_is_ignored(client, lang):
    page = client.get("/login", query_string={"lang": lang})
    assert page.status_code == 200
    assert _is_vietnamese(page)
    with client.session_transaction() as session:
        assert "lang" not in session


def test_unsupported_lang_keeps_the_earlier_choice(client):
    client.get("/login?lang=en")
    assert _is_english(client.get("/login?lang=xx"))


@pytest.mark.parametrize("path", ["/jwks", "/.well-known/openid-configuration",
                                  "/userinfo", "/introspect", "/token"])
def test_api_endpoints_honour_lang_without_the_cookie_session(client, path):
    client.get("/login?lang=en")  # a remembered choice is a browser page's business
    english = client.post(path, query_string={"lang": "en"}, headers={"Origin": "https://x.vn"})
    default = client.post(path, headers={"Origin": "https://x.vn"})
    assert "Set-Cookie" not in english.headers and "Set-Cookie" not in default.headers
    assert "Vary" not in english.headers
    if path in ("/jwks", "/.well-known/openid-configuration"):  # the origin check's page
        assert english.json["error_description"] != default.json["error_description"]
    with client.session_transaction() as session:
        assert session["lang"] == "en"


def test_a_page_that_only_starts_like_an_api_path_keeps_its_session(client):
    page = client.get("/tokens", query_string={"lang": "en"})
    assert page.status_code == 404
    assert _is_english(client.get("/login"))


def test_failed_sign_in_message_is_vietnamese_by_default(auth, make_citizen):
    citizen = make_citizen()
    response = auth.login(citizen.cccd, "sai mật khẩu rồi")
    assert response.status_code == 401
    text = unescape(response.text)
    assert _vi(GENERIC_FAILURE) in text
    assert GENERIC_FAILURE not in text
    assert '<html lang="vi">' in text


def test_failed_sign_in_message_in_english(auth, make_citizen):
    citizen = make_citizen()
    response = auth.login(citizen.cccd, "wrong password", **{"Accept-Language": "en"})
    assert response.status_code == 401
    assert GENERIC_FAILURE in unescape(response.text)


def test_form_labels_and_validation_messages_are_translated(client):
    page = client.get("/login")
    text = unescape(page.text)
    assert _vi("Citizen ID number (CCCD) or phone number") in text
    assert _vi("Password") in text
    empty = client.post("/login", data={"csrf_token": csrf_token(page.text)})
    assert empty.status_code == 400
    assert _vi("Enter your password.") in unescape(empty.text)


@pytest.mark.parametrize("query", ["", "?lang=en"])
def test_dates_are_day_month_year(client, auth, make_citizen, query):
    citizen = make_citizen(birthdate="1985-03-12")
    assert auth.login(citizen.cccd).status_code == 302
    page = client.get(f"/{query}")
    assert page.status_code == 200
    assert "12/03/1985" in page.text
    assert "1985-03-12" not in page.text and "03/12/1985" not in page.text
