"""The benchmarks' workloads, as JSON lines (bytes): the parse is part of every timing.

The default workload is generated deterministically (seeded ``random.Random``) against
rules/demo: 8 ordered items each, one of them a panel, and 60 prior results of the patient
with realistic variation. A file workload is a JSONL file of cases (gzip recognised by its
magic bytes), e.g. the batches ``examples/generate.py`` writes for the shipped rule sets.
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import random
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson

import labrecog
from labrecog import Engine

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules" / "demo"
SEED = 20250302
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


def generated_lines(engine: Engine, n: int, seed: int = SEED) -> list[bytes]:
    """``n`` generated cases, one JSON line (no newline) each."""
    gen = Generator(engine, seed)
    dumps = orjson.dumps
    return [dumps(gen.case(i)) for i in range(n)]


def file_lines(path: Path) -> list[bytes]:
    """The cases of a JSONL file (plain or gzip, by magic bytes), one line each. Lines that
    are not JSON objects are left out: the engine could not time them."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    lines = []
    for line in raw.splitlines():
        if not line.strip():
            continue
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(data, dict):
            lines.append(line)
    return lines


def cycled(lines: Sequence[bytes], n: int) -> Iterator[bytes]:
    """``n`` lines, repeating ``lines`` as often as needed (a larger file, same cases)."""
    for i in range(n):
        yield lines[i % len(lines)]


def write_jsonl(path: Path, lines: Iterator[bytes] | Sequence[bytes]) -> int:
    """Write the lines, one per line; the number written."""
    count = 0
    with path.open("wb") as out:
        for line in lines:
            out.write(line)
            out.write(b"\n")
            count += 1
    return count


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
        "labrecog_from": str(Path(labrecog.__file__).resolve().parent.parent),
    }
