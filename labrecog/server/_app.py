"""The Starlette application: routes, CORS, the error guard and request logging.

::

    GET  /cds-services                    discovery
    POST /cds-services/{id}               a hook call -> {"cards": [...]} (missing prefetch
                                          fetched from the client's fhirServer first)
    POST /cds-services/{id}/feedback      card outcomes -> {"stored": n}
    GET  /openapi.json                    the OpenAPI 3.1 document
    GET  /healthz                         liveness and the rule set loaded

The two POSTs need the CDS client's bearer JWT (:mod:`labrecog.server._auth`), checked
before the body is read, then the caller's rate limit; discovery and health stay open.

Middleware, outermost first: CORS, only when origins are configured (so every answer,
errors included, carries the headers a browser-based CDS client needs), then
:class:`_Guard`, which turns any
unexpected exception into a JSON 500 without a stack trace and writes one JSON log line
per request. Refusals (:class:`ServiceError`, 404, 405) are answered as FHIR
OperationOutcomes by Starlette's exception middleware.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from labrecog.engine import Engine
from labrecog.server._auth import Authenticator, AuthError, InsecureNoAuth
from labrecog.server._caller import ANONYMOUS, Caller
from labrecog.server._card_text import CARD_SETS, CardSet
from labrecog.server._discovery import (
    SERVICES,
    Service,
    discovery_document,
    prefetch_templates,
    required_prefetch,
)
from labrecog.server._errors import JSONResponse, ServiceError, outcome_response
from labrecog.server._feedback import FeedbackStore, parse_feedback
from labrecog.server._fetch import FetchLimits, fill_prefetch
from labrecog.server._hook import HookCall, HookResult, evaluate_call, parse_hook_request
from labrecog.server._limits import DEFAULT_MAX_BODY, read_json
from labrecog.server._logging import log_event, safe_traceback
from labrecog.server._openapi import openapi_document
from labrecog.server._ratelimit import RateLimit

__all__ = ["create_app"]


def _log_fields(request: Request) -> dict[str, Any]:
    state = request.scope.setdefault("state", {})
    fields: dict[str, Any] = state.setdefault("log", {})
    return fields


class _Guard:
    """No exception leaves the service as a stack trace; one log line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        started = False

        async def tracked(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except ClientDisconnect:
            status = 499  # the client went away mid-request: nobody to answer
            scope.setdefault("state", {}).setdefault("log", {})["error"] = "client_disconnect"
        except Exception as exc:
            error_id = str(uuid.uuid4())
            log_event(
                "internal_error",
                level=logging.ERROR,
                error_id=error_id,
                exception=type(exc).__name__,
                frames=safe_traceback(exc),
            )
            if not started:
                response = outcome_response(
                    500,
                    f"internal error {error_id}; the service's log has the details",
                    code="exception",
                )
                await response(scope, receive, tracked)
            status = 500
        finally:
            fields = scope.get("state", {}).get("log", {})
            log_event(
                "request",
                method=scope.get("method"),
                path=str(scope.get("path", ""))[:200],
                status=status,
                latency_ms=round((time.perf_counter() - start) * 1000, 2),
                **fields,
            )


def _service(request: Request, services: Mapping[str, Service]) -> Service:
    service_id = request.path_params["service_id"]
    service = services.get(service_id)
    if service is None:
        raise ServiceError(
            404,
            "unknown_service",
            f"no CDS Service with id {service_id[:100]!r}; see GET /cds-services",
            code="not-found",
        )
    return service


def _with_caller(method: Callable[..., Any], caller: Caller) -> Callable[..., Any]:
    """``method`` with ``caller=`` bound when the store takes it (test doubles may not)."""
    try:
        takes = "caller" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        takes = False
    return functools.partial(method, caller=caller) if takes else method


def create_app(
    engine: Engine,
    *,
    feedback_store: FeedbackStore,
    auth: Authenticator | InsecureNoAuth,
    rate_limit: RateLimit | None = None,
    institution: Mapping[str, Any] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    cors_origins: Sequence[str] = (),
    fetch_limits: FetchLimits | None = None,
    cards: CardSet = "both",
) -> Starlette:
    """The CDS Hooks service for one loaded rule set.

    ``auth`` verifies each call's CDS client JWT (an :class:`Authenticator`), or is
    ``INSECURE_NO_AUTH``, said explicitly, which logs a warning; ``rate_limit`` bounds
    each verified caller (none by default); ``cors_origins`` are the browser origins
    answered with CORS headers (none by default: no CORS headers at all).
    ``institution (``{"id", "region", "level"}``) is the ordering institution used when
    the draft orders do not name one; ``feedback_store`` keeps issued cards and feedback;
    ``fetch_limits`` bound (or switch off) fetching missing prefetch from the client's
    FHIR server (default: 5 s, ``max_body_bytes`` per key, 10 pages); ``cards`` picks the
    cards answered: ``items`` (one per recognised item), ``summary`` (the order's summary
    card) or ``both``; the authorisation notice comes with each.
    """
    if cards not in CARD_SETS:
        raise ValueError(f"cards must be one of {', '.join(CARD_SETS)}, not {cards!r}")
    services = {key: dataclasses.replace(s, cards=cards) for key, s in SERVICES.items()}
    rules = engine.rules
    limits = fetch_limits or FetchLimits(max_bytes=max_body_bytes)
    templates = prefetch_templates(rules)
    required = required_prefetch(rules)
    fetching = limits.enabled and bool(limits.servers)
    discovery = orjson.dumps(discovery_document(rules, engine.lang, fetch=fetching))
    openapi = orjson.dumps(openapi_document(rules, secured=not isinstance(auth, InsecureNoAuth)))
    ruleset = {"id": rules.id, "version": rules.version, "digest": rules.digest}
    health = orjson.dumps({"status": "ok", "ruleset": ruleset})
    if isinstance(auth, InsecureNoAuth):
        log_event(
            "insecure_no_auth",
            level=logging.WARNING,
            detail="no authentication: anyone who reaches the port gets cards and writes "
            "feedback; configure trusted issuers (docs/security.md)",
        )

    def raw(body: bytes) -> Response:
        return Response(body, media_type="application/json")

    async def get_discovery(request: Request) -> Response:
        return raw(discovery)

    async def get_openapi(request: Request) -> Response:
        return raw(openapi)

    async def get_health(request: Request) -> Response:
        return raw(health)

    async def authenticate(request: Request, service: Service, *, feedback: bool) -> Caller:
        """The verified caller (401 otherwise), within its rate (429 otherwise)."""
        log = _log_fields(request)
        if isinstance(auth, InsecureNoAuth):
            caller = ANONYMOUS
        else:
            try:
                values = request.headers.getlist("authorization")
                if len(values) > 1:
                    raise AuthError("malformed_token", "send one Authorization header, not several")
                audiences = auth.audiences(service.id, feedback=feedback)
                caller = await auth.verify(values[0] if values else None, audiences)
            except AuthError as exc:
                log["auth_failure"] = exc.reason
                raise
            log["client"] = caller.issuer
            if caller.tenant is not None:
                log["tenant"] = caller.tenant
        if rate_limit is not None:
            rate_limit.check((caller.issuer, caller.subject, caller.tenant))
        return caller

    def decide_and_record(call: HookCall, received_at: datetime, caller: Caller) -> HookResult:
        # One worker-thread hop for the CPU work and the store write.
        result = evaluate_call(call, engine, received_at=received_at, institution=institution)
        if result.issued:
            try:
                _with_caller(feedback_store.record_cards, caller)(result.issued)
            except Exception as exc:  # the cards stand; only the join for feedback is lost
                log_event(
                    "card_store_failed",
                    level=logging.ERROR,
                    order_id=result.order_id,
                    exception=type(exc).__name__,
                    frames=safe_traceback(exc),
                )
        return result

    async def call_service(request: Request) -> Response:
        received_at = datetime.now(UTC)
        service = _service(request, services)
        log = _log_fields(request)
        log.update(service=service.id, hook=service.hook)
        caller = await authenticate(request, service, feedback=False)
        body = await read_json(request, max_body_bytes)
        call = parse_hook_request(body, service)
        log.update(hook_instance=call.hook_instance, draft_orders=len(call.requests))
        if call.requests:  # no draft order, no decision: nothing worth fetching
            # In the event loop (async httpx), before the worker-thread hop: a slow FHIR
            # server holds no thread. Logs name keys and counts, never the token or a URL.
            filled = await fill_prefetch(
                call.prefetch,
                templates,
                required,
                call.tokens,
                call.access,
                limits,
                {"service": service.id, "hook_instance": call.hook_instance},
            )
            call = dataclasses.replace(call, prefetch=filled.prefetch, unavailable=filled.why)
            if filled.fetched:
                log["prefetch_fetched"] = filled.fetched
            if filled.failed:
                log["prefetch_fetch_failed"] = filled.failed
        result = await run_in_threadpool(decide_and_record, call, received_at, caller)
        log.update(order_id=result.order_id, cards=len(result.cards), **result.counts)
        if result.paginated:
            log["prefetch_paginated"] = True
        return JSONResponse({"cards": result.cards})

    async def post_feedback(request: Request) -> Response:
        service = _service(request, services)
        log = _log_fields(request)
        log.update(service=service.id, feedback=True)
        caller = await authenticate(request, service, feedback=True)
        body = await read_json(request, max_body_bytes)
        items = parse_feedback(body)
        record = _with_caller(feedback_store.record_feedback, caller)
        stored = await run_in_threadpool(record, service.id, items)
        outcomes: dict[str, int] = {}
        for item in items:
            outcomes[item.outcome] = outcomes.get(item.outcome, 0) + 1
        log.update(stored=stored, outcomes=outcomes)
        return JSONResponse({"stored": stored})

    async def on_service_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ServiceError)
        log = _log_fields(request)
        log["error"] = exc.kind
        if exc.order_id is not None:
            log["order_id"] = exc.order_id
        return exc.response()

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        _log_fields(request)["error"] = f"http_{exc.status_code}"
        message = {404: "not found", 405: "method not allowed"}.get(exc.status_code, "error")
        code = {404: "not-found", 405: "not-supported"}.get(exc.status_code, "processing")
        headers = dict(exc.headers) if exc.headers else None
        return outcome_response(exc.status_code, message, code=code, headers=headers)

    routes = [
        Route("/cds-services", get_discovery, methods=["GET"]),
        Route("/cds-services/{service_id}", call_service, methods=["POST"]),
        Route("/cds-services/{service_id}/feedback", post_feedback, methods=["POST"]),
        Route("/openapi.json", get_openapi, methods=["GET"]),
        Route("/healthz", get_health, methods=["GET"]),
    ]
    middleware = [Middleware(_Guard)]
    if cors_origins:  # closed unless configured: no CORS header at all
        cors = Middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["WWW-Authenticate", "Retry-After"],
            max_age=600,
        )
        middleware.insert(0, cors)
    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={ServiceError: on_service_error, HTTPException: on_http_error},
    )
