"""Per-case cost from the input bytes, against the parse floor (issue 21).

    .venv/bin/python bench/bench_engine.py                 # 20,000 cases, 5 repeats
    .venv/bin/python bench/bench_engine.py --quick         # 2,000 cases, 3 repeats
    .venv/bin/python bench/bench_engine.py --cases 20 --repeat 1   # a smoke run
    .venv/bin/python bench/bench_engine.py --legacy        # plus the old (b) and (c) rows
    .venv/bin/python bench/bench_engine.py --profile       # plus one cProfile'd (d) pass
    .venv/bin/python bench/bench_engine.py --json out.json # figures as JSON too
    .venv/bin/python bench/bench_engine.py --cases examples/uk-mri.jsonl.gz --rules rules/uk-mri

The cases are held as BYTES (their JSON lines), so parsing is inside every measurement:

(p) parse     ``orjson.loads(raw)``: the floor
(s) strict    ``loads_strict(raw)``: the parse labrecog does (duplicate keys refused)
(d) api       ``engine.evaluate_json(raw)``: bytes to ``Decision``
(o) cli       what ``labrecog evaluate`` does to a chunk of lines, to the bytes it writes
(a) validate  ``engine.validate_case(orjson.loads(raw))`` (a - p: validation alone)

The measurements are interleaved per chunk of lines (p, s, d, o, a on chunk 1, then on
chunk 2, …), so a busy moment hits all alike; d/p and o/p are computed per repeat and the
median is reported beside the target (3.5× on the default workload, 6× on a file).
Times are the process's CPU time by default (``--clock wall`` for wall time): on a shared
machine a short row (the parse) is preempted less often than a long one, and wall time
then inflates the ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import io
import pstats
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _workload import (
    ORDERED_ITEMS,
    PRIORS_PER_CASE,
    RULES,
    SEED,
    Generator,
    cases_arg,
    file_lines,
    generated_lines,
    machine,
)

import labrecog
import labrecog.engine as engine_module
from labrecog import Engine, InputError
from labrecog.load import loads_strict
from labrecog.model import Decision, DecisionItem, RulesetRef, WaivedComponent
from labrecog.model._reasons import reason_with_message

__all__ = ["RULES", "SEED", "Generator", "machine", "main"]

TARGET_DEFAULT = 3.5
TARGET_FILE = 6.0
try:  # the CLI's own chunk size, so (o) runs the chunks it runs
    from labrecog.batch.runner import CHUNK_LINES as CHUNK
except ImportError:  # pragma: no cover - an older or newer tree
    CHUNK = 256

Chunk = list[tuple[int, bytes]]
Timed = Callable[[Chunk], object]


def cli_encoder(engine: Engine) -> Callable[[Chunk], bytes]:
    """Lines to the bytes ``labrecog evaluate`` writes for them, as its worker does."""
    try:
        from labrecog.batch.runner import _evaluate

        return lambda chunk: _evaluate(engine, "jsonl", chunk).payload
    except ImportError:  # pragma: no cover - fall back on the public pieces
        from labrecog.batch.records import evaluate_line

        return lambda chunk: b"".join(
            orjson.dumps(evaluate_line(engine, n, raw)) + b"\n" for n, raw in chunk
        )


def rows(engine: Engine, legacy: bool) -> list[tuple[str, str, Timed]]:
    """(key, label, fn(chunk)). Every row parses inside its timing, and no parsed case
    outlives its own row, as in a streaming CLI."""
    loads = orjson.loads
    evaluate_json = engine.evaluate_json
    evaluate = engine.evaluate
    validate = engine.validate_case
    encode = cli_encoder(engine)

    def parse(chunk: Chunk) -> None:
        for _n, raw in chunk:
            loads(raw)

    def strict(chunk: Chunk) -> None:
        for _n, raw in chunk:
            loads_strict(raw)

    def api(chunk: Chunk) -> None:
        for _n, raw in chunk:
            with contextlib.suppress(InputError):
                evaluate_json(raw)

    def cli(chunk: Chunk) -> None:
        encode(chunk)

    def models(chunk: Chunk) -> None:
        # (d) with the msgspec fast path switched off: every case through the pydantic
        # models, the path before it (engine._FAST is read on every call)
        engine_module._FAST = False
        try:
            api(chunk)
        finally:
            engine_module._FAST = True

    def fast(chunk: Chunk) -> None:
        from labrecog.model import fast_case

        tz = engine.rules.timezone
        for _n, raw in chunk:
            fast_case(loads_strict(raw), tz, plain=True)

    def valid(chunk: Chunk) -> None:
        for _n, raw in chunk:
            with contextlib.suppress(InputError):
                validate(loads(raw))

    def old_evaluate(chunk: Chunk) -> None:
        for _n, raw in chunk:
            with contextlib.suppress(InputError):
                evaluate(loads(raw))

    def old_cli(chunk: Chunk) -> None:
        for _n, raw in chunk:
            with contextlib.suppress(InputError):
                orjson.dumps(evaluate(loads(raw)).model_dump(mode="json"))

    out: list[tuple[str, str, Timed]] = [
        ("parse", "(p) orjson.loads: the floor", parse),
        ("strict", "(s) loads_strict (labrecog's parse)", strict),
        ("api", "(d) bytes -> Decision (evaluate_json)", api),
        ("cli", "(o) bytes -> output line (CLI chunk)", cli),
        ("validate", "(a) orjson.loads + validate_case (models)", valid),
    ]
    if hasattr(engine_module, "_FAST"):  # a tree with the fast validation path
        out.insert(3, ("models", "(m) (d) through the models only", models))
        out.append(("fast", "(v) loads_strict + fast validation", fast))
    out.append(("objects", "(r) the Decision's objects alone", _Rebuild(engine)))
    if legacy:
        out += [
            ("evaluate", "(b) orjson.loads + evaluate(dict)", old_evaluate),
            ("cli_dict", "(c) (b) + model_dump + orjson.dumps", old_cli),
        ]
    return out


class _Rebuild:
    """(r): building a decision's output objects (Decision, items, reasons; as the engine
    builds them, without validation) from values decided beforehand, untimed, per chunk:
    what the API path pays besides parsing, validating and checking."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def prepare(self, chunk: Chunk) -> list[dict[str, Any]]:
        out = []
        for _n, raw in chunk:
            with contextlib.suppress(InputError):
                out.append(self.engine.evaluate_json(raw).model_dump())
        return out

    def __call__(self, dumps: list[dict[str, Any]]) -> None:
        for dump in dumps:
            _decision(dump)


def _decision(d: dict[str, Any]) -> Decision:
    items = []
    for it in d["items"]:
        reasons = tuple(
            reason_with_message(
                r["code"], r["message"], r.get("result_id"), r.get("test"), r.get("flag"),
                r.get("source"),
            )
            for r in it["reasons"]
        )  # fmt: skip
        waived = it.get("waived")
        items.append(
            DecisionItem._trusted(
                code=it["code"],
                status=it["status"],
                saving=it["saving"],
                result_id=it.get("result_id"),
                institution=it.get("institution"),
                max_age=it.get("max_age"),
                source=it.get("source"),
                waived=None if waived is None else tuple(
                    WaivedComponent._trusted(**c) for c in waived
                ),
                retest=it.get("retest"),
                reasons=reasons,
                ext=it.get("ext"),
            )
        )  # fmt: skip
    return Decision._trusted(
        order_id=d["order_id"],
        patient_id=d["patient_id"],
        ruleset=RulesetRef._trusted(**d["ruleset"]),
        currency=d["currency"],
        saving=d["saving"],
        to_order=d["to_order"],
        items=tuple(items),
        ext=d.get("ext"),
    )


def workload(engine: Engine, lines: list[bytes]) -> dict[str, Any]:
    """What the cases decide to: shows the benchmark exercises every path (and warms)."""
    fast = _fast_share(engine, lines)
    statuses: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    errors = 0
    saving = 0.0
    for raw in lines:
        try:
            decision = engine.evaluate_json(raw)
        except InputError:
            errors += 1
            continue
        saving += float(decision.saving)
        for item in decision.items:
            statuses[item.status] += 1
            reasons.update(r.code for r in item.reasons)
    return {
        "cases": len(lines),
        "input_errors": errors,
        "items": sum(statuses.values()),
        "status": {s: statuses[s] for s in ("waive", "partial", "retest")},
        "saving": round(saving, 2),
        "reasons": dict(reasons.most_common()),
        "reasons_missing": [c for c in labrecog.REASON_CODES if c not in reasons],
        "fast_path": fast,
    }


def _fast_share(engine: Engine, lines: list[bytes]) -> int | None:
    """How many cases the msgspec fast path accepts (the rest go through the models),
    or None in a tree without it."""
    try:
        from labrecog.model import fast_case
    except ImportError:
        return None
    tz = engine.rules.timezone
    return sum(fast_case(loads_strict(raw), tz, plain=True) is not None for raw in lines)


def measure(
    engine: Engine, lines: list[bytes], repeat: int, legacy: bool, clock: Callable[[], float]
) -> dict[str, Any]:
    measured = rows(engine, legacy)
    chunks = [
        list(enumerate(lines[i : i + CHUNK], start=i + 1)) for i in range(0, len(lines), CHUNK)
    ]
    times: dict[str, list[float]] = {key: [] for key, _, _ in measured}
    for r in range(repeat):
        spent = dict.fromkeys(times, 0.0)
        gc.collect()
        for chunk in chunks:
            for key, _, fn in measured:
                prepare = getattr(fn, "prepare", None)  # untimed input of a row, per chunk
                given: Any = chunk if prepare is None else prepare(chunk)
                t0 = clock()
                fn(given)
                spent[key] += clock() - t0
        for key, seconds in spent.items():
            times[key].append(seconds)
        done = ", ".join(f"{k} {s:.2f}s" for k, s in spent.items())
        print(f"  repeat {r + 1}/{repeat}: {done}", file=sys.stderr)
    n = len(lines)
    out: dict[str, Any] = {}
    for key, label, _ in measured:
        median = statistics.median(times[key])
        out[key] = {
            "label": label,
            "seconds": times[key],
            "median_s": median,
            "cases_per_s": n / median,
            "us_per_case": 1e6 * median / n,
        }
    return out


def ratios(timings: dict[str, Any]) -> dict[str, float]:
    """Each row over (p), computed per repeat (same run), then the median."""
    floor = timings["parse"]["seconds"]
    return {
        key: statistics.median(s / p for s, p in zip(row["seconds"], floor, strict=True))
        for key, row in timings.items()
        if key != "parse"
    }


def profile(engine: Engine, lines: list[bytes], top: int = 25) -> str:
    profiler = cProfile.Profile()
    gc.collect()
    profiler.enable()
    for raw in lines:
        with contextlib.suppress(InputError):
            engine.evaluate_json(raw)
    profiler.disable()
    buf = io.StringIO()
    raw_stats: dict[tuple[str, int, str], tuple[Any, ...]] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    stats = pstats.Stats(profiler, stream=buf)
    stats.strip_dirs().sort_stats("cumulative").print_stats(top)
    buf.write("--- by own time (tottime) ---\n")
    stats.sort_stats("tottime").print_stats(top)
    by_file: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for (filename, _, func), (_, _, tottime, cumtime, _) in raw_stats.items():
        where = _where(filename, func)
        by_file[where] += tottime
        if where.startswith("labrecog/") and not func.startswith("<"):
            inclusive[f"{where}:{func}"] += cumtime
    total = sum(by_file.values()) or 1.0
    buf.write("--- labrecog functions by inclusive time, share of the (d) pass ---\n")
    for where, seconds in inclusive.most_common(top):
        buf.write(f"{100 * seconds / total:6.1f}%  {seconds:8.3f}s  {where}\n")
    buf.write("\n--- own time by source file ---\n")
    for where, seconds in by_file.most_common(top):
        buf.write(f"{100 * seconds / total:6.1f}%  {seconds:8.3f}s  {where}\n")
    return buf.getvalue()


def _where(filename: str, func: str) -> str:
    """labrecog/check/_institution.py, pydantic (library), or builtins."""
    path = Path(filename)
    if "labrecog" in path.parts:
        return "/".join(path.parts[path.parts.index("labrecog") :])
    if filename == "~":
        return f"builtins ({func.split(' of ')[-1].strip('<>')})" if " of " in func else "builtins"
    for lib in ("pydantic_core", "pydantic", "orjson", "msgspec"):
        if lib in path.parts:
            return f"{lib} (library)"
    return path.name


def report(figures: dict[str, Any]) -> str:
    m, t, w = figures["machine"], figures["timings"], figures["workload"]
    target, ratio = figures["target"], figures["ratios"]
    lines = [
        "",
        f"labrecog {m['labrecog']} (from {m['labrecog_from']}) per-case benchmark, "
        f"rule set {figures['ruleset']}",
        f"machine: {m['cpu']}, {m['cores']} cores, {m['platform']}",
        f"python {m['python']} ({m['implementation']}), pydantic {m['pydantic']}, "
        f"orjson {m['orjson']}",
        f"workload: {figures['workload_text']}; {figures['repeat']} repeats, "
        f"interleaved per chunk of {CHUNK} lines; medians; {figures['clock']} time",
        "",
        f"{'measurement':<40} {'median s':>9} {'cases/s':>9} {'µs/case':>8} "
        f"{'min s':>7} {'max s':>7} {'x (p)':>6}",
        "-" * 92,
    ]
    for key, row in t.items():
        x = "1.00" if key == "parse" else f"{ratio[key]:.2f}"
        lines.append(
            f"{row['label']:<40} {row['median_s']:>9.3f} {row['cases_per_s']:>9,.0f} "
            f"{row['us_per_case']:>8.1f} {min(row['seconds']):>7.3f} "
            f"{max(row['seconds']):>7.3f} {x:>6}"
        )
    lines.append("-" * 92)
    for key, name in (("api", "bytes -> Decision   "), ("cli", "bytes -> output line")):
        verdict = "within target" if ratio[key] <= target else "ABOVE TARGET"
        lines.append(
            f"ratio {name} / orjson.loads: {ratio[key]:5.2f}   (target <= {target:.1f}: {verdict})"
        )
    lines += [
        (
            f"informative: fast validation (v - p) {ratio['fast'] - 1:.2f}x the floor, "
            f"deciding (d - v) {ratio['api'] - ratio['fast']:.2f}x; the models' validation "
            f"(a - p) {ratio['validate'] - 1:.2f}x; the fast path saves (m - d) "
            f"{ratio['models'] - ratio['api']:.2f}x; with no check run, (v) + (r) is "
            f"{ratio['fast'] + ratio['objects']:.2f}x"
            if "fast" in ratio
            else f"informative: validation (a - p) {ratio['validate'] - 1:.2f}x the floor, "
            f"deciding and the rest (d - a) {ratio['api'] - ratio['validate']:.2f}x"
        ),
        "",
        f"decisions: {w['cases'] - w['input_errors']:,} cases decided, "
        f"{w['input_errors']} input errors; {w['items']:,} items: "
        + ", ".join(
            f"{s} {n:,} ({100 * n / max(w['items'], 1):.1f}%)" for s, n in w["status"].items()
        )
        + f"; saving {w['saving']:,.2f}",
        (
            f"fast validation path: {w['fast_path']:,} of {w['cases']:,} cases "
            "(the rest through the models)"
            if w.get("fast_path") is not None
            else "fast validation path: not in this tree"
        ),
        "top reasons: " + ", ".join(f"{code} {n:,}" for code, n in list(w["reasons"].items())[:10]),
        f"reason codes exercised: {len(w['reasons'])}/{len(labrecog.REASON_CODES)}"
        + (f" (not: {', '.join(w['reasons_missing'])})" if w["reasons_missing"] else ""),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--cases",
        type=cases_arg,
        default=20_000,
        metavar="N|FILE",
        help="number of generated cases (20000), or a JSONL file of cases (needs --rules)",
    )
    parser.add_argument("--repeat", type=int, default=5, help="runs of each measurement (5)")
    parser.add_argument("--quick", action="store_true", help="2,000 cases (or the file), 3 repeats")
    parser.add_argument("--legacy", action="store_true", help="also (b) and (c) from dicts")
    parser.add_argument(
        "--clock",
        choices=("cpu", "wall"),
        default="cpu",
        help="cpu: this process's CPU time (default; steadier on a shared machine); wall",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile one (d) pass")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the figures here")
    parser.add_argument("--rules", type=Path, help="rule set (default rules/demo)")
    args = parser.parse_args(argv)
    source: Path | None = args.cases if isinstance(args.cases, Path) else None
    if args.quick:
        args.repeat = 3
        if source is None:
            args.cases = 2_000
    if source is not None and args.rules is None:
        parser.error("--cases FILE needs --rules DIR (the rule set the cases were made for)")
    if (source is None and args.cases < 1) or args.repeat < 1:
        parser.error("--cases and --repeat must be positive")

    engine = Engine.from_path(args.rules or RULES)
    t0 = time.perf_counter()
    if source is None:
        lines = generated_lines(engine, args.cases)
        what = "generated"
        workload_text = (
            f"{len(lines):,} cases x {ORDERED_ITEMS} ordered items (1 panel), "
            f"{PRIORS_PER_CASE} prior results each; seed {SEED}"
        )
    else:
        lines = file_lines(source)
        if not lines:
            parser.error(f"{source}: no cases")
        what = f"read from {source}:"
        dicts = [orjson.loads(raw) for raw in lines]
        items = sum(len(c.get("tests") or ()) for c in dicts)
        priors = sum(len(c.get("prior_results") or ()) for c in dicts)
        del dicts
        workload_text = (
            f"{len(lines):,} cases from {source.name}, {items / len(lines):.1f} ordered items "
            f"and {priors / len(lines):.1f} prior results per case"
        )
    size = sum(map(len, lines)) / len(lines)
    workload_text += f", {size / 1024:.1f} KiB of JSON a case"
    print(f"{what} {len(lines):,} cases in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    gc.collect()
    gc.freeze()  # the engine and the lines stay alive: keep them out of the collector's way

    work = workload(engine, lines)  # untimed: warms memoised conversions
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    timings = measure(engine, lines, args.repeat, args.legacy, clock)
    figures: dict[str, Any] = {
        "ruleset": f"{engine.ruleset.id} {engine.ruleset.version}",
        "seed": SEED if source is None else None,
        "cases_file": None if source is None else str(source),
        "workload_text": workload_text,
        "repeat": args.repeat,
        "machine": machine(),
        "workload": work,
        "timings": timings,
        "ratios": ratios(timings),
        "target": TARGET_DEFAULT if source is None else TARGET_FILE,
        "clock": args.clock,
    }
    print(report(figures))
    if args.profile:
        print(f"\ncProfile of one (d) pass over {len(lines):,} cases (top 25):\n")
        print(profile(engine, lines))
    if args.json:
        args.json.write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2) + b"\n")
        print(f"figures written to {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
