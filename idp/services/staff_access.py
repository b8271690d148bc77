"""Who on the staff may do what — enforced here, for every read and write, not only hidden
in the console's menus.

- superadmin: everything;
- officer: citizens whose commune is one of theirs (read and write), nothing else except the
  dashboard of their communes;
- auditor: read-only, everything including the audit trail.

Views and commands call ``require`` / ``require_citizen`` (raise ``AccessDenied``) and build
their queries with ``citizen_scope`` so that an officer's search can never return another
commune's citizen. A refusal is recorded in the audit trail by ``record_denial`` (the console's
403 handler calls it after rolling back whatever the request had started).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, false, true
from sqlalchemy.orm import Session

from idp.models import Citizen, StaffAccount, StaffRole
from idp.services import audit


class Permission(enum.StrEnum):
    CITIZENS_READ = "citizens:read"
    CITIZENS_WRITE = "citizens:write"       # enrol, verify, lock/unlock, reset, revoke, correct
    CITIZENS_IMPORT = "citizens:import"     # bulk import (every commune)
    CLIENTS_READ = "clients:read"
    CLIENTS_WRITE = "clients:write"
    STAFF_READ = "staff:read"
    STAFF_WRITE = "staff:write"
    AUDIT_READ = "audit:read"               # the whole trail, search and CSV export
    DASHBOARD_READ = "dashboard:read"


_READ_ONLY = frozenset(p for p in Permission if p.value.endswith(":read"))

ROLE_PERMISSIONS: Mapping[StaffRole, frozenset[Permission]] = {
    StaffRole.SUPERADMIN: frozenset(Permission),
    StaffRole.OFFICER: frozenset({Permission.CITIZENS_READ, Permission.CITIZENS_WRITE,
                                  Permission.DASHBOARD_READ}),
    StaffRole.AUDITOR: _READ_ONLY,
}


class AccessDenied(Exception):
    """The staff member may not do this. ``details`` go to the audit trail (no secrets)."""

    def __init__(self, staff: StaffAccount, what: str, *, citizen: Citizen | None = None,
                 details: Mapping[str, Any] | None = None) -> None:
        super().__init__(what)
        self.staff = staff
        self.what = what
        self.citizen_id = citizen.id if citizen is not None else None
        self.details = dict(details or {})


def has(staff: StaffAccount, permission: Permission) -> bool:
    return staff.is_active and permission in ROLE_PERMISSIONS.get(staff.role, frozenset())


def require(staff: StaffAccount, permission: Permission) -> None:
    if not has(staff, permission):
        raise AccessDenied(staff, permission.value)


def sees_every_commune(staff: StaffAccount) -> bool:
    return staff.role in (StaffRole.SUPERADMIN, StaffRole.AUDITOR)


def visible_communes(staff: StaffAccount) -> frozenset[str] | None:
    """The communes whose citizens (and figures) this staff member may see; None = all."""
    return None if sees_every_commune(staff) else staff.commune_codes


def may_access_citizen(staff: StaffAccount, citizen: Citizen) -> bool:
    if sees_every_commune(staff):
        return True
    return citizen.commune_code is not None and citizen.commune_code in staff.commune_codes


def may_act_in_commune(staff: StaffAccount, commune_code: str | None) -> bool:
    """For creating a citizen (assisted enrolment): the new account's commune must be theirs."""
    if staff.role is StaffRole.SUPERADMIN:
        return True
    return commune_code is not None and commune_code in staff.commune_codes


def require_citizen(staff: StaffAccount, citizen: Citizen, *, write: bool = False) -> None:
    """Raise ``AccessDenied`` unless the staff member may read (or, with ``write``, change)
    this citizen's account."""
    require(staff, Permission.CITIZENS_WRITE if write else Permission.CITIZENS_READ)
    if not may_access_citizen(staff, citizen):
        raise AccessDenied(staff, "citizen:out_of_scope", citizen=citizen,
                           details={"commune": citizen.commune_code})


def require_commune(staff: StaffAccount, commune_code: str | None) -> None:
    require(staff, Permission.CITIZENS_WRITE)
    if not may_act_in_commune(staff, commune_code):
        raise AccessDenied(staff, "commune:out_of_scope", details={"commune": commune_code})


def citizen_scope(staff: StaffAccount) -> ColumnElement[bool]:
    """A WHERE clause limiting a citizen query to what this staff member may see."""
    if not has(staff, Permission.CITIZENS_READ):
        return false()
    if sees_every_commune(staff):
        return true()
    codes = sorted(staff.commune_codes)
    return Citizen.commune_code.in_(codes) if codes else false()


def record_denial(session: Session, error: AccessDenied, *, ip: str | None) -> None:
    """Audit a refused attempt (flushed; the caller commits)."""
    audit.record(session, "staff:access_denied", actor_type="staff",
                 actor_id=error.staff.id, citizen_id=error.citizen_id, outcome="failure",
                 ip=ip, details={"what": error.what, "role": error.staff.role.value,
                                 **error.details})
