"""Figures for the staff dashboard, for the province or, for a commune officer, their communes.

Every figure is one aggregate query computed by the database (GROUP BY local day, COUNT), so
the page costs the same with 1.3 million citizens and millions of audit entries as with ten:
- sign-ins per day: a range on the (action, created_at) index of audit_events;
- tokens issued per app per day: the "oidc:token:issued" audit entries (the tokens table is
  purged once tokens expire, so it cannot tell what was issued a month ago);
- second-factor adoption and identity level 2: counts over citizens (by commune_code for an
  officer);
- active SSO sessions: rows not yet idle or past their absolute lifetime.

An officer's figures join audit rows to citizens on citizen_id and keep their communes only:
entries about no citizen (an unknown account typed at sign-in) are province-wide figures.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Date, Select, cast, func, select
from sqlalchemy.orm import Session

from idp.models import AuditEvent, Citizen, Client, SsoSession, StaffAccount, TotpCredential
from idp.services import staff_access
from idp.services.audit_search import VIETNAM_OFFSET
from idp.services.sso_sessions import SessionPolicy
from idp.services.staff_access import Permission

PERIODS = (7, 30, 90)
DEFAULT_PERIOD = 30
SIGN_IN_SUCCESS = "auth:login:success"
# Every wrong secret typed while signing in (services.throttle.record_failure: password,
# authenticator code, SMS code, recovery code, QR number).
SIGN_IN_FAILURES = ("auth:password:failure", "auth:totp:failure", "auth:sms:failure",
                    "auth:recovery:failure", "auth:qr:failure")
TOKEN_ISSUED = "oidc:token:issued"
TOP = 10


@dataclass(frozen=True)
class AppTokens:
    client_id: str
    name_vi: str
    name_en: str
    total: int
    per_day: list[int]


@dataclass
class Figures:
    days: list[date]
    communes: frozenset[str] | None  # None = the whole province
    sign_ins_success: list[int]
    sign_ins_failure: list[int]
    citizens: int = 0
    second_factor: int = 0
    identity_level_2: int = 0
    active_sessions: int = 0
    tokens: list[AppTokens] = field(default_factory=list)
    failure_ips: list[tuple[str, int]] = field(default_factory=list)
    failure_apps: list[tuple[str, int]] = field(default_factory=list)

    @staticmethod
    def share(part: int, whole: int) -> float:
        return part / whole if whole else 0.0


def local_day(session: Session, column: Any) -> ColumnElement[Any]:
    """The Vietnam-time calendar day of a stored UTC timestamp, computed by the database."""
    hours = int(VIETNAM_OFFSET.total_seconds() // 3600)
    if session.get_bind().dialect.name == "sqlite":
        return func.date(column, f"+{hours} hours")
    return cast(column + VIETNAM_OFFSET, Date)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def window(now: datetime, days: int) -> tuple[list[date], datetime]:
    """The last ``days`` local days up to today, and the UTC time the first one starts."""
    today = (now + VIETNAM_OFFSET).date()
    first = today - timedelta(days=days - 1)
    return ([first + timedelta(days=i) for i in range(days)],
            datetime.combine(first, datetime.min.time()) - VIETNAM_OFFSET)


def _audit_scope(stmt: Select[Any], communes: frozenset[str] | None) -> Select[Any]:
    if communes is None:
        return stmt
    return (stmt.join(Citizen, Citizen.id == AuditEvent.citizen_id)
            .where(Citizen.commune_code.in_(sorted(communes))))


def _citizen_scope(stmt: Select[Any], communes: frozenset[str] | None) -> Select[Any]:
    return stmt if communes is None else stmt.where(Citizen.commune_code.in_(sorted(communes)))


def _per_day(days: Sequence[date], rows: Iterable[Any]) -> list[int]:
    counts = {_as_date(day): int(n) for day, n in rows}
    return [counts.get(day, 0) for day in days]


def compute(session: Session, staff: StaffAccount, *, days: int, now: datetime,
            policy: SessionPolicy) -> Figures:
    """The dashboard's figures. Raises ``AccessDenied`` without DASHBOARD_READ."""
    staff_access.require(staff, Permission.DASHBOARD_READ)
    if days not in PERIODS:
        days = DEFAULT_PERIOD
    communes = staff_access.visible_communes(staff)
    day_list, since = window(now, days)
    figures = Figures(day_list, communes, [0] * days, [0] * days)
    if communes is not None and not communes:
        return figures  # an officer without a commune sees nothing
    day = local_day(session, AuditEvent.created_at)
    recent = AuditEvent.created_at >= since

    # Sign-ins: one GROUP BY (day, outcome) over an index range per action.
    signed = select(day, AuditEvent.action, func.count()).where(
        AuditEvent.action.in_((SIGN_IN_SUCCESS, *SIGN_IN_FAILURES)), recent)
    success: dict[date, int] = defaultdict(int)
    failure: dict[date, int] = defaultdict(int)
    for d, action, n in session.execute(
            _audit_scope(signed, communes).group_by(day, AuditEvent.action)):
        (success if action == SIGN_IN_SUCCESS else failure)[_as_date(d)] += int(n)
    figures.sign_ins_success = [success.get(d, 0) for d in day_list]
    figures.sign_ins_failure = [failure.get(d, 0) for d in day_list]

    # Top sources of failures: addresses and apps.
    failed = AuditEvent.action.in_(SIGN_IN_FAILURES)
    n_failed = func.count().label("n")
    figures.failure_ips = [(ip, int(n)) for ip, n in session.execute(
        _audit_scope(select(AuditEvent.ip, n_failed).where(
            failed, recent, AuditEvent.ip.is_not(None)), communes)
        .group_by(AuditEvent.ip).order_by(n_failed.desc(), AuditEvent.ip).limit(TOP))]
    figures.failure_apps = [(cid, int(n)) for cid, n in session.execute(
        _audit_scope(select(AuditEvent.client_id, n_failed).where(
            failed, recent, AuditEvent.client_id.is_not(None)), communes)
        .group_by(AuditEvent.client_id).order_by(n_failed.desc(), AuditEvent.client_id)
        .limit(TOP))]

    # Population: citizens, identity level 2, a confirmed authenticator app.
    level2 = func.count().filter(Citizen.identity_level >= 2)
    total, verified = session.execute(
        _citizen_scope(select(func.count(), level2).select_from(Citizen), communes)).one()
    figures.citizens, figures.identity_level_2 = int(total or 0), int(verified or 0)
    totp = select(func.count()).select_from(TotpCredential).where(
        TotpCredential.confirmed_at.is_not(None))
    if communes is not None:
        totp = _citizen_scope(totp.join(Citizen, Citizen.id == TotpCredential.citizen_id),
                              communes)
    figures.second_factor = int(session.scalar(totp) or 0)

    # Live SSO sessions (expired ones linger until the purge: count by the clock instead).
    live = select(func.count()).select_from(SsoSession).where(
        SsoSession.last_seen_at > now - policy.idle,
        SsoSession.created_at > now - policy.absolute)
    if communes is not None:
        live = _citizen_scope(live.join(Citizen, Citizen.id == SsoSession.citizen_id), communes)
    figures.active_sessions = int(session.scalar(live) or 0)

    # Tokens issued per app and day.
    issued = select(AuditEvent.client_id, day, func.count()).where(
        AuditEvent.action == TOKEN_ISSUED, recent, AuditEvent.client_id.is_not(None))
    per_app: dict[str, list[tuple[Any, int]]] = defaultdict(list)
    for client_id, d, n in session.execute(
            _audit_scope(issued, communes).group_by(AuditEvent.client_id, day)):
        per_app[client_id].append((d, n))
    names = {c.client_id: (c.name_vi, c.name_en) for c in session.execute(
        select(Client.client_id, Client.name_vi, Client.name_en)
        .where(Client.client_id.in_(list(per_app))))} if per_app else {}
    for client_id, rows in per_app.items():
        counts = _per_day(day_list, rows)
        name_vi, name_en = names.get(client_id, (client_id, client_id))
        figures.tokens.append(AppTokens(client_id, name_vi, name_en, sum(counts), counts))
    figures.tokens.sort(key=lambda a: (-a.total, a.client_id))
    return figures
