"""Token identifier: whole minutes since the key's base date, 24 bits (sts-notes 4.2).

Pure: the time of issue is always an argument; this module never reads a clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hil.sts.errors import FieldError

TID_BITS = 24
TID_MAX = (1 << TID_BITS) - 1
BASE_DATES: dict[int, datetime] = {
    year: datetime(year, 1, 1, tzinfo=UTC) for year in (1993, 2014, 2035)
}


def base_date(year: int) -> datetime:
    try:
        return BASE_DATES[year]
    except KeyError:
        raise FieldError(
            f"base date {year} is not an STS base date; use 1993, 2014 or 2035"
        ) from None


def _as_utc(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise FieldError(
            f"time {when.isoformat()} has no time zone; STS TIDs are UTC (2018 edition)"
        )
    return when.astimezone(UTC)


def tid_from_datetime(when: datetime, base_year: int = 1993) -> int:
    """TID of a token issued at ``when`` (seconds are discarded)."""
    minutes = (_as_utc(when) - base_date(base_year)) // timedelta(minutes=1)
    if minutes < 0:
        raise FieldError(f"time {when.isoformat()} is before base date {base_year}-01-01")
    if minutes > TID_MAX:
        last = datetime_from_tid(TID_MAX, base_year).strftime("%Y-%m-%d %H:%M")
        raise FieldError(
            f"time {when.isoformat()} is past the last TID of base date {base_year} ({last} UTC);"
            " use a later base date (needs a rollover key change)"
        )
    return minutes


def datetime_from_tid(tid: int, base_year: int = 1993) -> datetime:
    check_tid(tid)
    return base_date(base_year) + timedelta(minutes=tid)


def check_tid(tid: int) -> int:
    if not 0 <= tid <= TID_MAX:
        raise FieldError(f"TID {tid} is outside 0..{TID_MAX} (24 bits)")
    return tid


def tid_key_epoch(tid: int) -> int:
    """Top 8 bits of the TID, compared with the key expiry number KEN."""
    return tid >> 16
