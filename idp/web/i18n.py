"""Language choice: Vietnamese first, English second.

Order: an explicit switch on the page (``?lang=``, remembered in the cookie session; the
sessionless API endpoints of ``idp.web.cookie_session`` honour it without remembering), the
relying app's ``ui_locales`` (OIDC Core §3.1.2.1), the browser's Accept-Language, then
Vietnamese.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import Flask, has_request_context, request, session
from flask_babel import get_locale

from idp.web.cookie_session import is_sessionless

SUPPORTED = ("vi", "en")
DEFAULT = "vi"
LANGUAGE_NAMES = {"vi": "Tiếng Việt", "en": "English"}
VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")


def select_locale() -> str:
    if not has_request_context():  # the `tnid` command and background work
        return DEFAULT
    chosen = request.args.get("lang", "")
    if is_sessionless(request.path):  # an API endpoint: no cookie session to remember in
        if chosen in SUPPORTED:
            return chosen
    elif chosen in SUPPORTED:
        session["lang"] = chosen
        return chosen
    elif session.get("lang") in SUPPORTED:
        return session["lang"]
    for tag in request.args.get("ui_locales", "")[:200].split():
        primary = tag.split("-")[0].lower()
        if primary in SUPPORTED:
            return primary
    return request.accept_languages.best_match(SUPPORTED, default=DEFAULT) or DEFAULT


def switch_url(code: str) -> str:
    """The current page in another language (same path, same query, new ``lang``)."""
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
    args.append(("lang", code))
    # Query-only relative link: the path is never echoed, so "/\\evil.example" cannot become
    # an off-site link.
    return f"?{urlencode(args)}"


def init_app(app: Flask) -> None:
    app.jinja_env.globals.update(
        lang_switch_url=switch_url, LANGUAGE_NAMES=LANGUAGE_NAMES, get_locale=get_locale
    )
    app.jinja_env.filters.update(vn_date=format_date, vn_datetime=format_datetime)


def format_date(value: date | None) -> str:
    """dd/mm/yyyy on every page (GLOSSARY)."""
    return value.strftime("%d/%m/%Y") if value else ""


def format_datetime(value: datetime | None) -> str:
    """Stored naive UTC, shown in Asia/Ho_Chi_Minh as dd/mm/yyyy HH:MM."""
    if value is None:
        return ""
    local = value.replace(tzinfo=UTC).astimezone(VIETNAM)
    return local.strftime("%d/%m/%Y %H:%M")
