"""Engine throughput against rules/demo: how much evaluation adds to input validation.

    .venv/bin/python bench/bench_engine.py                 # 20,000 cases, 5 repeats
    .venv/bin/python bench/bench_engine.py --quick         # 2,000 cases, 3 repeats
    .venv/bin/python bench/bench_engine.py --profile       # plus one cProfile'd evaluate pass
    .venv/bin/python bench/bench_engine.py --json out.json # figures as JSON too
    .venv/bin/python bench/bench_engine.py --cases examples/uk-mri.jsonl.gz --rules rules/uk-mri
                                                           # a generated batch (JSONL, gzip)

The earlier target (bench/README.md): evaluating a case should take at most twice the
time of validating it with the project's own input model. Three measurements over the
same plain-dict cases (what ``orjson.loads`` returns), interleaved and repeated, medians
reported:

(a) validate   ``Case.model_validate(d, context={"timezone": ...})``
(b) evaluate   ``engine.evaluate(d)`` (includes its own validation)
(c) cli path   ``orjson.dumps(engine.evaluate(d).model_dump(mode="json"))``

The cases are generated deterministically (seeded ``random.Random``): 8 ordered items each,
one of them a panel, and 60 prior results of the patient with realistic variation. With
``--cases FILE --rules DIR`` the cases are read from a JSONL file instead (gzip recognised by
its magic bytes), e.g. the batches ``examples/generate.py`` writes for the shipped rule sets.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import gzip
import io
import os
import platform
import pstats
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson

import labrecog
from labrecog import Case, Engine, InputError

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules" / "demo"
SEED = 20250302
TARGET = 2.0
CST = timezone(timedelta(hours=8))
ORDERED_ITEMS = 8
PRIORS_PER_CASE = 60

# --------------------------------------------------------------------------- the workload

# Performing institutions as results describe them. All but the last two are in the demo
# registry (which then overrides the claims); GSZY and WCSU are unlisted.
INSTITUTIONS: list[tuple[dict[str, Any], float]] = [
    ({"id": "GSPH", "name": "甘肃省人民医院", "region": "620102", "level": 3}, 28),
    ({"id": "LXRM", "name": "临夏市人民医院", "region": "621226", "level": 2}, 22),
    ({"id": "LZU2", "name": "兰州大学第二医院", "region": "620102", "level": 3}, 8),
    ({"id": "XNCH", "name": "西宁市第一人民医院", "region": "630100", "level": 3}, 10),
    ({"id": "CLINIC7", "region": "620103", "level": 1}, 10),
    ({"id": "GSZY", "name": "甘肃中医药大学附属医院", "region": "620102"}, 14),
    ({"id": "WCSU", "name": "四川大学华西医院", "region": "510107", "level": 3}, 8),
]
MARKS: list[tuple[str | None, float]] = [
    ("全国HR", 30),
    ("本省HR", 33),
    ("兰州HR", 15),
    ("【本省HR】", 5),
    (None, 17),
]
STATUSES: list[tuple[str | None, float]] = [
    (None, 40),  # omitted: final by default
    ("final", 50),
    ("amended", 2),
    ("corrected", 2),
    ("preliminary", 5),
    ("cancelled", 1),
]

# Per catalogue test: report units as (spelling, factor from canonical, weight), extra
# codes a lab may send, and methods. Values are drawn around the local reference interval.
UNITS: dict[str, list[tuple[str, float, float]]] = {
    "GLU": [("mmol/L", 1.0, 75), ("mg/dL", 18.016, 20), ("mmol/l", 1.0, 5)],
    "HBA1C": [("%", 1.0, 80), ("mmol/mol", 0.0, 20)],  # 0.0: IFCC master equation
    "K": [("mmol/L", 1.0, 97), ("mEq/L", 1.0, 3)],
    "NA": [("mmol/L", 1.0, 100)],
    "CREA": [("μmol/L", 1.0, 70), ("umol/L", 1.0, 15), ("mg/dL", 1 / 88.4, 15)],
    "ALT": [("U/L", 1.0, 95), ("IU/L", 1.0, 5)],
    "AST": [("U/L", 1.0, 95), ("IU/L", 1.0, 5)],
    "TBIL": [("μmol/L", 1.0, 85), ("mg/dL", 1 / 17.1, 15)],
    "ALB": [("g/L", 1.0, 90), ("g/dL", 0.1, 10)],
    "TC": [("mmol/L", 1.0, 85), ("mg/dL", 38.67, 15)],
    "TRIG": [("mmol/L", 1.0, 85), ("mg/dL", 88.57, 15)],
    "WBC": [("10*9/L", 1.0, 40), ("×10^9/L", 1.0, 40), ("10^9/L", 1.0, 20)],
    "TSH": [("mIU/L", 1.0, 60), ("μIU/mL", 1.0, 40)],
    "PCT": [("ng/mL", 1.0, 100)],
}
ALIASES = {"GLU": ["FBG", "GLUC"], "CREA": ["CR", "SCR"]}
METHODS = {"TSH": [("CLIA", 50), ("ECLIA", 40), ("RIA", 10)], "GLU": [("hexokinase", 50)]}
# A prior lab's printed interval per test, relative to ours: most agree, some do not.
SHIFTS: list[tuple[float | None, float]] = [(0.0, 70), (0.04, 15), (0.25, 6), (None, 9)]


def pick(rng: random.Random, options: Sequence[tuple[Any, float]]) -> Any:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]


def stamp(at: datetime, naive: bool) -> str:
    return at.replace(tzinfo=None).isoformat() if naive else at.isoformat()


class Generator:
    """Deterministic cases for the demo rule set, as plain dicts."""

    def __init__(self, engine: Engine, seed: int = SEED) -> None:
        self.rng = random.Random(seed)
        rules = engine.rules
        self.rules = rules
        self.tests = sorted(rules.tests)
        self.panels = sorted(rules.panels)
        self.loinc: dict[str, list[str]] = {}
        for code, test in sorted(rules.loinc.items()):
            self.loinc.setdefault(test, []).append(code)

    def cases(self, n: int) -> list[dict[str, Any]]:
        return [self.case(i) for i in range(n)]

    def case(self, i: int) -> dict[str, Any]:
        rng = self.rng
        start = datetime(2025, 3, 1, 7, 30, tzinfo=CST)
        ordered_at = start + timedelta(days=rng.randrange(120), minutes=rng.randrange(600))
        naive = rng.random() < 0.10
        patient_id = f"P-{i:06d}"
        sex = pick(rng, [("male", 49), ("female", 49), ("unknown", 2)])
        patient: dict[str, Any] = {"id": patient_id, "sex": sex}
        roll = rng.random()
        if roll < 0.02:
            birth = datetime(2012, 1, 1) + timedelta(days=rng.randrange(3000))
        else:
            birth = datetime(1940, 1, 1) + timedelta(days=rng.randrange(23000))
        if roll < 0.99:  # 1 %: no birth date, the age condition is undecidable
            patient["birth_date"] = birth.date().isoformat()
        setting = pick(
            rng, [("outpatient", 65), ("inpatient", 20), ("checkup", 10), ("emergency", 5)]
        )
        flags: list[str] = []
        if setting == "emergency" and rng.random() < 0.5:
            flags.append("emergency")
        if rng.random() < 0.05:
            flags.append("on_insulin")

        panel = rng.choice(self.panels)
        singles = rng.sample(self.tests, ORDERED_ITEMS - 1)
        tests: list[dict[str, Any]] = [{"code": c} for c in singles]
        tests.insert(rng.randrange(ORDERED_ITEMS), {"code": panel})
        if rng.random() < 0.02:
            tests[rng.randrange(ORDERED_ITEMS)]["flags"] = ["condition_changed"]
        if rng.random() < 0.01:  # a local code the catalogue does not know
            tests[rng.randrange(ORDERED_ITEMS)] = {"code": "HSCRP"}
        wanted = sorted({*singles, *self.rules.panels[panel].components})
        priors = [
            self.prior(f"R-{i:06d}-{j:02d}", patient_id, ordered_at, sex, naive, wanted)
            for j in range(PRIORS_PER_CASE)
        ]
        return {
            "order_id": f"O-{i:06d}",
            "ordered_at": stamp(ordered_at, naive),
            "patient": patient,
            "institution": (
                {"id": "LZU2", "region": "620102", "level": 3}
                if rng.random() < 0.9
                else {"id": "GSPH", "region": "620102", "level": 3}
            ),
            "context": {"setting": setting, "flags": flags},
            "authorization": {"granted": rng.random() < 0.95},
            "tests": tests,
            "prior_results": priors,
        }

    def prior(
        self,
        rid: str,
        patient_id: str,
        ordered_at: datetime,
        sex: str,
        naive: bool,
        wanted: list[str],
    ) -> dict[str, Any]:
        rng = self.rng
        code = rng.choice(wanted) if rng.random() < 0.75 else rng.choice(self.tests)
        test = self.rules.tests[code]
        collected = ordered_at - timedelta(minutes=rng.randrange(40 * 24 * 60))
        reported = collected + timedelta(minutes=rng.randrange(60, 8 * 60))
        out: dict[str, Any] = {"id": rid, "patient_id": patient_id}
        roll = rng.random()
        loincs = self.loinc.get(code, [])
        if roll < 0.08 and code in ALIASES:
            out["code"] = rng.choice(ALIASES[code])
        elif roll < 0.12 and loincs:
            pass  # identified by LOINC only
        else:
            out["code"] = code
        if loincs and ("code" not in out or rng.random() < 0.8):
            out["loinc"] = rng.choice(loincs)
            if "code" in out and rng.random() < 0.005:  # mis-mapped LOINC: ambiguous result
                out["loinc"] = rng.choice(self.loinc[rng.choice(self.tests)])
        specimens = sorted(test.specimens) or ["serum"]
        out["specimen"] = rng.choice(specimens) if rng.random() < 0.97 else "血清"
        if test.qualitative:
            out["value_text"] = pick(
                rng, [("阴性", 60), ("negative", 25), ("阳性", 10), ("弱阳性", 5)]
            )
        else:
            self.quantity(out, code, sex)
        out["collected_at"] = stamp(collected, naive)
        out["reported_at"] = stamp(reported, naive)
        inst = pick(rng, INSTITUTIONS)
        out["institution"] = dict(inst)
        mark = pick(rng, MARKS)
        if mark is not None:
            out["mark"] = mark
        if code in METHODS:
            out["method"] = pick(rng, METHODS[code])
        status = pick(rng, STATUSES)
        if status is not None:
            out["status"] = status
        if rng.random() < 0.05:
            out["shared"] = False
        elif rng.random() < 0.3:
            out["shared"] = True
        return out

    def quantity(self, out: dict[str, Any], code: str, sex: str) -> None:
        rng = self.rng
        test = self.rules.tests[code]
        local = test.local_range(sex if sex in ("male", "female") else None, 40)
        if not local:
            local = test.ranges[0]
        low, high = local.low, local.high
        # The value, in the canonical unit.
        if rng.random() < 0.01 and test.critical_high is not None:
            value = test.critical_high * rng.uniform(1.0, 1.2)
        elif low is not None and high is not None:
            value = low + (high - low) * rng.uniform(-0.2, 1.25)
        else:
            bound = high if high is not None else low or 1.0
            value = bound * rng.uniform(0.2, 1.15)
        unit: str
        factor: float
        unit, factor, _ = pick(rng, [((u, f, w), w) for u, f, w in UNITS[code]])

        def to_unit(x: float) -> float:
            if code == "HBA1C" and unit == "mmol/mol":
                return round((x - 2.15) * 10.929, 0)
            return round(x * factor, 2)

        out["value"] = to_unit(value)
        out["unit"] = unit if rng.random() < 0.995 else "毫摩尔/升"  # exported as text
        shift = pick(rng, SHIFTS)
        if shift is None:
            return  # no reference range printed
        sign = rng.choice((-1, 1))
        rr: dict[str, Any] = {}
        if low is not None and high is not None:
            span = high - low
        else:
            span = abs(high if high is not None else low or 1.0)
        if low is not None:
            rr["low"] = to_unit(low + sign * shift * span)
        elif rng.random() < 0.5:
            rr["low"] = 0.0
        if high is not None:
            rr["high"] = to_unit(high + sign * shift * span)
        if "low" in rr and "high" in rr and rr["low"] > rr["high"]:
            rr["low"], rr["high"] = rr["high"], rr["low"]
        if rng.random() < 0.7:
            rr["unit"] = unit
        out["reference_range"] = rr


# --------------------------------------------------------------------------- measuring


def read_cases(path: Path) -> list[dict[str, Any]]:
    """The cases of a JSONL file (plain or gzip, by magic bytes), as ``orjson.loads`` gives
    them. Lines that are not JSON objects are skipped: the engine could not time them."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    cases = []
    for line in raw.splitlines():
        if not line.strip():
            continue
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(data, dict):
            cases.append(data)
    return cases


def cases_arg(text: str) -> int | Path:
    """``--cases``: a number of generated cases, or a JSONL file of cases."""
    try:
        return int(text)
    except ValueError:
        path = Path(text)
        if not path.is_file():
            raise argparse.ArgumentTypeError(f"not a number nor a file: {text}") from None
        return path


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import pydantic

    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "pydantic": pydantic.VERSION,
        "orjson": orjson.__version__,
        "labrecog": labrecog.__version__,
    }


def run_validate(engine: Engine, cases: list[dict[str, Any]]) -> None:
    context = {"timezone": engine.rules.timezone}
    validate = Case.model_validate
    for d in cases:
        with contextlib.suppress(ValueError):
            validate(d, context=context)


def run_evaluate(engine: Engine, cases: list[dict[str, Any]]) -> None:
    evaluate = engine.evaluate
    for d in cases:
        with contextlib.suppress(InputError):
            evaluate(d)


def run_cli_path(engine: Engine, cases: list[dict[str, Any]]) -> None:
    evaluate = engine.evaluate
    dumps = orjson.dumps
    for d in cases:
        with contextlib.suppress(InputError):
            dumps(evaluate(d).model_dump(mode="json"))


MEASUREMENTS: list[tuple[str, str, Callable[[Engine, list[dict[str, Any]]], None]]] = [
    ("validate", "(a) validate: Case.model_validate", run_validate),
    ("evaluate", "(b) evaluate: engine.evaluate", run_evaluate),
    ("cli", "(c) evaluate + model_dump + orjson", run_cli_path),
]


def workload(engine: Engine, cases: list[dict[str, Any]]) -> dict[str, Any]:
    """What the cases decide to: shows the benchmark exercises every path."""
    statuses: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    errors = 0
    saving = 0.0
    for d in cases:
        try:
            decision = engine.evaluate(d)
        except InputError:
            errors += 1
            continue
        saving += float(decision.saving)
        for item in decision.items:
            statuses[item.status] += 1
            reasons.update(r.code for r in item.reasons)
    return {
        "cases": len(cases),
        "input_errors": errors,
        "items": sum(statuses.values()),
        "status": {s: statuses[s] for s in ("waive", "partial", "retest")},
        "saving": round(saving, 2),
        "reasons": dict(reasons.most_common()),
        "reasons_missing": [c for c in labrecog.REASON_CODES if c not in reasons],
    }


def measure(engine: Engine, cases: list[dict[str, Any]], repeat: int) -> dict[str, Any]:
    times: dict[str, list[float]] = {key: [] for key, _, _ in MEASUREMENTS}
    for r in range(repeat):
        for key, _, fn in MEASUREMENTS:
            gc.collect()
            t0 = time.perf_counter()
            fn(engine, cases)
            times[key].append(time.perf_counter() - t0)
        done = ", ".join(f"{k} {times[k][-1]:.2f}s" for k, _, _ in MEASUREMENTS)
        print(f"  repeat {r + 1}/{repeat}: {done}", file=sys.stderr)
    n = len(cases)
    out: dict[str, Any] = {}
    for key, label, _ in MEASUREMENTS:
        median = statistics.median(times[key])
        out[key] = {
            "label": label,
            "seconds": times[key],
            "median_s": median,
            "cases_per_s": n / median,
            "us_per_case": 1e6 * median / n,
        }
    return out


def profile(engine: Engine, cases: list[dict[str, Any]], top: int = 25) -> str:
    profiler = cProfile.Profile()
    gc.collect()
    profiler.enable()
    run_evaluate(engine, cases)
    profiler.disable()
    buf = io.StringIO()
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    stats = pstats.Stats(profiler, stream=buf)
    stats.strip_dirs().sort_stats("cumulative").print_stats(top)
    buf.write("--- by own time (tottime) ---\n")
    stats.sort_stats("tottime").print_stats(top)
    by_file: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for (filename, _, func), (_, _, tottime, cumtime, _) in raw.items():
        where = _where(filename, func)
        by_file[where] += tottime
        if where.startswith("labrecog/") and not func.startswith("<"):
            inclusive[f"{where}:{func}"] += cumtime
    total = sum(by_file.values()) or 1.0
    buf.write("--- labrecog functions by inclusive time, share of the evaluate pass ---\n")
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
    for lib in ("pydantic_core", "pydantic", "orjson"):
        if lib in path.parts:
            return f"{lib} (library)"
    return path.name


def report(figures: dict[str, Any]) -> str:
    m, t, w = figures["machine"], figures["timings"], figures["workload"]
    lines = [
        "",
        f"labrecog {m['labrecog']} engine benchmark, rule set {figures['ruleset']}",
        f"machine: {m['cpu']}, {m['cores']} cores, {m['platform']}",
        f"python {m['python']} ({m['implementation']}), pydantic {m['pydantic']}, "
        f"orjson {m['orjson']}",
        f"workload: {figures['workload_text']}; median of {figures['repeat']} interleaved runs",
        "",
        f"{'measurement':<38} {'median s':>9} {'cases/s':>10} {'µs/case':>9} "
        f"{'min s':>7} {'max s':>7}",
        "-" * 84,
    ]
    for key, _, _ in MEASUREMENTS:
        row = t[key]
        lines.append(
            f"{row['label']:<38} {row['median_s']:>9.3f} {row['cases_per_s']:>10,.0f} "
            f"{row['us_per_case']:>9.1f} {min(row['seconds']):>7.3f} {max(row['seconds']):>7.3f}"
        )
    lines.append("-" * 84)
    ratio = figures["ratio_evaluate_validate"]
    verdict = "within target" if ratio <= TARGET else "ABOVE TARGET"
    lines += [
        f"ratio evaluate / validate : {ratio:.2f}   (target <= {TARGET:.1f}: {verdict})",
        f"ratio cli path / validate : {figures['ratio_cli_validate']:.2f}",
        "",
        f"decisions: {w['cases'] - w['input_errors']:,} cases decided, "
        f"{w['input_errors']} input errors; {w['items']:,} items: "
        + ", ".join(
            f"{s} {n:,} ({100 * n / max(w['items'], 1):.1f}%)" for s, n in w["status"].items()
        )
        + f"; saving {w['saving']:,.2f}",
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
    parser.add_argument("--profile", action="store_true", help="cProfile one evaluate pass")
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
        cases = Generator(engine).cases(args.cases)
        what = "generated"
        workload_text = (
            f"{len(cases):,} cases x {ORDERED_ITEMS} ordered items (1 panel), "
            f"{PRIORS_PER_CASE} prior results each; seed {SEED}"
        )
    else:
        cases = read_cases(source)
        if not cases:
            parser.error(f"{source}: no cases")
        what = f"read from {source}:"
        items = sum(len(c.get("tests") or ()) for c in cases)
        priors = sum(len(c.get("prior_results") or ()) for c in cases)
        workload_text = (
            f"{len(cases):,} cases from {source.name}, {items / len(cases):.1f} ordered items "
            f"and {priors / len(cases):.1f} prior results per case"
        )
    print(f"{what} {len(cases):,} cases in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    # The cases stay alive for the whole run; freezing them keeps the cyclic collector from
    # re-scanning a large, unchanging heap during the timings (a streaming CLI has none).
    gc.collect()
    gc.freeze()

    # One untimed pass: warms memoised conversions and tells what the workload decides to.
    work = workload(engine, cases)
    timings = measure(engine, cases, args.repeat)
    ratio = timings["evaluate"]["median_s"] / timings["validate"]["median_s"]
    figures: dict[str, Any] = {
        "ruleset": f"{engine.ruleset.id} {engine.ruleset.version}",
        "seed": SEED if source is None else None,
        "cases_file": None if source is None else str(source),
        "workload_text": workload_text,
        "repeat": args.repeat,
        "machine": machine(),
        "workload": work,
        "timings": timings,
        "ratio_evaluate_validate": ratio,
        "ratio_cli_validate": timings["cli"]["median_s"] / timings["validate"]["median_s"],
        "target": TARGET,
        "within_target": ratio <= TARGET,
    }
    print(report(figures))
    if args.profile:
        print(f"\ncProfile of one evaluate pass over {len(cases):,} cases (top 25):\n")
        print(profile(engine, cases))
    if args.json:
        args.json.write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2) + b"\n")
        print(f"figures written to {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
