"""The audit trail: every card the service issues and every feedback item, kept so that a
quality office can review overrides (``labrecog audit``).

SQLAlchemy Core over SQLite (default, a file in WAL mode) or PostgreSQL (psycopg 3); the
schema changes only through the Alembic revisions in ``migrations/``, applied when a store
opens. See docs/security.md "The audit trail" and docs/cds-hooks.md "Feedback".
"""

from labrecog.server.audit._connect import StoreError
from labrecog.server.audit._migrate import FIRST_REVISION, HEAD_REVISION
from labrecog.server.audit._parse import parse_feedback
from labrecog.server.audit._queries import Period
from labrecog.server.audit._read import (
    downgrade_store,
    read_audit,
    store_revision,
    upgrade_store,
)
from labrecog.server.audit._records import (
    DEFAULT_FEEDBACK_DB,
    MAX_COMMENT,
    MAX_FEEDBACK_ITEMS,
    MAX_ID,
    FeedbackItem,
    FeedbackStore,
    IssuedCard,
    department_of,
)
from labrecog.server.audit._render import audit_tables, period_text, plain, render_audit_html
from labrecog.server.audit._store import (
    Clock,
    PostgresFeedbackStore,
    SQLiteFeedbackStore,
    open_feedback_store,
)

__all__ = [
    "DEFAULT_FEEDBACK_DB",
    "FIRST_REVISION",
    "HEAD_REVISION",
    "MAX_COMMENT",
    "MAX_FEEDBACK_ITEMS",
    "MAX_ID",
    "Clock",
    "FeedbackItem",
    "FeedbackStore",
    "IssuedCard",
    "Period",
    "PostgresFeedbackStore",
    "SQLiteFeedbackStore",
    "StoreError",
    "audit_tables",
    "department_of",
    "downgrade_store",
    "open_feedback_store",
    "parse_feedback",
    "period_text",
    "plain",
    "read_audit",
    "render_audit_html",
    "store_revision",
    "upgrade_store",
]
