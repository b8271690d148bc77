"""Operations endpoints: liveness and readiness for the load balancer."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from idp.extensions import db, limiter
from idp.web import deps

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
@limiter.exempt
def healthz() -> Response:
    """Alive: the process answers. Never touches the database."""
    return jsonify(status="ok")


@bp.get("/readyz")
@limiter.exempt
def readyz() -> Response | tuple[Response, int]:
    """Ready: the database answers a trivial query; 503 takes the node out of rotation.

    Redis is reported but does not fail readiness: without it rate limits fall back to each
    node's memory, which is weaker but keeps sign-in working on every node.
    """
    report = {"status": "ok", "database": "ok"}
    if deps.settings().redis_url:
        report["rate_limit_storage"] = "ok" if limiter.storage.check() else "degraded"
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        report.update(status="unavailable", database="unreachable")
        return jsonify(report), 503
    return jsonify(report)
