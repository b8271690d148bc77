"""Relying apps in the console: the list (/admin/apps) and one app's page with its usage
(/admin/apps/<client_id>). Superadmins and auditors read them; officers get 403.

Registering, editing and the actions (rotate secret, disable, enable) are in ``app_edit`` and
``app_actions``; the shared pieces (finding an app, the page showing a secret once) are here.
"""

from __future__ import annotations

from flask import Response, abort, make_response, render_template
from flask_babel import gettext as _
from flask_wtf import FlaskForm

from idp.admin import bp
from idp.admin.app_forms import ACR_LABELS, AUTH_METHOD_LABELS, SUBJECT_LABELS, ActionForm
from idp.admin.guard import staff_required
from idp.extensions import db
from idp.models import Client
from idp.oidc import context
from idp.services import app_usage, charts, clients
from idp.services.client_metadata import SECRET_METHODS
from idp.services.clock import utcnow
from idp.services.staff_access import Permission

LABELS = {"auth_methods": AUTH_METHOD_LABELS, "subject_types": SUBJECT_LABELS,
          "acr_levels": ACR_LABELS}


@bp.get("/apps")
@staff_required(Permission.CLIENTS_READ)
def apps() -> str:
    rows = clients.list_clients(db.session)
    usage = app_usage.summaries(db.session, [c.client_id for c in rows], utcnow())
    return render_template("admin/apps/list.html", apps=rows, usage=usage, **LABELS)


@bp.get("/apps/<client_id>")
@staff_required(Permission.CLIENTS_READ)
def app_detail(client_id: str) -> str:
    return detail_page(find_or_404(client_id), ActionForm())


def detail_page(client: Client, form: FlaskForm, *, action: str | None = None) -> str:
    """The app page; ``action`` names the action whose form came back with an error."""
    figures = app_usage.usage(db.session, client.client_id, utcnow(),
                              refresh_idle=context.lifetimes().refresh_idle)
    first, last = figures.per_day[0][0], figures.per_day[-1][0]
    chart = charts.line_chart(
        [day.strftime("%d/%m") for day, _n in figures.per_day],
        [charts.Series(_("Tokens"), [n for _day, n in figures.per_day])],
        title=_("Tokens issued per day"), ident="chart-app-tokens",
        desc=_("From %(first)s to %(last)s: %(total)s tokens, at most %(peak)s in one day.",
               first=first.strftime("%d/%m/%Y"), last=last.strftime("%d/%m/%Y"),
               total=figures.tokens_30d, peak=figures.busiest_day))
    return render_template("admin/apps/detail.html", app=client, usage=figures, chart=chart,
                           form=form, action=action, uses_secret=uses_secret(client),
                           **LABELS)


def find_or_404(client_id: str) -> Client:
    client = clients.find_client(db.session, client_id)
    if client is None:
        abort(404)
    return client


def uses_secret(client: Client) -> bool:
    return client.token_endpoint_auth_method in SECRET_METHODS


def secret_page(client: Client, secret: str, *, rotated: bool) -> Response:
    """The one page that ever shows a client secret: only its hash is kept, so it cannot be
    shown again. ``no-store`` keeps it out of the browser's and proxies' caches (and out of
    the back button's copy)."""
    response = make_response(render_template("admin/apps/secret.html", app=client,
                                             secret=secret, rotated=rotated))
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response
