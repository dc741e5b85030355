"""What ``labrecog audit`` reads: override rates over a period, from the store.

The unit is a card about one ordered item (``waive`` or ``partial``) issued in the period
(``issued_at``: a re-issued card counts once, when it was last issued). Its outcome is its
latest feedback (by ``outcomeTimestamp``, then arrival), whenever that arrived; a card with
none is "no feedback". Override rate = overridden / (accepted + overridden): cards without
feedback are left out, since nobody said what became of them. Order-level cards (the
summary card, the authorisation notice) offer nothing to accept: they are counted apart,
with how many were dismissed. Periods are half-open, ``from`` ≤ issued < ``to``, in days
of the given time zone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, exists, select
from sqlalchemy.sql import ColumnElement

from labrecog.batch.aggregate import format_rate
from labrecog.server.audit._schema import CARD, FEEDBACK

__all__ = ["ORDER_LEVEL", "Period", "audit_data"]

ORDER_LEVEL = frozenset({"summary", "authorization"})


@dataclass(frozen=True, slots=True)
class Period:
    """``start`` ≤ issued < ``end``, days in ``timezone`` (None: open on that side)."""

    start: date | None = None
    end: date | None = None
    timezone: str = "UTC"

    def _instant(self, day: date | None) -> str | None:
        if day is None:
            return None
        local = datetime.combine(day, time(0), tzinfo=ZoneInfo(self.timezone))
        # the stored form: UTC, milliseconds, so text comparison is time comparison
        return local.astimezone(UTC).isoformat(timespec="milliseconds")

    def where(self, column: Any) -> list[ColumnElement[bool]]:
        low, high = self._instant(self.start), self._instant(self.end)
        out: list[ColumnElement[bool]] = []
        if low is not None:
            out.append(column >= low)
        if high is not None:
            out.append(column < high)
        return out

    def as_dict(self) -> dict[str, str | None]:
        return {
            "from": self.start.isoformat() if self.start else None,
            "to": self.end.isoformat() if self.end else None,
            "timezone": self.timezone,
        }


@dataclass(slots=True)
class _Tally:
    cards: int = 0
    accepted: int = 0
    overridden: int = 0

    def add(self, outcome: str | None) -> None:
        self.cards += 1
        if outcome == "accepted":
            self.accepted += 1
        elif outcome == "overridden":
            self.overridden += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "cards": self.cards,
            "accepted": self.accepted,
            "overridden": self.overridden,
            "no_feedback": self.cards - self.accepted - self.overridden,
            "override_rate": format_rate(self.overridden, self.accepted + self.overridden),
        }


@dataclass(slots=True)
class _Groups:
    """Tallies by one key; rows sorted by cards (most first), then key, None last."""

    name: str
    tallies: dict[str | None, _Tally] = field(default_factory=dict)

    def add(self, key: str | None, outcome: str | None) -> None:
        self.tallies.setdefault(key, _Tally()).add(outcome)

    def rows(self) -> list[dict[str, Any]]:
        ordered = sorted(
            self.tallies.items(), key=lambda kv: (-kv[1].cards, kv[0] is None, kv[0] or "")
        )
        return [{self.name: key, **tally.as_dict()} for key, tally in ordered]


def _moment(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp)


def _latest(conn: Connection, period: Period) -> dict[str, Any]:
    """card uuid -> its latest feedback row, for the cards issued in the period."""
    issued = select(CARD.c.card_uuid).where(*period.where(CARD.c.issued_at))
    rows = conn.execute(
        select(
            FEEDBACK.c.id,
            FEEDBACK.c.card_uuid,
            FEEDBACK.c.outcome,
            FEEDBACK.c.override_system,
            FEEDBACK.c.override_code,
            FEEDBACK.c.override_display,
            FEEDBACK.c.outcome_timestamp,
        ).where(FEEDBACK.c.card_uuid.in_(issued))
    )
    latest: dict[str, Any] = {}
    for row in rows:
        seen = latest.get(row.card_uuid)
        key = (_moment(row.outcome_timestamp), row.id)
        if seen is None or key > (_moment(seen.outcome_timestamp), seen.id):
            latest[row.card_uuid] = row
    return latest


def _reasons(overrides: Iterable[Any]) -> list[dict[str, Any]]:
    """Overridden cards by the coded reason of their latest feedback (None: no code)."""
    counts: dict[tuple[str | None, str | None], int] = {}
    display: dict[tuple[str | None, str | None], str | None] = {}
    for row in overrides:
        key = (row.override_system, row.override_code) if row.override_code else (None, None)
        counts[key] = counts.get(key, 0) + 1
        display[key] = display.get(key) or (row.override_display if key[1] else None)
    total = sum(counts.values())
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][1] is None, kv[0][1] or ""))
    return [
        {
            "system": system,
            "code": code,
            "display": display[(system, code)],
            "overridden": n,
            "share": format_rate(n, total),
        }
        for (system, code), n in ordered
    ]


def _unknown_card_feedback(conn: Connection, period: Period) -> int:
    """Feedback received in the period on a card this store never issued."""
    issued = exists().where(CARD.c.card_uuid == FEEDBACK.c.card_uuid)
    query = select(FEEDBACK.c.id).where(and_(~issued, *period.where(FEEDBACK.c.received_at)))
    return len(conn.execute(query).all())


def audit_data(conn: Connection, period: Period) -> dict[str, Any]:
    """The audit of one period as JSON-ready data (``labrecog audit --json``)."""
    latest = _latest(conn, period)
    cards = conn.execute(
        select(
            CARD.c.card_uuid,
            CARD.c.item_code,
            CARD.c.status,
            CARD.c.user_id,
            CARD.c.department,
        ).where(*period.where(CARD.c.issued_at))
    )
    total = _Tally()
    tests, departments, users = _Groups("test"), _Groups("department"), _Groups("user")
    order_cards = dismissed = 0
    overrides: list[Any] = []
    for card in cards:
        feedback = latest.get(card.card_uuid)
        outcome = feedback.outcome if feedback is not None else None
        if card.status in ORDER_LEVEL:
            order_cards += 1
            dismissed += outcome == "overridden"
            continue
        total.add(outcome)
        tests.add(card.item_code, outcome)
        departments.add(card.department, outcome)
        users.add(card.user_id, outcome)
        if outcome == "overridden":
            overrides.append(feedback)
    return {
        "period": period.as_dict(),
        "totals": {
            **total.as_dict(),
            "order_cards": order_cards,
            "order_cards_dismissed": dismissed,
            "feedback_on_unknown_cards": _unknown_card_feedback(conn, period),
        },
        "by_test": tests.rows(),
        "by_reason": _reasons(overrides),
        "by_department": departments.rows(),
        "by_user": users.rows(),
    }
