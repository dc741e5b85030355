"""Request limits: body size (413), media type (415) and JSON well-formedness (400).

The body is read in chunks and refused as soon as it passes the limit, whether the client
announced a ``Content-Length`` or streams it chunked, so an oversized request never sits
in memory whole.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from labrecog._errors import InputError
from labrecog.load import loads_strict
from labrecog.server._errors import ServiceError

__all__ = ["DEFAULT_MAX_BODY", "JSON_TYPES", "read_json"]

DEFAULT_MAX_BODY = 8 * 1024 * 1024  # a patient's lab history as a FHIR searchset fits easily

# CDS Hooks sends application/json; FHIR clients may say application/fhir+json.
JSON_TYPES = frozenset({"application/json", "application/fhir+json"})


def _too_large(limit: int) -> ServiceError:
    return ServiceError(
        413, "too_large", f"request body exceeds the limit of {limit} bytes", code="too-long"
    )


def check_media_type(request: Request) -> None:
    raw = request.headers.get("content-type")
    if raw is None:
        raise ServiceError(
            415, "media_type", "Content-Type is missing; send application/json", code="structure"
        )
    media, _, params = raw.partition(";")
    if media.strip().lower() not in JSON_TYPES:
        raise ServiceError(
            415,
            "media_type",
            "Content-Type must be application/json (or application/fhir+json)",
            code="structure",
        )
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            raise ServiceError(415, "media_type", "JSON must be sent as UTF-8", code="structure")


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise ServiceError(
                400, "bad_length", "Content-Length is not a number", code="structure"
            ) from None
        if size > limit:
            raise _too_large(limit)
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, limit: int) -> Any:
    """The request body as JSON, after the media-type and size checks."""
    check_media_type(request)
    body = await read_body(request, limit)
    if not body:
        raise ServiceError(400, "empty_body", "the request body is empty", code="structure")
    try:
        return loads_strict(body)
    except InputError as exc:
        # A key given twice says two things; which one the client meant is unknown.
        problem = exc.problems[0]
        raise ServiceError(
            400, "duplicate_key", problem.message, code="structure", expression=(problem.path,)
        ) from None
    except orjson.JSONDecodeError as exc:
        # Only the position: orjson's message may quote the offending text.
        raise ServiceError(
            400,
            "bad_json",
            f"the request body is not valid JSON (UTF-8): error at line {exc.lineno} "
            f"column {exc.colno}",
            code="structure",
        ) from None
