"""CDS Hooks 2.0 "Trusting CDS Clients" over real HTTP on loopback, with real signed tokens.

Key pairs are made here (RSA 2048 and EC P-384, with ``cryptography``). One trusted issuer
has its JWKS in a local file, another at a JWKS URL served by a second loopback server
(which counts its requests, so caching and the refetch on an unknown ``kid`` are seen).
Every refusal is a 401 OperationOutcome with ``WWW-Authenticate: Bearer`` and never a card;
the request's log line names the reason, never the token. The JWKS cache's clock and the
rate limiter's are moved by the tests: nothing here waits on the wall clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from labrecog.server import (
    INSECURE_NO_AUTH,
    Authenticator,
    Caller,
    JsonFormatter,
    RateLimit,
    TrustedIssuer,
    create_app,
    open_feedback_store,
)
from tests.test_server_support import (
    INSTITUTION,
    SELECT,
    SIGN,
    example_request,
    extra_server,
    live_server,
)

# PyJWT warns when it signs with the deliberately weak key (the weak_key case).
pytestmark = pytest.mark.filterwarnings("ignore:The RSA key is 1024 bits")

PUBLIC = "https://cds.lzu2.example/labrecog"  # the URL the CPOE calls (through the proxy)
SELECT_AUD = f"{PUBLIC}/cds-services/{SELECT}"
FEEDBACK_AUD = f"{SELECT_AUD}/feedback"
FILE_ISS = "https://cpoe.lzu2.example"  # JWKS in a local file (RSA)
URL_ISS = "https://ehr.gansu-platform.example/fhir"  # JWKS at a URL (EC), its jku allowed
DEAD_ISS = "https://ehr.down.example"  # JWKS URL that nobody answers
ORIGIN = "https://ehr.lzu2.example"

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP384R1())
OTHER_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ROTATED_EC = ec.generate_private_key(ec.SECP384R1())
WEAK_RSA = rsa.generate_private_key(public_exponent=65537, key_size=1024)


def public_jwk(key: Any, kid: str, alg: str) -> dict[str, Any]:
    maker: Any = RSAAlgorithm if alg.startswith("RS") else ECAlgorithm
    jwk: dict[str, Any] = json.loads(maker.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


FILE_JWKS = {"keys": [public_jwk(RSA_KEY, "rsa-1", "RS384"), public_jwk(WEAK_RSA, "weak", "RS384")]}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(
    *,
    iss: str = FILE_ISS,
    aud: str | list[str] = SELECT_AUD,
    lifetime: int = 120,
    iat_shift: int = 0,
    tenant: Any = "LZU2",
    drop: Sequence[str] = (),
) -> dict[str, Any]:
    now = int(time.time()) + iat_shift
    out: dict[str, Any] = {
        "iss": iss,
        "sub": "cpoe-client",
        "aud": aud,
        "iat": now,
        "exp": now + lifetime,
        "jti": str(uuid.uuid4()),
        "tenant": tenant,
    }
    return {k: v for k, v in out.items() if k not in drop}


def token(
    *,
    key: Any = RSA_KEY,
    alg: str = "RS384",
    kid: str = "rsa-1",
    headers: dict[str, Any] | None = None,
    payload: dict[str, Any] | None = None,
    **claim_args: Any,
) -> str:
    body = payload if payload is not None else claims(**claim_args)
    encoded: str = jwt.encode(body, key, algorithm=alg, headers={"kid": kid, **(headers or {})})
    return encoded


def ec_token(**claim_args: Any) -> str:
    claim_args.setdefault("iss", URL_ISS)
    headers = claim_args.pop("headers", None)
    kid = claim_args.pop("kid", "ec-1")
    key = claim_args.pop("key", EC_KEY)
    return token(key=key, alg="ES384", kid=kid, headers=headers, **claim_args)


def unsigned(alg: str, signer: Callable[[bytes], bytes] | None = None) -> str:
    """A token written by hand: ``alg: none``, or HMAC keyed with the issuer's public key."""
    header = b64(json.dumps({"alg": alg, "typ": "JWT", "kid": "rsa-1"}).encode())
    payload = b64(json.dumps(claims()).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = b64(signer(signing_input)) if signer else ""
    return f"{header}.{payload}.{signature}"


def hs256_with_public_key(data: bytes) -> bytes:
    pem = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hmac.new(pem, data, hashlib.sha256).digest()


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


# --------------------------------------------------------------------------- servers


class JwksServer:
    """Serves a JWK Set at /jwks.json and /other.json; counts the requests for each."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = [public_jwk(EC_KEY, "ec-1", "ES384")]
        self.hits: dict[str, int] = {}
        self._lock = threading.Lock()
        self.url = ""

        async def serve(request: Request) -> JSONResponse:
            with self._lock:
                self.hits[request.url.path] = self.hits.get(request.url.path, 0) + 1
                keys = list(self.keys)
            return JSONResponse({"keys": keys})

        self.app = Starlette(routes=[Route("/jwks.json", serve), Route("/other.json", serve)])

    def count(self, path: str = "/jwks.json") -> int:
        with self._lock:
            return self.hits.get(path, 0)


class Clock:
    """A monotonic clock the tests move (the JWKS cache's and the rate limiter's)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Capture(logging.Handler):
    """Every log record of every logger, as the service's JSON lines."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []
        self._lock_lines = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        with self._lock_lines:
            self.lines.append(line)

    def mark(self) -> int:
        with self._lock_lines:
            return len(self.lines)

    def records(self, since: int = 0) -> list[dict[str, Any]]:
        with self._lock_lines:
            return [json.loads(line) for line in self.lines[since:]]

    def text(self, since: int = 0) -> str:
        with self._lock_lines:
            return "\n".join(self.lines[since:])


class RecordingStore:
    """The real SQLite store, behind a wrapper that keeps the caller each write was given."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.card_callers: list[Caller | None] = []
        self.feedback_callers: list[Caller | None] = []

    def record_cards(self, cards: Any, caller: Caller | None = None) -> None:
        self.card_callers.append(caller)
        self.inner.record_cards(cards)

    def record_feedback(self, service_id: str, items: Any, caller: Caller | None = None) -> int:
        self.feedback_callers.append(caller)
        stored: int = self.inner.record_feedback(service_id, items)
        return stored

    def close(self) -> None:
        self.inner.close()


@dataclass
class Env:
    client: httpx.Client
    jwks: JwksServer
    clock: Clock
    capture: Capture
    store: RecordingStore
    folder: Path


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    engine = live_server().engine  # also sets the labrecog.server logger to INFO
    capture = Capture()
    logging.getLogger().addHandler(capture)
    jwks = JwksServer()
    clock = Clock()
    folder = Path(tempfile.mkdtemp(prefix="labrecog-auth-"))
    store = RecordingStore(open_feedback_store(folder / "feedback.sqlite3"))
    try:
        with extra_server(jwks.app) as jwks_url:
            jwks.url = jwks_url
            auth = Authenticator(
                [
                    TrustedIssuer(FILE_ISS, jwks=FILE_JWKS),
                    TrustedIssuer(
                        URL_ISS,
                        jwks_url=f"{jwks_url}/jwks.json",
                        jku_allow=(f"{jwks_url}/jwks.json",),
                    ),
                    TrustedIssuer(DEAD_ISS, jwks_url="http://127.0.0.1:9/jwks.json"),
                ],
                public_url=PUBLIC,
                monotonic=clock,
            )
            app = create_app(
                engine, feedback_store=store, auth=auth, institution=INSTITUTION, cards="items"
            )
            with extra_server(app) as url, httpx.Client(base_url=url, timeout=30) as client:
                yield Env(client, jwks, clock, capture, store, folder)
    finally:
        logging.getLogger().removeHandler(capture)
        store.close()


def call(env: Env, headers: dict[str, str], body: Any = None) -> httpx.Response:
    return env.client.post(
        f"/cds-services/{SELECT}", json=body or example_request(), headers=headers
    )


FEEDBACK = {
    "feedback": [
        {"card": "c-auth-1", "outcome": "overridden", "outcomeTimestamp": "2025-03-02T01:00:00Z"}
    ]
}


def feedback(env: Env, headers: dict[str, str]) -> httpx.Response:
    return env.client.post(f"/cds-services/{SELECT}/feedback", json=FEEDBACK, headers=headers)


def request_line(env: Env, since: int, status: int) -> dict[str, Any]:
    """The request's own log line (written just after the answer: wait for it)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = [
            r
            for r in env.capture.records(since)
            if r.get("event") == "request" and r.get("status") == status
        ]
        if lines:
            return lines[-1]
        time.sleep(0.01)
    raise AssertionError(f"no request line with status {status}")


def assert_refused(response: httpx.Response, status: int = 401) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert "cards" not in body and "stored" not in body
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
    text: str = body["issue"][0]["details"]["text"]
    return text


# --------------------------------------------------------------------------- valid tokens


def test_a_valid_rsa_token_from_a_jwks_file_answers_cards(env: Env) -> None:
    since = env.capture.mark()
    raw = token()
    response = call(env, bearer(raw))
    assert response.status_code == 200, response.text
    assert len(response.json()["cards"]) == 2
    line = request_line(env, since, 200)
    assert line["client"] == FILE_ISS and line["tenant"] == "LZU2"
    assert raw not in env.capture.text(since)
    # The verified caller reaches the store with the cards it was issued.
    jti = jwt.decode(raw, options={"verify_signature": False})["jti"]
    assert env.store.card_callers[-1] == Caller(FILE_ISS, "cpoe-client", "LZU2", jti)


def test_a_valid_ec_token_from_a_jwks_url_is_verified_with_one_fetch(env: Env) -> None:
    before = env.jwks.count()
    for _ in range(3):
        assert call(env, bearer(ec_token())).status_code == 200
    assert env.jwks.count() - before <= 1  # fetched once, then cached


def test_an_aud_array_naming_the_service_and_an_allowed_jku_are_accepted(env: Env) -> None:
    allowed = {"jku": f"{env.jwks.url}/jwks.json"}
    response = call(
        env, bearer(ec_token(aud=["https://other.example", SELECT_AUD], headers=allowed))
    )
    assert response.status_code == 200, response.text


def test_a_token_without_tenant_is_a_caller_without_tenant(env: Env) -> None:
    raw = token(drop=["tenant"])
    assert call(env, bearer(raw)).status_code == 200
    assert env.store.card_callers[-1] is not None
    assert env.store.card_callers[-1].tenant is None


# --------------------------------------------------------------------------- refusals


REFUSALS: dict[str, Callable[[Env], dict[str, str]]] = {
    "missing_token": lambda env: {},
    "not_bearer": lambda env: {"Authorization": "Basic Y3BvZTpzZWNyZXQ="},
    "malformed_token": lambda env: bearer("not-a-jwt"),
    "bad_signature": lambda env: bearer(token(key=OTHER_RSA)),  # same kid, another key
    "wrong_audience": lambda env: bearer(token(aud=f"{PUBLIC}/cds-services/{SIGN}")),
    "wrong_audience_host": lambda env: bearer(
        token(aud=f"https://elsewhere.example/cds-services/{SELECT}")
    ),
    "expired": lambda env: bearer(token(iat_shift=-3600)),
    "iat_in_future": lambda env: bearer(token(iat_shift=600)),
    "lifetime_too_long": lambda env: bearer(token(lifetime=3600)),
    "unknown_issuer": lambda env: bearer(token(iss="https://intruder.example")),
    "alg_none": lambda env: bearer(unsigned("none")),
    "hs256_with_the_public_key": lambda env: bearer(unsigned("HS256", hs256_with_public_key)),
    "rs256_not_allowed": lambda env: bearer(token(alg="RS256")),
    "jku_not_allowed": lambda env: bearer(ec_token(headers={"jku": f"{env.jwks.url}/other.json"})),
    "unknown_kid": lambda env: bearer(token(kid="rsa-9")),
    "key_mismatch": lambda env: bearer(token(key=EC_KEY, alg="ES384", kid="rsa-1")),
    "weak_key": lambda env: bearer(token(key=WEAK_RSA, kid="weak")),
    "missing_jti": lambda env: bearer(token(drop=["jti"])),
    "missing_exp": lambda env: bearer(token(drop=["exp"])),
    "tenant_not_a_string": lambda env: bearer(token(tenant=42)),
}

REASON = {  # the log line's reason code, where the case name is not it
    "wrong_audience_host": "wrong_audience",
    "alg_none": "algorithm_not_allowed",
    "hs256_with_the_public_key": "algorithm_not_allowed",
    "rs256_not_allowed": "algorithm_not_allowed",
    "missing_jti": "missing_claim",
    "missing_exp": "missing_claim",
    "tenant_not_a_string": "invalid_claim",
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_each_bad_token_is_401_with_an_operation_outcome_and_no_card(env: Env, case: str) -> None:
    headers = REFUSALS[case](env)
    since = env.capture.mark()
    cards_before = len(env.store.card_callers)
    assert_refused(call(env, headers))
    line = request_line(env, since, 401)
    assert line["error"] == "unauthorized"
    assert line["auth_failure"] == REASON.get(case, case)
    assert len(env.store.card_callers) == cards_before  # nothing decided, nothing stored
    value = headers.get("Authorization", "").removeprefix("Bearer ").removeprefix("Basic ")
    if value:
        assert value not in env.capture.text(since)
        signature = value.split(".")[-1]
        assert not signature or signature not in env.capture.text(since)


def test_a_jku_outside_the_allow_list_is_never_fetched(env: Env) -> None:
    assert_refused(call(env, REFUSALS["jku_not_allowed"](env)))
    assert env.jwks.count("/other.json") == 0


def test_a_replayed_jti_is_refused(env: Env) -> None:
    raw = token()
    assert call(env, bearer(raw)).status_code == 200
    since = env.capture.mark()
    text = assert_refused(call(env, bearer(raw)))
    assert "jti" in text
    assert request_line(env, since, 401)["auth_failure"] == "replayed_jti"
    # the same jti from another issuer is another token
    jti = jwt.decode(raw, options={"verify_signature": False})["jti"]
    again = claims(iss=URL_ISS)
    again["jti"] = jti
    assert call(env, bearer(ec_token(payload=again))).status_code == 200


def test_an_unreachable_jwks_url_is_503_never_a_card(env: Env) -> None:
    since = env.capture.mark()
    dead = token(key=EC_KEY, alg="ES384", kid="ec-1", iss=DEAD_ISS)
    assert_refused(call(env, bearer(dead)), 503)
    assert request_line(env, since, 503)["auth_failure"] == "jwks_unavailable"


def test_an_unknown_kid_refetches_the_jwks_once_per_cooldown(env: Env) -> None:
    env.clock.now += 1000  # past the cache's TTL: the next call fetches
    assert call(env, bearer(ec_token())).status_code == 200
    fetched = env.jwks.count()
    env.jwks.keys.append(public_jwk(ROTATED_EC, "ec-2", "ES384"))
    env.clock.now += 31  # past the refetch cooldown, within the TTL
    assert call(env, bearer(ec_token(key=ROTATED_EC, kid="ec-2"))).status_code == 200
    assert env.jwks.count() == fetched + 1  # the rotated key, found by one refetch
    # A made-up kid does not make the service fetch again and again.
    for n in range(3):
        assert_refused(call(env, bearer(ec_token(kid=f"ec-made-up-{n}"))))
    assert env.jwks.count() == fetched + 1
    env.clock.now += 31
    assert_refused(call(env, bearer(ec_token(kid="ec-made-up-9"))))
    assert env.jwks.count() == fetched + 2


# --------------------------------------------------------------------------- feedback


def test_feedback_needs_a_valid_token_too(env: Env) -> None:
    for aud in (FEEDBACK_AUD, SELECT_AUD):  # the feedback URL, or the service it is for
        response = feedback(env, bearer(token(aud=aud)))
        assert response.status_code == 200, response.text
        assert response.json() == {"stored": 1}
    assert env.store.feedback_callers[-1] is not None
    assert env.store.feedback_callers[-1].issuer == FILE_ISS
    stored = len(env.store.feedback_callers)
    for case in ("missing_token", "bad_signature", "wrong_audience", "expired", "alg_none"):
        since = env.capture.mark()
        assert_refused(feedback(env, REFUSALS[case](env)))
        assert request_line(env, since, 401)["auth_failure"] == REASON.get(case, case)
    raw = token(aud=FEEDBACK_AUD)
    assert feedback(env, bearer(raw)).status_code == 200
    assert_refused(feedback(env, bearer(raw)))  # replayed
    assert len(env.store.feedback_callers) == stored + 1


# --------------------------------------------------------------------------- never logged


def test_the_bearer_token_and_fhir_authorization_are_never_logged_or_stored(env: Env) -> None:
    planted = "fhir-access-token-PLANTED-7f3a9c"
    request = example_request()
    request["fhirServer"] = "https://fhir.lzu2.example/r4"  # not on the allow-list: no fetch
    request["fhirAuthorization"] = {
        "access_token": planted,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/Observation.read",
        "subject": "labrecog",
    }
    noisy = ("httpx", "httpcore", "labrecog.server", "uvicorn", "uvicorn.error")
    levels = {name: logging.getLogger(name).level for name in noisy}
    for name in noisy:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        since = env.capture.mark()
        raw = token()
        answers = [
            call(env, bearer(raw), request),
            call(env, bearer(raw), request),  # replayed: refused
            call(env, bearer(token(key=OTHER_RSA)), request),  # bad signature
            call(env, {}, request),
            feedback(env, bearer(token(aud=FEEDBACK_AUD))),
        ]
        request_line(env, since, 200)
        lines = env.capture.text(since)
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    assert [a.status_code for a in answers] == [200, 401, 401, 401, 200]
    assert '"event":"request"' in lines
    signature = raw.split(".")[-1]
    for secret in (planted, raw, signature):
        assert secret not in lines
        assert not [a for a in answers if secret in a.text]
    stored = b"".join(p.read_bytes() for p in env.folder.iterdir() if p.is_file())
    assert b"sr-glu" in stored  # the cards were stored ...
    assert planted.encode() not in stored and signature.encode() not in stored  # ... not these


# --------------------------------------------------------------------------- rate limits


def test_a_caller_over_its_rate_gets_429_with_retry_after(env: Env) -> None:
    clock = Clock()
    auth = Authenticator(
        [TrustedIssuer(FILE_ISS, jwks={"keys": [public_jwk(RSA_KEY, "rsa-1", "RS384")]})],
        public_url=PUBLIC,
    )
    app = create_app(
        live_server().engine,
        feedback_store=open_feedback_store(env.folder / "limited.sqlite3"),
        auth=auth,
        rate_limit=RateLimit(per_minute=60, burst=2, clock=clock),
        institution=INSTITUTION,
        cards="items",
    )
    with extra_server(app) as url, httpx.Client(base_url=url, timeout=30) as client:

        def post(**claim_args: Any) -> httpx.Response:
            return client.post(
                f"/cds-services/{SELECT}",
                json=example_request(),
                headers=bearer(token(**claim_args)),
            )

        assert [post().status_code for _ in range(2)] == [200, 200]
        throttled = post()
        assert_refused(throttled, 429)
        assert throttled.headers["retry-after"] == "1"
        assert throttled.json()["issue"][0]["code"] == "throttled"
        assert post(tenant="QHPH").status_code == 200  # another tenant: its own bucket
        clock.now += 1.0  # one request's worth of tokens back (60 per minute)
        assert post().status_code == 200
        assert post().status_code == 429
        # Feedback counts against the same bucket.
        response = client.post(
            f"/cds-services/{SELECT}/feedback",
            json=FEEDBACK,
            headers=bearer(token(aud=FEEDBACK_AUD)),
        )
        assert response.status_code == 429


# --------------------------------------------------------------------------- CORS


def test_cors_is_closed_by_default_and_open_only_to_configured_origins(env: Env) -> None:
    engine = live_server().engine
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    closed = create_app(
        engine,
        feedback_store=open_feedback_store(env.folder / "cors-closed.sqlite3"),
        auth=INSECURE_NO_AUTH,
    )
    with extra_server(closed) as url:
        for response in (
            httpx.get(f"{url}/cds-services", headers={"Origin": ORIGIN}),
            httpx.options(f"{url}/cds-services/{SELECT}", headers={"Origin": ORIGIN, **preflight}),
        ):
            assert not [h for h in response.headers if h.startswith("access-control-")]
    auth = Authenticator(
        [TrustedIssuer(FILE_ISS, jwks={"keys": [public_jwk(RSA_KEY, "rsa-1", "RS384")]})],
        public_url=PUBLIC,
    )
    opened = create_app(
        engine,
        feedback_store=open_feedback_store(env.folder / "cors-open.sqlite3"),
        auth=auth,
        cors_origins=(ORIGIN,),
    )
    with extra_server(opened) as url:
        ok = httpx.options(f"{url}/cds-services/{SELECT}", headers={"Origin": ORIGIN, **preflight})
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == ORIGIN
        assert "authorization" in ok.headers["access-control-allow-headers"].lower()
        refused = httpx.post(
            f"{url}/cds-services/{SELECT}", json=example_request(), headers={"Origin": ORIGIN}
        )
        assert refused.status_code == 401  # errors carry the headers too, so the page can read
        assert refused.headers["access-control-allow-origin"] == ORIGIN
        assert "www-authenticate" in refused.headers["access-control-expose-headers"].lower()
        other = "https://attacker.example"
        response = httpx.get(f"{url}/cds-services", headers={"Origin": other})
        assert "access-control-allow-origin" not in response.headers
        bad = httpx.options(f"{url}/cds-services/{SELECT}", headers={"Origin": other, **preflight})
        assert "access-control-allow-origin" not in bad.headers


# --------------------------------------------------------------------------- insecure mode


def test_insecure_mode_is_explicit_and_warns(env: Env) -> None:
    since = env.capture.mark()
    app = create_app(
        live_server().engine,
        feedback_store=open_feedback_store(env.folder / "insecure.sqlite3"),
        auth=INSECURE_NO_AUTH,
        institution=INSTITUTION,
    )
    warnings = [r for r in env.capture.records(since) if r["event"] == "insecure_no_auth"]
    assert len(warnings) == 1 and warnings[0]["level"] == "warning"
    with extra_server(app) as url:
        response = httpx.post(f"{url}/cds-services/{SELECT}", json=example_request(), timeout=30)
        assert response.status_code == 200
    with pytest.raises(TypeError):
        create_app(  # type: ignore[call-arg]
            live_server().engine,
            feedback_store=open_feedback_store(env.folder / "no-auth-given.sqlite3"),
        )


def test_a_token_in_someone_elses_log_message_is_redacted() -> None:
    # Defence in depth: a library logging a header or an exception text that quotes the JWT.
    raw = token()
    record = logging.LogRecord("somelib", logging.ERROR, __file__, 1, "got %s", (raw,), None)
    line = JsonFormatter().format(record)
    assert raw not in line and raw.split(".")[-1] not in line
    assert "[redacted-jwt]" in line
    record = logging.LogRecord(
        "somelib", logging.INFO, __file__, 1, "Authorization: Bearer %s", ("opaque-123",), None
    )
    assert "opaque-123" not in JsonFormatter().format(record)


def test_the_openapi_document_declares_the_bearer_scheme_when_auth_is_on(env: Env) -> None:
    document = env.client.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["cdsClientJwt"]["scheme"] == "bearer"
    for path, ops in document["paths"].items():
        if path.startswith(f"/cds-services/{SELECT}"):
            assert ops["post"]["security"] == [{"cdsClientJwt": []}], path
            assert "401" in ops["post"]["responses"], path
    assert "security" not in document["paths"]["/cds-services"]["get"]  # discovery stays open
