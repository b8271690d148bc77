"""Typed accessors for what ``create_app`` built, so views do not dig in ``app.extensions``."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app

from idp.config import Settings
from idp.services.passwords import PasswordService
from idp.services.sso_sessions import SessionPolicy


def settings() -> Settings:
    return current_app.extensions["tnid.settings"]


def passwords() -> PasswordService:
    return current_app.extensions["tnid.passwords"]


def session_policy() -> SessionPolicy:
    s = settings()
    return SessionPolicy(idle=timedelta(minutes=s.session_idle_minutes),
                         absolute=timedelta(hours=s.session_max_hours))
