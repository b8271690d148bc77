"""Operations endpoints: liveness and readiness for the load balancer."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from idp.extensions import db, limiter

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
@limiter.exempt
def healthz():  # noqa: ANN201
    """Alive: the process answers. Never touches the database."""
    return jsonify(status="ok")


@bp.get("/readyz")
@limiter.exempt
def readyz():  # noqa: ANN201
    """Ready: the database answers a trivial query; 503 takes the node out of rotation."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        return jsonify(status="unavailable", database="unreachable"), 503
    return jsonify(status="ok", database="ok")
