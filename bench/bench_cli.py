"""`labrecog evaluate` against a parse-only pass of the same file, --jobs scaling, memory.

    .venv/bin/python bench/bench_cli.py                  # 20,000 cases; memory 1k vs 100k
    .venv/bin/python bench/bench_cli.py --quick          # 2,000 cases; memory 1k vs 10k
    .venv/bin/python bench/bench_cli.py --cases 20 --memory-small 10 --memory-large 20

Every run is a fresh process (wall time, start-up included), on the same JSONL file:

(p) parse only   ``python -c``: read the file and ``orjson.loads`` every line
(1) evaluate     ``python -m labrecog evaluate FILE --rules R -o OUT -q --jobs 1``
(2) evaluate     the same with ``--jobs 2``

The default workload is bench_engine.py's generator (60 prior results a case); each
generated batch of examples/ is repeated to the same number of lines, so start-up weighs
alike. Targets: (1)/(p) <= 4 on the default workload, (1)/(2) >= 1.85. Peak memory is the
child's ``ru_maxrss`` (from ``wait4``) with ``--jobs 1`` on ``--memory-small`` and
``--memory-large`` cases (the default file's lines, repeated): the ratio should be <= 1.1.
The interpreter is this one and ``labrecog`` is whatever it imports (PYTHONPATH decides),
so a second tree can be measured with the same script.
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson
from _workload import ROOT, Generator, cycled, machine, write_jsonl

import labrecog
from labrecog import Engine

#: The tree whose labrecog this interpreter imports: the children run there (``-m labrecog``
#: puts the working folder first on sys.path), with that tree's rules/.
TREE = Path(labrecog.__file__).resolve().parent.parent
TARGET_RATIO = 4.0
TARGET_JOBS = 1.85
TARGET_MEMORY = 1.1

PARSE_ONLY = """
import sys, orjson
loads = orjson.loads
with open(sys.argv[1], "rb") as f:
    for raw in f:
        loads(raw)
"""


class Run:
    """One child process: wall seconds, CPU seconds, peak RSS (MB), exit code."""

    def __init__(self, cmd: list[str]) -> None:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=TREE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert proc.stderr is not None
        self.stderr = proc.stderr.read().decode("utf-8", "replace")
        _, status, usage = os.wait4(proc.pid, 0)
        self.wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        self.code = proc.returncode
        self.cpu = usage.ru_utime + usage.ru_stime
        self.peak_mb = usage.ru_maxrss / 1024


def generate(path: Path, n: int, rules: Path) -> None:
    gen = Generator(Engine.from_path(rules))
    write_jsonl(path, (orjson.dumps(gen.case(i)) for i in range(n)))


def batch_lines(path: Path) -> list[bytes]:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return [line for line in raw.splitlines() if line.strip()]


def file_cycled(path: Path, n: int) -> Iterator[bytes]:
    """``n`` lines of ``path``, re-reading it as often as needed (never all in memory)."""
    while True:
        with path.open("rb") as f:
            for line in f:
                if n <= 0:
                    return
                n -= 1
                yield line.rstrip(b"\n")


def evaluate_cmd(src: Path, rules: Path, out: Path, jobs: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "labrecog",
        "evaluate",
        str(src),
        "--rules",
        str(rules),
        "-o",
        str(out),
        "-q",
        "--jobs",
        str(jobs),
    ]


def checked(run: Run, what: str) -> Run:
    if run.code not in (0, 1):
        sys.exit(f"{what}: exit {run.code}\n{run.stderr[-2000:]}")
    return run


def compare(
    name: str, src: Path, rules: Path, out: Path, repeat: int, jobs2: bool
) -> dict[str, float]:
    """Interleaved (p), (1)[, (2)] per repeat; ratios per repeat, medians."""
    runs: dict[str, list[Run]] = {"parse": [], "jobs1": [], "jobs2": []}
    for _ in range(repeat):
        runs["parse"].append(checked(Run([sys.executable, "-c", PARSE_ONLY, str(src)]), "parse"))
        runs["jobs1"].append(checked(Run(evaluate_cmd(src, rules, out, 1)), f"{name} --jobs 1"))
        if jobs2:
            runs["jobs2"].append(checked(Run(evaluate_cmd(src, rules, out, 2)), f"{name} -j 2"))
    lines_in = sum(1 for _ in src.open("rb"))
    lines_out = sum(1 for _ in out.open("rb"))
    if lines_in != lines_out:
        sys.exit(f"{name}: {lines_in} lines in, {lines_out} out")
    med = statistics.median
    pairs = list(zip(runs["parse"], runs["jobs1"], strict=True))
    fig = {
        "lines": float(lines_in),
        "parse_s": med(r.wall for r in runs["parse"]),
        "jobs1_s": med(r.wall for r in runs["jobs1"]),
        "ratio": med(e.wall / p.wall for p, e in pairs),
        "cpu_ratio": med(e.cpu / max(p.cpu, 1e-6) for p, e in pairs),
    }
    if jobs2:
        fig["jobs2_s"] = med(r.wall for r in runs["jobs2"])
        fig["speedup"] = med(
            one.wall / two.wall for one, two in zip(runs["jobs1"], runs["jobs2"], strict=True)
        )
    return fig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="labrecog evaluate against the parse floor")
    parser.add_argument("--cases", type=int, default=20_000, help="lines per file (20000)")
    parser.add_argument("--memory-small", type=int, default=1_000, metavar="N")
    parser.add_argument("--memory-large", type=int, default=100_000, metavar="N")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each command (1)")
    parser.add_argument("--no-batches", action="store_true", help="default workload only")
    parser.add_argument("--quick", action="store_true", help="2,000 cases; memory 1k vs 10k")
    parser.add_argument("--rules", type=Path, default=TREE / "rules" / "demo")
    args = parser.parse_args(argv)
    if args.quick:
        args.cases, args.memory_large = 2_000, 10_000
    if min(args.cases, args.memory_small, args.memory_large, args.repeat) < 1:
        parser.error("sizes and --repeat must be positive")
    m = machine()
    print(
        f"labrecog {m['labrecog']} from {m['labrecog_from']}; {m['cpu']}, {m['cores']} cores; "
        f"python {m['python']}; {args.repeat} run(s) each, wall medians"
    )
    with tempfile.TemporaryDirectory(prefix="labrecog-bench-") as tmp:
        src, out = Path(tmp) / "cases.jsonl", Path(tmp) / "out.jsonl"
        t0 = time.perf_counter()
        generate(src, args.cases, args.rules)
        size = src.stat().st_size / 1e6
        print(f"generated {args.cases:,} cases ({size:,.0f} MB) in {time.perf_counter() - t0:.0f}s")
        header = (
            f"\n{'workload':<14} {'lines':>7} {'parse s':>8} {'-j1 s':>8} {'-j1/parse':>9} "
            f"{'(cpu)':>6} {'-j2 s':>8} {'-j1/-j2':>8}"
        )
        print(header + "\n" + "-" * (len(header) - 1))
        work: list[tuple[str, Path, Path]] = [("default", src, args.rules)]
        if not args.no_batches:
            for gz in sorted((ROOT / "examples").glob("*.jsonl.gz")):
                name = gz.name.removesuffix(".jsonl.gz")
                path = Path(tmp) / f"{name}.jsonl"
                write_jsonl(path, cycled(batch_lines(gz), args.cases))
                work.append((name, path, TREE / "rules" / name))
        default: dict[str, float] = {}
        for name, path, rules in work:
            fig = compare(name, path, rules, out, args.repeat, jobs2=name == "default")
            default = default or fig
            two = f"{fig['jobs2_s']:8.2f} {fig['speedup']:8.2f}" if "jobs2_s" in fig else ""
            print(
                f"{name:<14} {int(fig['lines']):>7,} {fig['parse_s']:8.2f} {fig['jobs1_s']:8.2f} "
                f"{fig['ratio']:9.2f} {fig['cpu_ratio']:6.2f} {two}".rstrip()
            )
            if name != "default":
                path.unlink()
        ok = "within target" if default["ratio"] <= TARGET_RATIO else "ABOVE TARGET"
        print(f"\nevaluate / parse-only, default: {default['ratio']:.2f}  (target <= 4.0: {ok})")
        ok = "within target" if default["speedup"] >= TARGET_JOBS else "BELOW TARGET"
        print(f"--jobs 2 speed-up vs --jobs 1: {default['speedup']:.2f}  (target >= 1.85: {ok})")

        peaks = []
        for n in (args.memory_small, args.memory_large):
            path = Path(tmp) / f"memory-{n}.jsonl"
            write_jsonl(path, file_cycled(src, n))
            run = checked(Run(evaluate_cmd(path, args.rules, out, 1)), f"memory {n}")
            peaks.append(run.peak_mb)
            print(f"peak memory, {n:,} cases, --jobs 1: {run.peak_mb:.1f} MB ({run.wall:.1f}s)")
            path.unlink()
        ratio = peaks[1] / peaks[0]
        ok = "within target" if ratio <= TARGET_MEMORY else "ABOVE TARGET"
        print(
            f"peak memory {args.memory_large:,} / {args.memory_small:,} cases: {ratio:.2f}  "
            f"(target <= 1.1: {ok})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
