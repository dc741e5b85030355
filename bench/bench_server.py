"""Latency of the CDS Hooks service: concurrent order-select calls over loopback HTTP.

    .venv/bin/python bench/bench_server.py                      # start a server, 200 x 5
    .venv/bin/python bench/bench_server.py --concurrency 1 --rounds 200
    .venv/bin/python bench/bench_server.py --url http://127.0.0.1:8080   # a running server

By default the script starts ``labrecog serve --rules rules/demo`` in its own process (so
the load generator does not share its interpreter), with a throw-away SQLite feedback file,
waits for ``/healthz``, warms it up, then sends ``--rounds`` waves of ``--concurrency``
simultaneous order-select calls (examples/cds/order-select.json, each with its own order
id), one keep-alive connection per simulated client, with a minimal asyncio HTTP/1.1
client (a full client library would cost more CPU than the server and be what is timed).
Every answer is checked (HTTP 200, the summary card and two item cards, the delete
suggestion names ServiceRequest/sr-glu); latency is measured per call, from send to the
full body, and reported as percentiles. A wave's calls are started together, so at 200
the figures include the queueing of 200 requests on one server process.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "cds" / "order-select.json"
SERVICE = "labrecog-order-select"
SUMMARY, ITEM = "lab-order-summary", "lab-result-recognition"  # card topics


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(port: int, db: Path) -> subprocess.Popen[bytes]:
    labrecog = Path(sys.executable).with_name("labrecog")
    command = [
        str(labrecog),
        "serve",
        "--insecure-no-auth",  # the engine and HTTP cost; bench_auth.py measures the JWT's
        "--rules",
        str(ROOT / "rules" / "demo"),
        "--port",
        str(port),
        "--feedback-db",
        str(db),
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


def wait_healthy(
    url: str, seconds: float = 30, process: subprocess.Popen[Any] | None = None
) -> None:
    """Return once ``url`` answers /healthz (also used by tests/test_server_cli.py)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode}")
        time.sleep(0.1)
    raise RuntimeError(f"no server answering at {url}")


def bodies(count: int, base: dict[str, Any], offset: int) -> list[bytes]:
    out = []
    for i in range(count):
        body = copy.deepcopy(base)
        body["hookInstance"] = f"00000000-0000-4000-9000-{offset + i:012d}"
        for entry in body["context"]["draftOrders"]["entry"]:
            entry["resource"]["requisition"]["value"] = f"O-BENCH-{offset + i:06d}"
        out.append(json.dumps(body, ensure_ascii=False).encode())
    return out


class Connection:
    """One keep-alive HTTP/1.1 connection speaking just enough HTTP for this service.

    A hand-written client on purpose: a full client library costs several times the
    server's own CPU per call, and on a small machine the load generator would then be
    what is measured.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        payload = await self.reader.readexactly(length)
        return status, payload

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def call(conn: Connection, body: bytes) -> float:
    start = time.perf_counter()
    status, payload = await conn.post(f"/cds-services/{SERVICE}", body)
    elapsed = time.perf_counter() - start
    if status != 200:
        raise SystemExit(f"HTTP {status}: {payload[:300]!r}")
    cards = json.loads(payload)["cards"]  # the order's summary card, then the item cards
    topics = [c["source"]["topic"]["code"] for c in cards]
    action = cards[1]["suggestions"][0]["actions"][0] if len(cards) > 1 else {}
    if topics != [SUMMARY, ITEM, ITEM] or action.get("resourceId") != "ServiceRequest/sr-glu":
        raise SystemExit(f"unexpected answer: {payload[:300]!r}")
    return elapsed


async def run(url: str, concurrency: int, rounds: int, warmup: int) -> tuple[list[float], float]:
    base = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    parsed = httpx.URL(url)
    host, port = parsed.host, parsed.port or 80
    clients = [Connection(host, port) for _ in range(concurrency)]
    try:
        for body in bodies(warmup, base, 900_000):
            await call(clients[0], body)
        waves = [bodies(concurrency, base, r * concurrency) for r in range(rounds)]
        latencies: list[float] = []
        started = time.perf_counter()
        for wave in waves:
            calls = (call(conn, b) for conn, b in zip(clients, wave, strict=True))
            latencies.extend(await asyncio.gather(*calls))
        wall = time.perf_counter() - started
    finally:
        for conn in clients:
            conn.close()
    return latencies, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running server (default: start one)")
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()

    server = None
    folder = tempfile.TemporaryDirectory(prefix="labrecog-bench-")
    url = args.url
    if url is None:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start_server(port, Path(folder.name) / "feedback.sqlite3")
    try:
        wait_healthy(url)
        latencies, wall = asyncio.run(run(url, args.concurrency, args.rounds, args.warmup))
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        folder.cleanup()

    ms = sorted(t * 1000 for t in latencies)
    q = statistics.quantiles(ms, n=100, method="inclusive")
    from _workload import machine  # here: the tests import this module as bench.bench_server

    cpu = machine()["cpu"]
    print(f"machine      {cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"load         {args.rounds} waves x {args.concurrency} concurrent order-select calls")
    print(f"calls        {len(ms)} (all HTTP 200 with the expected cards)")
    print(f"throughput   {len(ms) / wall:.0f} calls/s")
    print(f"latency ms   p50 {q[49]:.1f}   p90 {q[89]:.1f}   p99 {q[98]:.1f}   max {ms[-1]:.1f}")


if __name__ == "__main__":
    main()
