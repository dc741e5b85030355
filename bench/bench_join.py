"""Joined mode at scale: indexing a large results file, joining orders, and peak memory.

    .venv/bin/python bench/bench_join.py                      # 5,000,000 results rows
    .venv/bin/python bench/bench_join.py --rows 1000000       # smaller
    .venv/bin/python bench/bench_join.py --evaluate 2000      # also evaluate 2,000 orders
    .venv/bin/python bench/bench_join.py --index memory       # the dict store, to compare

Generates (seeded, with bench_engine's realistic case generator) N results rows for N/60
patients, interleaved across blocks of 1,000 patients as a chronological feed would be,
plus one order for every fourth patient; then builds the index from the file, joins every
order (without evaluation) and optionally evaluates the first K joined orders. Reports
rows/s, orders/s and the peak resident memory (``ru_maxrss``) after each phase; the files
are generated in a child process so that generating them does not count. The point: with
``--index sqlite`` peak memory does not grow with N.

Generated files live in a temporary directory that is deleted at the end.
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import RULES, SEED, Generator, machine

from labrecog import Engine, PriorResult
from labrecog.batch.io import numbered_lines, open_input
from labrecog.batch.join import ResultIndex, joined_lines
from labrecog.batch.records import evaluate_line

BLOCK = 1_000  # patients whose results are interleaved in the file
ROWS_PER_PATIENT = 60  # bench_engine.PRIORS_PER_CASE


def peak_kb() -> int:
    """Peak resident memory of this process so far (Linux: KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def mib(kb: int | None) -> str:
    return "n/a" if kb is None else f"{kb / 1024:,.0f} MiB"


def generate(engine: Engine, folder: Path, rows: int) -> tuple[Path, Path, int, int]:
    """Results and orders files; returns (results, orders, result rows, orders)."""
    gen = Generator(engine, SEED)
    rng = random.Random(SEED + 1)
    patients = max(1, rows // ROWS_PER_PATIENT)
    results_path, orders_path = folder / "results.jsonl", folder / "orders.jsonl"
    written = orders = 0
    with open(results_path, "wb") as res, open(orders_path, "wb") as ords:
        for start in range(0, patients, BLOCK):
            block: list[bytes] = []
            for i in range(start, min(start + BLOCK, patients)):
                case = gen.case(i)
                priors = case.pop("prior_results")
                block.extend(orjson.dumps(p) for p in priors)
                if i % 4 == 0:
                    ords.write(orjson.dumps(case) + b"\n")
                    orders += 1
            rng.shuffle(block)
            block = block[: rows - written]
            res.write(b"\n".join(block) + b"\n")
            written += len(block)
            print(f"\r  generated {written:,} rows", end="", file=sys.stderr)
    print(file=sys.stderr)
    return results_path, orders_path, written, orders


def phase(name: str, fn: Callable[[], Any]) -> tuple[Any, float, int]:
    """Run fn; (its result, seconds, peak RSS of the process so far)."""
    gc.collect()
    t0 = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - t0
    print(f"  {name}: {seconds:.1f}s, peak RSS so far {mib(peak_kb())}", file=sys.stderr)
    return out, seconds, peak_kb()


def generate_apart(folder: Path, rows: int) -> tuple[Path, Path, int, int]:
    """Generate in a child process, so generating does not count in this one's peak RSS."""
    done = subprocess.run(
        [sys.executable, __file__, "--generate-into", str(folder), "--rows", str(rows)],
        check=True,
        stdout=subprocess.PIPE,
    )
    counts = orjson.loads(done.stdout)
    return folder / "results.jsonl", folder / "orders.jsonl", counts["rows"], counts["orders"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000, help="results rows (5000000)")
    parser.add_argument(
        "--evaluate", type=int, default=0, metavar="K", help="evaluate the first K orders too"
    )
    parser.add_argument("--index", choices=["sqlite", "memory"], default="sqlite")
    parser.add_argument("--tmp-dir", type=Path, help="where to write the generated files")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the figures here")
    parser.add_argument("--generate-into", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("--rows must be positive")
    if args.generate_into:  # the child process of generate_apart
        _, _, rows, orders = generate(Engine.from_path(RULES), args.generate_into, args.rows)
        sys.stdout.buffer.write(orjson.dumps({"rows": rows, "orders": orders}))
        return 0

    engine = Engine.from_path(RULES)
    tz = engine.rules.timezone
    folder = Path(tempfile.mkdtemp(prefix="labrecog-bench-join-", dir=args.tmp_dir))
    try:
        print(f"generating {args.rows:,} results rows in {folder}", file=sys.stderr)
        t0 = time.perf_counter()
        results_path, orders_path, rows, n_orders = generate_apart(folder, args.rows)
        generated_s = time.perf_counter() - t0
        size = results_path.stat().st_size

        # Floor: parsing and validating a sample with the project's own model, nothing else.
        sample = min(rows, 200_000)

        def validate_sample() -> int:
            context = {"timezone": tz}
            with open(results_path, "rb") as f:
                for n, line in enumerate(f):
                    if n >= sample:
                        break
                    PriorResult.model_validate(orjson.loads(line), context=context)
            return sample

        _, floor_s, base_rss = phase("validate sample", validate_sample)

        errors: list[dict[str, Any]] = []
        index, index_s, index_peak = phase(
            "index",
            lambda: ResultIndex.from_path(
                str(results_path), timezone=tz, on_error=errors.append, index=args.index
            ),
        )
        db_size = None
        if index.directory is not None:
            db_size = sum(p.stat().st_size for p in index.directory.iterdir())

        def join() -> tuple[int, int]:
            total = count = 0
            with open_input(str(orders_path)) as stream:
                for _, case in joined_lines(numbered_lines(stream), index):
                    total += len(case)
                    count += 1
            return count, total

        (joined, joined_bytes), join_s, join_peak = phase("join", join)

        evaluate: dict[str, Any] | None = None
        if args.evaluate:

            def join_and_evaluate() -> tuple[int, int]:
                done = errs = 0
                with open_input(str(orders_path)) as stream:
                    for n, case in joined_lines(numbered_lines(stream), index):
                        if done >= args.evaluate:
                            break
                        errs += "error" in evaluate_line(engine, n, case)
                        done += 1
                return done, errs

            (done, errs), eval_s, eval_peak = phase("join + evaluate", join_and_evaluate)
            evaluate = {
                "orders": done,
                "error_records": errs,
                "seconds": eval_s,
                "orders_per_s": done / eval_s,
                "peak_rss_kb": eval_peak,
            }
        index.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    figures: dict[str, Any] = {
        "machine": machine(),
        "index": args.index,
        "rows": rows,
        "patients": max(1, args.rows // ROWS_PER_PATIENT),
        "orders": n_orders,
        "results_file_bytes": size,
        "store_bytes": db_size,
        "results_error_records": len(errors),
        "generate_s": generated_s,
        "validate_floor_rows_per_s": sample / floor_s,
        "baseline_rss_kb": base_rss,
        "index_s": index_s,
        "index_rows_per_s": rows / index_s,
        "index_peak_rss_kb": index_peak,
        "join_s": join_s,
        "join_orders_per_s": joined / join_s,
        "join_mb_per_s": joined_bytes / join_s / 1e6,
        "join_peak_rss_kb": join_peak,
        "evaluate": evaluate,
        "ru_maxrss_kb": peak_kb(),
    }
    print(report(figures))
    if args.json:
        args.json.write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2) + b"\n")
    return 0


def report(f: dict[str, Any]) -> str:
    m = f["machine"]
    store = f"{f['store_bytes'] / 2**20:,.0f} MiB on disk" if f["store_bytes"] else "in memory"
    lines = [
        f"machine   {m['cpu']}, {m['cores']} cores, Python {m['python']}",
        f"workload  {f['rows']:,} results rows ({f['results_file_bytes'] / 2**20:,.0f} MiB), "
        f"{f['patients']:,} patients, {f['orders']:,} orders; index={f['index']} ({store}); "
        f"{f['results_error_records']} results error records",
        "",
        f"{'phase':<22}{'seconds':>10}{'throughput':>22}{'peak RSS':>14}",
        f"{'validate floor':<22}{'':>10}{f['validate_floor_rows_per_s']:>15,.0f} rows/s{'':>14}",
        f"{'index':<22}{f['index_s']:>10.1f}{f['index_rows_per_s']:>15,.0f} rows/s"
        f"{mib(f['index_peak_rss_kb']):>14}",
        f"{'join (no evaluation)':<22}{f['join_s']:>10.1f}{f['join_orders_per_s']:>13,.0f} orders/s"
        f"{mib(f['join_peak_rss_kb']):>14}",
    ]
    if f["evaluate"]:
        e = f["evaluate"]
        lines.append(
            f"{'join + evaluate':<22}{e['seconds']:>10.1f}{e['orders_per_s']:>13,.0f} orders/s"
            f"{mib(e['peak_rss_kb']):>14}   ({e['orders']:,} orders, {e['error_records']} errors)"
        )
    lines += [
        "",
        f"peak RSS before indexing (engine loaded, sample validated) "
        f"{mib(f['baseline_rss_kb'])}; ru_maxrss of the whole run {mib(f['ru_maxrss_kb'])}",
        "(peak RSS is ru_maxrss after each phase: the peak of the process so far; the files "
        "are generated in a child process)",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
