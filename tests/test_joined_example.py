"""examples/joined/ stays what docs/joined-mode.md says it is: cases.jsonl, split in two.

The orders are cases of examples/cases.jsonl without their prior results (plus two orders
of its patients' own making); the results are those cases' prior results, in collection
order, plus one deliberately broken line. If cases.jsonl changes, this says so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _lines(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue  # cases.jsonl's deliberately broken lines
        if isinstance(value, dict):
            out.append(value)
    return out


def test_orders_are_cases_without_their_results() -> None:
    cases = {case["order_id"]: case for case in _lines(EXAMPLES / "cases.jsonl")}
    orders = _lines(EXAMPLES / "joined" / "orders.jsonl")
    taken = [order for order in orders if order["order_id"] in cases]
    assert len(taken) == 4
    for order in taken:
        whole = dict(cases[order["order_id"]])
        whole.pop("prior_results")
        assert order == whole
    assert all("prior_results" not in order for order in orders)


def test_results_are_the_cases_prior_results_in_collection_order() -> None:
    priors = [p for case in _lines(EXAMPLES / "cases.jsonl") for p in case["prior_results"]]
    results = _lines(EXAMPLES / "joined" / "results.jsonl")
    broken = [r for r in results if "collected_at" not in r]
    assert [r["id"] for r in broken] == ["R-399"]
    valid = [r for r in results if "collected_at" in r]
    assert all(r in priors for r in valid)
    times = [r["collected_at"] for r in valid]
    assert times == sorted(times)
