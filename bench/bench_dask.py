"""Dask LocalCluster against ``labrecog evaluate --jobs 2``: issue 20's figures.

    .venv/bin/python bench/bench_dask.py                   # 50,000 cases, 3 repeats
    .venv/bin/python bench/bench_dask.py --quick           # 5,000 cases
    .venv/bin/python bench/bench_dask.py --cases 500 --repeat 1 --json dask.json

Every run is a fresh process (wall time, start-up included), on the same JSONL file of the
default workload (bench_engine's generator, 60 prior results a case):

(j)  ``python -m labrecog evaluate FILE --rules R -o OUT -q --jobs 2``
(c2) ``python -m labrecog evaluate FILE --rules R -o DIR/ -q --dask local --workers 2``
(d2) this script as a child: ``load_ruleset``, ``open_client("local", 2)``,
     ``evaluate_files`` into a fresh folder: the Python API ``--dask local`` runs
(d1) the same with 1 worker; (few), (many): 2 workers with blocks cut for ~10 and ~200
     partitions; (small): 2 workers on the first ``--memory-small`` cases

Per repeat the runs are interleaved in that order; figures are medians of per-repeat values.

1. throughput: wall(j) / wall(c2), the commands as an operator runs them: target >= 0.9;
   and wall(j) / wall(d2), start-up included and without the cluster's start-up
   (``LocalCluster`` up, as the child measures it);
2. memory: the largest worker's peak RSS (``ru_maxrss``, asked of each worker with
   ``client.run`` after the run) on all cases over that on ``--memory-small``: <= 1.1;
3. Dask overhead per partition: (evaluate(many) - evaluate(few)) / (their partition
   difference), ``evaluate_files`` seconds inside the child, so start-up stays out;
4. scaling: wall(d1) / wall(d2), and the same without start-up.

Then where (d2)'s wall time goes (imports, start-up, evaluating, closing) and its manifest's
``dask`` section: the Engine's compile seconds per worker, the bytes of the rules shipped.

Every Dask run's parts, concatenated in the manifest's order, must be byte-identical to the
``--jobs 2`` output, and its manifest must count every input line once: else the script
stops. Spawned workers re-import this file: all work is behind ``__main__``.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson
from _workload import machine, write_jsonl
from bench_cli import TREE, Run, checked, evaluate_cmd, file_cycled, generate

TARGET_THROUGHPUT = 0.9
TARGET_MEMORY = 1.1
FEW, MANY = 10, 200


# --------------------------------------------------------------------------- the child


def _peak_kb() -> int:
    """This process's peak RSS in KiB (Linux): run on each worker by ``client.run``."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(spec_path: Path) -> int:
    """One Dask run, as ``labrecog evaluate --dask local`` does it; its figures to a file
    (stdout and stderr are the parent's to discard)."""
    began = time.perf_counter()
    from labrecog.dask import PartOptions, evaluate_files, open_client
    from labrecog.load import load_ruleset

    spec = orjson.loads(spec_path.read_bytes())
    loaded = load_ruleset(spec["rules"])
    before_up = time.perf_counter()
    with open_client("local", spec["workers"]) as client:
        up = time.perf_counter()
        result = evaluate_files(
            client,
            spec["inputs"],
            loaded,
            PartOptions(spec["out"]),
            block_bytes=spec["block_bytes"],
        )
        evaluated = time.perf_counter()
        peaks = client.run(_peak_kb)
        before_close = time.perf_counter()
    closed = time.perf_counter()
    report = {
        "imports_load_s": before_up - began,
        "startup_s": up - before_up,
        "evaluate_s": evaluated - up,
        "close_s": closed - before_close,
        "worker_peak_mb": sorted(kb / 1024 for kb in peaks.values()),
        "failures": result.failures,
        "manifest": result.manifest,
    }
    Path(spec["report"]).write_bytes(orjson.dumps(report))
    return 0


# --------------------------------------------------------------------------- the parent


class DaskRun:
    """A child Dask run: the process's wall time and the child's own report."""

    def __init__(self, tmp: Path, src: Path, rules: Path, workers: int, block: int) -> None:
        out, spec_path, report = tmp / "dask-out", tmp / "spec.json", tmp / "report.json"
        shutil.rmtree(out, ignore_errors=True)
        report.unlink(missing_ok=True)
        spec = {
            "inputs": [str(src)],
            "rules": str(rules),
            "out": str(out),
            "workers": workers,
            "block_bytes": block,
            "report": str(report),
        }
        spec_path.write_bytes(orjson.dumps(spec))
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(spec_path)]
        run = checked(Run(cmd), f"dask, {workers} worker(s)")
        if run.code != 0 or not report.is_file():
            sys.exit(f"dask, {workers} worker(s): exit {run.code}\n{run.stderr[-2000:]}")
        got = orjson.loads(report.read_bytes())
        manifest = got["manifest"]
        if got["failures"] or not manifest.get("complete"):
            sys.exit(f"dask run unfinished: {got['failures'] or 'lines and records differ'}")
        self.wall = run.wall
        self.startup: float = got["startup_s"]
        self.evaluate: float = got["evaluate_s"]
        self.imports: float = got["imports_load_s"]
        self.close: float = got["close_s"]
        self.peak_mb: float = max(got["worker_peak_mb"])
        self.lines: int = manifest["lines"]
        self.records: int = manifest["records"]
        self.parts: int = manifest["partitions"]
        self.dask: dict[str, Any] = manifest["dask"]
        self.digest = sha256_of(out / name for f in manifest["inputs"] for name in f["parts"])
        shutil.rmtree(out)


def sha256_of(paths: Iterable[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as raw:
            while chunk := raw.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def jobs2(src: Path, rules: Path, out: Path) -> tuple[Run, str]:
    run = checked(Run(evaluate_cmd(src, rules, out, 2)), "--jobs 2")
    return run, sha256_of([out])


def cli_dask(src: Path, rules: Path, out_dir: Path) -> tuple[Run, str]:
    """``labrecog evaluate --dask local --workers 2``: its wall time and its parts' digest."""
    shutil.rmtree(out_dir, ignore_errors=True)
    cmd = [*evaluate_cmd(src, rules, out_dir, 1)[:-2], "--dask", "local", "--workers", "2"]
    run = checked(Run(cmd), "--dask local")
    manifest = orjson.loads((out_dir / "_manifest.json").read_bytes())
    if not manifest["complete"] or manifest["lines"] != manifest["records"]:
        sys.exit("--dask local: the manifest does not count every line once")
    digest = sha256_of(out_dir / name for f in manifest["inputs"] for name in f["parts"])
    shutil.rmtree(out_dir)
    return run, digest


def med(values: Iterable[float]) -> float:
    return statistics.median(values)


def spread(values: list[float]) -> str:
    return f"{med(values):7.2f} ({min(values):.2f}-{max(values):.2f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Dask LocalCluster against --jobs 2")
    parser.add_argument("--cases", type=int, default=50_000, help="cases in the file (50000)")
    parser.add_argument("--memory-small", type=int, default=1_000, metavar="N")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (3)")
    parser.add_argument("--quick", action="store_true", help="5,000 cases")
    parser.add_argument(
        "--block-mb", type=float, default=None, help="block size of (d2), (d1), (small), MiB"
    )
    parser.add_argument("--rules", type=Path, default=TREE / "rules" / "demo")
    parser.add_argument("--json", type=Path, default=None, help="the figures as JSON too")
    parser.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        return child(args.child)
    if args.quick:
        args.cases = 5_000
    if min(args.cases, args.memory_small, args.repeat) < 1:
        parser.error("sizes and --repeat must be positive")
    from labrecog.dask import DEFAULT_BLOCK_BYTES

    block = int(args.block_mb * 2**20) if args.block_mb else DEFAULT_BLOCK_BYTES
    m = machine()
    print(
        f"labrecog {m['labrecog']} from {m['labrecog_from']}; {m['cpu']}, {m['cores']} cores; "
        f"python {m['python']}; {args.repeat} run(s) each, wall medians (min-max)"
    )
    with tempfile.TemporaryDirectory(prefix="labrecog-bench-dask-") as name:
        tmp = Path(name)
        src, small, out = tmp / "cases.jsonl", tmp / "small.jsonl", tmp / "out.jsonl"
        t0 = time.perf_counter()
        generate(src, args.cases, args.rules)
        write_jsonl(small, file_cycled(src, args.memory_small))
        size = src.stat().st_size
        print(
            f"generated {args.cases:,} cases ({size / 1e6:,.0f} MB) "
            f"in {time.perf_counter() - t0:.0f}s",
            file=sys.stderr,
        )
        blocks = {
            "d2": (2, block, src),
            "d1": (1, block, src),
            "few": (2, max(math.ceil(size / FEW), 1), src),
            "many": (2, max(math.ceil(size / MANY), 1), src),
            "small": (2, block, small),
        }
        j_runs: list[Run] = []
        c_runs: list[Run] = []
        runs: dict[str, list[DaskRun]] = {k: [] for k in blocks}
        expected = ""
        for r in range(args.repeat):
            print(f"repeat {r + 1}/{args.repeat}: --jobs 2", file=sys.stderr)
            j, expected = jobs2(src, args.rules, out)
            j_runs.append(j)
            print(f"repeat {r + 1}/{args.repeat}: --dask local", file=sys.stderr)
            c, digest = cli_dask(src, args.rules, tmp / "cli-out")
            if digest != expected:
                sys.exit("--dask local: the parts differ from the --jobs 2 output")
            c_runs.append(c)
            for key, (workers, size_b, path) in blocks.items():
                print(f"repeat {r + 1}/{args.repeat}: dask {key}", file=sys.stderr)
                run = DaskRun(tmp, path, args.rules, workers, size_b)
                want = args.memory_small if key == "small" else args.cases
                if run.lines != want or run.records != want:
                    sys.exit(f"dask {key}: {want} cases, {run.lines} lines, {run.records} out")
                if path == src and run.digest != expected:
                    sys.exit(f"dask {key}: the parts differ from the --jobs 2 output")
                runs[key].append(run)
        figures = report(args, j_runs, c_runs, runs)
    print("\nthe manifest's dask section, (d2), last run:")
    print(orjson.dumps(runs["d2"][-1].dask, option=orjson.OPT_INDENT_2).decode())
    if args.json is not None:
        data = {"machine": m, "cases": args.cases, "repeat": args.repeat, "figures": figures}
        data["dask"] = runs["d2"][-1].dask
        args.json.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
    return 0


def report(
    args: argparse.Namespace, j_runs: list[Run], c_runs: list[Run], runs: dict[str, list[DaskRun]]
) -> Any:
    """The table and the four figures; the figures as a dict."""
    header = (
        f"\n{'run':<34} {'parts':>5} {'wall s (min-max)':>22} {'start-up s':>10} "
        f"{'evaluate s':>10} {'worker peak MB':>14}"
    )
    print(header + "\n" + "-" * (len(header) - 1))
    print(f"{'(j)  --jobs 2':<34} {'-':>5} {spread([r.wall for r in j_runs]):>22}")
    print(f"{'(c2) --dask local --workers 2':<34} {'-':>5} {spread([r.wall for r in c_runs]):>22}")
    names = {
        "d2": "(d2) dask local, 2 workers",
        "d1": "(d1) dask local, 1 worker",
        "few": f"(few) 2 workers, ~{FEW} partitions",
        "many": f"(many) 2 workers, ~{MANY} partitions",
        "small": f"(small) 2 workers, {args.memory_small:,} cases",
    }
    for key, title in names.items():
        got = runs[key]
        print(
            f"{title:<34} {got[0].parts:>5} {spread([r.wall for r in got]):>22} "
            f"{med(r.startup for r in got):10.2f} {med(r.evaluate for r in got):10.2f} "
            f"{med(r.peak_mb for r in got):14.1f}"
        )
    d2, d1, few, many = runs["d2"], runs["d1"], runs["few"], runs["many"]
    command = med(j.wall / c.wall for j, c in zip(j_runs, c_runs, strict=True))
    throughput = med(j.wall / d.wall for j, d in zip(j_runs, d2, strict=True))
    bare = med(j.wall / (d.wall - d.startup) for j, d in zip(j_runs, d2, strict=True))
    memory = med(d.peak_mb for d in d2) / med(s.peak_mb for s in runs["small"])
    extra = many[0].parts - few[0].parts or math.nan  # the input too small to cut
    overhead = med((b.evaluate - a.evaluate) / extra * 1000 for a, b in zip(few, many, strict=True))
    scaling = med(one.wall / two.wall for one, two in zip(d1, d2, strict=True))
    scaling_bare = med(
        (one.wall - one.startup) / (two.wall - two.startup) for one, two in zip(d1, d2, strict=True)
    )
    ok = "within target" if command >= TARGET_THROUGHPUT else "BELOW TARGET"
    print(
        f"\n1. throughput, --dask local --workers 2 / --jobs 2: {command:.2f} "
        f"(target >= {TARGET_THROUGHPUT}: {ok}); through the Python API {throughput:.2f} with "
        f"the cluster's start-up, {bare:.2f} without"
    )
    ok = "within target" if memory <= TARGET_MEMORY else "ABOVE TARGET"
    print(
        f"2. peak memory per worker, {args.cases:,} / {args.memory_small:,} cases: "
        f"{memory:.2f} (target <= {TARGET_MEMORY}: {ok})"
    )
    print(
        f"3. dask overhead per partition: {overhead:.1f} ms "
        f"({many[0].parts} vs {few[0].parts} partitions, evaluate_files seconds)"
    )
    print(f"4. scaling 1 -> 2 workers: {scaling:.2f}x wall; {scaling_bare:.2f}x without start-up")
    parts = {
        "dask imports + load_ruleset": med(d.imports for d in d2),
        "cluster start-up": med(d.startup for d in d2),
        "evaluate_files": med(d.evaluate for d in d2),
        "closing the cluster": med(d.close for d in d2),
    }
    if d2[0].parts < 2:
        print("note: (d2) had one partition, one worker idle: more cases, or a smaller --block-mb")
    rest = med(d.wall for d in d2) - sum(parts.values())
    shown = ", ".join(f"{k} {v:.2f}" for k, v in parts.items())
    print(f"(d2) wall, s: {shown}, interpreter and the rest {rest:.2f}")
    return {
        "jobs2_s": med(j.wall for j in j_runs),
        "cli_dask2_s": med(c.wall for c in c_runs),
        "throughput_cli_vs_jobs2": command,
        **{f"{k}_s": med(r.wall for r in v) for k, v in runs.items()},
        **{f"{k}_startup_s": med(r.startup for r in v) for k, v in runs.items()},
        **{f"{k}_evaluate_s": med(r.evaluate for r in v) for k, v in runs.items()},
        **{f"{k}_partitions": v[0].parts for k, v in runs.items()},
        **{f"{k}_worker_peak_mb": med(r.peak_mb for r in v) for k, v in runs.items()},
        "throughput_vs_jobs2": throughput,
        "throughput_vs_jobs2_without_startup": bare,
        "memory_ratio": memory,
        "overhead_per_partition_ms": overhead,
        "scaling_1_to_2": scaling,
        "scaling_1_to_2_without_startup": scaling_bare,
    }


if __name__ == "__main__":
    raise SystemExit(main())
