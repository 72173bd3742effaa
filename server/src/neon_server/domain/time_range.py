"""The span of time the analytics store can be asked about.

Span times are nanoseconds since 1970, and the daily rollups are ClickHouse `Date`s, which end on 2149-06-06: a
query bound outside that span would overflow or wrap around, and no span can lie outside it.
"""

from __future__ import annotations

from datetime import UTC, datetime

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2149, 6, 6, tzinfo=UTC)


def within_store_range(value: datetime) -> datetime:
    """`value` in UTC, moved to the nearest end of the span when outside it (naive means UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if value < EARLIEST:  # compared before converting: far-off times with an offset overflow astimezone()
        return EARLIEST
    if value > LATEST:
        return LATEST
    return value.astimezone(UTC)
