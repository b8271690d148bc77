"""QR sign-in, the desktop side: ``POST /qr/start`` creates a request bound to this browser,
``/qr`` shows it, ``/qr/status`` and ``/qr/code.svg`` feed the page's script once a second,
and ``POST /qr/done`` finishes the sign-in once the phone said yes.

The browser's proof that the request is its own is a random value kept in its (HttpOnly,
signed) Flask session; the database holds only its hash (``idp.services.qr_login``).
"""

from __future__ import annotations

import logging

from flask import (
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from idp.auth import bp, finish
from idp.auth.interaction_view import app_language, expired_page, interaction_context
from idp.auth.qr_forms import QrDoneForm
from idp.extensions import client_ip, db, limiter
from idp.models import QrSignInRequest
from idp.oidc import interaction
from idp.services import qr_login
from idp.services.clock import utcnow
from idp.services.qr_login import Refusal
from idp.web import deps

log = logging.getLogger("tnid.audit")

BROWSER_KEY = "qr_browser"  # the Flask-session key of this browser's secret value
# The page asks once a second; a drawing costs a few milliseconds of CPU, so a script that
# asks much faster is cut off.
POLL_LIMIT = "150/minute"

STATUS_TEXT = {
    "pending": _l("Waiting for your phone to scan the code…"),
    "scanned": _l("Code scanned. On your phone, choose the matching number shown here."),
    "approved": _l("Allowed on your phone. Signing you in…"),
    "denied": _l("The sign-in was refused on the phone. Show a new code to try again."),
    "used": _l("This QR code has already been used to sign in."),
    "expired": _l("This QR code has expired (it lasts 2 minutes). Show a new code to try "
                  "again."),
}
# What the desktop says when finishing is refused, and with which status code.
REFUSED = {
    Refusal.UNKNOWN: (_l("This QR sign-in request does not exist. Show a new code to try "
                         "again."), 400),
    Refusal.OTHER_BROWSER: (_l("This QR sign-in was started in another browser. Only the "
                               "browser that showed the QR code can finish signing in."), 403),
    Refusal.USED: (STATUS_TEXT["used"], 409),
    Refusal.EXPIRED: (STATUS_TEXT["expired"], 410),
    Refusal.DENIED: (STATUS_TEXT["denied"], 403),
    Refusal.NOT_APPROVED: (_l("Not allowed on the phone yet. Scan the code with your phone "
                              "and choose the matching number first."), 409),
    Refusal.APPROVER_GONE: (_l("The phone that allowed this sign-in is no longer signed in. "
                               "Show a new code to try again."), 403),
}


def _start_limit() -> str:
    return deps.settings().qr_rate_limit


def _browser_key() -> str:
    """Polling is counted per desktop browser (many share one IP in a commune office)."""
    secret = session.get(BROWSER_KEY)
    return f"qr-poll:{qr_login.browser_label(secret)}" if secret else f"qr-poll-ip:{client_ip()}"


def _key() -> bytes:
    return qr_login.derive_key(deps.settings().secret_key)


def _own_request() -> QrSignInRequest | None:
    return qr_login.for_browser(db.session, session.get(BROWSER_KEY))


def _pending_of(token: str | None) -> interaction.Interaction | None:
    return interaction.load(token) if token else None


@bp.post("/qr/start")
@limiter.limit(_start_limit)
def qr_start() -> Response | tuple[str, int]:
    token = request.args.get("interaction")
    pending = _pending_of(token)
    if token and pending is None:
        return expired_page()
    # A POST, never a GET any page could embed; its CSRF token was checked by CSRFProtect.
    with app_language(pending.params if pending else None):
        context = interaction_context(pending, token)
    now = utcnow()
    secret, qr = qr_login.start(
        db.session, now=now, ip=client_ip(), user_agent=request.user_agent.string,
        interaction=token if pending else None,
        client_id=pending.client_id if pending else None,
        client_domain=context.get("client_domain"))
    db.session.commit()
    session[BROWSER_KEY] = secret  # replaces any earlier request of this browser
    log.info("auth:qr:created", extra={"ip": client_ip(), "request": qr.id.hex})
    return redirect(url_for("auth.qr_page"), 303)


@bp.get("/qr")
def qr_page() -> Response | str | tuple[str, int]:
    qr = _own_request()
    token = qr.interaction if qr is not None else request.args.get("interaction")
    pending = _pending_of(token)
    if qr is not None and token and pending is None:
        qr = None  # the app's request went stale meanwhile: start afresh from the app
    with app_language(pending.params if pending else None):
        return _render(qr, pending, token if pending else None)


def _render(qr: QrSignInRequest | None, pending: interaction.Interaction | None,
            token: str | None, *, message: str | None = None,
            status: int = 200) -> tuple[str, int]:
    now = utcnow()
    state = qr_login.status(qr, now) if qr is not None else None
    live = state in qr_login.OPEN or state == "approved"
    page = {
        **interaction_context(pending, token),
        "qr": qr if live else None,
        "state": state,
        "status_text": STATUS_TEXT.get(state or "", ""),
        # A finished sign-in (used) needs no complaint: the page simply offers a new code.
        "message": message or (STATUS_TEXT[state] if state in ("denied", "expired") else None),
        "done_form": QrDoneForm(r=qr.id.hex) if qr is not None else None,
        "start_url": url_for("auth.qr_start", interaction=token) if token
        else url_for("auth.qr_start"),
        "login_url": url_for("auth.login", interaction=token) if token
        else url_for("auth.login"),
    }
    return render_template("auth/qr_desktop.html", **page), status


@bp.get("/qr/status")
@limiter.limit(POLL_LIMIT, key_func=_browser_key)
def qr_status() -> tuple[Response, int]:
    """What the page's script needs each second: the state, a sentence to show, and the
    ``t`` (and URL) of the current code."""
    qr = _own_request()
    if qr is None:
        return jsonify(status="none", message=str(STATUS_TEXT["expired"])), 404
    now = utcnow()
    state = qr_login.status(qr, now)
    body: dict[str, object] = {"status": state, "message": str(STATUS_TEXT[state])}
    if state in qr_login.OPEN:
        t = qr_login.current_t(qr, now)
        body.update(t=t, url=qr_login.code_url(deps.settings().issuer, _key(), qr, t))
    return jsonify(body), 200


@bp.get("/qr/code.svg")
@limiter.limit(POLL_LIMIT, key_func=_browser_key)
def qr_code() -> Response:
    """The QR picture for this browser's request only, at a ``t`` that is never in the
    future (the page asks for the one ``/qr/status`` just gave)."""
    qr = _own_request()
    now = utcnow()
    if qr is None or qr_login.status(qr, now) not in qr_login.OPEN:
        return make_response("", 404)
    t = qr_login.current_t(qr, now, request.args.get("t"))
    svg = qr_login.render_svg(qr_login.code_url(deps.settings().issuer, _key(), qr, t))
    response = make_response(svg)
    response.headers["Content-Type"] = "image/svg+xml"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/qr/done")
def qr_done() -> Response | tuple[str, int]:
    form = QrDoneForm()
    own = _own_request()
    token = own.interaction if own is not None else None
    pending = _pending_of(token)
    with app_language(pending.params if pending else None):
        if not form.validate_on_submit():
            return _render(own, pending, token, status=400,
                           message=str(REFUSED[Refusal.UNKNOWN][0]))
        now = utcnow()
        result = qr_login.complete(db.session, qr_login.parse_request_id(form.r.data),
                                   session.get(BROWSER_KEY), ip=client_ip(), now=now)
        if isinstance(result, qr_login.Outcome):
            db.session.commit()  # the audit entry of the refusal
            text, code = REFUSED[result.refused or Refusal.UNKNOWN]
            mine = own if result.refused != Refusal.OTHER_BROWSER else None
            return _render(mine, pending if mine else None, token if mine else None,
                           message=str(text), status=code)
        return _sign_in(result)


def _sign_in(done: qr_login.Completion) -> Response:
    # The browser keeps its value: a second "done" is then told "already used", not "another
    # browser". The request itself can never be completed again.
    pending = _pending_of(done.interaction)
    target = interaction.resume_url(done.interaction) if pending is not None \
        else url_for("account.home")
    proof = finish.Proof(method="qr", amr=done.amr, acr=done.acr, notify_new_device=False)
    return finish.sign_in(done.citizen, proof, target=target,
                          client_id=pending.client_id if pending else None,
                          redirect_status=303)

