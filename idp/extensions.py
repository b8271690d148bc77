"""Extensions, created unbound; ``create_app`` binds them with ``init_app``."""

from __future__ import annotations

from flask import request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from idp.models.base import Base


def client_ip() -> str:
    """The caller's address, already corrected for trusted proxies by ``idp.web.proxy``."""
    return request.remote_addr or "unknown"


db = SQLAlchemy(model_class=Base)
csrf = CSRFProtect()
babel = Babel()
limiter = Limiter(key_func=client_ip)
