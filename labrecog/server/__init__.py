"""CDS Hooks 2.0 service (``pip install 'labrecog[server]'``; ``labrecog serve``).

    from labrecog import Engine
    from labrecog.server import create_app, open_feedback_store

    app = create_app(
        Engine.from_path("rules/demo"),
        feedback_store=open_feedback_store("labrecog-feedback.sqlite3"),
        institution={"id": "LZU2", "region": "620102", "level": 3},
    )
    # uvicorn.run(app, host="127.0.0.1", port=8080)

See ``docs/cds-hooks.md`` for the endpoints, the card design and the operation notes.
"""

from labrecog.server._app import create_app
from labrecog.server._cards import SUMMARY_LIMIT, TOPIC_SYSTEM, card_uuid
from labrecog.server._discovery import SERVICES, Service, discovery_document
from labrecog.server._feedback import (
    DEFAULT_FEEDBACK_DB,
    FeedbackItem,
    FeedbackStore,
    IssuedCard,
    PostgresFeedbackStore,
    SQLiteFeedbackStore,
    open_feedback_store,
)
from labrecog.server._limits import DEFAULT_MAX_BODY
from labrecog.server._logging import JsonFormatter, configure_logging
from labrecog.server._openapi import openapi_document

__all__ = [
    "DEFAULT_FEEDBACK_DB",
    "DEFAULT_MAX_BODY",
    "SERVICES",
    "SUMMARY_LIMIT",
    "TOPIC_SYSTEM",
    "FeedbackItem",
    "FeedbackStore",
    "IssuedCard",
    "JsonFormatter",
    "PostgresFeedbackStore",
    "SQLiteFeedbackStore",
    "Service",
    "card_uuid",
    "configure_logging",
    "create_app",
    "discovery_document",
    "open_feedback_store",
    "openapi_document",
]
