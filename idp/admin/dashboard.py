"""``/admin/dashboard``: sign-ins, second-factor adoption, identity level 2, live sessions,
tokens per app and the top sources of failed sign-ins, over the last 7, 30 or 90 days.

A commune officer sees the figures of their communes only (``services.dashboard`` filters by
``staff_access.visible_communes``). Charts are SVG drawn on the server (no script); each has
its numbers in a table beside it.
"""

from __future__ import annotations

from flask import current_app, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _

from idp.admin import bp
from idp.admin.guard import current_staff, staff_required
from idp.extensions import db
from idp.services import charts, dashboard
from idp.services.clock import utcnow
from idp.services.identifiers import describe_commune
from idp.services.staff_access import Permission
from idp.web import deps


@bp.get("/dashboard", endpoint="dashboard")
@staff_required(Permission.DASHBOARD_READ)
def dashboard_page() -> tuple[str, int]:
    staff = current_staff()
    assert staff is not None
    raw = request.args.get("days", "")
    days = int(raw) if raw in {str(p) for p in dashboard.PERIODS} else dashboard.DEFAULT_PERIOD
    cache = current_app.extensions.setdefault("tnid.dashboard_days", dashboard.DayCache())
    figures = dashboard.compute(db.session, staff, days=days, now=utcnow(),
                                policy=deps.session_policy(), cache=cache)
    labels = [d.strftime("%d/%m") for d in figures.days]
    english = str(get_locale()) == "en"
    sign_in_chart = charts.line_chart(
        labels,
        [charts.Series(_("Successful sign-ins"), figures.sign_ins_success),
         charts.Series(_("Failed sign-ins"), figures.sign_ins_failure)],
        title=_("Sign-ins per day"), ident="chart-sign-ins",
        desc=_("Successful: %(ok)s, failed: %(failed)s over %(days)s days.",
               ok=sum(figures.sign_ins_success), failed=sum(figures.sign_ins_failure),
               days=days))
    app_names = {a.client_id: (a.name_en if english else a.name_vi) for a in figures.tokens}
    tokens_chart = charts.bar_chart(
        [(app_names[a.client_id], a.total) for a in figures.tokens],
        title=_("Tokens issued per app"), ident="chart-tokens",
        empty=_("No tokens were issued in this period."))
    ip_chart = charts.bar_chart(
        figures.failure_ips, title=_("Addresses with the most failed sign-ins"),
        ident="chart-failure-ips", empty=_("No failed sign-ins in this period."))
    communes = None if figures.communes is None else sorted(
        (code, describe_commune(code)) for code in figures.communes)
    return render_template(
        "admin/dashboard.html", figures=figures, days=days, periods=dashboard.PERIODS,
        labels=labels, communes=communes, app_names=app_names,
        sign_in_chart=sign_in_chart, tokens_chart=tokens_chart, ip_chart=ip_chart,
        second_factor_bar=charts.share_bar(
            figures.second_factor, figures.citizens,
            title=_("Citizens using two-step sign-in"), ident="bar-2fa"),
        level2_bar=charts.share_bar(
            figures.identity_level_2, figures.citizens,
            title=_("Level 2 (verified in person)"), ident="bar-level2"),
    ), 200
