"""Structured logs: one JSON object per line, about requests, never about patients.

A line names the service, the hook instance, the order id, counts of statuses and the
latency. It never holds a value, a unit, a name, a birth date or a message built from
them: callers pass only the fields below, and exceptions are logged as their type and the
code locations they passed through, without their message (which may quote input).
Nor a credential: the service never passes one, and as a last guard every line is
scrubbed of anything shaped like a JWT or a ``Bearer`` value (another library's message).
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from datetime import UTC, datetime
from typing import IO

import orjson

__all__ = ["LOGGER", "JsonFormatter", "configure_logging", "log_event", "safe_traceback"]

LOGGER = logging.getLogger("labrecog.server")

Field = str | int | float | bool | None | list[str] | dict[str, int]

# A JWS/JWT (base64url header starting {" = eyJ, then two more parts), and Bearer values.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")


def redact(line: str) -> str:
    """``line`` without tokens (cheap when there is none: both patterns need a marker)."""
    if "eyJ" in line:
        line = _JWT.sub("[redacted-jwt]", line)
    if "earer" in line or "EARER" in line:
        line = _BEARER.sub(r"\1[redacted]", line)
    return line


class JsonFormatter(logging.Formatter):
    """``{"ts": ..., "level": ..., "logger": ..., "event": ..., **fields}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            payload.update(fields)
        if record.exc_info and record.exc_info[1] is not None:
            # Third-party log calls with exc_info: type and locations only, never the message.
            payload["exception"] = type(record.exc_info[1]).__name__
            payload["frames"] = safe_traceback(record.exc_info[1])
        return redact(orjson.dumps(payload, default=str).decode())


def log_event(event: str, *, level: int = logging.INFO, **fields: Field) -> None:
    LOGGER.log(level, event, extra={"fields": fields})


def safe_traceback(exc: BaseException, limit: int = 12) -> list[str]:
    """``file:line in function`` for the innermost frames, without the exception message."""
    frames = traceback.extract_tb(exc.__traceback__)[-limit:]
    return [f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} in {f.name}" for f in frames]


def configure_logging(level: str = "info", stream: IO[str] | None = None) -> None:
    """JSON lines on ``stream`` (stderr) for labrecog's and uvicorn's loggers."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("labrecog.server", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
    # Access lines are replaced by labrecog's own request lines.
    logging.getLogger("uvicorn.access").disabled = True
    # httpx logs every request's URL at INFO: a prefetch URL holds the patient id. The
    # service logs its own fetch lines (key, status, bytes, time) instead.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
