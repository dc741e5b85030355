"""The store: every issued card and every feedback item, in SQLite or PostgreSQL.

SQLAlchemy Core over the tables of :mod:`._schema`; the database is brought to that
schema by the migrations when the store opens. Each call is one transaction. In SQLite,
writers of one process queue on a lock (no busy-waiting between threads), and writers of
other processes wait on SQLite's own lock (``busy_timeout``): nothing is lost, nothing
is half written. PostgreSQL takes concurrent writers as they come.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import URL, Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from labrecog.server._caller import Caller
from labrecog.server.audit import _migrate
from labrecog.server.audit._connect import is_postgresql, store_url, writer_engine
from labrecog.server.audit._records import DEFAULT_FEEDBACK_DB, FeedbackItem, IssuedCard
from labrecog.server.audit._schema import CARD, FEEDBACK

__all__ = ["Clock", "PostgresFeedbackStore", "SQLiteFeedbackStore", "open_feedback_store"]

Clock = Callable[[], datetime]
_JOIN_CHUNK = 500  # card uuids per IN (...): well under any database's parameter limit
#: What a feedback row copies from its card, so the audit can be read from either table.
_JOINED = ("card_uuid", "order_id", "item_code", "user_id", "department")


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _caller_columns(caller: Caller | None) -> dict[str, str | None]:
    who = caller or Caller()
    return {
        "caller_issuer": who.issuer,
        "caller_subject": who.subject,
        "caller_tenant": who.tenant,
        "caller_jti": who.jti,
    }


def _card_row(card: IssuedCard, now: str, caller: Caller | None) -> dict[str, Any]:
    return {
        "card_uuid": card.card_uuid,
        "service_id": card.service_id,
        "hook_instance": card.hook_instance,
        "order_id": card.order_id,
        "item_code": card.item_code,
        "status": card.status,
        "service_request": card.service_request,
        "observations": orjson.dumps(list(card.observations)).decode(),
        "suggestion_uuid": card.suggestion_uuid,
        "ruleset": card.ruleset,
        "ruleset_digest": card.ruleset_digest,
        "issued_at": now,
        "user_id": card.user_id,
        "department": card.department,
        **_caller_columns(caller),
    }


def _feedback_row(
    item: FeedbackItem, service_id: str, card: Any, now: str, caller: Caller | None
) -> dict[str, Any]:
    """``card``: the issued card's row (order, item, user, department), None if unknown."""
    return {
        "received_at": now,
        "service_id": service_id,
        "card_uuid": item.card_uuid,
        "order_id": card.order_id if card else None,
        "item_code": card.item_code if card else None,
        "outcome": item.outcome,
        "accepted_suggestions": orjson.dumps(list(item.accepted_suggestions)).decode(),
        "override_system": item.override_system,
        "override_code": item.override_code,
        "override_display": item.override_display,
        "user_comment": item.user_comment,
        "outcome_timestamp": item.outcome_timestamp,
        "user_id": card.user_id if card else None,
        "department": card.department if card else None,
        **_caller_columns(caller),
    }


class _SqlStore:
    """Cards and feedback through one SQLAlchemy engine, migrated to head on open."""

    def __init__(self, url: URL, clock: Clock | None) -> None:
        self._engine: Engine = writer_engine(url)
        self._clock = clock or _utc_now
        self._lock: AbstractContextManager[Any] = (
            nullcontext() if is_postgresql(url) else threading.Lock()
        )
        dialect: Any = postgresql if is_postgresql(url) else sqlite
        insert = dialect.insert(CARD)
        # A card re-issued (the same order and item: the same uuid) is one row, updated.
        self._upsert = insert.on_conflict_do_update(
            index_elements=[CARD.c.card_uuid],
            set_={c.name: insert.excluded[c.name] for c in CARD.columns if not c.primary_key},
        )
        try:
            with self._lock:
                _migrate.upgrade(self._engine)
        except BaseException:
            self._engine.dispose()
            raise

    def _now(self) -> str:
        return self._clock().astimezone(UTC).isoformat(timespec="milliseconds")

    def record_cards(self, cards: Sequence[IssuedCard], caller: Caller | None = None) -> None:
        if not cards:
            return
        now = self._now()
        rows = [_card_row(card, now, caller) for card in cards]
        with self._lock, self._engine.begin() as conn:
            conn.execute(self._upsert, rows)

    def record_feedback(
        self, service_id: str, items: Sequence[FeedbackItem], caller: Caller | None = None
    ) -> int:
        if not items:
            return 0
        now = self._now()
        wanted = sorted({item.card_uuid for item in items})
        columns = [CARD.c[name] for name in _JOINED]
        with self._lock, self._engine.begin() as conn:
            cards: dict[str, Any] = {}
            for i in range(0, len(wanted), _JOIN_CHUNK):
                chunk = wanted[i : i + _JOIN_CHUNK]
                for row in conn.execute(select(*columns).where(CARD.c.card_uuid.in_(chunk))):
                    cards[row.card_uuid] = row
            rows = [
                _feedback_row(item, service_id, cards.get(item.card_uuid), now, caller)
                for item in items
            ]
            conn.execute(FEEDBACK.insert(), rows)
        return len(items)

    def close(self) -> None:
        self._engine.dispose()


class SQLiteFeedbackStore(_SqlStore):
    """An SQLite file (created, or upgraded, on open), in WAL mode."""

    def __init__(self, path: str | Path, *, clock: Clock | None = None) -> None:
        self.path = str(path)
        super().__init__(store_url(self.path, DEFAULT_FEEDBACK_DB), clock)


class PostgresFeedbackStore(_SqlStore):
    """The same tables in PostgreSQL, through psycopg 3 (``pip install 'psycopg[binary]'``)."""

    def __init__(self, url: str, *, clock: Clock | None = None) -> None:
        self.url = url
        super().__init__(store_url(url, DEFAULT_FEEDBACK_DB), clock)


def open_feedback_store(
    target: str | Path | None, *, clock: Clock | None = None
) -> SQLiteFeedbackStore | PostgresFeedbackStore:
    """``postgresql://...`` (or ``postgres://``) → PostgreSQL; a path or ``sqlite:///``
    URL → SQLite; None → :data:`DEFAULT_FEEDBACK_DB`."""
    url = store_url(target, DEFAULT_FEEDBACK_DB)
    if is_postgresql(url):
        return PostgresFeedbackStore(str(target), clock=clock)
    return SQLiteFeedbackStore(url.database or DEFAULT_FEEDBACK_DB, clock=clock)
