"""The compiled rule set: lookup tables and resolved policies, built once at load.

Everything evaluation needs is a dict lookup or a float; nothing here parses text or
calls pint on the per-case path (unit conversions for undeclared units are memoised).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import date, timedelta, tzinfo
from decimal import Decimal
from typing import Any, Literal

from labrecog.compile._codes import CodeTable, normalise_code
from labrecog.units import Conversion, UnitError, conversion, normalise_unit
from labrecog.words import Lang, pick

__all__ = [
    "CCondition",
    "CException",
    "CInstitution",
    "CPanel",
    "CRange",
    "CTest",
    "CompiledRules",
    "Override",
    "Policy",
    "RecognitionPolicy",
    "mark_key",
]

PriorPolicy = Literal["allow", "reject"]
_MEMO_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class Policy:
    """The effective knobs for one test in one case, each with where it came from."""

    max_age: timedelta
    max_age_source: str | None
    tolerance: float
    tolerance_source: str | None
    reference_range_required: bool
    abnormal_prior: PriorPolicy
    critical_prior: PriorPolicy
    recognisable: bool
    exception: str | None = None
    exception_condition: str | None = None
    # The delta check (check/_recency.py): how far a newer result may differ from the one
    # used, absolute in the test's unit and/or relative to the value used.
    delta_absolute: float | None = None
    delta_relative: float | None = None
    delta_source: str | None = None


@dataclass(frozen=True, slots=True)
class Override:
    """What one layer (category, test or condition) sets; ``None`` leaves it alone."""

    max_age: timedelta | None = None
    max_age_source: str | None = None
    tolerance: float | None = None
    tolerance_source: str | None = None
    reference_range_required: bool | None = None
    abnormal_prior: PriorPolicy | None = None
    critical_prior: PriorPolicy | None = None
    recognisable: bool | None = None
    exception: str | None = None
    delta_absolute: float | None = None
    delta_relative: float | None = None
    delta_source: str | None = None
    delta: bool = False  # this layer sets the delta limits (both, replacing the base's)

    def apply(self, base: Policy, condition: str | None = None) -> Policy:
        return Policy(
            max_age=self.max_age if self.max_age is not None else base.max_age,
            max_age_source=(
                self.max_age_source if self.max_age is not None else base.max_age_source
            ),
            tolerance=self.tolerance if self.tolerance is not None else base.tolerance,
            tolerance_source=(
                self.tolerance_source if self.tolerance is not None else base.tolerance_source
            ),
            reference_range_required=(
                self.reference_range_required
                if self.reference_range_required is not None
                else base.reference_range_required
            ),
            abnormal_prior=self.abnormal_prior or base.abnormal_prior,
            critical_prior=self.critical_prior or base.critical_prior,
            recognisable=self.recognisable if self.recognisable is not None else base.recognisable,
            exception=self.exception or base.exception,
            exception_condition=condition if self.exception else base.exception_condition,
            delta_absolute=self.delta_absolute if self.delta else base.delta_absolute,
            delta_relative=self.delta_relative if self.delta else base.delta_relative,
            delta_source=self.delta_source if self.delta else base.delta_source,
        )


@dataclass(frozen=True, slots=True)
class CRange:
    sex: str | None
    age_min: int | None
    age_max: int | None
    low: float | None
    high: float | None
    source: str | None
    # For check/_reference_range.py, computed once: the length a tolerance is a fraction of
    # (the width; the bound itself when one-sided), and the float slack added to it.
    span: float = field(init=False, compare=False)
    slack: float = field(init=False, compare=False)

    def __post_init__(self) -> None:
        low, high = self.low, self.high
        if low is not None and high is not None:
            span = high - low
        else:
            bound = low if low is not None else high
            span = abs(bound or 0.0)
        object.__setattr__(self, "span", span)
        object.__setattr__(self, "slack", 1e-9 * max(abs(low or 0.0), abs(high or 0.0), 1.0))

    def applies(self, sex: str | None, age: int | None) -> bool | None:
        """True/False, or None when the patient data needed to decide is missing."""
        if self.sex is not None:
            if sex not in ("male", "female"):
                return None
            if sex != self.sex:
                return False
        if self.age_min is not None or self.age_max is not None:
            if age is None:
                return None
            if self.age_min is not None and age < self.age_min:
                return False
            if self.age_max is not None and age >= self.age_max:
                return False
        return True


@dataclass(slots=True, eq=False)
class CTest:
    code: str
    name_en: str
    name_zh: str
    category: str | None
    specimens: frozenset[str]
    specimen_text: str
    methods: frozenset[str]
    method_text: str
    qualitative: bool
    unit: str
    molar_mass: float | None
    equation: Literal["hba1c_ngsp_ifcc"] | None
    accepted_units: tuple[str, ...]  # non-empty: only these (the rule set's ``units:``)
    normal_values: frozenset[str]
    abnormal_values: frozenset[str]
    ranges: tuple[CRange, ...]
    critical_low: float | None
    critical_high: float | None
    price: Decimal
    policy: Policy
    # Outside these (canonical unit) a value is a measurement or transcription error.
    plausible_low: float | None = None
    plausible_high: float | None = None
    plausible_source: str | None = None
    conversions: dict[str, Conversion] = field(default_factory=dict)
    refusals: dict[str, UnitError] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # local_range's answer per (sex, age): asked once per test in every case that has priors
    _local_ranges: dict[tuple[str | None, int | None], CRange | Literal[False] | None] = field(
        default_factory=dict
    )
    # The check plan (decide/_item.py): which value checks can ever find something for
    # this test, so a candidate is not handed to a check that has nothing to look at.
    #: a critical limit is declared (numeric tests)
    checks_critical: bool = field(init=False, default=True, repr=False)
    #: abnormal texts are declared (qualitative tests)
    checks_abnormal_text: bool = field(init=False, default=True, repr=False)

    def __post_init__(self) -> None:
        self.checks_critical = not self.qualitative and (
            self.critical_low is not None or self.critical_high is not None
        )
        self.checks_abnormal_text = self.qualitative and bool(self.abnormal_values)

    def convert(self, unit: str) -> Conversion | UnitError:
        """The conversion from a result's unit to this test's unit (memoised per spelling).

        The memo only saves work: what it returns for a spelling never depends on which
        spellings earlier cases used.
        """
        found: Conversion | UnitError | None = self.conversions.get(unit)
        if found is not None:
            return found
        refused = self.refusals.get(unit)
        if refused is not None:
            return refused
        normalised = normalise_unit(unit)
        found = self.conversions.get(normalised)
        if found is None:
            if self.accepted_units:
                found = UnitError("unit_incompatible", "not_accepted")
            else:
                try:
                    found = conversion(
                        normalised, self.unit, molar_mass=self.molar_mass, equation=self.equation
                    )
                except UnitError as exc:
                    # Kept in a memo: without its traceback it holds no frames, so it
                    # cannot keep the case that first met this unit alive.
                    found = exc.with_traceback(None)
        with self._lock:
            if len(self.conversions) + len(self.refusals) < _MEMO_LIMIT:
                if isinstance(found, UnitError):
                    self.refusals[unit] = found
                else:
                    self.conversions[unit] = found
        return found

    def local_range(self, sex: str | None, age: int | None) -> CRange | Literal[False] | None:
        """The first matching interval; None if none applies, False if undecidable.

        Memoised per (sex, age): a pure function of them, and patients share them. Any sex
        but male and female decides exactly as None does (see ``CRange.applies``).
        """
        if sex != "male" and sex != "female":
            sex = None
        key = (sex, age)
        memo = self._local_ranges
        try:
            return memo[key]
        except KeyError:
            pass
        found: CRange | Literal[False] | None = None
        undecidable = False
        for candidate in self.ranges:
            applies = candidate.applies(sex, age)
            if applies:
                found = candidate
                break
            if applies is None:
                undecidable = True
        else:
            found = False if undecidable else None
        if len(memo) < _MEMO_LIMIT:
            memo[key] = found
        return found

    def name(self, lang: Lang) -> str:
        return pick(lang, self.name_en, self.name_zh)


@dataclass(frozen=True, slots=True)
class CPanel:
    code: str
    name_en: str
    name_zh: str
    components: tuple[str, ...]
    price: Decimal
    partial: bool

    def name(self, lang: Lang) -> str:
        return pick(lang, self.name_en, self.name_zh)


@dataclass(frozen=True, slots=True)
class CInstitution:
    id: str
    level: int | None
    region: str | None
    passed: frozenset[str]
    passed_all: bool
    withdrawn: frozenset[str]
    valid_until: date | None


@dataclass(frozen=True, slots=True)
class CException:
    flag: str
    name_en: str
    name_zh: str
    targets: frozenset[str] | None
    source: str | None

    def name(self, lang: Lang) -> str:
        return pick(lang, self.name_en, self.name_zh)


@dataclass(frozen=True, slots=True)
class CCondition:
    id: str
    settings: frozenset[str]
    flags_any: frozenset[str]
    flags_all: frozenset[str]
    flags_none: frozenset[str]
    sex: str | None
    age_min: int | None
    age_max: int | None
    institutions: frozenset[str]
    levels: frozenset[int]
    regions: tuple[str, ...]
    targets: frozenset[str] | None
    override: Override
    source: str | None


@dataclass(frozen=True, slots=True)
class RecognitionPolicy:
    min_level: int | None
    same_or_higher: bool
    regions: tuple[str, ...]
    mark_required: bool
    mark_scopes: dict[str, str]
    quality_required: bool
    require_authorization: bool
    reject_unlisted: bool

    def mark_scope(self, mark: str) -> str | None:
        """The scope a printed mark covers, or None for a mark the rule set does not know."""
        return self.mark_scopes.get(mark_key(mark))


def mark_key(mark: str) -> str:
    """Marks are printed as 全国HR, 【全国HR】 or [全国HR]; compare them bare."""
    return mark.strip().strip("【】[]（）() ").strip()


@dataclass(frozen=True, slots=True)
class CompiledRules:
    id: str
    version: str
    digest: str
    currency: str
    quantum: Decimal
    timezone: tzinfo | None
    language: Literal["zh", "en"]
    tests: dict[str, CTest]
    panels: dict[str, CPanel]
    # normalised code or alias -> catalogue code; lookups normalise (compile/_codes.py)
    order_codes: CodeTable
    result_codes: CodeTable
    loinc: dict[str, str]
    patterns: tuple[tuple[re.Pattern[str], str], ...]
    recognition: RecognitionPolicy
    exceptions: dict[str, CException]
    flags: frozenset[str]
    institutions: dict[str, CInstitution]
    conditions: tuple[CCondition, ...]
    files: tuple[str, ...] = ()
    # LOINC code -> (its SYSTEM axis, the specimen names that system means): the specimen
    # of a result that names none (rule file ``loinc_systems``)
    loinc_specimens: dict[str, tuple[str, frozenset[str]]] = field(default_factory=dict)
    # Memos (below): caches only, so left out of == and repr
    _pattern_memo: dict[str, tuple[str, ...]] = field(
        default_factory=dict, compare=False, repr=False
    )
    # check/_facts.py's policies per (test, the conditions applying to it, by identity: the
    # conditions above, which live as long as this rule set)
    policy_memo: dict[tuple[str, tuple[int, ...]], Policy] = field(
        default_factory=dict, compare=False, repr=False
    )
    # check/_facts.py's matched conditions per (flags, setting, institution, sex, age band,
    # level, region): cases alike in all a condition looks at match alike
    condition_memo: dict[tuple[object, ...], tuple[Any, Any]] = field(
        default_factory=dict, compare=False, repr=False
    )
    # The ages at which some condition's age clause changes its answer: the age bands above
    age_bounds: tuple[int, ...] = field(init=False, default=())
    # check/_institution.py's findings: per ordering side (region, level, language), then per
    # (lab, claims, mark, test, registry expiry)
    institution_memo: dict[tuple[object, ...], dict[tuple[object, ...], tuple[Any, ...]]] = field(
        default_factory=dict, compare=False, repr=False
    )

    # check/_identity.py's reading of a result's (code, LOINC): the same pair names the same
    # test(s) in every case, so each pair is resolved once per rule set
    identity_memo: dict[tuple[str | None, str | None], tuple[str, Any]] = field(
        default_factory=dict, compare=False, repr=False
    )

    # Whether check/_institution.py can find anything at all under this rule set: without
    # a registry, level, region, mark or quality rule it has nothing to judge (the plan).
    checks_institution: bool = field(init=False, default=True, compare=False, repr=False)

    def __post_init__(self) -> None:
        bounds = {b for c in self.conditions for b in (c.age_min, c.age_max) if b is not None}
        object.__setattr__(self, "age_bounds", tuple(sorted(bounds)))
        rec = self.recognition
        checks = bool(
            self.institutions
            or rec.min_level is not None
            or rec.same_or_higher
            or "*" not in rec.regions
            or rec.mark_required
            or rec.mark_scopes
            or rec.quality_required
        )
        object.__setattr__(self, "checks_institution", checks)

    def resolve_result_code(self, code: str) -> tuple[str, ...]:
        """Catalogue codes a result's local code names: exact first, then patterns; both
        on the normalised code (NFKC, trimmed), and nothing for an invisible character."""
        exact = self.result_codes.get(code)
        if exact is not None:
            return (exact,)
        if not self.patterns:
            return ()
        found = self._pattern_memo.get(code)
        if found is None:
            norm = normalise_code(code)
            found = (
                ()
                if norm is None
                else tuple(sorted({test for rx, test in self.patterns if rx.fullmatch(norm)}))
            )
            if len(self._pattern_memo) < _MEMO_LIMIT:
                self._pattern_memo[code] = found
        return found
