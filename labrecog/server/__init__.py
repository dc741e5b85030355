"""CDS Hooks 2.0 service (``pip install 'labrecog[server]'``; ``labrecog serve``).

    from labrecog import Engine
    from labrecog.server import Authenticator, TrustedIssuer, create_app, open_feedback_store

    app = create_app(
        Engine.from_path("rules/demo"),
        feedback_store=open_feedback_store("labrecog-feedback.sqlite3"),
        auth=Authenticator(
            [TrustedIssuer("https://ehr.example.org", jwks_url="https://ehr.example.org/jwks")],
            public_url="https://cds.example.org",
        ),
        institution={"id": "LZU2", "region": "620102", "level": 3},
    )
    # uvicorn.run(app, host="127.0.0.1", port=8080)

See ``docs/cds-hooks.md`` for the endpoints, the card design and the operation notes, and
``docs/security.md`` for authentication, the configuration file and the limits.
"""

from labrecog.server._app import create_app
from labrecog.server._auth import (
    INSECURE_NO_AUTH,
    Authenticator,
    AuthError,
    InsecureNoAuth,
    TrustedIssuer,
)
from labrecog.server._caller import ANONYMOUS, Caller
from labrecog.server._cards import SUMMARY_LIMIT, TOPIC_SYSTEM, card_uuid
from labrecog.server._config import ConfigError, ServeConfig, build_authenticator, load_config
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
from labrecog.server._ratelimit import RateLimit

__all__ = [
    "ANONYMOUS",
    "DEFAULT_FEEDBACK_DB",
    "DEFAULT_MAX_BODY",
    "INSECURE_NO_AUTH",
    "SERVICES",
    "SUMMARY_LIMIT",
    "TOPIC_SYSTEM",
    "AuthError",
    "Authenticator",
    "Caller",
    "ConfigError",
    "FeedbackItem",
    "FeedbackStore",
    "InsecureNoAuth",
    "IssuedCard",
    "JsonFormatter",
    "PostgresFeedbackStore",
    "RateLimit",
    "SQLiteFeedbackStore",
    "ServeConfig",
    "Service",
    "TrustedIssuer",
    "build_authenticator",
    "card_uuid",
    "configure_logging",
    "create_app",
    "discovery_document",
    "load_config",
    "open_feedback_store",
    "openapi_document",
]
