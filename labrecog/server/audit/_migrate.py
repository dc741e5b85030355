"""Bringing a store to the schema this labrecog writes: Alembic, run from inside labrecog.

Every store upgrades its database to head when it is opened (``labrecog serve``, or
:func:`open_feedback_store` from Python); ``labrecog audit`` only reads, and upgrades only
with ``--migrate``. The whole upgrade is one transaction that first takes the store's
write lock (SQLite ``BEGIN IMMEDIATE``; a PostgreSQL advisory lock), so service processes
starting together migrate one at a time and the others find it done.

A store made by the first, hand-written DDL has its two tables and no version table: it
is recognised by its exact columns and stamped as revision 0001 before the upgrade. Tables
of any other shape, or a revision this labrecog does not know (a newer one wrote it), are
refused, and nothing is changed.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, inspect, text

from labrecog.server.audit._connect import StoreError, is_postgresql
from labrecog.server.audit._schema import VERSION_TABLE

__all__ = [
    "FIRST_REVISION",
    "HEAD_REVISION",
    "MIGRATIONS",
    "adopt_first_store",
    "current_revision",
    "downgrade",
    "upgrade",
]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
FIRST_REVISION = "0001"
HEAD_REVISION = "0002"

#: The first store's columns, in its DDL's order: what revision 0001 is.
FIRST_COLUMNS = {
    "cds_card": [
        "card_uuid", "service_id", "hook_instance", "order_id", "item_code", "status",
        "service_request", "observations", "suggestion_uuid", "ruleset", "ruleset_digest",
        "issued_at",
    ],
    "cds_feedback": [
        "id", "received_at", "service_id", "card_uuid", "order_id", "item_code", "outcome",
        "accepted_suggestions", "override_system", "override_code", "override_display",
        "user_comment", "outcome_timestamp",
    ],
}  # fmt: skip

_PG_LOCK = 0x6C61627265636F67  # "labrecog": one advisory lock for every store's migration


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@cache
def _scripts() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config)


def current_revision(connection: Connection) -> str | None:
    """The store's revision; None when it has no version table (new, or the first DDL)."""
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def _known(revision: str) -> bool:
    try:
        return _scripts().get_revision(revision) is not None
    except CommandError:
        return False


def adopt_first_store(connection: Connection) -> bool:
    """True when the tables are the first store's (to be stamped 0001); False when there
    are none. Anything else is a :class:`StoreError`."""
    names = set(inspect(connection).get_table_names())
    present = sorted(set(FIRST_COLUMNS) & names)
    if not present:
        return False
    for table, expected in FIRST_COLUMNS.items():
        if table not in names:
            raise StoreError(
                f"the store has {', '.join(present)} but no {table}: not a labrecog store "
                "this version can upgrade; nothing was changed"
            )
        found = [c["name"] for c in inspect(connection).get_columns(table)]
        if found != expected:
            raise StoreError(
                f"table {table} has columns {', '.join(found)}, not those of a labrecog "
                "store; nothing was changed"
            )
    return True


def _lock(connection: Connection) -> None:
    # SQLite: the writer's BEGIN IMMEDIATE already holds the write lock.
    if is_postgresql(connection.engine.url):
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})


def upgrade(engine: Engine) -> str:
    """Bring the store to head (a no-op when it is there); returns the revision it had
    before ("" for an empty database)."""
    with engine.begin() as connection:
        _lock(connection)
        before = current_revision(connection)
        if before == HEAD_REVISION:
            return before
        config = _config(connection)
        if before is None:
            if adopt_first_store(connection):
                command.stamp(config, FIRST_REVISION)
                before = FIRST_REVISION
        elif not _known(before):
            raise StoreError(
                f"the store is at revision {before}, which this labrecog does not know "
                f"(its newest is {HEAD_REVISION}): a newer labrecog wrote it; nothing was changed"
            )
        command.upgrade(config, "head")
        return before or ""


def downgrade(engine: Engine, revision: str) -> None:
    """Back to ``revision`` (for a rollback of labrecog itself; the columns added since
    are dropped with what they held)."""
    with engine.begin() as connection:
        _lock(connection)
        command.downgrade(_config(connection), revision)
