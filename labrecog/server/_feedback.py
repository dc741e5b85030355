"""Card feedback and the store that keeps it: now :mod:`labrecog.server.audit`.

The service's modules (``_app``, ``_cards``, ``_hook``, ``_openapi``) import these names
from here; they live in the audit package, split into records, parsing, schema,
migrations and store.
"""

from __future__ import annotations

from labrecog.server.audit import (
    DEFAULT_FEEDBACK_DB,
    MAX_COMMENT,
    MAX_FEEDBACK_ITEMS,
    MAX_ID,
    FeedbackItem,
    FeedbackStore,
    IssuedCard,
    PostgresFeedbackStore,
    SQLiteFeedbackStore,
    open_feedback_store,
    parse_feedback,
)

__all__ = [
    "DEFAULT_FEEDBACK_DB",
    "MAX_COMMENT",
    "MAX_FEEDBACK_ITEMS",
    "MAX_ID",
    "FeedbackItem",
    "FeedbackStore",
    "IssuedCard",
    "PostgresFeedbackStore",
    "SQLiteFeedbackStore",
    "open_feedback_store",
    "parse_feedback",
]
