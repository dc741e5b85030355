"""The cost of refusing duplicate JSON keys (issue 17): ``loads_strict`` against
``orjson.loads`` on the same bytes.

    .venv/bin/python bench/bench_json.py            # default workload + generated batches

Workloads: 2,000 cases of bench_engine.py's default generator (60 prior results each) and
every generated batch in examples/. Interleaved, 7 repeats, medians; the ratio is
measured within one run. ``make bench`` prints it.
"""

from __future__ import annotations

import gzip
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import RULES, Generator

from labrecog import Engine
from labrecog.load._json_text import loads_strict

ROOT = Path(__file__).resolve().parent.parent
REPEAT = 7


def timed(fn: Callable[[bytes], Any], lines: list[bytes]) -> float:
    start = time.perf_counter()
    for line in lines:
        fn(line)
    return time.perf_counter() - start


def compare(name: str, lines: list[bytes]) -> None:
    plain: list[float] = []
    strict: list[float] = []
    for _ in range(REPEAT):
        plain.append(timed(orjson.loads, lines))
        strict.append(timed(loads_strict, lines))
    p, s = statistics.median(plain), statistics.median(strict)
    per = 1e6 / len(lines)
    print(
        f"{name:<24} {len(lines):>6} cases  orjson.loads {p * per:7.1f} µs  "
        f"loads_strict {s * per:7.1f} µs  ratio {s / p:4.2f}"
    )


def main() -> int:
    engine = Engine.from_path(RULES)
    cases = Generator(engine).cases(2_000)
    compare("default (60 priors)", [orjson.dumps(c) for c in cases])
    for path in sorted((ROOT / "examples").glob("*.jsonl.gz")):
        lines = [line for line in gzip.decompress(path.read_bytes()).splitlines() if line]
        compare(path.name.removesuffix(".jsonl.gz"), lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
