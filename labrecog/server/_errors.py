"""Errors the service answers with: JSON OperationOutcomes, never a stack trace.

Every refusal is a :class:`ServiceError` carrying an HTTP status, a FHIR issue code and
a message written for the integrator. The message may quote the request's structure
(a prefetch key, a JSON path) but the server never builds it from patient values; the
JSON log line records only :attr:`ServiceError.kind`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from starlette.responses import Response

from labrecog._errors import LabrecogError

__all__ = ["JSONResponse", "ServiceError", "operation_outcome", "outcome_response"]


class JSONResponse(Response):
    """orjson-encoded JSON (UTF-8, no escaping of non-ASCII text)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class ServiceError(LabrecogError):
    """A request the service refuses, with the HTTP status and FHIR issue code to say so."""

    def __init__(
        self,
        status: int,
        kind: str,
        message: str,
        *,
        code: str = "invalid",
        expression: Sequence[str] = (),
        diagnostics: Sequence[str] = (),
        order_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.order_id = order_id
        self.headers = dict(headers or {})  # e.g. WWW-Authenticate (401), Retry-After (429)
        self.status = status
        self.kind = kind  # short, fixed token for logs: "missing_prefetch", "too_large", ...
        self.message = message
        self.code = code
        self.expression = tuple(expression)
        self.diagnostics = tuple(diagnostics)

    def response(self, headers: dict[str, str] | None = None) -> JSONResponse:
        return outcome_response(
            self.status,
            self.message,
            code=self.code,
            expression=self.expression,
            diagnostics=self.diagnostics,
            headers={**self.headers, **(headers or {})} or None,
        )


def operation_outcome(
    message: str,
    *,
    code: str = "invalid",
    severity: str = "error",
    expression: Sequence[str] = (),
    diagnostics: Sequence[str] = (),
) -> dict[str, Any]:
    """A FHIR R4 OperationOutcome with one issue (plus one per extra diagnostic)."""
    issue: dict[str, Any] = {"severity": severity, "code": code, "details": {"text": message}}
    if expression:
        issue["expression"] = list(expression)
    issues = [issue]
    for text in diagnostics:
        issues.append({"severity": severity, "code": code, "diagnostics": text})
    return {"resourceType": "OperationOutcome", "issue": issues}


def outcome_response(
    status: int,
    message: str,
    *,
    code: str = "invalid",
    expression: Sequence[str] = (),
    diagnostics: Sequence[str] = (),
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = operation_outcome(message, code=code, expression=expression, diagnostics=diagnostics)
    return JSONResponse(body, status_code=status, headers=headers)
