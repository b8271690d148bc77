"""One source of "now": naive UTC datetimes everywhere in storage; pages convert for display."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
