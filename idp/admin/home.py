"""``/admin/``: the console's landing page — who is signed in, with which role and communes,
and the sections this staff member may open (the same permission-driven list as the menu)."""

from __future__ import annotations

from flask import render_template

from idp.admin import bp
from idp.admin.guard import current_staff, staff_required
from idp.services import staff_access
from idp.services.identifiers import describe_commune


@bp.route("/")
@staff_required()
def home() -> str:
    staff = current_staff()
    assert staff is not None  # staff_required
    communes = [(code, describe_commune(code)) for code in sorted(staff.commune_codes)]
    return render_template("admin/home.html", staff=staff, communes=communes,
                           sees_all=staff_access.sees_every_commune(staff))
