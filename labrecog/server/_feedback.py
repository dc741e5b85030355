"""Card feedback (CDS Hooks 2.0 §Feedback): parsing, and the stores that keep it.

Two tables. ``cds_card`` records every card the service issued (which order, which
ordered item, which ServiceRequest, which prior Observation; for the order's summary card
and the authorisation notice, the order alone), so that feedback, which names only the
card uuid, can be joined to the order. ``cds_feedback`` records each
feedback item as received: outcome, accepted suggestion ids, override reason coding and
the user's comment. Neither holds a result value or patient demographics.

The default store is an SQLite file (stdlib ``sqlite3``, WAL mode). A ``postgresql://``
URL selects :class:`PostgresFeedbackStore`, which needs ``psycopg`` (3.x) installed.
"""

from __future__ import annotations

import importlib
import re
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson

from labrecog.server._errors import ServiceError

__all__ = [
    "DEFAULT_FEEDBACK_DB",
    "FeedbackItem",
    "FeedbackStore",
    "IssuedCard",
    "PostgresFeedbackStore",
    "SQLiteFeedbackStore",
    "open_feedback_store",
    "parse_feedback",
]

DEFAULT_FEEDBACK_DB = "labrecog-feedback.sqlite3"
MAX_FEEDBACK_ITEMS = 1000
MAX_ID = 256
MAX_COMMENT = 4000


@dataclass(frozen=True, slots=True)
class IssuedCard:
    """What the service said, for joining feedback to orders (no patient values)."""

    card_uuid: str
    service_id: str
    hook_instance: str
    order_id: str
    # A card about one ordered item: its code, waive | partial, its ServiceRequest, the
    # results it relies on, its delete suggestion. A card about the whole order (summary,
    # authorization): item_code "*", no ServiceRequest (""), no results, no suggestion,
    # so feedback on it (overridden: dismissed) still joins to the order.
    item_code: str
    status: str  # waive | partial | summary | authorization
    service_request: str  # "ServiceRequest/<id>", or "" for an order-level card
    observations: tuple[str, ...]  # the prior results relied on, "Observation/<id>"
    suggestion_uuid: str | None
    ruleset: str  # "<id> <version>"
    ruleset_digest: str


@dataclass(frozen=True, slots=True)
class FeedbackItem:
    card_uuid: str
    outcome: str  # accepted | overridden
    accepted_suggestions: tuple[str, ...]
    override_system: str | None
    override_code: str | None
    override_display: str | None
    user_comment: str | None
    outcome_timestamp: str  # normalised to UTC, ISO 8601


class FeedbackStore(Protocol):
    """Where issued cards and their feedback go. Implementations are thread-safe."""

    def record_cards(self, cards: Sequence[IssuedCard]) -> None: ...

    def record_feedback(self, service_id: str, items: Sequence[FeedbackItem]) -> int: ...

    def close(self) -> None: ...


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


# --------------------------------------------------------------------------- parsing


def _bad(message: str, path: str) -> ServiceError:
    return ServiceError(400, "bad_feedback", message, code="structure", expression=[path])


_MISSING: Any = object()


def _string(value: Any, path: str, limit: int = MAX_ID) -> str:
    if not isinstance(value, str) or not value or len(value) > limit:
        raise _bad(f"{path} must be a non-empty string of at most {limit} characters", path)
    return value


def _optional_string(obj: dict[str, Any], key: str, path: str, limit: int = MAX_ID) -> str | None:
    value = _present(obj, key, path)
    return None if value is _MISSING else _string(value, path, limit)


def _present(obj: dict[str, Any], key: str, path: str) -> Any:
    """An optional member: ``_MISSING`` when absent; ``null`` is refused (CDS Hooks:
    "JSON elements SHALL NOT be null, unless otherwise specified")."""
    value = obj.get(key, _MISSING)
    if value is None:
        raise _bad(f"{path} must not be null (omit it instead)", path)
    return value


_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$"
)


def _timestamp(value: Any, path: str) -> str:
    text = _string(value, path, 64)
    match = _RFC3339.match(text)
    parsed: datetime | None = None
    if match:
        day, clock, fraction, offset = match.groups()
        micro = f".{(fraction or '')[:6]:0<6}" if fraction else ""
        zone = "+00:00" if offset in ("Z", "z") else offset
        try:
            parsed = datetime.fromisoformat(f"{day}T{clock}{micro}{zone}")
        except ValueError:
            parsed = None
    if parsed is None:
        raise _bad(f"{path} must be an RFC 3339 date-time with a UTC offset", path)
    return parsed.astimezone(UTC).isoformat()


def parse_feedback(body: Any) -> list[FeedbackItem]:
    """The ``feedback`` array of a feedback POST, checked; 400 names the first problem."""
    if not isinstance(body, dict):
        raise _bad("the request body must be a JSON object", "$")
    entries = body.get("feedback")
    if not isinstance(entries, list) or not entries:
        raise _bad("feedback must be a non-empty array", "feedback")
    if len(entries) > MAX_FEEDBACK_ITEMS:
        raise _bad(f"at most {MAX_FEEDBACK_ITEMS} feedback items per request", "feedback")
    items: list[FeedbackItem] = []
    for i, entry in enumerate(entries):
        at = f"feedback[{i}]"
        if not isinstance(entry, dict):
            raise _bad(f"{at} must be an object", at)
        card = _string(entry.get("card"), f"{at}.card")
        outcome = entry.get("outcome")
        if outcome not in ("accepted", "overridden"):
            raise _bad(f"{at}.outcome must be 'accepted' or 'overridden'", f"{at}.outcome")
        accepted: list[str] = []
        raw_accepted = _present(entry, "acceptedSuggestions", f"{at}.acceptedSuggestions")
        if raw_accepted is not _MISSING or outcome == "accepted":
            if not isinstance(raw_accepted, list) or not raw_accepted:
                raise _bad(
                    f"{at}.acceptedSuggestions must be a non-empty array"
                    + (" for an accepted outcome" if outcome == "accepted" else ""),
                    f"{at}.acceptedSuggestions",
                )
            for j, suggestion in enumerate(raw_accepted):
                where = f"{at}.acceptedSuggestions[{j}]"
                if not isinstance(suggestion, dict):
                    raise _bad(f"{where} must be an object with an id", where)
                accepted.append(_string(suggestion.get("id"), f"{where}.id"))
        system = code = display = comment = None
        reason_obj = _present(entry, "overrideReason", f"{at}.overrideReason")
        if reason_obj is not _MISSING:
            where = f"{at}.overrideReason"
            if not isinstance(reason_obj, dict):
                raise _bad(f"{where} must be an object", where)
            coding = _present(reason_obj, "reason", f"{where}.reason")
            if coding is not _MISSING:
                if not isinstance(coding, dict):
                    raise _bad(f"{where}.reason must be a Coding object", f"{where}.reason")
                system = _optional_string(coding, "system", f"{where}.reason.system")
                code = _string(coding.get("code"), f"{where}.reason.code")
                display = _optional_string(coding, "display", f"{where}.reason.display", 1024)
            comment = _optional_string(
                reason_obj, "userComment", f"{where}.userComment", MAX_COMMENT
            )
        items.append(
            FeedbackItem(
                card_uuid=card,
                outcome=outcome,
                accepted_suggestions=tuple(accepted),
                override_system=system,
                override_code=code,
                override_display=display,
                user_comment=comment,
                outcome_timestamp=_timestamp(
                    entry.get("outcomeTimestamp"), f"{at}.outcomeTimestamp"
                ),
            )
        )
    return items


# --------------------------------------------------------------------------- schema

# One definition for both stores; only the feedback row id's type differs.
_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS cds_card (
        card_uuid       TEXT PRIMARY KEY,
        service_id      TEXT NOT NULL,
        hook_instance   TEXT NOT NULL,
        order_id        TEXT NOT NULL,
        item_code       TEXT NOT NULL,
        status          TEXT NOT NULL,
        service_request TEXT NOT NULL,
        observations    TEXT NOT NULL,
        suggestion_uuid TEXT,
        ruleset         TEXT NOT NULL,
        ruleset_digest  TEXT NOT NULL,
        issued_at       TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS cds_feedback (
        id                   {id_type},
        received_at          TEXT NOT NULL,
        service_id           TEXT NOT NULL,
        card_uuid            TEXT NOT NULL,
        order_id             TEXT,
        item_code            TEXT,
        outcome              TEXT NOT NULL CHECK (outcome IN ('accepted', 'overridden')),
        accepted_suggestions TEXT NOT NULL,
        override_system      TEXT,
        override_code        TEXT,
        override_display     TEXT,
        user_comment         TEXT,
        outcome_timestamp    TEXT NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS cds_feedback_card ON cds_feedback (card_uuid)",
    "CREATE INDEX IF NOT EXISTS cds_card_order ON cds_card (order_id)",
)


def _schema(id_type: str) -> tuple[str, ...]:
    return tuple(statement.replace("{id_type}", id_type) for statement in _SCHEMA)


_SQLITE_SCHEMA = _schema("INTEGER PRIMARY KEY AUTOINCREMENT")
_PG_SCHEMA = _schema("BIGSERIAL PRIMARY KEY")

_CARD_COLUMNS = (
    "card_uuid, service_id, hook_instance, order_id, item_code, status, service_request, "
    "observations, suggestion_uuid, ruleset, ruleset_digest, issued_at"
)
_FEEDBACK_COLUMNS = (
    "received_at, service_id, card_uuid, order_id, item_code, outcome, accepted_suggestions, "
    "override_system, override_code, override_display, user_comment, outcome_timestamp"
)


def _card_row(card: IssuedCard, now: str) -> tuple[Any, ...]:
    return (
        card.card_uuid,
        card.service_id,
        card.hook_instance,
        card.order_id,
        card.item_code,
        card.status,
        card.service_request,
        orjson.dumps(list(card.observations)).decode(),
        card.suggestion_uuid,
        card.ruleset,
        card.ruleset_digest,
        now,
    )


def _feedback_row(
    item: FeedbackItem, service_id: str, joined: tuple[str, str] | None, now: str
) -> tuple[Any, ...]:
    return (
        now,
        service_id,
        item.card_uuid,
        joined[0] if joined else None,
        joined[1] if joined else None,
        item.outcome,
        orjson.dumps(list(item.accepted_suggestions)).decode(),
        item.override_system,
        item.override_code,
        item.override_display,
        item.user_comment,
        item.outcome_timestamp,
    )


# --------------------------------------------------------------------------- SQLite


class SQLiteFeedbackStore:
    """One connection, serialised by a lock; WAL so readers never block the service."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        for statement in _SQLITE_SCHEMA:
            self._db.execute(statement)

    def record_cards(self, cards: Sequence[IssuedCard]) -> None:
        if not cards:
            return
        now = _now()
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    f"INSERT OR REPLACE INTO cds_card ({_CARD_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [_card_row(c, now) for c in cards],
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def record_feedback(self, service_id: str, items: Sequence[FeedbackItem]) -> int:
        now = _now()
        with self._lock:
            self._db.execute("BEGIN")
            try:
                rows = []
                for item in items:
                    found = self._db.execute(
                        "SELECT order_id, item_code FROM cds_card WHERE card_uuid = ?",
                        (item.card_uuid,),
                    ).fetchone()
                    rows.append(_feedback_row(item, service_id, found, now))
                self._db.executemany(
                    f"INSERT INTO cds_feedback ({_FEEDBACK_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return len(items)

    def close(self) -> None:
        with self._lock:
            self._db.close()


# --------------------------------------------------------------------------- PostgreSQL


class PostgresFeedbackStore:
    """The same two tables in PostgreSQL, through psycopg 3 (``pip install psycopg``)."""

    def __init__(self, url: str) -> None:
        try:
            self._psycopg: Any = importlib.import_module("psycopg")
        except ImportError:
            raise RuntimeError(
                "a postgresql:// feedback store needs psycopg: pip install 'psycopg[binary]'"
            ) from None
        self.url = url
        self._lock = threading.Lock()
        self._conn: Any = self._connect()
        with self._conn.transaction():
            for statement in _PG_SCHEMA:
                self._conn.execute(statement)

    def _connect(self) -> Any:
        return self._psycopg.connect(self.url, autocommit=True)

    def _run(self, work: Any) -> Any:
        # One reconnect on a dropped connection; anything else is the caller's error.
        with self._lock:
            if self._conn.closed:
                self._conn = self._connect()
            try:
                with self._conn.transaction():
                    return work(self._conn)
            except self._psycopg.OperationalError:
                self._conn = self._connect()
                with self._conn.transaction():
                    return work(self._conn)

    def record_cards(self, cards: Sequence[IssuedCard]) -> None:
        if not cards:
            return
        now = _now()
        rows = [_card_row(c, now) for c in cards]
        updates = ", ".join(f"{col} = EXCLUDED.{col}" for col in _CARD_COLUMNS.split(", ")[1:])

        def work(conn: Any) -> None:
            with conn.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO cds_card ({_CARD_COLUMNS}) VALUES "
                    f"({', '.join(['%s'] * 12)}) "
                    f"ON CONFLICT (card_uuid) DO UPDATE SET {updates}",
                    rows,
                )

        self._run(work)

    def record_feedback(self, service_id: str, items: Sequence[FeedbackItem]) -> int:
        now = _now()

        def work(conn: Any) -> int:
            rows = []
            for item in items:
                found = conn.execute(
                    "SELECT order_id, item_code FROM cds_card WHERE card_uuid = %s",
                    (item.card_uuid,),
                ).fetchone()
                rows.append(_feedback_row(item, service_id, found, now))
            with conn.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO cds_feedback ({_FEEDBACK_COLUMNS}) VALUES "
                    f"({', '.join(['%s'] * 12)})",
                    rows,
                )
            return len(items)

        count: int = self._run(work)
        return count

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def open_feedback_store(target: str | Path | None) -> FeedbackStore:
    """``postgresql://...`` (or ``postgres://``) → PostgreSQL; anything else is an SQLite path."""
    text = str(target) if target is not None else DEFAULT_FEEDBACK_DB
    if text.startswith(("postgresql://", "postgres://")):
        return PostgresFeedbackStore(text)
    return SQLiteFeedbackStore(text)
