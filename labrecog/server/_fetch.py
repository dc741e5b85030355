"""Fetching missing prefetch from the CDS client's FHIR server (CDS Hooks 2.0 §FHIR access).

A client may leave prefetch keys out (it chose not to, or failed to, fetch them) and give
``fhirServer`` and ``fhirAuthorization`` instead: "the CDS Service MAY use the FHIR server
to obtain any FHIR resources for which it's authorized". Without this, an optional key
decides the outcome (no ``labReports``: a result whose collection time is on its report
cannot be read; no ``encounter``: conditions on the setting are undecidable).

The query is the service's own prefetch template with its tokens replaced from the
context, exactly as a client would. Every fetch is bounded: one deadline for all pages of
a key, a byte limit read as a stream, a page limit, JSON only, no redirects, ``next``
links followed only on the ``fhirServer``'s own origin (the token goes nowhere else).
Nothing here logs or keeps the access token, the Authorization header or a URL (which
holds the patient id): failures are described in fixed words.
"""

from __future__ import annotations

import functools
import re
import ssl
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import anyio
import anyio.to_thread
import httpx
import orjson

from labrecog.server._discovery import expand_template
from labrecog.server._limits import DEFAULT_MAX_BODY, JSON_TYPES
from labrecog.server._logging import Field, log_event

__all__ = [
    "NO_ACCESS",
    "FetchLimits",
    "FhirAccess",
    "Filled",
    "allowed_server",
    "client_failed",
    "failed_outcome",
    "fhir_access",
    "fill_prefetch",
]

_BEARER = re.compile(r"[\x21-\x7e]{1,8192}")  # visible ASCII: header-safe, no CR/LF
_BAD_SEVERITIES = frozenset({"error", "fatal"})
NO_ACCESS = "the request gives no fhirServer and fhirAuthorization to fetch it with"
_ABSENT: Any = object()
_FHIR_JSON = JSON_TYPES | {"application/json+fhir"}  # the last: DSTU2 servers' name


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """How far the service goes to fetch missing prefetch (``create_app(fetch_limits=)``)."""

    enabled: bool = True
    # fhirServer base URLs the service may query (a request's fhirServer must equal one or
    # lie below it). Empty: none. The caller names the server, so without this list any
    # caller could make the service send requests into the hospital network (SSRF).
    servers: tuple[str, ...] = ()
    timeout: float = 5.0  # seconds for one key: connect, every page, every byte
    max_bytes: int = DEFAULT_MAX_BODY  # one key, all its pages together
    max_pages: int = 10  # pages of one search, the first included

    def __post_init__(self) -> None:
        if not (self.timeout > 0 and self.max_bytes > 0 and self.max_pages >= 1):
            raise ValueError("fetch limits must be positive (and max_pages at least 1)")


@dataclass(frozen=True, slots=True)
class Filled:
    """The prefetch after fetching, why each key still missing is missing, and what the
    service fetched (or failed to)."""

    prefetch: dict[str, Any]
    why: dict[str, str]
    fetched: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class FhirAccess:
    """Where and with what to fetch; the token is left out of ``repr``."""

    base: str  # fhirServer without its trailing slash
    origin: tuple[str, str, int]
    token: str = field(repr=False)


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80)


def allowed_server(base: str, servers: Collection[str]) -> bool:
    """``base`` is one of ``servers`` or a path below one (same scheme, host and port); a
    dot segment (``/fhir/../admin``) could climb out of it, so none is allowed."""
    segments = unquote(urlsplit(base).path).split("/")
    if any(part in (".", "..") for part in segments):
        return False
    for allowed in servers:
        root = allowed.rstrip("/")
        if _origin(root) == _origin(base) and (
            base.rstrip("/") == root or base.startswith(root + "/")
        ):
            return True
    return False


def fhir_access(server: Any, auth: Any) -> FhirAccess | str:
    """The FHIR server and token to fetch with, or why the request gives none (in words)."""
    if server is None:
        return NO_ACCESS
    if auth is None:
        return "the request gives no fhirAuthorization to fetch it with"
    if not isinstance(server, str) or not isinstance(auth, dict):
        return "fhirServer or fhirAuthorization is malformed"
    origin = _origin(server)
    try:
        httpx.URL(server)
    except (httpx.InvalidURL, ValueError):
        origin = None
    if origin is None:
        return "fhirServer is not an http(s) URL"
    parts = urlsplit(server)
    if parts.username is not None or parts.password is not None:
        return "fhirServer carries credentials in its URL, which this service refuses"
    if parts.query or parts.fragment:
        return "fhirServer has a query or fragment, which a FHIR base URL cannot have"
    token_type = auth.get("token_type")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        return "fhirAuthorization.token_type is not Bearer"
    token = auth.get("access_token")
    if not isinstance(token, str) or not _BEARER.fullmatch(token):
        return "fhirAuthorization.access_token is not a usable bearer token"
    return FhirAccess(server.rstrip("/"), origin, token)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # The system's trust store (where a hospital installs its own CA), built once.
    return ssl.create_default_context()


class _Failure(Exception):
    """A fetch that gave no usable data: ``kind`` for logs, ``words`` for the 412."""

    def __init__(self, kind: str, words: str) -> None:
        super().__init__(kind)
        self.kind = kind
        self.words = words


@dataclass(slots=True)
class _Fetch:
    key: str
    resource_type: str
    value: dict[str, Any] | None = None
    failure: _Failure | None = None
    status: int | None = None
    pages: int = 0
    size: int = 0
    next_refused: bool = False
    page_limit: bool = False
    latency_ms: float = 0.0


def failed_outcome(resource: Mapping[str, Any]) -> bool:
    issues = resource.get("issue")
    return not isinstance(issues, list) or any(
        isinstance(i, dict) and i.get("severity") in _BAD_SEVERITIES for i in issues
    )


def client_failed(value: Any) -> bool:
    """A prefetch value saying the client tried and failed: worth fetching again."""
    if not isinstance(value, dict):
        return False
    if value.get("resourceType") == "OperationOutcome":
        return failed_outcome(value)
    if value.get("resourceType") != "Bundle" or not isinstance(value.get("entry"), list):
        return False
    return any(
        isinstance(e, dict)
        and isinstance(e.get("resource"), dict)
        and e["resource"].get("resourceType") == "OperationOutcome"
        and failed_outcome(e["resource"])
        for e in value["entry"]
    )


async def _get(
    client: httpx.AsyncClient, access: FhirAccess, url: str, limit: int, state: _Fetch
) -> bytes:
    """One GET, read as a stream and dropped as soon as the key's pages pass ``limit``."""
    budget = limit - state.size
    headers = {"Accept": "application/fhir+json", "Authorization": f"Bearer {access.token}"}
    async with client.stream("GET", url, headers=headers) as response:
        state.status = status = response.status_code
        if 300 <= status < 400:
            raise _Failure("redirect", f"it answered a redirect (HTTP {status})")
        if status in (401, 403):
            raise _Failure("http_status", f"it refused the access token (HTTP {status})")
        if status != 200:
            raise _Failure("http_status", f"it answered HTTP {status}")
        media = response.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media not in _FHIR_JSON:
            raise _Failure("not_json", "its answer is not FHIR JSON")
        too_large = _Failure("too_large", f"its answer exceeds the limit of {limit} bytes")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > budget:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > budget:
                raise too_large
            chunks.append(chunk)
    return b"".join(chunks)


def _parse(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def _next_link(page: Mapping[str, Any]) -> str | None:
    links = page.get("link")
    for link in links if isinstance(links, list) else ():
        if isinstance(link, dict) and link.get("relation") == "next":
            url = link.get("url")
            return url if isinstance(url, str) else None
    return None


async def _fetch_pages(
    client: httpx.AsyncClient, access: FhirAccess, relative: str, limits: FetchLimits, state: _Fetch
) -> None:
    path = relative.partition("?")[0]
    search = "/" not in path
    url: str | None = f"{access.base}/{relative}"
    merged: dict[str, Any] | None = None
    while url is not None:
        body = await _get(client, access, url, limits.max_bytes, state)
        state.pages += 1
        state.size += len(body)
        page = await anyio.to_thread.run_sync(_parse, body)
        kind = page.get("resourceType") if isinstance(page, dict) else None
        if not isinstance(kind, str):
            raise _Failure("bad_json", "its answer is not a FHIR resource in JSON")
        if kind == "OperationOutcome":
            raise _Failure("operation_outcome", "it answered an OperationOutcome")
        expected = "Bundle" if search else state.resource_type
        if kind != expected or (search and not isinstance(page.get("entry", []), list)):
            raise _Failure("wrong_resource", f"its answer is not a {expected}")
        if not search:
            state.value = page
            return
        link = _next_link(page)
        if merged is None:
            merged = page
        else:
            merged.setdefault("entry", []).extend(page.get("entry", []))
        links = merged.get("link")
        merged["link"] = [
            x
            for x in (links if isinstance(links, list) else [])
            if not (isinstance(x, dict) and x.get("relation") == "next")
        ]
        current, url = url, None
        if link is None:
            break
        try:
            target = urljoin(current, link)
        except ValueError:
            target = ""
        if _origin(target) != access.origin:
            state.next_refused = True  # the token goes to fhirServer's origin only
        elif state.pages >= limits.max_pages:
            state.page_limit = True
        else:
            url = target
        if url is None:  # left unread: the reader sees a next link, so knows it is partial
            merged["link"].append({"relation": "next", "url": link})
    if client_failed(merged):
        raise _Failure("operation_outcome", "its searchset holds an error OperationOutcome")
    state.value = merged


async def _fetch_key(
    client: httpx.AsyncClient, access: FhirAccess, relative: str, limits: FetchLimits, state: _Fetch
) -> None:
    started = time.perf_counter()
    try:
        with anyio.fail_after(limits.timeout):
            await _fetch_pages(client, access, relative, limits, state)
    except _Failure as exc:
        state.failure = exc
    except TimeoutError:
        state.failure = _Failure("timeout", f"it did not answer within {limits.timeout:g} s")
    except httpx.TransportError as exc:
        state.failure = _Failure("unreachable", f"it could not be reached ({type(exc).__name__})")
    except (httpx.HTTPError, httpx.InvalidURL) as exc:  # decoding errors, odd next links
        state.failure = _Failure("request_failed", f"the request failed ({type(exc).__name__})")
    state.latency_ms = round((time.perf_counter() - started) * 1000, 2)


async def fill_prefetch(
    prefetch: Mapping[str, Any],
    templates: Mapping[str, str],
    required: Collection[str],
    tokens: Mapping[str, str],
    access: FhirAccess | str,
    limits: FetchLimits,
    log: Mapping[str, Field],
) -> Filled:
    """The prefetch with missing keys fetched, and for each key still missing why (words).

    A key is fetched when it is absent, or when the client sent an error in its place
    (an OperationOutcome, or a searchset holding one): the client failed, the service may
    try. ``null`` means "no data" and is kept. A key that cannot be fetched, or whose
    fetch fails, is left out (an error the client sent is kept when no fetch was tried).
    Nothing is fetched when a required key cannot be: the answer is a 412 whatever comes.
    """
    out = dict(prefetch)
    why: dict[str, str] = {}
    wanted: dict[str, str] = {}
    said: dict[str, str] = {}
    for key, template in templates.items():
        value = prefetch.get(key, _ABSENT)
        if value is _ABSENT:
            said[key] = "absent from the request"
        elif client_failed(value):
            said[key] = "the client reported an error fetching it"
        else:
            continue
        if not limits.enabled or not limits.servers:
            why[key] = f"{said[key]}; this service is configured not to query FHIR servers"
        elif isinstance(access, str):
            why[key] = f"{said[key]}, and {access}"
        elif not allowed_server(access.base, limits.servers):
            why[key] = (
                f"{said[key]}; the request's fhirServer is not one this service may query "
                "(labrecog serve --fhir-server)"
            )
        else:
            relative = expand_template(template, tokens)
            if isinstance(relative, tuple):
                token, reason = relative
                why[key] = f"{said[key]}; not fetched: {{{{{token}}}}}: {reason}"
            else:
                wanted[key] = relative
    if not wanted or isinstance(access, str) or any(key in why for key in required):
        return Filled(out, why)
    states = {key: _Fetch(key, _resource_type(relative)) for key, relative in wanted.items()}
    async with (
        httpx.AsyncClient(
            timeout=httpx.Timeout(limits.timeout),
            follow_redirects=False,
            trust_env=False,  # no proxy, netrc or CA bundle from the environment
            verify=_ssl_context(),
            headers={"User-Agent": "labrecog-cds"},
        ) as client,
        anyio.create_task_group() as group,
    ):
        for key, relative in wanted.items():
            group.start_soon(_fetch_key, client, access, relative, limits, states[key])
    filled = Filled(out, why)
    for key, state in states.items():
        _log(state, log)
        if state.failure is None:
            out[key] = state.value
            filled.fetched.append(key)
            continue
        out.pop(key, None)
        filled.failed.append(key)
        why[key] = (
            f"{said[key]}, and fetching {state.resource_type} from the FHIR server failed: "
            f"{state.failure.words}"
        )
    return filled


def _resource_type(relative: str) -> str:
    return relative.partition("?")[0].partition("/")[0][:64]


def _log(state: _Fetch, log: Mapping[str, Field]) -> None:
    fields: dict[str, Any] = {  # Field values; Any lets mypy pass them after level=
        **log,
        "key": state.key,
        "outcome": "failed" if state.failure else "fetched",
        "status": state.status,
        "pages": state.pages,
        "bytes": state.size,
        "latency_ms": state.latency_ms,
    }
    if state.failure is not None:
        fields["error"] = state.failure.kind
    if state.next_refused:
        fields["next_other_origin"] = True
    if state.page_limit:
        fields["page_limit"] = True
    log_event("prefetch_fetch", **fields)
