"""200 concurrent order-select calls against the live server, every one answered correctly.

Correctness only: each call carries its own requisition (order id), so each answer must
hold that order's own card uuids; latency is printed, never asserted (bench/bench_server.py
measures it properly, with the server in its own process).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import httpx

from labrecog.server import card_uuid
from tests.test_server_support import SELECT, draft, example_request, live_server

CALLS = 200


def _request(i: int) -> tuple[str, dict[str, Any]]:
    body = example_request()
    order_id = f"O-LOAD-{i:04d}"
    body["hookInstance"] = f"00000000-0000-4000-8000-{i:012d}"
    for sr in ("sr-glu", "sr-hba1c", "sr-lft"):
        draft(body, sr)["requisition"]["value"] = order_id
    return order_id, body


async def _one(client: httpx.AsyncClient, body: dict[str, Any]) -> tuple[httpx.Response, float]:
    start = time.perf_counter()
    response = await client.post(f"/cds-services/{SELECT}", json=body)
    return response, time.perf_counter() - start


async def _storm(url: str) -> list[tuple[str, httpx.Response, float]]:
    calls = [_request(i) for i in range(CALLS)]
    limits = httpx.Limits(max_connections=CALLS, max_keepalive_connections=CALLS)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        await _one(client, example_request())  # warm up: first-use caches
        results = await asyncio.gather(*(_one(client, body) for _, body in calls))
    return [(order, r, t) for (order, _), (r, t) in zip(calls, results, strict=True)]


def test_200_concurrent_order_select_calls_are_all_answered_correctly() -> None:
    results = asyncio.run(_storm(live_server().url))
    assert len(results) == CALLS
    for order_id, response, _ in results:
        assert response.status_code == 200, response.text
        cards = response.json()["cards"]
        assert len(cards) == 2
        glu = card_uuid(SELECT, order_id, "ServiceRequest/sr-glu")
        lft = card_uuid(SELECT, order_id, "ServiceRequest/sr-lft")
        assert [c["uuid"] for c in cards] == [glu, lft]
        [action] = cards[0]["suggestions"][0]["actions"]
        assert action["resourceId"] == "ServiceRequest/sr-glu"
    latencies = sorted(t * 1000 for _, _, t in results)
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    print(
        f"\n{CALLS} concurrent order-select (client and server in one process): "
        f"p50 {q[49]:.1f} ms, p90 {q[89]:.1f} ms, p99 {q[98]:.1f} ms, max {latencies[-1]:.1f} ms"
    )
