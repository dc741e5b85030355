"""CDS Hooks 2.0 "Trusting CDS Clients": the bearer JWT of every service and feedback call.

The signature is checked by PyJWT against the issuer's own JWK Set (a local file, its
``jwks_url``, or a ``jku`` header only when that URL is in the issuer's allow-list), with
the algorithms configured for that issuer (RS384 and ES384 by default, as CDS Hooks
recommends; ``none`` and the HMAC family never: a verifier holding a public key must not
accept a MAC keyed with it). Then ``aud`` must be the URL of the service called, ``exp``
not past, ``iat`` not in the future (both within the clock skew), ``exp - iat`` at most
the maximum lifetime, and ``jti`` unused: each one is remembered until its token expires.

Whatever fails, the caller gets a 401 OperationOutcome (``WWW-Authenticate: Bearer``) and
the log line gets a fixed reason code; the token itself is never logged, stored or echoed.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import jwt

from labrecog.server._caller import Caller
from labrecog.server._errors import ServiceError
from labrecog.server._jwks import JwksCache, JwksUnavailable, index_keys

__all__ = [
    "ALLOWED_ALGORITHMS",
    "DEFAULT_ALGORITHMS",
    "INSECURE_NO_AUTH",
    "AuthError",
    "Authenticator",
    "InsecureNoAuth",
    "ReplayGuard",
    "TrustedIssuer",
]

# Asymmetric signatures only (CDS Hooks 2.0: SHALL NOT none, SHALL NOT symmetric).
ALLOWED_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)
DEFAULT_ALGORITHMS = ("RS384", "ES384")
_KTY = {"RS": "RSA", "PS": "RSA", "ES": "EC"}
_CURVE = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
_REQUIRED = ["iss", "aud", "exp", "iat", "jti"]
MAX_TOKEN = 16 * 1024  # a CDS Hooks JWT is well under 2 kB
MAX_CLAIM = 256


@dataclass(frozen=True)
class InsecureNoAuth:
    """No authentication: every call is anonymous. Chosen explicitly, never by default."""


INSECURE_NO_AUTH = InsecureNoAuth()


@dataclass(frozen=True)
class TrustedIssuer:
    """A CDS client the service trusts: its ``iss`` and where its public keys are."""

    iss: str
    jwks: Mapping[str, Any] | None = None  # a JWK Set given in full (e.g. read from a file)
    jwks_url: str | None = None
    jku_allow: tuple[str, ...] = ()
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS

    def __post_init__(self) -> None:
        weak = [a for a in self.algorithms if a not in ALLOWED_ALGORITHMS]
        if weak or not self.algorithms:
            raise ValueError(f"algorithms must be among {sorted(ALLOWED_ALGORITHMS)}: {weak}")
        if self.jwks is not None and self.jwks_url is not None:
            raise ValueError("give jwks or jwks_url, not both")
        if self.jwks is None and self.jwks_url is None and not self.jku_allow:
            raise ValueError(f"issuer {self.iss}: no keys (jwks, jwks_url or jku_allow)")


class AuthError(ServiceError):
    """A call refused for its credentials; ``reason`` is the log's fixed code."""

    def __init__(self, reason: str, message: str, *, status: int = 401) -> None:
        if status == 401:
            challenge = 'Bearer realm="cds-services"'
            if reason != "missing_token":  # RFC 6750 §3: no error code when none was sent
                challenge += ', error="invalid_token"'
            kind, code, headers = "unauthorized", "login", {"WWW-Authenticate": challenge}
        else:
            kind, code, headers = "auth_unavailable", "transient", {"Retry-After": "5"}
        super().__init__(status, kind, message, code=code, headers=headers)
        self.reason = reason


class ReplayGuard:
    """The ``(iss, jti)`` pairs seen, each kept until its token could no longer pass.

    In this process's memory: with several replicas behind a load balancer a token could
    be replayed once per replica, unless routing is sticky per client or the set is shared.
    """

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], float] = {}
        self._expiry: list[tuple[float, tuple[str, str]]] = []
        self._lock = threading.Lock()

    def first_use(self, key: tuple[str, str], until: float, now: float) -> bool:
        with self._lock:
            while self._expiry and self._expiry[0][0] <= now:
                expires, old = heapq.heappop(self._expiry)
                if self._seen.get(old) == expires:
                    del self._seen[old]
            if key in self._seen:
                return False
            self._seen[key] = until
            heapq.heappush(self._expiry, (until, key))
            return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)


def _fail(reason: str, message: str) -> AuthError:
    return AuthError(reason, message)


def check_public_url(url: str) -> str:
    """The service's base URL as clients call it, without a trailing slash."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http(s) URL")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError("must not have a query, fragment or credentials")
    return url.rstrip("/")


@dataclass
class Authenticator:
    """Verifies the CDS client JWT of a call; gives the :class:`Caller` or raises 401."""

    issuers: Sequence[TrustedIssuer]
    public_url: str
    clock_skew: int = 60
    max_lifetime: int = 300
    jwks_cache_seconds: float = 300.0
    jwks_timeout: float = 5.0
    refetch_cooldown: float = 30.0
    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    replay: ReplayGuard = field(default_factory=ReplayGuard)

    def __post_init__(self) -> None:
        self.public_url = check_public_url(self.public_url)
        self._by_iss: dict[str, TrustedIssuer] = {}
        self._local: dict[str, dict[str, dict[str, Any]]] = {}
        for issuer in self.issuers:
            if issuer.iss in self._by_iss:
                raise ValueError(f"issuer {issuer.iss} is given twice")
            self._by_iss[issuer.iss] = issuer
            if issuer.jwks is not None:
                self._local[issuer.iss] = index_keys(issuer.jwks)
        self._cache = JwksCache(
            ttl=self.jwks_cache_seconds,
            timeout=self.jwks_timeout,
            cooldown=self.refetch_cooldown,
            monotonic=self.monotonic,
        )
        self._keys: dict[tuple[Any, ...], Any] = {}  # prepared public keys, by JWK and alg

    def audiences(self, service_id: str, *, feedback: bool = False) -> tuple[str, ...]:
        """The ``aud`` values a call may carry: the service's URL (or its feedback URL)."""
        url = f"{self.public_url}/cds-services/{service_id}"
        return (f"{url}/feedback", url) if feedback else (url,)

    async def verify(self, authorization: str | None, audiences: Sequence[str]) -> Caller:
        raw = _bearer(authorization)
        header, unverified = _peek(raw)
        issuer = self._issuer(unverified)
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in issuer.algorithms:
            raise _fail(
                "algorithm_not_allowed",
                f"the token's alg is not allowed for its issuer "
                f"(allowed: {', '.join(issuer.algorithms)})",
            )
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.upper() != "JWT"):
            raise _fail("bad_typ", "the token's typ must be JWT")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise _fail("missing_kid", "the token's header has no kid (CDS Hooks requires one)")
        key = self._prepare(await self._jwk(issuer, header, kid), alg)
        claims = self._decode(raw, key, alg, issuer.iss, audiences, unverified)
        return self._caller(claims)

    def _issuer(self, unverified: Mapping[str, Any]) -> TrustedIssuer:
        iss = unverified.get("iss")
        if iss is None:
            raise _fail("missing_claim", "the token lacks the iss claim")
        issuer = self._by_iss.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise _fail("unknown_issuer", "the token's iss is not a CDS client this service trusts")
        return issuer

    async def _jwk(self, issuer: TrustedIssuer, header: Mapping[str, Any], kid: str) -> Any:
        jku = header.get("jku")
        if jku is not None:
            if not isinstance(jku, str) or jku not in issuer.jku_allow:
                raise _fail("jku_not_allowed", "the token's jku is not in its issuer's allow-list")
            url: str | None = jku
        elif issuer.iss in self._local:
            found = self._local[issuer.iss].get(kid)
            if found is None:
                raise _fail("unknown_kid", "no key with the token's kid in its issuer's JWK Set")
            return found
        else:
            url = issuer.jwks_url
        if url is None:
            raise _fail("missing_jku", "the token names no jku and its issuer has no other keys")
        try:
            found = await self._cache.key(url, kid)
        except JwksUnavailable:
            raise AuthError(
                "jwks_unavailable",
                "the issuer's JWK Set cannot be fetched now; try again later",
                status=503,
            ) from None
        if found is None:
            raise _fail("unknown_kid", "no key with the token's kid in its issuer's JWK Set")
        return found

    def _prepare(self, jwk: Mapping[str, Any], alg: str) -> Any:
        """The public key for ``alg``, refusing a JWK of another type, curve or alg."""
        cache_key = (alg, *sorted((k, str(v)) for k, v in jwk.items()))
        key = self._keys.get(cache_key)
        if key is not None:
            return key
        mismatch = _fail("key_mismatch", "the key the token's kid names does not fit its alg")
        if jwk.get("kty") != _KTY[alg[:2]] or jwk.get("alg", alg) != alg:
            raise mismatch
        if alg in _CURVE and jwk.get("crv") != _CURVE[alg]:
            raise mismatch
        try:
            key = jwt.PyJWK(dict(jwk), algorithm=alg).key
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            raise mismatch from None
        if _KTY[alg[:2]] == "RSA" and key.key_size < 2048:
            raise _fail("weak_key", "the issuer's RSA key is shorter than 2048 bits")
        if len(self._keys) > 256:
            self._keys.clear()
        self._keys[cache_key] = key
        return key

    def _decode(
        self,
        raw: str,
        key: Any,
        alg: str,
        iss: str,
        audiences: Sequence[str],
        unverified: Mapping[str, Any],
    ) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                raw,
                key,
                algorithms=[alg],
                audience=list(audiences),
                issuer=iss,
                leeway=self.clock_skew,
                options={"require": _REQUIRED},
            )
        except jwt.MissingRequiredClaimError as exc:
            raise _fail("missing_claim", f"the token lacks the {exc.claim} claim") from None
        except jwt.ExpiredSignatureError:
            raise _fail("expired", "the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise self._immature(unverified) from None
        except jwt.InvalidAudienceError:
            raise _fail(
                "wrong_audience",
                f"the token's aud is not this service's URL ({' or '.join(audiences)})",
            ) from None
        except jwt.InvalidSignatureError:
            raise _fail("bad_signature", "the token's signature does not verify") from None
        except jwt.InvalidAlgorithmError:
            raise _fail("algorithm_not_allowed", "the token's alg is not allowed") from None
        except jwt.InvalidIssuedAtError:
            raise _fail("invalid_claim", "the token's iat is not a number") from None
        except jwt.DecodeError:
            raise _fail("malformed_token", "the bearer token cannot be decoded") from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise _fail("invalid_token", "the bearer token is not valid") from None
        now = self.wall()
        iat, exp = claims["iat"], claims["exp"]
        if not isinstance(exp, int | float) or not isinstance(iat, int | float):
            raise _fail("invalid_claim", "the token's exp and iat must be numbers")
        if iat > now + self.clock_skew:
            raise self._immature(claims)
        if exp - iat > self.max_lifetime:
            raise _fail(
                "lifetime_too_long",
                f"the token's lifetime (exp - iat) exceeds {self.max_lifetime} s",
            )
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti or len(jti) > MAX_CLAIM:
            raise _fail("invalid_claim", "the token's jti must be a string")
        if not self.replay.first_use((iss, jti), float(exp) + self.clock_skew, now):
            raise _fail("replayed_jti", "this token's jti was used before: send a new token")
        return claims

    def _immature(self, claims: Mapping[str, Any]) -> AuthError:
        iat = claims.get("iat")
        if isinstance(iat, int | float) and iat > self.wall() + self.clock_skew:
            return _fail(
                "iat_in_future",
                f"the token's iat is in the future (beyond the {self.clock_skew} s clock skew)",
            )
        return _fail("not_yet_valid", "the token is not valid yet (nbf)")

    def _caller(self, claims: Mapping[str, Any]) -> Caller:
        optional: dict[str, str | None] = {}
        for name in ("sub", "tenant"):
            value = claims.get(name)
            if value is not None and (not isinstance(value, str) or len(value) > MAX_CLAIM):
                raise _fail("invalid_claim", f"the token's {name} claim must be a string")
            optional[name] = value
        return Caller(claims["iss"], optional["sub"], optional["tenant"], claims["jti"])


def _bearer(authorization: str | None) -> str:
    if authorization is None or not authorization.strip():
        raise _fail(
            "missing_token",
            "this service needs an Authorization: Bearer JWT signed by a trusted CDS client "
            "(CDS Hooks 2.0, Trusting CDS Clients)",
        )
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise _fail("not_bearer", "the Authorization header is not a Bearer token")
    value = value.strip()
    if len(value) > MAX_TOKEN:
        raise _fail("malformed_token", "the bearer token is too long")
    return value


def _peek(raw: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims before any check: only to find the issuer and its key."""
    try:
        header = jwt.get_unverified_header(raw)
        claims = jwt.decode(raw, options={"verify_signature": False})
    except (jwt.PyJWTError, ValueError, TypeError):
        raise _fail("malformed_token", "the bearer token is not a signed JWT") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise _fail("malformed_token", "the bearer token is not a signed JWT")
    if "crit" in header:  # RFC 7515 §4.1.11: extensions this service does not understand
        raise _fail("malformed_token", "the token's header has crit extensions")
    return header, claims
