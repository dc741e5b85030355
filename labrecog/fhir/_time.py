"""Partial FHIR dateTimes (``2025``, ``2025-10``, ``2025-10-25``) as instants, failing closed.

A FHIR ``dateTime`` may stop at the year, month or day; old results (C-CDA conversions,
archives) often do. The Case model needs an instant, and a guessed instant can make a
result look fresher than it is. So a partial **collection** time is read as the earliest
instant it can denote (the period's start at UTC+14:00, the earliest offset in use): the
result's age is then never under-estimated. A partial **report** time is read as the latest
(the period's end at UTC−12:00): never earlier than the report can have been issued.

Full timestamps are not handled here: they go through the Case model's own validator.
"""

from __future__ import annotations

import re
from calendar import monthrange
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

__all__ = ["EARLIEST_OFFSET", "LATEST_OFFSET", "Span", "partial_span", "widen"]

#: The earliest and latest UTC offsets in civil use (Line Islands; Baker Island).
EARLIEST_OFFSET = timezone(timedelta(hours=14))
LATEST_OFFSET = timezone(timedelta(hours=-12))

_PARTIAL = re.compile(r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?")


class Span(NamedTuple):
    """The first and the last instant a partial dateTime can denote."""

    first: datetime
    last: datetime


def partial_span(value: Any) -> Span | None:
    """The span of a year, year-month or date; None if ``value`` is not one of those.

    Raises ValueError for something shaped like one that is not a calendar date
    (``2025-02-30``, ``2025-13``): that is an input error, not a time to widen.
    """
    if not isinstance(value, str):
        return None
    match = _PARTIAL.fullmatch(value)
    if match is None:
        return None
    year = int(match[1])
    month = int(match[2]) if match[2] else None
    day = int(match[3]) if match[3] else None
    if year < 1 or (month is not None and not 1 <= month <= 12):
        raise ValueError(f"{value!r} is not a valid date")
    first_month, last_month = (month, month) if month is not None else (1, 12)
    last_of_month = monthrange(year, last_month)[1]
    if day is not None and not 1 <= day <= last_of_month:
        raise ValueError(f"{value!r} is not a valid date")
    first_day, last_day = (day, day) if day is not None else (1, last_of_month)
    first = datetime(year, first_month, first_day, tzinfo=EARLIEST_OFFSET)
    last = datetime(year, last_month, last_day, 23, 59, 59, 999_999, tzinfo=LATEST_OFFSET)
    return Span(first, last)


def widen(prior: dict[str, Any], ordered: datetime | None) -> dict[str, str]:
    """Replace a partial ``collected_at`` / ``reported_at`` of a prior result by an instant.

    Collection: the earliest instant, except when the result is dated on or after the
    order's calendar day (in the order's own offset) and has no report time: then it may
    have been collected after the order (it may be this order's own result), so it is read
    as the latest instant and the engine finds it collected after the order
    (``future_result``) instead of using it. A report time settles that: collected before
    reported, and reported before the order, is before the order. Report: the latest.
    Returns the problems, by field.
    """
    problems: dict[str, str] = {}
    spans: dict[str, Span] = {}
    for field in ("collected_at", "reported_at"):
        try:
            span = partial_span(prior.get(field))
        except ValueError as exc:
            problems[field] = str(exc)
            continue
        if span is not None:
            spans[field] = span
    collected = spans.get("collected_at")
    if collected is not None:
        unsettled = (
            "reported_at" not in prior
            and ordered is not None
            and collected.last.date() >= ordered.date()
        )
        prior["collected_at"] = (collected.last if unsettled else collected.first).isoformat()
    reported = spans.get("reported_at")
    if reported is not None:
        prior["reported_at"] = reported.last.isoformat()
    return problems
