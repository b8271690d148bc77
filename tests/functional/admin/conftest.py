"""Console fixtures: staff accounts of each role and a test client signed in as one.

``make_staff`` writes the account directly (the sign-in screens are tested on their own in
test_login.py); ``staff_client`` puts a full console session in the cookie the way
``idp.admin.guard.sign_in`` does after password + TOTP.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idp.admin.guard import STAFF_KEY
from idp.extensions import db
from idp.models import StaffAccount, StaffCommune, StaffRole
from idp.web import deps

STAFF_PASSWORD = "staff-password-for-tests-2025"
SANG_MOC = "05719"      # Xã Sảng Mộc
PHAN_DINH_PHUNG = "05443"  # Phường Phan Đình Phùng

StaffFactory = Callable[..., StaffAccount]


@pytest.fixture
def make_staff(app: Flask) -> StaffFactory:
    counter = iter(range(1, 10_000))

    def make(role: str = "superadmin", communes: Iterable[str] = (), *,
             username: str | None = None, password: str = STAFF_PASSWORD) -> StaffAccount:
        with app.app_context():
            staff = StaffAccount(
                username=username or f"{role}{next(counter)}", display_name=role.title(),
                role=StaffRole(role), password_hash=deps.passwords().hash(password),
                communes=[StaffCommune(commune_code=c) for c in communes],
            )
            db.session.add(staff)
            db.session.commit()
            db.session.refresh(staff)
            _ = staff.communes
            db.session.expunge(staff)
            return staff

    return make


@pytest.fixture
def sign_in_staff() -> Callable[[FlaskClient, StaffAccount], FlaskClient]:
    def sign_in(client: FlaskClient, staff: StaffAccount) -> FlaskClient:
        with client.session_transaction() as session:
            session[STAFF_KEY] = {"id": str(staff.id), "v": staff.session_version,
                                  "iat": int(time.time()), "seen": int(time.time())}
        return client

    return sign_in


@pytest.fixture
def staff_client(app: Flask, make_staff: StaffFactory,
                 sign_in_staff: Callable[[FlaskClient, StaffAccount], FlaskClient],
                 ) -> Callable[..., FlaskClient]:
    """``staff_client("officer", [SANG_MOC])``: a fresh test client signed in as new staff."""

    def make(role: str = "superadmin", communes: Iterable[str] = (), **kwargs: object
             ) -> FlaskClient:
        staff = make_staff(role, communes, **kwargs)
        client = app.test_client()
        client.staff = staff  # type: ignore[attr-defined]
        return sign_in_staff(client, staff)

    return make
