"""Figures for the staff dashboard, for the province or, for a commune officer, their communes.

Every figure is one aggregate query computed by the database (GROUP BY local day, COUNT), so
the page costs the same with 1.3 million citizens and millions of audit entries as with ten:
- sign-ins per day: a range on the (action, created_at) index of audit_events;
- tokens issued per app per day: the "oidc:token:issued" audit entries (the tokens table is
  purged once tokens expire, so it cannot tell what was issued a month ago);
- second-factor adoption and identity level 2: counts over citizens (by commune_code for an
  officer);
- active SSO sessions: rows not yet idle or past their absolute lifetime.

Finished days never change (the trail is append-only), so a ``DayCache`` keeps their counts
in the process: a page view counts today's entries only (the first view of the day counts the
whole period once).

An officer's figures join audit rows to citizens on citizen_id and keep their communes only:
entries about no citizen (an unknown account typed at sign-in) are province-wide figures.
"""

from __future__ import annotations

import threading
from collections import defaultdict
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
SOURCES_DAYS = 7  # top sources of failures: the last week


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


@dataclass
class _Day:
    success: int = 0
    failure: int = 0
    tokens: dict[str, int] = field(default_factory=dict)


class DayCache:
    """What a finished local day's figures were, kept in this process's memory.

    Why: counting a month of sign-ins and tokens is a range scan of hundreds of thousands of
    audit entries (measured in bench/audit_dashboard.py), yet a day that is over never
    changes: the trail is append-only and entries are stamped with the time they are
    written. So each process counts a finished day once per scope (the province, or one set
    of communes) and then only today. A day counts as finished ``SETTLE`` after its
    midnight, so an entry committed a moment after midnight is not missed.

    Population figures (for the province a scan of every citizen) are kept
    ``population_ttl`` per scope.
    """

    SETTLE = timedelta(minutes=10)
    KEEP_DAYS = max(PERIODS) + 2

    def __init__(self, population_ttl: timedelta = timedelta(minutes=5)) -> None:
        self.population_ttl = population_ttl
        self._days: dict[frozenset[str] | None, dict[date, _Day]] = {}
        self._population: dict[frozenset[str] | None,
                               tuple[datetime, tuple[int, int, int]]] = {}
        self._lock = threading.Lock()

    def finished(self, day: date, now: datetime) -> bool:
        end = datetime.combine(day + timedelta(days=1), datetime.min.time()) - VIETNAM_OFFSET
        return end + self.SETTLE <= now

    def days(self, scope: frozenset[str] | None) -> dict[date, _Day]:
        with self._lock:
            return dict(self._days.get(scope, {}))

    def keep(self, scope: frozenset[str] | None, found: dict[date, _Day], now: datetime
             ) -> None:
        oldest = (now + VIETNAM_OFFSET).date() - timedelta(days=self.KEEP_DAYS)
        with self._lock:
            days = self._days.setdefault(scope, {})
            days.update({d: v for d, v in found.items() if self.finished(d, now)})
            for d in [d for d in days if d < oldest]:
                del days[d]

    def population(self, scope: frozenset[str] | None, now: datetime
                   ) -> tuple[int, int, int] | None:
        with self._lock:
            kept = self._population.get(scope)
            return kept[1] if kept is not None and kept[0] > now else None

    def keep_population(self, scope: frozenset[str] | None, value: tuple[int, int, int],
                        now: datetime) -> None:
        with self._lock:
            for old in [k for k, (until, _) in self._population.items() if until <= now]:
                del self._population[old]
            self._population[scope] = (now + self.population_ttl, value)


def compute(session: Session, staff: StaffAccount, *, days: int, now: datetime,
            policy: SessionPolicy, cache: DayCache | None = None) -> Figures:
    """The dashboard's figures. Raises ``AccessDenied`` without DASHBOARD_READ. With a
    ``cache``, finished days are counted once per process (see ``DayCache``)."""
    staff_access.require(staff, Permission.DASHBOARD_READ)
    if days not in PERIODS:
        days = DEFAULT_PERIOD
    communes = staff_access.visible_communes(staff)
    day_list, _ = window(now, days)
    figures = Figures(day_list, communes, [0] * days, [0] * days)
    if communes is not None and not communes:
        return figures  # an officer without a commune sees nothing
    per_day = _daily(session, communes, day_list, now, cache)
    figures.sign_ins_success = [per_day[d].success for d in day_list]
    figures.sign_ins_failure = [per_day[d].failure for d in day_list]

    # Top sources of failures (addresses and apps) over the last week whatever the period:
    # what matters is who is attacking now, and a week bounds the rows read (one pass).
    source_since = window(now, min(days, SOURCES_DAYS))[1]
    by_ip: dict[str, int] = defaultdict(int)
    by_app: dict[str, int] = defaultdict(int)
    for ip, client_id, n in session.execute(_audit_scope(
            select(AuditEvent.ip, AuditEvent.client_id, func.count()).where(
                AuditEvent.action.in_(SIGN_IN_FAILURES),
                AuditEvent.created_at >= source_since), communes)
            .group_by(AuditEvent.ip, AuditEvent.client_id)):
        if ip:
            by_ip[ip] += int(n)
        if client_id:
            by_app[client_id] += int(n)
    figures.failure_ips = sorted(by_ip.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]
    figures.failure_apps = sorted(by_app.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]

    # Population: citizens, identity level 2, a confirmed authenticator app.
    known = cache.population(communes, now) if cache is not None else None
    if known is None:
        known = _population(session, communes)
        if cache is not None:
            cache.keep_population(communes, known, now)
    figures.citizens, figures.identity_level_2, figures.second_factor = known

    # Live SSO sessions (expired ones linger until the purge: count by the clock instead).
    live = select(func.count()).select_from(SsoSession).where(
        SsoSession.last_seen_at > now - policy.idle,
        SsoSession.created_at > now - policy.absolute)
    if communes is not None:
        live = _citizen_scope(live.join(Citizen, Citizen.id == SsoSession.citizen_id), communes)
    figures.active_sessions = int(session.scalar(live) or 0)

    # Tokens issued per app and day.
    apps = sorted({cid for d in day_list for cid in per_day[d].tokens})
    names = {c.client_id: (c.name_vi, c.name_en) for c in session.execute(
        select(Client.client_id, Client.name_vi, Client.name_en)
        .where(Client.client_id.in_(apps)))} if apps else {}
    for client_id in apps:
        counts = [per_day[d].tokens.get(client_id, 0) for d in day_list]
        name_vi, name_en = names.get(client_id, (client_id, client_id))
        figures.tokens.append(AppTokens(client_id, name_vi, name_en, sum(counts), counts))
    figures.tokens.sort(key=lambda a: (-a.total, a.client_id))
    return figures


def _daily(session: Session, communes: frozenset[str] | None, day_list: list[date],
           now: datetime, cache: DayCache | None) -> dict[date, _Day]:
    """Sign-ins (success, failure) and tokens per app for each day: finished days from the
    cache, the others counted from the first of them on (one GROUP BY per figure)."""
    known = cache.days(communes) if cache is not None else {}
    missing = [d for d in day_list if d not in known or not cache or not cache.finished(d, now)]
    found: dict[date, _Day] = {d: _Day() for d in missing}
    if missing:
        # One pass for sign-ins and tokens (an officer's pass probes each of their
        # citizens' entries: doing it once, not once per figure).
        day = local_day(session, AuditEvent.created_at)
        counted = select(day, AuditEvent.action, AuditEvent.client_id, func.count()).where(
            AuditEvent.action.in_((SIGN_IN_SUCCESS, *SIGN_IN_FAILURES, TOKEN_ISSUED)),
            AuditEvent.created_at >= (
                datetime.combine(missing[0], datetime.min.time()) - VIETNAM_OFFSET))
        for d, action, client_id, n in session.execute(_audit_scope(counted, communes)
                .group_by(day, AuditEvent.action, AuditEvent.client_id)):
            entry = found.get(_as_date(d))
            if entry is None:  # a day already known
                continue
            if action == SIGN_IN_SUCCESS:
                entry.success += int(n)
            elif action == TOKEN_ISSUED:
                if client_id:
                    entry.tokens[client_id] = entry.tokens.get(client_id, 0) + int(n)
            else:
                entry.failure += int(n)
        if cache is not None:
            cache.keep(communes, found, now)
    return {**known, **found}


def _population(session: Session, communes: frozenset[str] | None) -> tuple[int, int, int]:
    """(citizens, at identity level 2, with a confirmed authenticator app)."""
    level2 = func.count().filter(Citizen.identity_level >= 2)
    total, verified = session.execute(
        _citizen_scope(select(func.count(), level2).select_from(Citizen), communes)).one()
    totp = select(func.count()).select_from(TotpCredential).where(
        TotpCredential.confirmed_at.is_not(None))
    if communes is not None:
        totp = _citizen_scope(totp.join(Citizen, Citizen.id == TotpCredential.citizen_id),
                              communes)
    return int(total or 0), int(verified or 0), int(session.scalar(totp) or 0)
