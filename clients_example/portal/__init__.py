"""Cổng dịch vụ công (public-service portal): a confidential client authenticating with
``private_key_jwt`` (its own key pair, kept in its instance folder, public half at
``/jwks.json``); scopes ``openid profile citizen address phone``.

Browsing needs a sign-in at acr 1. Submitting a dossier (hồ sơ) needs more: the portal asks
ThaiNguyen ID for ``acr_values=urn:tnid:acr:2`` (step-up: the citizen only adds the second
factor), checks the ``acr`` the ID token reports, requires identity level 2, and prefills the
form from the claims.
"""

from __future__ import annotations

import secrets
import time

from flask import Flask, abort, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from clients_example.common.rp import (
    ACR_2,
    AppSpec,
    Settings,
    claim,
    current_signin,
    login_required,
    make_app,
    rp,
)

SPEC = AppSpec(
    key="portal", title="Cổng dịch vụ công", title_en="Public-service portal",
    client_id="tnid-demo-portal",
    scope="openid profile citizen address phone offline_access",
    auth_method="private_key_jwt",
    trusted=True,  # the province's own portal: citizens are not asked to consent again
    extra_schema="""
CREATE TABLE IF NOT EXISTS dossiers (
    code TEXT PRIMARY KEY, sub TEXT NOT NULL, service TEXT NOT NULL, note TEXT NOT NULL,
    applicant TEXT NOT NULL, submitted_at REAL NOT NULL
);""",
)
PORT = 5001
SERVICES = {
    "ly-lich-tu-phap": "Cấp Phiếu lý lịch tư pháp",
    "thuong-tru": "Đăng ký thường trú",
    "khai-sinh": "Đăng ký khai sinh",
}


def create_app(settings: Settings) -> Flask:
    app = make_app(SPEC, settings, __name__)

    @app.get("/")
    def index() -> str:
        signin = current_signin()
        dossiers = _dossiers(signin["claims"]["sub"]) if signin else []
        return render_template("portal/index.html", services=SERVICES, dossiers=dossiers)

    @app.get("/dossier/new")
    @login_required
    def dossier_form() -> Response | str | tuple[str, int]:
        problem = _cannot_submit()
        if problem == "step_up":
            return redirect(url_for("rp.login", acr="2", next=request.full_path.rstrip("?")))
        if problem:
            return render_template("portal/unverified.html"), 403
        address = claim("address") or {}
        return render_template(
            "portal/dossier.html", services=SERVICES,
            service=request.args.get("service", "ly-lich-tu-phap"),
            prefill={"name": claim("name"), "cccd": claim("cccd"),
                     "birthdate": _vietnamese_date(claim("birthdate")),
                     "phone": claim("phone_number"), "address": address.get("formatted", "")})

    @app.post("/dossier")
    @login_required
    def dossier_submit() -> Response | str | tuple[str, int]:
        problem = _cannot_submit()
        if problem == "step_up":  # e.g. a new sign-in at acr 1 since the form was shown
            return redirect(url_for("rp.login", acr="2", next=url_for("dossier_form")))
        if problem:
            return render_template("portal/unverified.html"), 403
        service = request.form.get("service", "")
        note = request.form.get("note", "").strip()[:1000]
        if service not in SERVICES:
            abort(400, "Dịch vụ không hợp lệ.")
        code = f"HS-{time.strftime('%Y%m%d')}-{secrets.token_hex(3).upper()}"
        with rp().store.connect() as db:
            db.execute("INSERT INTO dossiers VALUES (?, ?, ?, ?, ?, ?)",
                       (code, claim("sub"), service, note, claim("name") or "", time.time()))
        return render_template("portal/submitted.html", code=code, service=SERVICES[service])

    return app


def _cannot_submit() -> str | None:
    """None when a dossier may be submitted; else why not."""
    if current_signin()["claims"].get("acr") != ACR_2:
        return "step_up"  # the ID token of this sign-in says one factor only
    if claim("identity_level") != 2 or not claim("cccd"):
        return "unverified"
    return None


def _vietnamese_date(iso: str | None) -> str:
    """1990-07-21 -> 21/07/1990 (how dates are written on Vietnamese forms)."""
    if not iso or len(iso) != 10:
        return iso or ""
    year, month, day = iso.split("-")
    return f"{day}/{month}/{year}"


def _dossiers(sub: str) -> list[dict]:
    with rp().store.connect() as db:
        rows = db.execute("SELECT code, service, submitted_at FROM dossiers WHERE sub = ? "
                          "ORDER BY submitted_at DESC", (sub,)).fetchall()
    return [{"code": r["code"], "service": SERVICES.get(r["service"], r["service"]),
             "when": time.strftime("%d/%m/%Y %H:%M", time.localtime(r["submitted_at"]))}
            for r in rows]
