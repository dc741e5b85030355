"""Batch command-line benchmark: throughput, memory and --jobs scaling of `labrecog evaluate`.

    .venv/bin/python bench/bench_cli.py --cases 200000        # the issue's figure
    .venv/bin/python bench/bench_cli.py --cases 20000 --memory-cases 100000

Generates a JSONL file with the engine benchmark's case generator (8 ordered items incl.
one panel, 60 prior results each), then times, each in its own process:

(a) baseline: read the file, ``orjson.loads`` and validate every line with ``labrecog.Case``;
(b) ``labrecog evaluate FILE --rules rules/demo -o OUT -q`` with ``--jobs 1``;
(c) the same with ``--jobs 2``.

Peak memory is the largest resident set of the whole process tree (workers included),
sampled from /proc every 50 ms. ``--memory-cases`` runs (b) again on a larger file to show
that memory does not grow with the input.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from bench_engine import Generator, machine  # noqa: E402

from labrecog import Engine  # noqa: E402

BASELINE = """
import sys, orjson
from labrecog import Case, Engine
engine = Engine.from_path(sys.argv[2])
ctx = {"timezone": engine.rules.timezone}
with open(sys.argv[1], "rb") as f:
    for raw in f:
        try:
            Case.model_validate(orjson.loads(raw), context=ctx)
        except ValueError:
            pass
"""


def write_cases(path: Path, n: int, rules: str) -> None:
    gen = Generator(Engine.from_path(rules))
    with path.open("wb") as out:
        for i in range(n):
            out.write(orjson.dumps(gen.case(i)) + b"\n")


def _tree_rss_kb(pid: int) -> int:
    total = 0
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                todo.extend(int(c) for c in children)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def timed(cmd: list[str]) -> tuple[float, float, int]:
    """(seconds, peak MB of the process tree, exit code)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss_kb(proc.pid))
        time.sleep(0.05)
    return time.perf_counter() - start, peak / 1024, proc.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="labrecog evaluate benchmark")
    parser.add_argument("--cases", type=int, default=200_000)
    parser.add_argument("--memory-cases", type=int, default=0)
    parser.add_argument("--rules", default=str(ROOT / "rules" / "demo"))
    parser.add_argument("--quick", action="store_true", help="5,000 cases")
    args = parser.parse_args(argv)
    if args.quick:
        args.cases = 5_000
    exe = Path(sys.executable).parent / "labrecog"
    with tempfile.TemporaryDirectory(prefix="labrecog-bench-") as tmp:
        src = Path(tmp) / "cases.jsonl"
        out = Path(tmp) / "decisions.jsonl"
        t0 = time.perf_counter()
        write_cases(src, args.cases, args.rules)
        size = src.stat().st_size / 1e6
        print(f"generated {args.cases:,} cases ({size:,.0f} MB) in {time.perf_counter() - t0:.0f}s")
        rows = []
        base = timed([sys.executable, "-c", BASELINE, str(src), args.rules])
        rows.append(("(a) parse + validate (baseline)", *base))
        cmd = [str(exe), "evaluate", str(src), "--rules", args.rules, "-o", str(out), "-q"]
        one = timed([*cmd, "--jobs", "1"])
        rows.append(("(b) evaluate --jobs 1", *one))
        two = timed([*cmd, "--jobs", "2"])
        rows.append(("(c) evaluate --jobs 2", *two))
        lines = sum(1 for _ in out.open("rb"))
        print(f"\nmachine: {machine()['cpu']}, {os.cpu_count()} cores; {args.cases:,} cases\n")
        print(f"{'run':34} {'seconds':>9} {'cases/s':>9} {'peak MB':>9} {'exit':>5}")
        for name, secs, peak, code in rows:
            print(f"{name:34} {secs:9.1f} {args.cases / secs:9,.0f} {peak:9.0f} {code:5}")
        print(f"\noutput lines: {lines:,} (input lines: {args.cases:,})")
        print(f"evaluate --jobs 1 / baseline: {one[0] / base[0]:.2f}  (target <= 2.0)")
        print(f"speed-up --jobs 2 vs --jobs 1: {one[0] / two[0]:.2f}  (target >= 1.6)")
        if args.memory_cases:
            big = Path(tmp) / "big.jsonl"
            src.unlink()
            write_cases(big, args.memory_cases, args.rules)
            secs, peak, code = timed(
                [str(exe), "evaluate", str(big), "--rules", args.rules, "-o", str(out), "-q"]
            )
            print(
                f"memory check: {args.memory_cases:,} cases, --jobs 1: peak {peak:.0f} MB "
                f"({secs:.0f}s, exit {code}); {args.cases:,} cases: peak {one[1]:.0f} MB"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
