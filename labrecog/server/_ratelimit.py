"""Rate limits per verified caller: a token bucket of N requests a minute with a burst.

The key is the caller as its token says (``iss``, ``sub``, ``tenant``): one CDS client
acting for one organisation. It is the EHR, not the doctor, so one bucket may carry a
whole hospital's order entry: size ``per_minute`` to the client's peak, not to a person.
The buckets live in this process's memory (several replicas: each has its own, so the
limit per caller is N times the replicas).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from labrecog.server._errors import ServiceError

__all__ = ["RateLimit"]

_PRUNE_EVERY = 1024  # takes between sweeps of buckets that have refilled (idle callers)


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class RateLimit:
    """``per_minute`` requests a minute per caller, up to ``burst`` at once."""

    per_minute: int
    burst: int
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[Hashable, _Bucket] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _takes: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.per_minute < 1 or self.burst < 1:
            raise ValueError("per_minute and burst must be at least 1")

    @property
    def rate(self) -> float:
        return self.per_minute / 60.0  # tokens per second

    def take(self, key: Hashable) -> float | None:
        """None when the request may go on, else the seconds until one token is back."""
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            else:
                elapsed = max(0.0, now - bucket.at)
                bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate)
                bucket.at = now
            self._takes += 1
            if self._takes % _PRUNE_EVERY == 0:
                self._prune(now)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return None
            return (1.0 - bucket.tokens) / self.rate

    def check(self, key: Hashable) -> None:
        """Raise the 429 (with ``Retry-After`` in whole seconds) when ``key`` is over."""
        wait = self.take(key)
        if wait is not None:
            seconds = max(1, math.ceil(wait - 1e-9))
            raise ServiceError(
                429,
                "rate_limited",
                f"too many requests from this client: over {self.per_minute} a minute "
                f"(burst {self.burst}); retry after {seconds} s",
                code="throttled",
                headers={"Retry-After": str(seconds)},
            )

    def _prune(self, now: float) -> None:
        full = [
            key
            for key, b in self._buckets.items()
            if b.tokens + (now - b.at) * self.rate >= self.burst
        ]
        for key in full:  # a full bucket is the same as none
            del self._buckets[key]
