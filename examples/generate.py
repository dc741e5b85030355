"""Generate a realistic, seeded batch of cases for a rule set (gzip'd JSONL, byte-identical).

    python examples/generate.py --rules rules/cn-reference --cases 2000 --seed 20250301 \\
        -o examples/cn-reference.jsonl.gz                     # write one batch
    python examples/generate.py --shipped                     # rewrite every shipped batch
    python examples/generate.py --check examples/uk-mri.jsonl.gz   # stale? and its outcome mix
    python examples/generate.py --check                       # check every shipped batch

Everything the cases use is read from the rule set itself (``Engine.from_path(...).rules``
and the validated YAML): tests, panels, aliases, LOINC codes, units and the conversions the
engine will apply, specimens and their other spellings, reference intervals and critical
limits, validity periods, the institution registry, recognition marks, exceptions, plain
flags and conditions. A test added to a rule set therefore turns up in its batch as soon as
the batch is regenerated. What a rule set cannot say (departments, labs outside its
registry, names of local codes it does not know) comes from a small per-rule-set ``LOCALES``
table, with a generic fallback.

A case is one order of 1-8 items (panels included) for a patient with a history: 0-4
earlier visits to labs (registry and unlisted), each with a batch of results collected
together, some fresh and some older than the test's validity period. Each lab reports a
test its own way, consistently (unit, printed interval, specimen spelling, code or LOINC,
recognition mark); values are mostly normal, some abnormal, a few critical. Rare faults are
mixed in at realistic rates (preliminary results, unshared results, no authorisation, a
unit the lab exported as text, a urine sample filed under a serum code, a mis-mapped LOINC).
No line is invalid: ``examples/cases.jsonl`` shows the error records.

Determinism: one ``random.Random(seed)``, no clock, no hash-ordered iteration, no libm
calls (only correctly rounded IEEE 754 arithmetic; printed values are rounded to the
decimals a lab prints), compact JSON, gzip with ``mtime=0`` and no file name.
``--check`` regenerates in memory, compares with the file (the JSONL inside: another zlib
build may compress the same lines differently), then evaluates it the way ``labrecog
evaluate`` does and prints the status mix and the reason-code counts.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, TypeVar

import orjson

from labrecog import Engine
from labrecog.batch.records import evaluate_line
from labrecog.compile._compiled import CompiledRules, CRange, CTest
from labrecog.load._ruleset import load_ruleset
from labrecog.load._schema import Names, RuleFile, TestDef
from labrecog.units import Conversion

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
T = TypeVar("T")


@dataclass(frozen=True)
class Shipped:
    """A batch committed in examples/: how to rebuild it."""

    rules: str  # relative to the repository root
    cases: int
    seed: int


SHIPPED: dict[str, Shipped] = {
    "cn-reference.jsonl.gz": Shipped("rules/cn-reference", 2000, 20250301),
    "uk-mri.jsonl.gz": Shipped("rules/uk-mri", 2000, 20260101),
    "us-retest.jsonl.gz": Shipped("rules/us-retest", 2000, 20260301),
}

# --------------------------------------------------------------------------- locales


@dataclass(frozen=True)
class Lab:
    """An institution as cases describe it."""

    id: str
    name: str | None = None
    region: str | None = None
    level: int | None = None

    def as_json(self, with_name: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id}
        if with_name and self.name is not None:
            out["name"] = self.name
        if self.region is not None:
            out["region"] = self.region
        if self.level is not None:
            out["level"] = self.level
        return out


@dataclass(frozen=True)
class Locale:
    """What a rule set cannot say about the world its cases come from."""

    # Ordering institutions: registry ids or labs of ``extra_labs``, with weights.
    ordering: tuple[tuple[str, float], ...] = ()
    # Labs outside the registry whose results patients bring (weight per lab).
    extra_labs: tuple[tuple[Lab, float], ...] = ()
    departments: dict[str, tuple[str, ...]] = field(default_factory=dict)
    child_department: str | None = None
    child_share: float = 0.03
    # Local order codes the catalogue does not know (unknown_test).
    unknown_orders: tuple[str, ...] = ("XTEST",)
    # A unit as some HIS exports it: text no unit parser reads (unit_unknown).
    unit_text: dict[str, str] = field(default_factory=dict)
    # A qualitative result text the rule set does not list (value_unrecognised).
    odd_value_text: str = "equivocal"
    # Flags that only make sense for some patients: flag -> (sex, min age, max age).
    flag_patients: dict[str, tuple[str | None, int, int]] = field(default_factory=dict)
    window_start: date = date(2025, 3, 3)
    # Whether the ordering institution's own earlier results are among the priors (a lab
    # checking its own history, as for re-testing intervals) or only other labs' are.
    own_results: bool = True
    # Feeds' habits where they differ from the defaults below (None: the module's tables).
    # Report spellings of a canonical unit, and other units some labs report in.
    spellings: dict[str, tuple[str, ...]] | None = None
    alternatives: dict[str, tuple[str, ...]] | None = None
    # How labs print reference intervals (registry member or not), as RANGE_STYLES.
    range_styles: dict[bool, list[tuple[str, float]]] | None = None
    # Share of lab/test profiles that send no specimen, only a LOINC code (FHIR feeds): the
    # engine reads the specimen from the code's LOINC SYSTEM (``loinc_systems``).
    no_specimen: float = 0.0
    # Each lab sends one of a test's LOINC codes, always the same (a "Blood" code for a
    # serum analyte, as Synthea does, included); otherwise any code, mostly the first.
    lab_loinc: bool = False


LOCALES: dict[str, Locale] = {
    "cn-reference": Locale(
        ordering=(
            ("BJ3A", 30),
            ("TJ3A", 20),
            ("HB2A", 12),
            ("BJ2X", 18),
            ("JN2X", 12),
            ("TJ2X", 8),
        ),
        extra_labs=(
            (Lab("BJ2X", "北京示例区医院", "110108", 2), 0.4),
            (Lab("JN2X", "济南示例区医院", "370103", 2), 0.4),
            (Lab("TJ2X", "天津示例区医院", "120104", 2), 0.4),
            (Lab("BD3A", "保定示例三级医院", "130602", 3), 0.4),
            (Lab("MEDLAB", "某第三方医学检验实验室", "110108"), 0.4),
        ),
        departments={
            "outpatient": (
                "内分泌科",
                "心内科",
                "消化内科",
                "肾内科",
                "血液科",
                "普通内科",
                "妇产科",
                "感染科",
                "肿瘤科",
                "风湿免疫科",
            ),
            "inpatient": ("心内科病房", "肾内科病房", "普外科病房", "老年病科", "肿瘤科病房"),
            "emergency": ("急诊科",),
            "checkup": ("体检中心",),
        },
        child_department="儿科",
        child_share=0.04,
        unknown_orders=("HSCRP", "DDIMER", "PCT", "ESR"),
        unit_text={"mmol/L": "毫摩尔/升", "umol/L": "微摩尔/升", "g/L": "克/升"},
        odd_value_text="弱阳性",
        own_results=False,
    ),
    "uk-mri": Locale(
        ordering=(("LAB", 72), ("GP-A", 16), ("GP-B", 12)),
        extra_labs=(
            (Lab("GP-A", "Example Road Surgery"), 0.0),
            (Lab("GP-B", "Riverside Medical Practice"), 0.0),
            (Lab("NBLAB", "Neighbouring NHS trust laboratory"), 0.7),
            (Lab("POCT", "Ward point-of-care analyser"), 0.5),
        ),
        departments={
            "outpatient": (
                "Diabetes clinic",
                "Renal clinic",
                "Lipid clinic",
                "Thyroid clinic",
                "Haematology clinic",
                "Oncology clinic",
                "Hepatology clinic",
            ),
            "inpatient": (
                "Acute Medical Unit",
                "Care of the Elderly",
                "Cardiology ward",
                "Surgical ward",
                "Gastroenterology ward",
            ),
            "emergency": ("Emergency Department",),
            "checkup": ("General Practice",),
        },
        child_department="Paediatrics",
        child_share=0.13,
        unknown_orders=("TROP", "BNP", "VITD", "LIPASE"),
        unit_text={"mmol/L": "mmol per litre", "g/L": "grams/litre"},
        odd_value_text="equivocal",
        flag_patients={"planning_pregnancy": ("female", 18, 46)},
        window_start=date(2025, 9, 1),
    ),
    "us-retest": Locale(
        ordering=(("HS-CORE", 60), ("CLINIC-N", 25), ("CLINIC-S", 15)),
        extra_labs=(
            (Lab("CLINIC-N", "Northside Primary Care"), 0.0),
            (Lab("CLINIC-S", "Southside Family Medicine"), 0.0),
            (Lab("OSH", "Outside hospital (via HIE)"), 2.0),
            (Lab("UC-LAB", "Urgent care laboratory"), 1.5),
            (Lab("POC", "Point-of-care analyser"), 1.0),
        ),
        departments={
            "outpatient": (
                "Internal Medicine",
                "Family Medicine",
                "Endocrinology",
                "Cardiology",
                "Nephrology",
                "Hematology/Oncology",
            ),
            "inpatient": ("Hospital Medicine", "Cardiac Step-Down", "Surgery", "MICU"),
            "emergency": ("Emergency Department",),
            "checkup": ("Annual Wellness Visit",),
        },
        child_department="Pediatrics",
        child_share=0.05,
        unknown_orders=("84484", "83880", "85610", "LIPASE"),
        unit_text={"mg/dL": "milligrams per deciliter", "mmol/L": "millimoles per liter"},
        odd_value_text="see note",
        window_start=date(2026, 1, 5),
        spellings={
            "mg/dL": ("mg/dL", "MG/DL", "mg/dl"),
            "mmol/L": ("mmol/L", "mEq/L", "MMOL/L"),
            "g/dL": ("g/dL", "G/DL", "g/dl"),
            "U/L": ("U/L", "IU/L"),
            "10*3/uL": ("K/uL", "x10E3/uL", "10*3/uL", "thou/uL"),
            "10*6/uL": ("M/uL", "x10E6/uL", "10*6/uL"),
            "m[IU]/L": ("mIU/L", "uIU/mL", "MIU/L"),
            "fL": ("fL", "FL"),
        },
        alternatives={
            "mg/dL": ("mmol/L", "umol/L"),
            "g/dL": ("g/L",),
            "U/L": ("ukat/L",),
            "10*3/uL": ("10*9/L",),
            "10*6/uL": ("10*12/L",),
            "%": ("mmol/mol",),
        },
        # US feeds mostly print no interval (Synthea, many FHIR servers never send one).
        range_styles={
            True: [("same", 52), ("near", 5), ("old", 3), ("none", 38), ("one_bound", 2)],
            False: [("same", 38), ("near", 6), ("old", 6), ("none", 47), ("one_bound", 3)],
        },
        no_specimen=0.6,
        lab_loinc=True,
    ),
}

# --------------------------------------------------------------------------- distributions

SETTINGS: list[tuple[str | None, float]] = [
    ("outpatient", 55),
    ("inpatient", 24),
    ("checkup", 12),
    ("emergency", 6),
    (None, 1),  # a HIS export without the setting: setting conditions are undecidable
]
HOURS = {"outpatient": (8, 17), "inpatient": (6, 22), "checkup": (7, 11), "emergency": (0, 24)}
ITEMS = [(1, 14), (2, 20), (3, 20), (4, 16), (5, 11), (6, 8), (7, 6), (8, 5)]
VISITS = [(0, 10), (1, 36), (2, 28), (3, 16), (4, 10)]
STATUSES: list[tuple[str | None, float]] = [
    (None, 55),  # omitted: final by default
    ("final", 38.5),
    ("amended", 1.5),
    ("corrected", 1.2),
    ("preliminary", 2.5),
    ("registered", 0.4),
    ("cancelled", 0.6),
    ("entered-in-error", 0.3),
]
# How a lab prints a test's reference interval, relative to ours: registry members mostly
# print the current one; other labs more often an old one, or none.
RANGE_STYLES: dict[bool, list[tuple[str, float]]] = {
    True: [("same", 87), ("near", 6), ("old", 3), ("none", 2.5), ("one_bound", 1.5)],
    False: [("same", 72), ("near", 8), ("old", 10), ("none", 7), ("one_bound", 3)],
}
DECADES = [(18, 5), (25, 9), (35, 11), (45, 14), (55, 17), (65, 17), (75, 12), (85, 5)]

# Report spellings of a canonical unit (each checked against the engine at load), and
# other units some labs report in (the first that converts to a sensible magnitude).
SPELLINGS: dict[str, tuple[str, ...]] = {
    "mmol/L": ("mmol/L", "mmol/l"),
    "umol/L": ("μmol/L", "umol/L", "µmol/L"),
    "U/L": ("U/L", "IU/L"),
    "10*9/L": ("10^9/L", "×10^9/L", "10*9/L"),
    "10*12/L": ("10^12/L", "×10^12/L"),
    "m[IU]/L": ("mIU/L", "μIU/mL"),
    "m[IU]/mL": ("mIU/mL",),
    "ug/L": ("μg/L", "ug/L"),
}
ALTERNATIVES: dict[str, tuple[str, ...]] = {
    "mmol/L": ("mg/dL",),
    "umol/L": ("mg/dL",),
    "U/L": ("μkat/L",),
    "g/L": ("g/dL", "mg/dL"),
    "%": ("mmol/mol",),
    "mmol/mol": ("%",),
    "pmol/L": ("ng/dL", "pg/mL"),
    "nmol/L": ("μg/dL", "ng/dL", "ng/mL"),
    "ng/mL": ("μg/L",),
    "ug/L": ("ng/mL",),
    "ng/L": ("pmol/L",),
    "mg/L": ("mg/dL",),
    "U/mL": ("kU/L",),
}
ALTERNATIVE_WEIGHT = 12.0  # labs (in 100) reporting a test in the other unit
STEPS = (1.0, 0.1, 0.01, 0.001, 0.0001)


def pick(rng: random.Random, options: Sequence[tuple[T, float]]) -> T:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]


def decimals(scale: float) -> int:
    """Printed decimals for values of this magnitude (about 15 steps across the scale)."""
    step = abs(scale) / 15
    for d, size in enumerate(STEPS):
        if size <= step:
            return d
    return len(STEPS) - 1


def number(x: float, d: int) -> float | int:
    return round(x) if d == 0 else round(x, d)


# --------------------------------------------------------------------------- the catalogue


@dataclass
class UnitOption:
    spelling: str
    conv: Conversion
    weight: float


@dataclass
class TestInfo:
    """One catalogue test, as results from outside report it."""

    code: str
    test: CTest
    aliases: tuple[str, ...]
    loinc: tuple[str, ...]
    specimens: tuple[str, ...]
    spellings: dict[str, tuple[str, ...]]
    units: list[UnitOption]  # the canonical unit's spellings, then another unit if any
    alternative: UnitOption | None
    unit_text: str | None
    equivalents: bool  # some labs export it in mEq/L, which this test does not convert
    normal: tuple[str, ...]
    abnormal: tuple[str, ...]
    sexes: frozenset[str] | None  # ordered only for these sexes (sex-specific intervals)


def _is_identity(conv: Conversion | Exception) -> bool:
    return (
        isinstance(conv, Conversion) and abs(conv.factor - 1.0) < 1e-9 and abs(conv.offset) < 1e-12
    )


def _catalogue(rules: CompiledRules, source: RuleFile, locale: Locale) -> dict[str, TestInfo]:
    out: dict[str, TestInfo] = {}
    spelled = {name: tuple(alts) for name, alts in source.specimens.items()}
    defs: dict[str, TestDef] = {t.code: t for t in source.tests}
    for code, test in rules.tests.items():
        d = defs[code]
        canonical = d.unit or ""
        units: list[UnitOption] = []
        alternative: UnitOption | None = None
        if not test.qualitative:
            table = SPELLINGS if locale.spellings is None else locale.spellings
            spellings = [s for s in table.get(canonical, ()) if _is_identity(test.convert(s))]
            if canonical not in spellings:
                spellings.insert(0, canonical)
            for i, spelling in enumerate(spellings):
                conv = test.convert(spelling)
                if isinstance(conv, Conversion):
                    units.append(UnitOption(spelling, conv, 62 if i == 0 else 24 / len(spellings)))
            local = test.ranges[0] if test.ranges else None
            others = ALTERNATIVES if locale.alternatives is None else locale.alternatives
            for alt in others.get(canonical, ()):
                conv = test.convert(alt)
                if not isinstance(conv, Conversion) or _is_identity(conv) or local is None:
                    continue
                bound = max(abs(local.low or 0.0), abs(local.high or 0.0))
                scale = abs((bound - conv.offset) / conv.factor)
                if 0.5 <= scale <= 5000:
                    alternative = UnitOption(alt, conv, ALTERNATIVE_WEIGHT)
                    units.append(alternative)
                    break
        text = locale.unit_text.get(canonical)
        if text is not None and isinstance(test.convert(text), Conversion):
            text = None
        sexes = {r.sex for r in test.ranges}
        values = d.values
        out[code] = TestInfo(
            code=code,
            test=test,
            aliases=tuple(d.aliases),
            loinc=tuple(d.loinc),
            specimens=tuple(d.specimen) or ("serum",),
            spellings=spelled,
            units=units,
            alternative=alternative,
            unit_text=text,
            equivalents=canonical == "mmol/L"
            and test.molar_mass is None
            and not isinstance(test.convert("mEq/L"), Conversion),
            normal=tuple(values.normal) if values else tuple(sorted(test.normal_values)),
            abnormal=tuple(values.abnormal) if values else tuple(sorted(test.abnormal_values)),
            sexes=None if not test.ranges or None in sexes else frozenset(s for s in sexes if s),
        )
    return out


@dataclass
class Profile:
    """How one lab reports one test: the same way every time."""

    unit: UnitOption | None
    range_style: str
    range_unit: bool
    range_low_zero: bool
    shift: float
    specimen: str | None  # None: the lab sends no specimen, only a LOINC code
    ident: str
    mark: str | None
    loinc: str | None = None  # the one LOINC code this lab sends (Locale.lab_loinc)


# --------------------------------------------------------------------------- the generator


class Generator:
    """Deterministic cases for one rule set, as plain dicts in the docs/case.md shape."""

    def __init__(self, rules_dir: str | Path, seed: int, engine: Engine | None = None) -> None:
        self.rng = random.Random(seed)
        self.engine = engine or Engine.from_path(rules_dir)
        self.rules: CompiledRules = self.engine.rules
        self.source: RuleFile = load_ruleset(rules_dir).rules
        self.locale = LOCALES.get(self.rules.id) or self._generic_locale()
        self.lang = self.rules.language
        self.tz: tzinfo = self.rules.timezone or UTC
        self.catalogue = _catalogue(self.rules, self.source, self.locale)
        self.tests = list(self.catalogue)
        self.panels = list(self.rules.panels)
        self.order_aliases: dict[str, list[str]] = {}
        for alias, code in self.rules.order_codes.items():
            if alias != code:
                self.order_aliases.setdefault(code, []).append(alias)
        self.unknown = [c for c in self.locale.unknown_orders if c not in self.rules.order_codes]
        self.registry = {entry.id for entry in self.source.institutions}
        self.labs, self.ordering = self._labs()
        self.profiles: dict[tuple[str, str], Profile] = {}
        self.nearby_memo: dict[str, list[tuple[Lab, float]]] = {}
        set_by_conditions = {c.override.exception for c in self.rules.conditions}
        self.free_exceptions = [e for e in self.rules.exceptions if e not in set_by_conditions]
        self.flag_conditions = [c for c in self.rules.conditions if c.flags_any or c.flags_all]
        start = max(self.locale.window_start, self.source.effective_from or date.min)
        self.start = datetime(start.year, start.month, start.day)

    # ---- world -----------------------------------------------------------------------

    def _generic_locale(self) -> Locale:
        return Locale(extra_labs=((Lab("EXT-1", "External laboratory"), 1.0),))

    def _name(self, names: Names | None) -> str | None:
        if names is None:
            return None
        first: str | None = names.zh if self.lang == "zh" else names.en
        return first or names.en or names.zh

    def _labs(self) -> tuple[list[tuple[Lab, float]], list[tuple[Lab, float]]]:
        """Performing labs (registry first, weighted by how usable they are) and orderers."""
        rec = self.rules.recognition
        prefixes = [r for r in rec.regions if r not in ("*", "same_province", "same_city")]
        known: dict[str, Lab] = {}
        performing: list[tuple[Lab, float]] = []
        for entry in self.source.institutions:
            lab = Lab(entry.id, self._name(entry.name), entry.region, entry.level)
            known[lab.id] = lab
            # A member without registry quality evidence relies on marks alone.
            weight = 10.0 if entry.quality.passed else 6.0
            if entry.valid_until is not None and entry.valid_until < self.locale.window_start:
                weight = 1.0  # lapsed membership
            elif rec.min_level is not None and (entry.level or 0) < rec.min_level:
                weight = 1.0  # below the minimum level
            elif prefixes and not any((entry.region or "").startswith(p) for p in prefixes):
                weight = 0.8  # outside the recognition region
            performing.append((lab, weight))
        for lab, weight in self.locale.extra_labs:
            known.setdefault(lab.id, lab)
            if weight > 0:
                performing.append((lab, weight))
        ordering = [(known[i], w) for i, w in self.locale.ordering if i in known]
        if not ordering:
            ordering = [(lab, w) for lab, w in performing if w >= 10] or performing[:1]
        if not performing:
            performing = [(Lab("EXT-1"), 1.0)]
        return performing, ordering

    def _mark(self, lab: Lab) -> str | None:
        """The recognition mark a lab prints on a test (scopes read from the rule set)."""
        rng = self.rng
        scopes = self.rules.recognition.mark_scopes
        if not scopes:
            return None
        options: list[tuple[str | None, float]] = [(None, 3)]
        for mark, scope in scopes.items():
            if scope == "*":
                options += [(mark, 60), (f"【{mark}】", 4)]
            elif scope == "same_province":
                options.append((mark, 10))
            elif scope == "same_city":
                options.append((mark, 8))
            elif lab.region is not None and lab.region.startswith(scope):
                options.append((mark, 12))
        return pick(rng, options)

    def _profile(self, lab: Lab, info: TestInfo) -> Profile:
        key = (lab.id, info.code)
        found = self.profiles.get(key)
        if found is not None:
            return found
        rng = self.rng
        unit = pick(rng, [(u, u.weight) for u in info.units]) if info.units else None
        specimen = pick(rng, [(s, 70 if i == 0 else 30) for i, s in enumerate(info.specimens)])
        spellings = info.spellings.get(specimen, ())
        if spellings and rng.random() < 0.2:
            specimen = rng.choice(spellings)
        idents: list[tuple[str, float]] = [("code+loinc", 64), ("code", 14)]
        if info.loinc:
            idents.append(("loinc", 10))
        if info.aliases:
            idents.append(("alias+loinc" if info.loinc else "alias", 12))
        styles = RANGE_STYLES if self.locale.range_styles is None else self.locale.range_styles
        found = Profile(
            unit=unit,
            range_style=pick(rng, styles[lab.id in self.registry]),
            range_unit=rng.random() < 0.8,
            range_low_zero=rng.random() < 0.3,
            shift=rng.choice((-1.0, 1.0)) * rng.uniform(0.2, 0.45),
            specimen=specimen,
            ident=pick(rng, idents),
            mark=self._mark(lab),
        )
        # FHIR-era habits, drawn only where the locale has them (other batches unchanged).
        if self.locale.lab_loinc and info.loinc:
            found.loinc = rng.choice(info.loinc)
        if (
            self.locale.no_specimen
            and info.loinc
            and found.ident.endswith("loinc")
            and rng.random() < self.locale.no_specimen
        ):
            found.specimen = None
        self.profiles[key] = found
        return found

    # ---- one case --------------------------------------------------------------------

    def cases(self, n: int) -> list[dict[str, Any]]:
        return [self.case(i) for i in range(n)]

    def stamp(self, at: datetime, naive: bool) -> str:
        local = at.astimezone(self.tz)
        return local.replace(tzinfo=None).isoformat() if naive else local.isoformat()

    def case(self, i: int) -> dict[str, Any]:
        rng = self.rng
        loc = self.locale
        order_id = f"O-{self.rules.id.split('-')[0].upper()}-{i + 1:05d}"
        patient_id = f"P-{i + 1:05d}"

        child = rng.random() < loc.child_share
        if child:
            age = pick(
                rng, [(0, 8), (1, 10), (rng.randrange(2, 12), 50), (rng.randrange(12, 18), 32)]
            )
        else:
            low = pick(rng, DECADES)
            age = low + rng.randrange(10 if low < 85 else 12)
        sex = pick(rng, [("male", 48.5), ("female", 49.5), ("unknown", 1.2), (None, 0.8)])
        setting = pick(rng, SETTINGS)
        day = self.start + timedelta(days=rng.randrange(120))
        lo, hi = HOURS[setting or "outpatient"]
        local = day + timedelta(minutes=rng.randrange(lo * 60, hi * 60))
        ordered = local.replace(tzinfo=self.tz).astimezone(UTC)
        naive = self.rules.timezone is not None and rng.random() < 0.05
        order_date = local.date()

        patient: dict[str, Any] = {"id": patient_id}
        if sex is not None:
            patient["sex"] = sex
        if rng.random() < 0.99:  # 1 %: no birth date (age conditions undecidable)
            birth = date(order_date.year - age - 1, order_date.month, 1) + timedelta(
                days=rng.randrange(365)
            )
            patient["birth_date"] = birth.isoformat()

        ordering = pick(rng, self.ordering)
        tests, analytes = self.order(sex)
        flags, tests = self.flags(tests, analytes, setting, sex, age)

        context: dict[str, Any] = {}
        if setting is not None:
            context["setting"] = setting
        department = self.department(setting, child)
        if department is not None:
            context["department"] = department
        context["flags"] = flags

        priors = self.history(patient_id, ordered, naive, analytes, sex, age, ordering)

        out: dict[str, Any] = {
            "order_id": order_id,
            "ordered_at": self.stamp(ordered, naive),
            "patient": patient,
            "institution": ordering.as_json(),
            "context": context,
        }
        if self.rules.recognition.require_authorization:
            roll = rng.random()
            if roll < 0.955:
                out["authorization"] = {"granted": True}
            elif roll < 0.985:
                out["authorization"] = {"granted": False}
            # else: none recorded (not granted)
        elif rng.random() < 0.5:
            out["authorization"] = {"granted": True}
        out["tests"] = tests
        out["prior_results"] = priors
        return out

    def department(self, setting: str | None, child: bool) -> str | None:
        loc = self.locale
        if child and loc.child_department is not None and setting != "emergency":
            return loc.child_department
        names = loc.departments.get(setting or "")
        return self.rng.choice(names) if names else None

    def orderable(self, code: str, sex: str | None) -> bool:
        sexes = self.catalogue[code].sexes if code in self.catalogue else None
        return sexes is None or sex not in ("male", "female") or sex in sexes

    def components(self, code: str) -> list[str]:
        if code in self.rules.tests:
            return [code]
        out: list[str] = []
        for c in self.rules.panels[code].components:
            out.extend(x for x in self.components(c) if x not in out)
        return out

    def order(self, sex: str | None) -> tuple[list[dict[str, Any]], list[str]]:
        """Ordered items (1-8, panels among them) and the analytes they cover."""
        rng = self.rng
        n = pick(rng, ITEMS)
        codes: list[str] = []
        singles = [t for t in self.tests if self.orderable(t, sex)]
        for _ in range(n * 3):
            if len(codes) >= n:
                break
            panel = bool(self.panels) and rng.random() < 0.4
            code = rng.choice(self.panels) if panel else rng.choice(singles)
            if code not in codes:
                codes.append(code)
        panels = [c for c in codes if c in self.rules.panels]
        if panels and rng.random() < 0.04:  # a component ordered alone as well
            extra = rng.choice(self.components(rng.choice(panels)))
            if extra not in codes:
                codes.insert(rng.randrange(len(codes) + 1), extra)
        analytes: list[str] = []
        for c in codes:
            analytes.extend(x for x in self.components(c) if x not in analytes)
        items: list[dict[str, Any]] = []
        for c in codes:
            aliases = self.order_aliases.get(c)
            shown = rng.choice(aliases) if aliases and rng.random() < 0.06 else c
            items.append({"code": shown})
        if self.unknown and rng.random() < 0.012:
            items.insert(rng.randrange(len(items) + 1), {"code": rng.choice(self.unknown)})
        return items, analytes

    def flags(
        self,
        tests: list[dict[str, Any]],
        analytes: list[str],
        setting: str | None,
        sex: str | None,
        age: int,
    ) -> tuple[list[str], list[dict[str, Any]]]:
        """Order flags: the rule set's plain flags (where a condition uses them for a test
        in the order) and, rarely, an exception, for the order or one item."""
        rng = self.rng
        flags: list[str] = []
        wanted = set(analytes)
        for cond in self.flag_conditions:
            if cond.targets is not None and not cond.targets & wanted:
                continue
            p = 0.12
            if cond.settings:
                p = 0.3 if setting in cond.settings else 0.03
            if rng.random() >= p:
                continue
            chosen = sorted(cond.flags_all)
            if cond.flags_any:
                chosen.append(rng.choice(sorted(cond.flags_any)))
            for flag in chosen:
                who = self.locale.flag_patients.get(flag)
                if who is not None and (
                    (who[0] is not None and sex != who[0]) or not who[1] <= age < who[2]
                ):
                    continue
                if flag not in flags:
                    flags.append(flag)
        if self.free_exceptions and rng.random() < 0.025:
            flag = rng.choice(self.free_exceptions)
            if flag not in flags:
                flags.append(flag)
        if self.free_exceptions and tests and rng.random() < 0.02:
            item = rng.choice(tests)
            item["flags"] = [rng.choice(self.free_exceptions)]
        return flags, tests

    # ---- the patient's history -------------------------------------------------------

    def nearby(self, ordering: Lab) -> list[tuple[Lab, float]]:
        """Where a patient's earlier results come from: labs in the ordering hospital's
        province twice as often; the hospital itself only where the rule set is about a
        lab's own history (``Locale.own_results``)."""
        found = self.nearby_memo.get(ordering.id)
        if found is None:
            found = []
            for lab, weight in self.labs:
                if lab.id == ordering.id and not self.locale.own_results:
                    continue
                near = lab.region and ordering.region and lab.region[:2] == ordering.region[:2]
                found.append((lab, weight * 2 if near else weight))
            self.nearby_memo[ordering.id] = found
        return found

    def history(
        self,
        patient_id: str,
        ordered: datetime,
        naive: bool,
        analytes: list[str],
        sex: str | None,
        age: int,
        ordering: Lab,
    ) -> list[dict[str, Any]]:
        """Earlier visits to labs, each a batch of results collected together."""
        rng = self.rng
        results: list[dict[str, Any]] = []
        visits = pick(rng, VISITS)
        labs = self.nearby(ordering)
        for v in range(visits):
            lab = pick(rng, labs)
            # Timed against the validity period of one ordered test: half the time the
            # shortest-lived one (the patient had bloods done days ago), else any.
            pool = analytes or self.tests
            periods = [self.catalogue[a].test.policy.max_age for a in pool]
            max_age = min(periods) if rng.random() < 0.5 else rng.choice(periods)
            minutes = max_age.days * 1440 + max_age.seconds // 60
            roll = rng.random()
            if roll < 0.72:
                ago = int(minutes * rng.uniform(0.02, 0.95))  # fresh
            elif roll < 0.92:
                ago = int(minutes * rng.uniform(1.05, 4.0))  # too old
            else:
                ago = rng.randrange(60, 400 * 1440)  # any time in the last year
            if rng.random() < 0.004:
                ago = -rng.randrange(30, 600)  # collected after the order was placed
            collected = ordered - timedelta(minutes=ago)
            reported = collected + timedelta(minutes=rng.randrange(40, 5 * 60))
            stamps = (self.stamp(collected, naive), self.stamp(reported, naive))
            codes: list[str] = []
            overlap = 0.8 if v == 0 else 0.55
            codes.extend(a for a in analytes if rng.random() < overlap)
            if self.panels and rng.random() < 0.45:
                extra = self.components(rng.choice(self.panels))
                codes.extend(c for c in extra if c not in codes)
            for _ in range(rng.randrange(3)):
                c = rng.choice(self.tests)
                if c not in codes and self.orderable(c, sex):
                    codes.append(c)
            for code in codes[:16]:
                if len(results) >= 30:
                    break
                rid = f"R-{patient_id[2:]}-{len(results) + 1:02d}"
                results.append(self.prior(rid, patient_id, code, lab, stamps, sex, age))
        rng.shuffle(results)  # feeds do not sort; the engine must not care
        return results

    def prior(
        self,
        rid: str,
        patient_id: str,
        code: str,
        lab: Lab,
        stamps: tuple[str, str],
        sex: str | None,
        age: int,
    ) -> dict[str, Any]:
        """One result of a visit; ``stamps``: the visit's collected_at and reported_at."""
        rng = self.rng
        info = self.catalogue[code]
        prof = self._profile(lab, info)
        out: dict[str, Any] = {"id": rid, "patient_id": patient_id}
        ident = prof.ident
        if rng.random() < 0.003 and info.loinc:  # a LOINC mapped to another test
            others = [t for t in self.tests if t != code and self.catalogue[t].loinc]
            out["code"] = code
            if others:
                out["loinc"] = self.catalogue[rng.choice(others)].loinc[0]
        else:
            if ident.startswith("alias"):
                out["code"] = rng.choice(info.aliases)
            elif ident.startswith("code"):
                out["code"] = code
            if ident.endswith("loinc") and info.loinc and prof.loinc is not None:
                out["loinc"] = prof.loinc
            elif ident.endswith("loinc") and info.loinc:
                out["loinc"] = info.loinc[0] if rng.random() < 0.8 else rng.choice(info.loinc)
            if "code" not in out and "loinc" not in out:
                out["code"] = code
        specimen = prof.specimen
        if rng.random() < 0.004:
            specimen = "urine"  # a urine sample filed under the blood test's code
        if specimen is not None:
            out["specimen"] = specimen
        if info.test.qualitative:
            roll = rng.random()
            if roll < 0.87 or not info.abnormal:
                out["value_text"] = rng.choice(info.normal)
            elif roll < 0.98:
                out["value_text"] = rng.choice(info.abnormal)
            else:
                out["value_text"] = self.locale.odd_value_text
        else:
            self.quantity(out, info, prof, sex, age)
        out["collected_at"], out["reported_at"] = stamps
        out["institution"] = lab.as_json(with_name=rng.random() < 0.7)
        if prof.mark is not None and rng.random() < 0.97:
            out["mark"] = prof.mark
        status = pick(rng, STATUSES)
        if status is not None:
            out["status"] = status
        roll = rng.random()
        if roll < 0.02:
            out["shared"] = False
        elif roll < 0.2:
            out["shared"] = True
        return out

    def quantity(
        self, out: dict[str, Any], info: TestInfo, prof: Profile, sex: str | None, age: int
    ) -> None:
        rng = self.rng
        test = info.test
        local = test.local_range(sex if sex in ("male", "female") else None, age)
        if not local:
            local = test.ranges[0] if test.ranges else CRange(None, None, None, None, 1.0, None)
        low, high = local.low, local.high
        value = self.value(test, low, high)
        unit = prof.unit
        if info.alternative is not None and rng.random() < 0.03:
            unit = info.alternative  # a lab reporting both (HbA1c % and mmol/mol): either
        conv = unit.conv if unit is not None else Conversion(1.0)

        def shown(x: float, scale: float) -> float | int:
            return number((x - conv.offset) / conv.factor, decimals(scale / conv.factor))

        width = (high - low) if low is not None and high is not None else abs(high or low or 1.0)
        out["value"] = shown(value, width)
        spelling = unit.spelling if unit is not None else test.unit
        roll = rng.random()
        if info.unit_text is not None and roll < 0.004:
            spelling = info.unit_text  # exported as text
        elif info.equivalents and roll < 0.015:
            spelling = "mEq/L"  # numerically the same for K and Na, but never converted
        out["unit"] = spelling

        style = prof.range_style
        if style == "none":
            return
        rr: dict[str, Any] = {}
        lo, hi = low, high
        if style == "near":
            lo = None if lo is None else lo + 0.04 * width * rng.choice((-1, 1))
            hi = None if hi is None else hi + 0.04 * width * rng.choice((-1, 1))
        elif style == "old":  # the lab still prints an outdated interval
            if hi is not None:
                hi = hi + prof.shift * width
            elif lo is not None:
                lo = lo + prof.shift * width
        if style == "one_bound" and lo is not None and hi is not None:
            lo = None
        if lo is not None:
            rr["low"] = shown(lo, width)
        elif hi is not None and prof.range_low_zero:
            rr["low"] = 0
        if hi is not None:
            rr["high"] = shown(hi, width)
        if "low" in rr and "high" in rr and rr["low"] > rr["high"]:
            rr["low"], rr["high"] = rr["high"], rr["low"]
        if prof.range_unit or spelling != (unit.spelling if unit is not None else test.unit):
            rr["unit"] = unit.spelling if unit is not None else test.unit
        out["reference_range"] = rr

    def value(self, test: CTest, low: float | None, high: float | None) -> float:
        """Mostly inside the interval, some outside, a few beyond a critical limit."""
        rng = self.rng
        roll = rng.random()
        crit = [(x, s) for x, s in ((test.critical_low, -1), (test.critical_high, 1)) if x]
        if roll < 0.035 and crit:
            limit, side = rng.choice(crit)
            return limit * (rng.uniform(1.0, 1.3) if side > 0 else rng.uniform(0.6, 1.0))
        if low is not None and high is not None:
            width = high - low
            if roll < 0.74:
                return rng.uniform(low + 0.04 * width, high - 0.04 * width)
            if roll < 0.84:
                return max(low - rng.uniform(0.02, 0.35) * width, 0.05 * low)
            return high + rng.uniform(0.02, 0.8) * width
        if high is not None:
            return high * (rng.uniform(0.4, 0.95) if roll < 0.78 else rng.uniform(1.03, 2.5))
        if low is not None:
            return low * (rng.uniform(1.05, 2.0) if roll < 0.8 else rng.uniform(0.5, 0.97))
        return rng.uniform(0.5, 2.0)


# --------------------------------------------------------------------------- output


def dumps(case: dict[str, Any]) -> bytes:
    text = json.dumps(case, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode("utf-8") + b"\n"


def generate(rules_dir: str | Path, cases: int, seed: int, engine: Engine | None = None) -> bytes:
    """The batch as JSONL bytes (``engine``: the rule set already loaded from ``rules_dir``)."""
    gen = Generator(rules_dir, seed, engine)
    return b"".join(dumps(c) for c in gen.cases(cases))


def compress(payload: bytes) -> bytes:
    """gzip with no file name and mtime 0: the same bytes on every run."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9, mtime=0) as out:
        out.write(payload)
    return buf.getvalue()


def read_payload(path: Path) -> bytes:
    raw = path.read_bytes()
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


# --------------------------------------------------------------------------- --check


@dataclass
class Summary:
    """What a batch decides to."""

    cases: int = 0
    errors: int = 0
    items: int = 0
    status: Counter[str] = field(default_factory=Counter)
    panel_status: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    performing: Counter[str] = field(default_factory=Counter)  # labs of waived items
    labs: Counter[str] = field(default_factory=Counter)  # labs of all prior results
    priors: int = 0
    children_paediatric: int = 0
    saving: float = 0.0
    currency: str = ""
    error_lines: list[int] = field(default_factory=list)
    # With ``keep``: every (case, record) pair, for callers that look closer (the tests).
    kept: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)

    def report(self) -> str:
        n = max(self.items, 1)
        mix = ", ".join(
            f"{s} {self.status[s]} ({100 * self.status[s] / n:.1f}%)"
            for s in ("waive", "partial", "retest")
        )
        panels = ", ".join(f"{s} {c}" for s, c in sorted(self.panel_status.items()))
        lines = [
            f"cases {self.cases}  decisions {self.cases - self.errors}  errors {self.errors}"
            f"  prior results {self.priors} ({self.priors / max(self.cases, 1):.1f}/case)",
            f"items {self.items}: {mix}; panels: {panels or '-'}",
            f"saving {self.saving:,.2f} {self.currency}",
            f"reason codes ({len(self.reasons)} distinct): "
            + ", ".join(f"{c} {k}" for c, k in self.reasons.most_common()),
            "results from: " + ", ".join(f"{c} {k}" for c, k in self.labs.most_common()),
            "waived from: " + ", ".join(f"{c} {k}" for c, k in self.performing.most_common()),
        ]
        if self.children_paediatric:
            lines.append(
                f"children re-tested with the paediatric exception: {self.children_paediatric}"
            )
        return "\n".join(lines)


def summarise(engine: Engine, payload: bytes, keep: bool = False) -> Summary:
    """Evaluate every line exactly as ``labrecog evaluate`` does."""
    out = Summary(currency=engine.rules.currency)
    panels = engine.rules.panels
    codes = engine.rules.order_codes
    for number_, raw in enumerate(payload.splitlines(), start=1):
        out.cases += 1
        record = evaluate_line(engine, number_, raw)
        if "error" in record:
            out.errors += 1
            out.error_lines.append(number_)
            continue
        case = orjson.loads(raw)
        if keep:
            out.kept.append((case, record))
        out.priors += len(case["prior_results"])
        out.labs.update(p["institution"]["id"] for p in case["prior_results"])
        out.saving += float(record["saving"])
        paediatric = False
        for item in record["items"]:
            out.items += 1
            out.status[item["status"]] += 1
            if codes.get(item["code"], item["code"]) in panels:
                out.panel_status[item["status"]] += 1
            for reason in item["reasons"]:
                out.reasons[reason["code"]] += 1
                paediatric = paediatric or reason.get("flag") == "paediatric"
            if item.get("institution"):
                out.performing[item["institution"]] += 1
            for comp in item.get("waived") or ():
                if comp.get("institution"):
                    out.performing[comp["institution"]] += 1
        out.children_paediatric += paediatric
    return out


def check(path: Path, shipped: Shipped) -> int:
    rules_dir = ROOT / shipped.rules
    engine = Engine.from_path(rules_dir)
    t0 = time.perf_counter()
    payload = generate(rules_dir, shipped.cases, shipped.seed, engine)
    elapsed = time.perf_counter() - t0
    problems: list[str] = []
    if not path.exists():
        problems.append(f"{path} does not exist")
    else:
        committed = path.read_bytes()
        if read_payload(path) != payload:
            problems.append(
                f"{path} is stale: regenerate it (python examples/generate.py --shipped)"
            )
        elif committed != compress(payload):
            # Same cases; only the compressor differs (another zlib build). Not a failure.
            print(f"note: {path.name}: same content, different gzip bytes (zlib build)")
    print(
        f"{path.name}: {shipped.rules}, {shipped.cases} cases, seed {shipped.seed} "
        f"(regenerated in {elapsed:.1f}s)"
    )
    summary = summarise(engine, payload)
    print(summary.report())
    if summary.errors:
        problems.append(f"error records on lines {summary.error_lines[:10]}")
    for p in problems:
        print(f"FAILED: {p}", file=sys.stderr)
    print()
    return 1 if problems else 0


# --------------------------------------------------------------------------- main


def _shipped_for(path: Path, args: argparse.Namespace) -> Shipped:
    base = SHIPPED.get(path.name)
    rules = args.rules or (base.rules if base else None)
    if rules is None:
        raise SystemExit(f"{path.name} is not a shipped batch: give --rules (and --seed)")
    return Shipped(
        str(rules),
        args.cases or (base.cases if base else 2000),
        args.seed if args.seed is not None else (base.seed if base else 1),
    )


def write(path: Path, payload: bytes) -> None:
    data = compress(payload) if path.suffix == ".gz" else payload
    if str(path) == "-":
        sys.stdout.buffer.write(data)
        return
    path.write_bytes(data)


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rules", help="rule-set folder")
    parser.add_argument("--cases", type=int, help="number of cases (2000)")
    parser.add_argument("--seed", type=int, help="random seed")
    parser.add_argument("-o", "--output", type=Path, help="write here (.gz: gzip'd; - stdout)")
    parser.add_argument("--shipped", action="store_true", help="(re)write every shipped batch")
    parser.add_argument(
        "--check",
        nargs="?",
        const="",
        metavar="FILE",
        help="regenerate in memory, fail if FILE differs, print its outcome mix "
        "(no FILE: every shipped batch)",
    )
    args = parser.parse_args(list(argv) if argv is not None else None)

    if args.check is not None:
        paths = [Path(args.check)] if args.check else [HERE / name for name in SHIPPED]
        return max(check(p, _shipped_for(p, args)) for p in paths)
    if args.shipped:
        for name, shipped in SHIPPED.items():
            t0 = time.perf_counter()
            payload = generate(ROOT / shipped.rules, shipped.cases, shipped.seed)
            write(HERE / name, payload)
            size = (HERE / name).stat().st_size
            print(
                f"wrote examples/{name}: {shipped.cases} cases, {size:,} bytes "
                f"({time.perf_counter() - t0:.1f}s)"
            )
        return 0
    if not args.rules or args.output is None:
        parser.error("give --rules DIR -o FILE, or --shipped, or --check [FILE]")
    seed = args.seed if args.seed is not None else 1
    write(args.output, generate(args.rules, args.cases or 2000, seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
