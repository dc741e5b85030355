"""The rule-file format as pydantic models: the single source of truth for validation,
the JSON Schema editors use, and the shape the compiler reads.

Anything a rule author can write is declared here; unknown keys are errors (with a
"did you mean" from the loader), so a misspelt ``max_agee`` never silently does nothing.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from labrecog.load._currency import Currency

__all__ = [
    "AgeBand",
    "Category",
    "Condition",
    "Defaults",
    "Delta",
    "ExceptionDef",
    "InstitutionEntry",
    "LocalRange",
    "LoincSystem",
    "MarkPolicy",
    "Panel",
    "Plausible",
    "Policy",
    "Quality",
    "Recognition",
    "RuleFile",
    "Settings",
    "Sourced",
    "TestDef",
    "When",
    "parse_duration",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([hdw])\s*$")
_UNITS = {"h": 1.0, "d": 24.0, "w": 168.0}  # hours in each unit
_MAX_DURATION = timedelta(days=36525)  # 100 years


def parse_duration(text: object) -> timedelta:
    """Durations use h, d, w only: a month is 28 to 31 days, so it is refused, not guessed."""
    if not isinstance(text, str):
        raise PydanticCustomError("duration", "a duration is a string such as 12h, 7d or 2w")
    match = _DURATION.match(text)
    if match is None:
        hint = ""
        if re.search(r"(mo|m|month|months|y|year|years)\s*$", text.strip(), re.I):
            hint = " (months and years are ambiguous: write days or weeks, e.g. 90d)"
        raise PydanticCustomError(
            "duration",
            "bad duration '{text}': use a number with h, d or w{hint}",
            {"text": text, "hint": hint},
        )
    # Bounded before it becomes a timedelta: 999999999999d overflows one (OverflowError), and
    # no recognition window or retest interval is longer than a lifetime.
    hours = float(match.group(1)) * _UNITS[match.group(2)]
    if hours > _MAX_DURATION / timedelta(hours=1):
        raise PydanticCustomError(
            "duration",
            "duration '{text}' is longer than 100 years ({days}d)",
            {"text": text, "days": _MAX_DURATION.days},
        )
    value = timedelta(hours=hours)
    if value <= timedelta(0):
        raise PydanticCustomError("duration", "a duration must be positive")
    return value


def _sourced(value: Any) -> Any:
    """Any value may be written bare or as ``{value: ..., source: ...}``."""
    if isinstance(value, dict) and "value" in value:
        return value
    return {"value": value}


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


Text = Annotated[str, Strict(), Field(min_length=1)]
Code = Annotated[str, Strict(), Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")]
Source = Annotated[str, Strict(), Field(min_length=1, max_length=500)]
# Other names a hospital orders or reports a test by: local HIS codes, Chinese names
# (糖化血红蛋白). Any text; the compiler normalises (NFKC, trimmed) and refuses invisible
# characters and collisions (compile/_codes.py).
Alias = Annotated[str, Strict(), Field(min_length=1, max_length=64)]


def _code_str(value: Any) -> Any:
    # Region codes written without quotes arrive as ints.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


RegionCode = Annotated[str, BeforeValidator(_code_str), Strict(), Field(pattern=r"^[0-9]{2,6}$")]
Loinc = Annotated[str, Strict(), Field(pattern=r"^[0-9]{1,7}-[0-9]$")]


def _money(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise PydanticCustomError("money", 'write prices as quoted decimal strings, e.g. "5.00"')
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise PydanticCustomError("money", "not a decimal amount: '{v}'", {"v": value}) from exc
    if not amount.is_finite():
        raise PydanticCustomError("money", "a price must be a finite amount")
    if amount < 0:
        raise PydanticCustomError("money", "a price cannot be negative")
    if amount.adjusted() >= 12:
        raise PydanticCustomError("money", "a price of 10^12 or more is not plausible")
    return amount


Money = Annotated[Decimal, BeforeValidator(_money)]
Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Fraction = Annotated[float, Strict(), Field(ge=0, le=1)]


T = TypeVar("T")


class Sourced(_Rule, Generic[T]):
    value: T
    source: Source | None = None


SourcedDuration = Annotated[Sourced[Duration], BeforeValidator(_sourced)]
SourcedMoney = Annotated[Sourced[Money], BeforeValidator(_sourced)]
SourcedFraction = Annotated[Sourced[Fraction], BeforeValidator(_sourced)]


def _molar_mass(value: Any) -> Any:
    if isinstance(value, str):
        match = re.match(r"^\s*(\d+(?:\.\d+)?)\s*g/mol\s*$", value)
        if match is None:
            raise PydanticCustomError(
                "molar_mass", "molar mass is a number of g/mol, e.g. 180.16 g/mol"
            )
        return float(match.group(1))
    return value


MolarMass = Annotated[float, BeforeValidator(_molar_mass), Strict(), Field(gt=0, lt=1e7)]


class Names(_Rule):
    zh: Text | None = None
    en: Text | None = None


PriorPolicy = Literal["allow", "reject"]
Positive = Annotated[float, Strict(), Field(gt=0, lt=1e12)]


class Delta(_Rule):
    """How far a newer result may differ from the one a waiver rests on (a delta check).

    ``absolute`` is in the test's canonical unit, so only a test may set it; ``relative`` is
    a fraction of the value used. Exceeding either limit given is a conflict.
    """

    absolute: Positive | None = None
    relative: Annotated[float, Strict(), Field(gt=0, le=10)] | None = None
    source: Source | None = None

    @model_validator(mode="after")
    def _some(self) -> Delta:
        if self.absolute is None and self.relative is None:
            raise PydanticCustomError("delta", "a delta limit needs absolute, relative or both")
        return self


class Policy(_Rule):
    """The knobs that defaults, categories, tests and conditions can each set."""

    max_age: SourcedDuration | None = None
    reference_range_tolerance: SourcedFraction | None = None
    reference_range_required: Annotated[bool, Strict()] | None = None
    abnormal_prior: PriorPolicy | None = None
    critical_prior: PriorPolicy | None = None
    recognisable: Annotated[bool, Strict()] | None = None
    delta: Delta | None = None


class Defaults(Policy):
    pass


class AgeBand(_Rule):
    """Completed years at the order time; ``min`` inclusive, ``max`` exclusive."""

    min: Annotated[int, Strict(), Field(ge=0, le=150)] | None = None
    max: Annotated[int, Strict(), Field(ge=0, le=150)] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> AgeBand:
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise PydanticCustomError("age_band", "age band min must be below max")
        return self


class LocalRange(_Rule):
    sex: Literal["male", "female"] | None = None
    age: AgeBand | None = None
    low: Annotated[float, Strict()] | None = None
    high: Annotated[float, Strict()] | None = None
    source: Source | None = None

    @model_validator(mode="after")
    def _bounds(self) -> LocalRange:
        if self.low is None and self.high is None:
            raise PydanticCustomError("range", "a reference range needs low, high or both")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise PydanticCustomError("range", "reference range low is above high")
        return self


def _ranges(value: Any) -> Any:
    return [value] if isinstance(value, dict) else value


class Critical(_Rule):
    low: Annotated[float, Strict()] | None = None
    high: Annotated[float, Strict()] | None = None
    source: Source | None = None


class Plausible(_Rule):
    """The values a living patient's result can take, in the test's unit; outside is a
    measurement or transcription error, never a result to rely on."""

    low: Annotated[float, Strict()] | None = None
    high: Annotated[float, Strict()] | None = None
    source: Source | None = None

    @model_validator(mode="after")
    def _bounds(self) -> Plausible:
        if self.low is None and self.high is None:
            raise PydanticCustomError("plausible", "plausible limits need low, high or both")
        if self.low is not None and self.high is not None and self.low >= self.high:
            raise PydanticCustomError("plausible", "plausible low must be below high")
        return self


class QualitativeValues(_Rule):
    normal: tuple[Text, ...] = ()
    abnormal: tuple[Text, ...] = ()


class TestDef(Policy):
    code: Code
    name: Names | None = None
    category: Code | None = None
    loinc: tuple[Loinc, ...] = ()
    aliases: tuple[Alias, ...] = ()
    code_patterns: tuple[Text, ...] = ()
    specimen: tuple[Text, ...] = ()
    units: tuple[Text, ...] = ()
    methods: tuple[Text, ...] = ()
    scale: Literal["quantitative", "qualitative"] = "quantitative"
    unit: Text | None = None
    molar_mass: MolarMass | None = None
    equation: Literal["hba1c_ngsp_ifcc"] | None = None
    values: QualitativeValues | None = None
    reference_range: Annotated[tuple[LocalRange, ...], BeforeValidator(_ranges)] = ()
    critical: Critical | None = None
    plausible: Plausible | None = None
    # Report spellings this test reads as a UCUM unit (IU/L as U/L for an enzyme): per test,
    # because IU is the arbitrary [IU] for hormones.
    unit_aliases: dict[Text, Text] = {}
    price: SourcedMoney
    source: Source | None = None

    @property
    def qualitative_scale(self) -> bool:
        return self.scale == "qualitative"

    @model_validator(mode="after")
    def _scale(self) -> TestDef:
        if self.scale == "quantitative" and self.unit is None:
            raise PydanticCustomError("unit", "a quantitative test needs a canonical unit")
        if self.scale == "qualitative" and self.values is None:
            raise PydanticCustomError(
                "values", "a qualitative test needs values: {normal: [...], abnormal: [...]}"
            )
        return self


class Panel(_Rule):
    code: Code
    name: Names | None = None
    loinc: tuple[Loinc, ...] = ()
    aliases: tuple[Alias, ...] = ()
    components: tuple[Code, ...] = Field(min_length=1)
    price: SourcedMoney
    partial: Literal["allowed", "not_allowed"] = "allowed"
    source: Source | None = None


class Category(Policy):
    name: Names | None = None


class ExceptionDef(_Rule):
    zh: Text
    en: Text
    tests: tuple[Code, ...] = ()
    categories: tuple[Code, ...] = ()
    source: Source | None = None


class FlagDef(_Rule):
    zh: Text | None = None
    en: Text | None = None


ScopeTarget = Annotated[str, BeforeValidator(_code_str), Strict()]


class MarkPolicy(_Rule):
    required: Annotated[bool, Strict()] = False
    scopes: dict[Text, ScopeTarget] = {}

    @field_validator("scopes")
    @classmethod
    def _targets(cls, scopes: dict[str, str]) -> dict[str, str]:
        for mark, target in scopes.items():
            if target not in ("*", "same_province", "same_city") and not re.fullmatch(
                r"[0-9]{2,6}", target
            ):
                raise PydanticCustomError(
                    "scope",
                    "mark '{mark}': scope is '*', same_province, same_city or a region code",
                    {"mark": mark},
                )
        return scopes


RegionScope = Annotated[str, BeforeValidator(_code_str), Strict()]


class Recognition(_Rule):
    min_institution_level: Annotated[int, Strict(), Field(ge=1, le=3)] | None = None
    level_rule: Literal["any", "same_or_higher"] = "any"
    regions: tuple[RegionScope, ...] = ("*",)
    mark: MarkPolicy = MarkPolicy()
    quality_assessment: Literal["required", "not_required"] = "required"
    require_authorization: Annotated[bool, Strict()] = True
    unlisted_institutions: Literal["reject", "use_claims"] = "reject"

    @field_validator("regions")
    @classmethod
    def _regions(cls, regions: tuple[str, ...]) -> tuple[str, ...]:
        for region in regions:
            if region not in ("*", "same_province", "same_city") and not re.fullmatch(
                r"[0-9]{2,6}", region
            ):
                raise PydanticCustomError(
                    "region",
                    "region '{r}': use '*', same_province, same_city or a code prefix",
                    {"r": region},
                )
        return regions


QualityCode = Annotated[str, Strict(), Field(pattern=r"^(\*|[A-Za-z0-9][A-Za-z0-9_.\-]{0,63})$")]


class Quality(_Rule):
    passed: tuple[QualityCode, ...] = ()
    withdrawn: tuple[Code, ...] = ()
    source: Source | None = None


class InstitutionEntry(_Rule):
    id: Text
    name: Names | None = None
    level: Annotated[int, Strict(), Field(ge=1, le=3)] | None = None
    region: RegionCode | None = None
    quality: Quality = Quality()
    valid_until: date | None = None
    source: Source | None = None


class FlagMatch(_Rule):
    any: tuple[Code, ...] = ()
    all: tuple[Code, ...] = ()
    none: tuple[Code, ...] = ()


def _listify(value: Any) -> Any:
    return [value] if isinstance(value, str | int) and not isinstance(value, bool) else value


def _flag_match(value: Any) -> Any:
    if isinstance(value, list | tuple | str):
        return {"any": _listify(value)}
    return value


class When(_Rule):
    """Declarative conditions, all of which must hold; no expressions, nothing evaluated."""

    setting: Annotated[
        tuple[Literal["outpatient", "inpatient", "emergency", "checkup"], ...],
        BeforeValidator(_listify),
    ] = ()
    flags: Annotated[FlagMatch, BeforeValidator(_flag_match)] | None = None
    sex: Literal["male", "female"] | None = None
    age: AgeBand | None = None
    institution: Annotated[tuple[Text, ...], BeforeValidator(_listify)] = ()
    institution_level: Annotated[tuple[int, ...], BeforeValidator(_listify)] = ()
    region: Annotated[tuple[RegionCode, ...], BeforeValidator(_listify)] = ()


class Settings(Policy):
    exception: Code | None = None


class Condition(_Rule):
    id: Code
    description: Text | None = None
    when: When
    tests: tuple[Code, ...] = ()
    categories: tuple[Code, ...] = ()
    set: Settings
    source: Source | None = None


#: LOINC's SYSTEM axis values a result's specimen may be read from (see compile/_safety.py).
LoincSystem = Literal["Ser", "Plas", "Ser/Plas", "Bld", "Ser/Plas/Bld", "Urine", "BldV", "BldA",
                      "BldC", "PPP"]  # fmt: skip


# -- keys that steer the linter, not decisions (docs/lint.md) --------------------------
#: top-level keys left out of the digest: they change no decision, so adding a cap or a
#: justified ignore does not make past decisions look as if another rule set made them
DIGEST_FREE_KEYS = ("policy", "lint")

_CapKey = Annotated[str, Strict(), Field(pattern=r"^(\*|[A-Za-z0-9][A-Za-z0-9_.\-]{0,63})$")]
# a code or prefix ("P006", "C"), optionally the subject of one finding ("C003 a b")
_LintCode = Annotated[str, Strict(), Field(pattern=r"^[A-Z][0-9]{0,3}( [A-Za-z0-9_.*\-\[\]]+)*$")]
_Why = Annotated[str, Strict(), Field(min_length=10, max_length=500)]


class RulePolicy(_Rule):
    """Limits the rule set must keep, declared by its authors; ``lint`` checks them (P001)."""

    max_age_cap: dict[_CapKey, SourcedDuration] = Field(
        default_factory=dict,
        description="the longest max_age allowed, per category name or '*' for every test "
        "(the national or provincial limit), each with its source",
    )


class LintSettings(_Rule):
    """Findings the rule set's authors have looked at and accept, each with the reason."""

    ignore: dict[_LintCode, _Why] = Field(
        default_factory=dict,
        description="lint code or prefix, or a code and the subject of one finding (its "
        "conditions, tests or key, as `labrecog lint --format json` gives them) -> why "
        "it does not apply to this rule set",
    )


class RuleFile(_Rule):
    """One rule file; a folder's files are merged key by key before validation."""

    id: Code
    version: Annotated[str, BeforeValidator(_code_str), Strict(), Field(min_length=1)]
    name: Names | None = None
    description: Text | None = None
    effective_from: date | None = None
    currency: Currency = "CNY"
    timezone: Text | None = None
    language: Literal["zh", "en"] = "en"
    defaults: Defaults = Defaults()
    recognition: Recognition = Recognition()
    exceptions: dict[Code, ExceptionDef] = {}
    flags: dict[Code, FlagDef] = {}
    specimens: dict[Text, tuple[Text, ...]] = {}
    # The specimen a LOINC code names (its SYSTEM axis), for results that give none.
    loinc_systems: dict[Loinc, LoincSystem] = {}
    categories: dict[Code, Category] = {}
    tests: tuple[TestDef, ...] = ()
    panels: tuple[Panel, ...] = ()
    institutions: tuple[InstitutionEntry, ...] = ()
    conditions: tuple[Condition, ...] = ()
    policy: RulePolicy = RulePolicy()
    lint: LintSettings = LintSettings()
