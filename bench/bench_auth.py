"""What verifying the CDS client's JWT costs per call: p50 and p99, with and without auth.

    .venv/bin/python bench/bench_auth.py                 # 5 rounds x 200 calls per server
    .venv/bin/python bench/bench_auth.py --rounds 10 --calls 500

Two measurements:

1. ``Authenticator.verify`` alone, in this process, for an ES384 and an RS384 token
   (a key from a local JWK Set, as ``jwks_file`` gives it): the verification's own cost.
2. End to end over loopback HTTP: two ``labrecog serve`` processes on the demo rule set,
   one with ``--config`` (a trusted issuer with a fresh ES384 key) and one with
   ``--insecure-no-auth``; rounds alternate between them so that the machine's load
   falls on both alike. Each call is the example order-select request with its own order
   id and, for the first server, its own freshly signed token (minted before the round,
   not timed). One keep-alive connection per server, one call at a time; every answer is
   checked to be a 200 with cards.

No timed test asserts these figures (bench/README.md, non-functional targets): they are
printed for the docs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from _workload import machine
from bench_server import EXAMPLE, ROOT, SERVICE, bodies, free_port, wait_healthy
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from labrecog.server import Authenticator, TrustedIssuer

ISS = "https://cpoe.lzu2.example"


def sign(key: Any, alg: str, kid: str, aud: str) -> str:
    now = int(time.time())
    claims = {
        "iss": ISS,
        "sub": "cpoe-client",
        "aud": aud,
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
        "tenant": "LZU2",
    }
    token: str = jwt.encode(claims, key, algorithm=alg, headers={"kid": kid, "typ": "JWT"})
    return token


def public_jwk(key: Any, alg: str, kid: str) -> dict[str, Any]:
    maker: Any = ECAlgorithm if alg.startswith("ES") else RSAAlgorithm
    jwk: dict[str, Any] = json.loads(maker.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return q[49], q[98], statistics.fmean(samples)


def verify_alone(count: int) -> dict[str, tuple[float, float, float]]:
    """Microseconds per ``verify`` (p50, p99, mean), per algorithm."""
    aud = f"https://cds.example/cds-services/{SERVICE}"
    keys = {
        "ES384": ec.generate_private_key(ec.SECP384R1()),
        "RS384": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    }
    out = {}
    for alg, key in keys.items():
        jwks = {"keys": [public_jwk(key, alg, "k1")]}
        auth = Authenticator([TrustedIssuer(ISS, jwks=jwks)], public_url="https://cds.example")
        tokens = [sign(key, alg, "k1", aud) for _ in range(count)]

        async def run(auth: Authenticator = auth, tokens: list[str] = tokens) -> list[float]:
            times = []
            for token in tokens:
                start = time.perf_counter()
                await auth.verify(f"Bearer {token}", (aud,))
                times.append((time.perf_counter() - start) * 1e6)
            return times

        out[alg] = percentiles(asyncio.run(run()))
    return out


class Connection:
    """One keep-alive HTTP/1.1 connection (as bench_server's), with an Authorization header."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes, token: str | None) -> float:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        head = (
            f"POST /cds-services/{SERVICE} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n{auth}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        start = time.perf_counter()
        self.writer.write(head + body)
        await self.writer.drain()
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        payload = await self.reader.readexactly(length)
        elapsed = time.perf_counter() - start
        if status != 200 or not json.loads(payload)["cards"]:
            raise SystemExit(f"HTTP {status}: {payload[:300]!r}")
        return elapsed * 1000

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def start(args: list[str], port: int, folder: Path) -> subprocess.Popen[bytes]:
    command = [
        str(Path(sys.executable).with_name("labrecog")),
        "serve",
        *args,
        "--rules",
        str(ROOT / "rules" / "demo"),
        "--port",
        str(port),
        "--feedback-db",
        str(folder / f"feedback-{port}.sqlite3"),
        "--institution",
        "LZU2",
        "--region",
        "620102",
        "--level",
        "3",
        "--log-level",
        "warning",
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def end_to_end(rounds: int, calls: int, folder: Path) -> dict[str, list[float]]:
    key = ec.generate_private_key(ec.SECP384R1())
    (folder / "jwks.json").write_text(json.dumps({"keys": [public_jwk(key, "ES384", "k1")]}))
    secured, open_ = free_port(), free_port()
    public = f"http://127.0.0.1:{secured}"
    (folder / "serve.toml").write_text(
        f'public_url = "{public}"\n\n[[auth.issuers]]\niss = "{ISS}"\n'
        'jwks_file = "jwks.json"\nalgorithms = ["ES384"]\n'
    )
    servers = [
        start(["--config", str(folder / "serve.toml")], secured, folder),
        start(["--insecure-no-auth"], open_, folder),
    ]
    base = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    aud = f"{public}/cds-services/{SERVICE}"
    conns = {"jwt": Connection(secured), "none": Connection(open_)}
    times: dict[str, list[float]] = {"jwt": [], "none": []}
    try:
        for port in (secured, open_):
            wait_healthy(f"http://127.0.0.1:{port}")
        for n, body in enumerate(bodies(50, base, 800_000)):  # warm up both
            await conns["jwt"].post(body, sign(key, "ES384", "k1", aud))
            await conns["none"].post(bodies(1, base, 850_000 + n)[0], None)
        for r in range(rounds):
            payloads = bodies(calls, base, r * calls)
            tokens = [sign(key, "ES384", "k1", aud) for _ in range(calls)]
            for mode in ("jwt", "none") if r % 2 == 0 else ("none", "jwt"):
                for body, token in zip(payloads, tokens, strict=True):
                    times[mode].append(
                        await conns[mode].post(body, token if mode == "jwt" else None)
                    )
    finally:
        for conn in conns.values():
            conn.close()
        for server in servers:
            server.terminate()
            server.wait(timeout=10)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--verify", type=int, default=2000, help="tokens verified in-process")
    args = parser.parse_args()
    cpu = machine()["cpu"]
    print(f"machine      {cpu}, Python {platform.python_version()}")
    for alg, (p50, p99, mean) in verify_alone(args.verify).items():
        print(f"verify {alg}  p50 {p50:7.1f} µs   p99 {p99:7.1f} µs   mean {mean:7.1f} µs")
    with tempfile.TemporaryDirectory(prefix="labrecog-bench-auth-") as folder:
        times = asyncio.run(end_to_end(args.rounds, args.calls, Path(folder)))
    print(f"calls        {args.rounds} x {args.calls} per server, one at a time, all 200")
    figures = {mode: percentiles(samples) for mode, samples in times.items()}
    for mode, label in (("none", "no auth    "), ("jwt", "ES384 JWT  ")):
        p50, p99, mean = figures[mode]
        print(f"{label}  p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   mean {mean:6.2f} ms")
    (a50, a99, am), (n50, n99, nm) = figures["jwt"], figures["none"]
    print(
        f"overhead     p50 {a50 - n50:+6.2f} ms   p99 {a99 - n99:+6.2f} ms"
        f"   mean {am - nm:+6.2f} ms"
    )


if __name__ == "__main__":
    main()
