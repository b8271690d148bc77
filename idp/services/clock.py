"""One source of "now": naive UTC datetimes everywhere in storage; pages convert for display."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def epoch(naive_utc: datetime) -> int:
    """Seconds since 1970 for a stored (naive UTC) datetime, as JWT claims want them."""
    return int(naive_utc.replace(tzinfo=UTC).timestamp())
