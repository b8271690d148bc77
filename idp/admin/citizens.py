"""``/admin/citizens``: find a citizen by CCCD, phone number or the beginning of the name
(with or without diacritics), filtered by commune, status and identity level. An officer only
ever gets their communes' citizens (``services.staff_citizens.search`` applies the scope)."""

from __future__ import annotations

import functools

from flask import render_template, request
from markupsafe import Markup

from idp.admin import bp
from idp.admin.citizen_forms import LEVEL_LABELS, STATUS_LABELS, SearchForm, commune_choices
from idp.admin.guard import current_staff, staff_required
from idp.extensions import db
from idp.services import identifiers as ids
from idp.services import staff_access, staff_citizens
from idp.services.identifiers import InvalidInput
from idp.services.staff_access import Permission


@bp.route("/citizens")
@staff_required(Permission.CITIZENS_READ)
def citizens() -> tuple[str, int]:
    staff = current_staff()
    assert staff is not None  # staff_required
    communes = staff_access.visible_communes(staff)
    form = SearchForm(formdata=request.args)
    form.validate()
    level = form.level.data if form.level.data in ("1", "2") else None
    query = staff_citizens.SearchQuery(
        text=(form.q.data or "")[:staff_citizens.MAX_QUERY],
        commune=(form.commune.data or "")[:5] or None,
        status=form.status.data or None, level=int(level) if level else None,
        after=request.args.get("after") or None)
    status, page, error = 200, None, None
    try:
        page = staff_citizens.search(db.session, staff, query)
    except InvalidInput as bad:
        status, error = 400, bad.message
    next_args = None
    if page is not None and page.next_cursor:
        next_args = {k: v for k, v in request.args.items() if k != "after" and v}
        next_args["after"] = page.next_cursor
    return render_template(
        "admin/citizens/search.html", form=form, page=page, error=error, next_args=next_args,
        searched=bool(request.args), status_labels=STATUS_LABELS, level_labels=LEVEL_LABELS,
        commune_name=_commune_name,
        commune_options=_commune_options(communes, form.commune.data or ""),
        may_enrol=staff_access.has(staff, Permission.CITIZENS_WRITE),
        first_page=query.after is None,
        first_args={k: v for k, v in request.args.items() if k != "after" and v}), status


@functools.lru_cache(maxsize=1024)
def _commune_options(codes: frozenset[str] | None, selected: str) -> Markup:
    """The filter's <option>s, built once per (communes, choice): rendering 180 options
    through wtforms or a template loop cost a few ms on every search."""
    return Markup("").join(
        Markup('<option value="{}"{}>{}</option>').format(
            choice.value, Markup(" selected") if choice.value == selected else "",
            str(choice.label))
        for choice in commune_choices(codes))


def _commune_name(code: str | None) -> str:
    if not code:
        return "—"
    try:
        return ids.commune_name(code)
    except (InvalidInput, KeyError, ValueError):
        return code
