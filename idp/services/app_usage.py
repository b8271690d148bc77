"""How much each relying app is used, for the console's app list and app page.

Every query is a range on one app's rows (``client_id`` first, then a time bound), so its
cost follows that app's traffic in the window, not the size of the tokens table. The tokens
table only holds what housekeeping has not purged yet (expired tokens without a live refresh
token are deleted): counts of older issuance come from the audit trail's
``oidc:token:issued`` entries once the token endpoint records them.

No Flask request in here: callers pass ``now`` and the refresh-token idle lifetime.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, func, select
from sqlalchemy.orm import Session

from idp.models import AuditEvent, Consent, Token

WINDOW_DAYS = 30
# Days are counted in Vietnam's time (UTC+7, no daylight saving): stored times are naive UTC.
LOCAL_OFFSET = timedelta(hours=7)
# Audit actions under which the token endpoint records its answers (outcome success/failure).
TOKEN_ACTIONS = ("oidc:token:issued", "oidc:token:failure")


@dataclass(frozen=True)
class AppSummary:
    """One row of the app list."""

    tokens_30d: int
    last_used_at: datetime | None


@dataclass(frozen=True)
class AppUsage:
    """The app page's figures."""

    per_day: list[tuple[date, int]]  # WINDOW_DAYS local days, oldest first, zeros included
    tokens_30d: int
    active_refresh_tokens: int
    consenting_citizens: int
    last_used_at: datetime | None
    failed_token_requests: int | None  # None: the token endpoint records no audit entries

    @property
    def busiest_day(self) -> int:
        return max((n for _, n in self.per_day), default=0)


def window_start(now: datetime, days: int = WINDOW_DAYS) -> datetime:
    """The UTC instant at which the first local day of the window begins (today included)."""
    first_local_day = (now + LOCAL_OFFSET).date() - timedelta(days=days - 1)
    return datetime.combine(first_local_day, datetime.min.time()) - LOCAL_OFFSET


def summaries(session: Session, client_ids: Iterable[str], now: datetime
              ) -> dict[str, AppSummary]:
    """Tokens issued in the window and the last issuance, for each app. One correlated count
    and one max per app, each an index range of that app alone."""
    ids = list(client_ids)
    if not ids:
        return {}
    since = window_start(now)
    result: dict[str, AppSummary] = {}
    for client_id in ids:  # a province has dozens of apps: a few cheap statements each
        count = session.scalar(select(func.count()).select_from(Token).where(
            _issued_between(client_id, since)))
        last = session.scalar(select(func.max(Token.issued_at)).where(
            Token.client_id == client_id))
        result[client_id] = AppSummary(tokens_30d=count or 0, last_used_at=last)
    return result


def usage(session: Session, client_id: str, now: datetime, *,
          refresh_idle: timedelta) -> AppUsage:
    """The app page's figures. ``refresh_idle`` bounds the search for live refresh tokens:
    a refresh token never outlives its row's ``issued_at`` by more than the idle lifetime."""
    since = window_start(now)
    per_day = _per_day(session, client_id, since, now)
    active_refresh = session.scalar(select(func.count()).select_from(Token).where(
        Token.client_id == client_id, Token.issued_at > now - refresh_idle,
        Token.refresh_token_hash.is_not(None), Token.refresh_used_at.is_(None),
        Token.revoked_at.is_(None), Token.refresh_expires_at > now))
    consenting = session.scalar(select(func.count()).select_from(Consent).where(
        Consent.client_id == client_id))
    last = session.scalar(select(func.max(Token.issued_at)).where(Token.client_id == client_id))
    return AppUsage(per_day=per_day, tokens_30d=sum(n for _, n in per_day),
                    active_refresh_tokens=active_refresh or 0,
                    consenting_citizens=consenting or 0, last_used_at=last,
                    failed_token_requests=_failures(session, client_id, since))


def _issued_between(client_id: str, since: datetime) -> ColumnElement[bool]:
    return and_(Token.client_id == client_id, Token.issued_at >= since)


def _per_day(session: Session, client_id: str, since: datetime, now: datetime
             ) -> list[tuple[date, int]]:
    """Counts per local day, grouped in the database (a busy app issues too many tokens to
    fetch them): the day is the local time's date, computed by each dialect's own function."""
    local = _local_day(session)
    day = local(Token.issued_at)
    rows = session.execute(select(day, func.count()).where(_issued_between(client_id, since))
                           .group_by(day)).all()
    counts = {_as_date(value): n for value, n in rows}
    first = (since + LOCAL_OFFSET).date()
    last = (now + LOCAL_OFFSET).date()
    return [(first + timedelta(days=i), counts.get(first + timedelta(days=i), 0))
            for i in range((last - first).days + 1)]


def _local_day(session: Session):  # noqa: ANN202 - a column-expression builder
    hours = int(LOCAL_OFFSET.total_seconds() // 3600)
    if session.get_bind().dialect.name == "sqlite":
        return lambda column: func.date(column, f"+{hours} hours")
    return lambda column: func.date(column + timedelta(hours=hours))


def _as_date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _failures(session: Session, client_id: str, since: datetime) -> int | None:
    """Refused token requests in the window, from the audit trail; None when the token
    endpoint has never recorded an answer there (nothing to count, which is not zero)."""
    recorded = session.scalar(select(exists().where(AuditEvent.action.in_(TOKEN_ACTIONS))))
    if not recorded:
        return None
    return session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action.in_(TOKEN_ACTIONS), AuditEvent.created_at >= since,
        AuditEvent.client_id == client_id, AuditEvent.outcome == "failure")) or 0
