"""The store's tables at the head revision, as SQLAlchemy Core ``Table`` objects.

This is what the code reads and writes; the database gets there only through the
migrations (``migrations/versions``), which keep their own frozen copies. A change here
needs a new revision, and the test that compares both (tests/test_audit_store.py) fails
without one.

Times are ISO 8601 text in UTC, as the first store wrote them: they compare as text in
both SQLite and PostgreSQL, and every query in docs/cds-hooks.md keeps working.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
)

__all__ = ["AUDIT_COLUMNS", "CARD", "FEEDBACK", "METADATA", "VERSION_TABLE"]

#: Alembic's bookkeeping table, named so that it cannot clash with another application's
#: ``alembic_version`` in a shared PostgreSQL database.
VERSION_TABLE = "labrecog_alembic_version"

#: Added by revision 0002, on both tables: who ordered, where, and the verified caller.
AUDIT_COLUMNS = (
    "user_id",
    "department",
    "caller_issuer",
    "caller_subject",
    "caller_tenant",
    "caller_jti",
)

METADATA = MetaData()


def _audit() -> list[Column[str]]:
    return [Column(name, Text) for name in AUDIT_COLUMNS]


CARD = Table(
    "cds_card",
    METADATA,
    Column("card_uuid", Text, primary_key=True),
    Column("service_id", Text, nullable=False),
    Column("hook_instance", Text, nullable=False),
    Column("order_id", Text, nullable=False),
    Column("item_code", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("service_request", Text, nullable=False),
    Column("observations", Text, nullable=False),
    Column("suggestion_uuid", Text),
    Column("ruleset", Text, nullable=False),
    Column("ruleset_digest", Text, nullable=False),
    Column("issued_at", Text, nullable=False),
    *_audit(),
    Index("cds_card_order", "order_id"),
    Index("cds_card_issued", "issued_at"),
)

FEEDBACK = Table(
    "cds_feedback",
    METADATA,
    # INTEGER in SQLite (the rowid itself), BIGSERIAL in PostgreSQL
    Column(
        "id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("received_at", Text, nullable=False),
    Column("service_id", Text, nullable=False),
    Column("card_uuid", Text, nullable=False),
    Column("order_id", Text),
    Column("item_code", Text),
    Column("outcome", Text, nullable=False),
    Column("accepted_suggestions", Text, nullable=False),
    Column("override_system", Text),
    Column("override_code", Text),
    Column("override_display", Text),
    Column("user_comment", Text),
    Column("outcome_timestamp", Text, nullable=False),
    *_audit(),
    CheckConstraint("outcome IN ('accepted', 'overridden')", name="cds_feedback_outcome"),
    Index("cds_feedback_card", "card_uuid"),
    Index("cds_feedback_received", "received_at"),
    sqlite_autoincrement=True,
)
