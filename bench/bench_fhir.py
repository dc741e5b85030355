"""What reading FHIR costs on the batch path: the plain-dict reader against fhir.resources.

    .venv/bin/python bench/bench_fhir.py                  # 400 bundles per workload, 5 repeats
    .venv/bin/python bench/bench_fhir.py --bundles 100 --repeat 3
    .venv/bin/python bench/bench_fhir.py --json out.json  # the figures as JSON too

The bundles are bench_engine.py's deterministic demo cases written as FHIR R4 collection
Bundles (``labrecog.fhir.case_to_bundle``) and serialised to bytes, as an NDJSON line
holds them. Two workloads: *large* (the generator's 8 ordered items and 60 prior results:
a regional platform's nightly batch) and *small* (the first 3 items and 6 results: an
order-entry screen's draft order). Per bundle, interleaved and repeated, medians reported:

(a) orjson       ``orjson.loads(raw)``: the floor, parsing alone
(b) labrecog     ``orjson.loads`` + ``read_bundle`` + ``engine.evaluate``: the batch path
(c) + FHIR out   (b) + ``guidance_response`` + ``orjson.dumps``: ``evaluate --format fhir``
(d) R4B          ``orjson.loads`` + ``fhir.resources.R4B Bundle.model_validate``: validation
                 alone, nothing read, nothing decided (what ``--strict-fhir`` adds)
(e) case JSON    the same case as labrecog JSON: ``orjson.loads`` + ``engine.evaluate``
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import RULES, Generator, machine

from labrecog import Engine, InputError
from labrecog.fhir import case_to_bundle, guidance_response, read_bundle

Workload = tuple[list[bytes], list[bytes]]  # (bundles, the same cases as labrecog JSON)


def workloads(engine: Engine, n: int) -> dict[str, Workload]:
    large: Workload = ([], [])
    small: Workload = ([], [])
    for data in Generator(engine).cases(n * 2):
        if len(large[0]) >= n:
            break
        try:
            case = engine.validate_case(data)
        except InputError:
            continue
        little = case.model_copy(
            update={"tests": case.tests[:3], "prior_results": case.prior_results[:6]}
        )
        for (bundles, jsons), c in ((large, case), (small, little)):
            bundles.append(orjson.dumps(case_to_bundle(c)))
            jsons.append(orjson.dumps(c.model_dump(mode="json", exclude_none=True)))
    return {"large": large, "small": small}


def steps(engine: Engine) -> dict[str, Callable[[bytes], Any]]:
    from fhir.resources.R4B.bundle import Bundle

    def plain(raw: bytes) -> Any:
        return engine.evaluate(read_bundle(orjson.loads(raw), engine).case)

    def fhir_out(raw: bytes) -> Any:
        fc = read_bundle(orjson.loads(raw), engine)
        return orjson.dumps(guidance_response(engine.evaluate(fc.case), fc))

    return {
        "(a) orjson": orjson.loads,
        "(b) labrecog": plain,
        "(c) + FHIR out": fhir_out,
        "(d) R4B": lambda raw: Bundle.model_validate(orjson.loads(raw)),
        "(e) case JSON": lambda raw: engine.evaluate(orjson.loads(raw)),
    }


def measure(engine: Engine, work: Workload, repeat: int) -> dict[str, float]:
    bundles, jsons = work
    runs: dict[str, list[float]] = {}
    named = steps(engine)
    for name, fn in named.items():  # one untimed pass: imports, memoised unit conversions
        for raw in (jsons if name.startswith("(e)") else bundles)[:20]:
            fn(raw)
    for _ in range(repeat):
        for name, fn in named.items():
            inputs = jsons if name.startswith("(e)") else bundles
            gc.collect()
            start = time.perf_counter()
            for raw in inputs:
                fn(raw)
            runs.setdefault(name, []).append((time.perf_counter() - start) / len(inputs) * 1e6)
    return {name: statistics.median(values) for name, values in runs.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundles", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    engine = Engine.from_path(RULES)
    figures: dict[str, Any] = {
        "machine": machine(),
        "bundles": args.bundles,
        "repeat": args.repeat,
        "workloads": {},
    }
    import fhir.resources

    figures["machine"]["fhir.resources"] = fhir.resources.__version__
    print(" ".join(f"{k}={v}" for k, v in figures["machine"].items()))
    for name, work in workloads(engine, args.bundles).items():
        sizes = sorted(len(b) for b in work[0])
        times = measure(engine, work, args.repeat)
        figures["workloads"][name] = {"median_bytes": sizes[len(sizes) // 2], "us": times}
        print(
            f"\n{name}: {len(work[0])} bundles, median {sizes[len(sizes) // 2]:,} bytes; "
            f"µs per bundle, median of {args.repeat}"
        )
        base = times["(b) labrecog"]
        for step, us in times.items():
            print(f"  {step:<16} {us:>10,.0f} µs   {us / base:5.2f}× (b)")
    if args.json:
        args.json.write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2) + b"\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
