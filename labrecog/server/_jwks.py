"""Trusted issuers' public keys: a local JWK Set, or one fetched from a URL and cached.

A URL is fetched only when it is configured (``jwks_url``) or in the issuer's ``jku``
allow-list, so a token cannot send the service anywhere. The keys are kept ``ttl`` seconds;
a ``kid`` not in them makes one refetch, at most once per ``cooldown`` seconds a URL (a
forged token naming random key ids must not turn the service into a JWKS hammer). When a
JWK Set cannot be fetched the call is refused (503): no stale keys, fail closed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from labrecog.server._logging import log_event

__all__ = ["JwksCache", "JwksUnavailable", "index_keys"]

MAX_JWKS_BYTES = 64 * 1024  # a JWK Set of a few keys is a few kB


class JwksUnavailable(Exception):
    """The JWK Set could not be fetched or read (the message is a fixed token)."""


def index_keys(jwks: Any) -> dict[str, dict[str, Any]]:
    """``{kid: jwk}`` of a JWK Set's keys that can verify signatures.

    Keys without a ``kid`` are unreachable (CDS Hooks requires ``kid`` in the token
    header), and keys marked for encryption are not for this.
    """
    if not isinstance(jwks, Mapping) or not isinstance(jwks.get("keys"), list):
        raise JwksUnavailable("not_a_jwks")
    found: dict[str, dict[str, Any]] = {}
    for key in jwks["keys"]:
        if not isinstance(key, dict) or not isinstance(key.get("kid"), str):
            continue
        if key.get("use", "sig") != "sig":
            continue
        found.setdefault(key["kid"], key)  # kids are unique; the first wins otherwise
    return found


@dataclass
class _Entry:
    keys: dict[str, dict[str, Any]]
    fetched: float  # monotonic


class JwksCache:
    """JWK Sets by URL, fetched with httpx (no redirects, no proxy from the environment)."""

    def __init__(
        self,
        *,
        ttl: float = 300.0,
        timeout: float = 5.0,
        cooldown: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.timeout = timeout
        self.cooldown = cooldown
        self.monotonic = monotonic
        self._entries: dict[str, _Entry] = {}
        self._failed: dict[str, float] = {}

    async def key(self, url: str, kid: str) -> dict[str, Any] | None:
        """The JWK ``kid`` of the set at ``url``; None when the set has no such key."""
        now = self.monotonic()
        entry = self._entries.get(url)
        if entry is None or now - entry.fetched >= self.ttl:
            entry = await self._refresh(url, now)
        found = entry.keys.get(kid)
        if found is None and now - entry.fetched >= self.cooldown:
            entry = await self._refresh(url, now)  # the client may have rotated its keys
            found = entry.keys.get(kid)
        return found

    async def _refresh(self, url: str, now: float) -> _Entry:
        failed = self._failed.get(url)
        if failed is not None and now - failed < min(self.cooldown, 5.0):
            raise JwksUnavailable("recently_failed")
        start = time.perf_counter()
        try:
            keys = index_keys(await self._fetch(url))
        except JwksUnavailable as exc:
            self._failed[url] = now
            log_event(
                "jwks_fetch", url=url, outcome="failed", error=str(exc), latency_ms=_ms(start)
            )
            raise
        self._failed.pop(url, None)
        entry = self._entries[url] = _Entry(keys, now)
        log_event("jwks_fetch", url=url, outcome="fetched", keys=len(keys), latency_ms=_ms(start))
        return entry

    async def _fetch(self, url: str) -> Any:
        try:
            async with (
                httpx.AsyncClient(
                    timeout=self.timeout, follow_redirects=False, trust_env=False
                ) as client,
                client.stream("GET", url, headers={"Accept": "application/json"}) as response,
            ):
                if response.status_code != 200:
                    raise JwksUnavailable("http_status")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > MAX_JWKS_BYTES:
                        raise JwksUnavailable("too_large")
        except httpx.TimeoutException:
            raise JwksUnavailable("timeout") from None
        except httpx.HTTPError:
            raise JwksUnavailable("unreachable") from None
        try:
            return orjson.loads(bytes(body))
        except orjson.JSONDecodeError:
            raise JwksUnavailable("bad_json") from None


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 2)
