"""Impossible values must never waive: mutate the result each waiver rests on.

    .venv/bin/python bench/mutate_values.py                      # every generated batch
    .venv/bin/python bench/mutate_values.py --limit 300          # the first 300 cases of each

For every waived single test and waived panel component of every case in the generated
batches (examples/<rule set>.jsonl.gz), the prior result the waiver rests on gets the
value −140, 0 or 1e300 (unit unchanged) and the case is decided again. Printed per rule
set: mutations, waivers kept, and the reasons the mutated result was given. Before issue 17
the waiver was kept in 4,266 of 4,374 cn-reference and 5,187 of 5,523 uk-mri mutations.

A zero is a real report for a few analytes (CRP, some antibodies, tumour markers), so a
kept waiver for the value 0 is listed by test: each must be one of those.
"""

from __future__ import annotations

import argparse
import copy
import gzip
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from labrecog import Engine

ROOT = Path(__file__).resolve().parent.parent
VALUES = (-140.0, 0.0, 1e300)


def waivers(decision: dict[str, Any]) -> list[tuple[str, str]]:
    """(test code, result id) of every waived single test and panel component."""
    out: list[tuple[str, str]] = []
    for entry in decision["items"]:
        if entry["status"] == "waive" and entry.get("result_id"):
            out.append((entry["code"], entry["result_id"]))
        for part in entry.get("waived") or ():
            out.append((part["code"], part["result_id"]))
    return out


def kept(decision: dict[str, Any], code: str, rid: str) -> bool:
    """Whether ``rid`` still carries a waiver of ``code``."""
    return (code, rid) in waivers(decision)


def run(name: str, limit: int | None) -> dict[str, Any]:
    engine = Engine.from_path(ROOT / "rules" / name)
    lines = gzip.decompress((ROOT / "examples" / f"{name}.jsonl.gz").read_bytes()).splitlines()
    mutations = 0
    survived: Counter[tuple[float, str]] = Counter()
    reasons: Counter[str] = Counter()
    for raw in lines[:limit]:
        case = orjson.loads(raw)
        decision = engine.evaluate(case).model_dump(mode="json")
        for code, rid in waivers(decision):
            index = next(i for i, p in enumerate(case["prior_results"]) if p["id"] == rid)
            if "value" not in case["prior_results"][index]:
                continue  # a qualitative result: no value to mutate
            for value in VALUES:
                mutated = copy.deepcopy(case)
                mutated["prior_results"][index]["value"] = value
                after = engine.evaluate(mutated).model_dump(mode="json")
                mutations += 1
                if kept(after, code, rid):
                    survived[(value, code)] += 1
                for entry in after["items"]:
                    for reason in entry["reasons"]:
                        if reason.get("result_id") == rid:
                            reasons[reason["code"]] += 1
    return {"mutations": mutations, "survived": survived, "reasons": reasons}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="cases per batch")
    parser.add_argument("names", nargs="*", default=["cn-reference", "uk-mri", "us-retest"])
    args = parser.parse_args()
    for name in args.names:
        if not (ROOT / "examples" / f"{name}.jsonl.gz").exists():
            continue
        found = run(name, args.limit)
        kept_total = sum(found["survived"].values())
        print(f"{name}: {found['mutations']} mutations, waiver kept in {kept_total}")
        for (value, code), n in sorted(found["survived"].items()):
            print(f"  kept: value {value:g} for {code}: {n}")
        top = ", ".join(f"{code} {n}" for code, n in found["reasons"].most_common(6))
        print(f"  reasons on the mutated results: {top}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
