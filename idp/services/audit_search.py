"""Searching and exporting the audit trail (staff console and ``tnid audit export``).

Who may: ``Permission.AUDIT_READ`` — province administrators and auditors, who see every
commune. Commune officers may not read the trail here: it holds other communes' citizens,
anonymous sign-in failures and staff actions; they see a citizen's recent entries on that
citizen's page (scoped there by ``staff_access.require_citizen``).

Speed with millions of entries: newest first, keyset pagination (the next page starts below
the last entry shown, never OFFSET), and each filter maps onto an index of ``audit_events``:
citizen -> (citizen_id, created_at), action -> (action, created_at), date range ->
(created_at), actor -> (actor_id). The CSV export walks the same query in batches, so memory
stays constant however many rows it writes.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from idp.models import AuditEvent, Citizen, StaffAccount
from idp.services import audit, staff_access
from idp.services import identifiers as ids
from idp.services.staff_access import Permission

PAGE_SIZE = 50
EXPORT_BATCH = 2000
VIETNAM_OFFSET = timedelta(hours=7)  # Asia/Ho_Chi_Minh has no daylight saving time
OUTCOMES = ("success", "failure")
_ACTION = re.compile(r"[a-z0-9_:]{1,64}\*?")
# Keys whose string values must never leave in an export, should a caller ever break the
# "no secrets in details" rule (counts such as {"recovery_codes": 10} are kept).
_SECRET_KEY = re.compile(r"password|secret|token|code|otp", re.IGNORECASE)
CSV_COLUMNS = ("id", "created_at", "actor_type", "actor_id", "citizen_id", "action",
               "outcome", "ip", "client_id", "details", "prev_hash", "hash")


MIN_YEAR, MAX_YEAR = 2000, 2100


class InvalidFilter(ValueError):
    def __init__(self, field_name: str, message: object) -> None:
        super().__init__(str(message))
        self.field = field_name
        self.message = message


@dataclass(frozen=True)
class Filters:
    """What the staff member typed (kept as text so forms and links can repeat it)."""

    actor: str = ""     # staff username or id, citizen CCCD or id
    citizen: str = ""   # citizen CCCD or id
    action: str = ""    # exact ("auth:login:success") or prefix ("staff:" or "auth:*")
    outcome: str = ""   # success | failure
    since: date | None = None  # local (Vietnam) dates, both inclusive
    until: date | None = None

    def as_args(self) -> dict[str, str]:
        """Query-string form, without the empty ones."""
        return {k: (v.isoformat() if isinstance(v, date) else v)
                for k, v in asdict(self).items() if v}

    def describe(self) -> dict[str, str]:
        """For the audit entry recording a search or an export: CCCD and phone numbers typed
        as actor or citizen are masked (the trail holds no full identity numbers)."""
        described = self.as_args()
        for name in ("actor", "citizen"):
            value = described.get(name, "")
            if sum(c.isdigit() for c in value) >= 6:
                described[name] = f"…{value[-4:]}"
        return described


def parse_filters(args: Mapping[str, str]) -> Filters:
    """From a query string or command-line options; raises ``InvalidFilter``."""
    def text(name: str, limit: int = 64) -> str:
        value = (args.get(name) or "").strip()
        if len(value) > limit:
            raise InvalidFilter(name, _l("This value is too long."))
        return value

    action = text("action").lower()
    if action and _ACTION.fullmatch(action) is None:
        raise InvalidFilter("action", _l("An action looks like auth:login:success or staff:."))
    outcome = text("outcome").lower()
    if outcome and outcome not in OUTCOMES:
        raise InvalidFilter("outcome", _l("Choose success or failure."))
    since, until = _date(args, "since"), _date(args, "until")
    if since and until and since > until:
        raise InvalidFilter("until", _l("The end date is before the start date."))
    return Filters(actor=text("actor"), citizen=text("citizen"), action=action,
                   outcome=outcome, since=since, until=until)


def _date(args: Mapping[str, str], name: str) -> date | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            day = datetime.strptime(raw[:10], fmt).date()
        except ValueError:
            continue
        # Far dates would overflow when turned into a UTC day boundary; the trail has none.
        if not MIN_YEAR <= day.year <= MAX_YEAR:
            raise InvalidFilter(name, _l("Enter a date between %(start)s and %(end)s.",
                                         start=MIN_YEAR, end=MAX_YEAR))
        return day
    raise InvalidFilter(name, _l("Enter a date as dd/mm/yyyy or yyyy-mm-dd."))


def local_day_start(day: date) -> datetime:
    """00:00 in Vietnam on ``day``, as the naive UTC the trail stores."""
    return datetime.combine(day, time()) - VIETNAM_OFFSET


@dataclass
class Page:
    entries: list[AuditEvent]
    next_before: int | None  # the cursor of the next (older) page, None on the last page
    citizens: dict[uuid.UUID, Citizen] = field(default_factory=dict)
    staff: dict[str, StaffAccount] = field(default_factory=dict)


def _citizen_ids(session: Session, raw: str) -> list[uuid.UUID]:
    """A CCCD or an internal id -> the citizen ids to match ([] = matches nothing)."""
    try:
        return [uuid.UUID(raw)]  # also finds the trail of a deleted account
    except ValueError:
        pass
    if ids.looks_like_cccd(raw):
        try:
            cccd = ids.normalize_cccd(raw)
        except ids.InvalidInput:
            return []
        found = session.scalar(select(Citizen.id).where(Citizen.cccd == cccd))
        return [found] if found else []
    return []


def _actor_ids(session: Session, raw: str) -> list[str]:
    """Staff username or id, citizen CCCD or id -> actor_id values to match."""
    matches: list[str] = []
    try:
        matches.append(str(uuid.UUID(raw)))
    except ValueError:
        pass
    staff_id = session.scalar(select(StaffAccount.id).where(StaffAccount.username == raw))
    if staff_id is not None:
        matches.append(str(staff_id))
    if ids.looks_like_cccd(raw):
        matches += [str(c) for c in _citizen_ids(session, raw)]
    return matches or [raw]  # a free-form actor id ("system", a client id) as typed


def query(session: Session, filters: Filters) -> Select[tuple[AuditEvent]]:
    """The filtered statement, unordered (callers add the keyset order)."""
    stmt = select(AuditEvent)
    if filters.citizen:
        stmt = stmt.where(AuditEvent.citizen_id.in_(_citizen_ids(session, filters.citizen)))
    if filters.actor:
        stmt = stmt.where(AuditEvent.actor_id.in_(_actor_ids(session, filters.actor)))
    if filters.action:
        if filters.action.endswith(("*", ":")):
            # LIKE, not a string range: under a linguistic collation (PostgreSQL's default)
            # punctuation such as ":" may be ignored, and the range would be wrong. Prefixes
            # are broad ("staff:", "auth:"), so the newest-first scan finds a page quickly.
            prefix = filters.action.rstrip("*").replace("_", "\\_")
            stmt = stmt.where(AuditEvent.action.like(prefix + "%", escape="\\"))
        else:
            stmt = stmt.where(AuditEvent.action == filters.action)
    if filters.outcome:
        stmt = stmt.where(AuditEvent.outcome == filters.outcome)
    if filters.since:
        stmt = stmt.where(AuditEvent.created_at >= local_day_start(filters.since))
    if filters.until:
        stmt = stmt.where(AuditEvent.created_at
                          < local_day_start(filters.until + timedelta(days=1)))
    return stmt


def _older_than(session: Session, stmt: Select[Any], before: int | None) -> Select[Any]:
    """Newest first by (created_at, id): the order the indexes on created_at serve. The
    cursor is the last id shown; its time is read back by primary key."""
    if before is None:
        return stmt
    when = session.scalar(select(AuditEvent.created_at).where(AuditEvent.id == before))
    if when is None:
        return stmt.where(AuditEvent.id < before)
    return stmt.where(or_(AuditEvent.created_at < when,
                          and_(AuditEvent.created_at == when, AuditEvent.id < before)))


def search(session: Session, staff: StaffAccount, filters: Filters, *,
           before: int | None = None, page_size: int = PAGE_SIZE) -> Page:
    """One page of entries, newest first. Raises ``AccessDenied`` without AUDIT_READ."""
    staff_access.require(staff, Permission.AUDIT_READ)
    stmt = _older_than(session, query(session, filters), before)
    rows = list(session.scalars(stmt.order_by(AuditEvent.created_at.desc(),
                                              AuditEvent.id.desc()).limit(page_size + 1)))
    more = len(rows) > page_size
    rows = rows[:page_size]
    page = Page(rows, rows[-1].id if more else None)
    # Names for the page in two small queries, not one per row.
    citizen_ids = {r.citizen_id for r in rows if r.citizen_id}
    if citizen_ids:
        page.citizens = {c.id: c for c in session.scalars(
            select(Citizen).where(Citizen.id.in_(citizen_ids)))}
    staff_ids = set()
    for r in rows:
        if r.actor_type == "staff" and r.actor_id:
            try:
                staff_ids.add(uuid.UUID(r.actor_id))
            except ValueError:
                continue
    if staff_ids:
        page.staff = {str(s.id): s for s in session.scalars(
            select(StaffAccount).where(StaffAccount.id.in_(staff_ids)))}
    return page


def record_access(session: Session, staff: StaffAccount, action: str, filters: Filters, *,
                  ip: str | None, now: datetime | None = None) -> None:
    """Reading the trail leaves a trace too ("staff:audit:viewed" / "staff:audit:exported")."""
    audit.record(session, action, actor_type="staff", actor_id=staff.id, ip=ip, now=now,
                 details={"filters": filters.describe()})


# --- CSV ------------------------------------------------------------------------------------

def safe_details(details: Mapping[str, Any] | None) -> dict[str, Any]:
    """The entry's details without anything that looks like a secret value."""
    return {k: ("[hidden]" if isinstance(v, str) and _SECRET_KEY.search(k) else v)
            for k, v in (details or {}).items()}


def _cell(value: object) -> str:
    """Text for a CSV cell; a leading = + - @ is neutralised so a spreadsheet never runs it
    as a formula (CSV injection through an attacker-chosen value)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _iso(value: datetime) -> str:
    return value.replace(tzinfo=UTC, microsecond=0).isoformat().replace("+00:00", "Z")


def csv_rows(session: Session, staff: StaffAccount, filters: Filters, *,
             batch: int = EXPORT_BATCH) -> Iterator[str]:
    """The export as CSV text chunks: a header row, then every matching entry newest first.
    Constant memory: one batch at a time, each a fresh keyset query (no open cursor held
    across yields, no ORM identity map growing)."""
    staff_access.require(staff, Permission.AUDIT_READ)  # now, not at the first chunk
    return _csv_chunks(session, filters, batch)


def _csv_chunks(session: Session, filters: Filters, batch: int) -> Iterator[str]:
    table = AuditEvent.__table__
    columns = [table.c[name] for name in CSV_COLUMNS]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue()
    base = query(session, filters).with_only_columns(*columns)
    cursor: tuple[datetime, int] | None = None
    while True:
        stmt = base
        if cursor is not None:
            when, last = cursor
            stmt = stmt.where(or_(AuditEvent.created_at < when,
                                  and_(AuditEvent.created_at == when, AuditEvent.id < last)))
        rows = session.execute(stmt.order_by(AuditEvent.created_at.desc(),
                                             AuditEvent.id.desc()).limit(batch)).all()
        if not rows:
            return
        buffer.seek(0)
        buffer.truncate()
        for row in rows:
            values = row._mapping
            writer.writerow([
                values["id"], _iso(values["created_at"]), _cell(values["actor_type"]),
                _cell(values["actor_id"]), values["citizen_id"] or "", _cell(values["action"]),
                _cell(values["outcome"]), _cell(values["ip"]), _cell(values["client_id"]),
                json.dumps(safe_details(values["details"]), ensure_ascii=False, sort_keys=True,
                           default=str),
                values["prev_hash"], values["hash"],
            ])
        yield buffer.getvalue()
        cursor = (rows[-1]._mapping["created_at"], rows[-1]._mapping["id"])
        if len(rows) < batch:
            return
