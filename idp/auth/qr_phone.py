"""QR sign-in, the phone side: the camera app opens ``/qr/a?r=&t=&h=``; a phone signed in to
ThaiNguyen ID sees who is asking and from where, and picks the matching number (or refuses)
with a CSRF-protected POST to the same address.

A code is only shown when it is fresh (seconds old) and genuine; the page then carries a scan
ticket bound to this phone's session, so the decision can be posted a little later without
the code itself staying useful to anyone else.
"""

from __future__ import annotations

from flask import render_template, request
from flask_babel import format_datetime, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from idp.auth import bp
from idp.auth.qr_forms import QrDecisionForm
from idp.extensions import client_ip, db, limiter
from idp.models import QrSignInRequest, SsoSession
from idp.oidc import context
from idp.services import qr_login
from idp.services.clock import utcnow
from idp.services.qr_login import Refusal
from idp.web import current_session, deps, i18n

CODE_REFUSED = {
    Refusal.MALFORMED: _l("This is not a ThaiNguyen ID sign-in code. Nothing was done."),
    Refusal.FORGED: _l("This QR code is not genuine. Nothing was done. Never scan codes that "
                       "someone sent you."),
    Refusal.UNKNOWN: _l("This QR code is not genuine. Nothing was done. Never scan codes that "
                        "someone sent you."),
    Refusal.STALE: _l("This QR code is too old: a sign-in code changes every second. Scan "
                      "the code on the computer screen in front of you again. If someone "
                      "sent you this code, do not scan it: they want to take over your "
                      "account."),
    Refusal.EXPIRED: _l("This QR sign-in request has expired. Show a new code on the "
                        "computer and scan it again."),
    Refusal.DECIDED: _l("This QR sign-in request has already been answered. Show a new code "
                        "on the computer if you still want to sign in."),
}


def _approve_limit() -> str:
    return deps.settings().qr_approve_rate_limit


def _approver_key() -> str:
    """Approvals are counted per account (the phone's signed-in citizen), else per IP."""
    sso = current_session.current_sso()
    return f"qr-approve:{sso.citizen_id}" if sso is not None else f"qr-approve-ip:{client_ip()}"


def _key() -> bytes:
    return qr_login.derive_key(deps.settings().secret_key)


def _problem(message: str, status: int) -> tuple[str, int]:
    return render_template("auth/qr_problem.html", message=message), status


@bp.get("/qr/a")
@limiter.limit("60/minute")
def qr_scan() -> tuple[str, int] | str:
    now = utcnow()
    checked = qr_login.check_code(
        db.session, r=request.args.get("r"), t=request.args.get("t"),
        h=request.args.get("h"), key=_key(), now=now, ip=client_ip())
    if not checked.ok:
        db.session.commit()  # the audit entry: refused codes are what phishing looks like
        return _problem(str(CODE_REFUSED[checked.refused]), 400)
    qr = checked.request
    sso = current_session.current_sso()
    if sso is None:
        db.session.commit()
        return render_template("auth/qr_sign_in_first.html"), 200
    qr_login.mark_scanned(qr)
    db.session.commit()
    return _approval_page(qr, sso)


def _approval_page(qr: QrSignInRequest, sso: SsoSession, *, error: str | None = None,
                   status: int = 200) -> tuple[str, int]:
    form = QrDecisionForm(r=qr.id.hex, ticket=qr_login.scan_ticket(_key(), qr.id, sso.sid))
    browser, system = qr_login.describe_user_agent(qr.requester_user_agent)
    return render_template(
        "auth/qr_approve.html", form=form, qr=qr, citizen=sso.citizen, error=error,
        app_name=_app_name(qr), app_domain=qr.client_domain,
        device=_device(browser, system), local=qr_login.is_local(qr.requester_ip),
        other_network=not qr_login.same_network(client_ip(), qr.requester_ip),
        requested_at=format_datetime(qr.created_at, "HH:mm:ss dd/MM/yyyy"),
    ), status


def _app_name(qr: QrSignInRequest) -> str:
    client = context.server().query_client(qr.client_id) if qr.client_id else None
    if client is None:
        return "ThaiNguyen ID"
    return client.display_name(str(get_locale() or i18n.DEFAULT))


def _device(browser: str, system: str) -> str:
    if "?" in (browser, system):
        return _("A web browser")
    return _("%(browser)s on %(system)s", browser=browser, system=system)


@bp.post("/qr/a")
@limiter.limit(_approve_limit, key_func=_approver_key)
def qr_decide() -> tuple[str, int]:
    form = QrDecisionForm()
    sso = current_session.current_sso()
    if sso is None:
        return render_template("auth/qr_sign_in_first.html"), 401
    request_id = qr_login.parse_request_id(form.r.data) if form.validate_on_submit() else None
    qr = db.session.get(QrSignInRequest, request_id) if request_id else None
    if qr is None or not qr_login.ticket_ok(_key(), qr.id, sso.sid, form.ticket.data or ""):
        return _problem(_("This page has expired. Scan the code on the computer again."), 400)
    number = request.form.get("number")
    if number is None and "deny" not in request.form:
        return _approval_page(qr, sso, error=_("Choose a number, or Deny."), status=400)
    if number is not None and number not in qr.choices:
        return _approval_page(qr, sso, error=_("Choose one of the numbers shown."), status=400)
    now = utcnow()
    outcome = qr_login.decide(db.session, qr, approver=sso, number=number, ip=client_ip(),
                              now=now)
    db.session.commit()
    if outcome.ok:
        return render_template("auth/qr_result.html", outcome="approved"), 200
    if outcome.refused == Refusal.THROTTLED:
        minutes = max(1, (outcome.retry_after + 59) // 60)
        return render_template("auth/qr_result.html", outcome="throttled",
                               minutes=minutes), 429
    if outcome.refused in (Refusal.WRONG_NUMBER, Refusal.DENIED):
        status = 200 if outcome.refused == Refusal.DENIED else 400
        return render_template("auth/qr_result.html", outcome=str(outcome.refused)), status
    return _problem(str(CODE_REFUSED[outcome.refused]),
                    409 if outcome.refused == Refusal.DECIDED else 400)
