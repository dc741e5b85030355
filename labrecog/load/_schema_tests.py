"""The catalogue in the rule format: policies, tests with their units and intervals, panels
and categories. The meaning of each key is docs/rules.md ("tests", "panels", "Policy keys").
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, Strict, model_validator
from pydantic_core import PydanticCustomError

from labrecog.load._schema_values import (
    Alias,
    Code,
    Loinc,
    MolarMass,
    Names,
    Positive,
    PriorPolicy,
    RuleModel,
    Source,
    SourcedDuration,
    SourcedFraction,
    SourcedMoney,
    Text,
)

__all__ = [
    "AgeBand",
    "Category",
    "Critical",
    "Defaults",
    "Delta",
    "LocalRange",
    "Panel",
    "Plausible",
    "Policy",
    "QualitativeValues",
    "TestDef",
]


class Delta(RuleModel):
    """How far a newer result may differ from the one a waiver rests on (a delta check).

    ``absolute`` is in the test's canonical unit, so only a test may set it; ``relative`` is
    a fraction of the value used. Exceeding either limit given is a conflict.
    """

    absolute: Positive | None = Field(
        default=None,
        description="largest allowed difference, in the test's canonical unit (tests only)",
    )
    relative: Annotated[float, Strict(), Field(gt=0, le=10)] | None = Field(
        default=None,
        description="largest allowed difference as a fraction of the value used (above 0, at most "
        "10)",
    )
    source: Source | None = Field(default=None, description="where the limit comes from")

    @model_validator(mode="after")
    def _some(self) -> Delta:
        if self.absolute is None and self.relative is None:
            raise PydanticCustomError("delta", "a delta limit needs absolute, relative or both")
        return self


class Policy(RuleModel):
    """The knobs that defaults, categories, tests and conditions can each set."""

    max_age: SourcedDuration | None = Field(
        default=None,
        description="maximum age of a recognisable result, ordered_at − collected_at (12h, 7d, "
        "2w; bare or {value, source}); built-in default 7d",
    )
    reference_range_tolerance: SourcedFraction | None = Field(
        default=None,
        description="how far each bound of the result's interval may be from the local one, as a "
        "fraction (0 to 1) of the local interval's width; built-in default 0.10",
    )
    reference_range_required: Annotated[bool, Strict()] | None = Field(
        default=None,
        description="a result without a reference interval is not recognised; built-in default "
        "true",
    )
    abnormal_prior: PriorPolicy | None = Field(
        default=None,
        description="reject: a value outside the local interval is not recognised; built-in "
        "default allow",
    )
    critical_prior: PriorPolicy | None = Field(
        default=None,
        description="reject: a value at or beyond a critical limit is not recognised; built-in "
        "default reject",
    )
    recognisable: Annotated[bool, Strict()] | None = Field(
        default=None,
        description="false: the test is never waived (not_recognisable); built-in default true",
    )
    delta: Delta | None = Field(
        default=None, description="the delta-check limit a newer result of the test is held to"
    )


class Defaults(Policy):
    """The base policy of every test, under the built-in defaults."""

    pass


class AgeBand(RuleModel):
    """Completed years at the order time; ``min`` inclusive, ``max`` exclusive."""

    min: Annotated[int, Strict(), Field(ge=0, le=150)] | None = Field(
        default=None, description="lowest age included, in completed years"
    )
    max: Annotated[int, Strict(), Field(ge=0, le=150)] | None = Field(
        default=None, description="first age excluded, in completed years"
    )

    @model_validator(mode="after")
    def _ordered(self) -> AgeBand:
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise PydanticCustomError("age_band", "age band min must be below max")
        return self


class LocalRange(RuleModel):
    """One local reference interval, for a sex and age band or for everyone."""

    sex: Literal["male", "female"] | None = Field(
        default=None, description="the interval is for this sex only; absent: both"
    )
    age: AgeBand | None = Field(
        default=None, description="the interval is for this age band only; absent: all ages"
    )
    low: Annotated[float, Strict()] | None = Field(
        default=None, description="lower bound, in the test's canonical unit"
    )
    high: Annotated[float, Strict()] | None = Field(
        default=None, description="upper bound, in the test's canonical unit"
    )
    source: Source | None = Field(default=None, description="where the interval comes from")

    @model_validator(mode="after")
    def _bounds(self) -> LocalRange:
        if self.low is None and self.high is None:
            raise PydanticCustomError("range", "a reference range needs low, high or both")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise PydanticCustomError("range", "reference range low is above high")
        return self


def _ranges(value: Any) -> Any:
    return [value] if isinstance(value, dict) else value


class Critical(RuleModel):
    """Critical limits in the test's unit: a value at or beyond one is critical."""

    low: Annotated[float, Strict()] | None = Field(
        default=None,
        description="critical low limit, canonical unit: a value at or below it is critical",
    )
    high: Annotated[float, Strict()] | None = Field(
        default=None,
        description="critical high limit, canonical unit: a value at or above it is critical",
    )
    source: Source | None = Field(default=None, description="where the limits come from")


class Plausible(RuleModel):
    """The values a living patient's result can take, in the test's unit; outside is a
    measurement or transcription error, never a result to rely on."""

    low: Annotated[float, Strict()] | None = Field(
        default=None,
        description="lowest value a living patient's result can take, canonical unit (absent: 0)",
    )
    high: Annotated[float, Strict()] | None = Field(
        default=None, description="highest value a living patient's result can take, canonical unit"
    )
    source: Source | None = Field(default=None, description="where the limits come from")

    @model_validator(mode="after")
    def _bounds(self) -> Plausible:
        if self.low is None and self.high is None:
            raise PydanticCustomError("plausible", "plausible limits need low, high or both")
        if self.low is not None and self.high is not None and self.low >= self.high:
            raise PydanticCustomError("plausible", "plausible low must be below high")
        return self


class QualitativeValues(RuleModel):
    """The result texts a qualitative test reads as normal and as abnormal."""

    normal: tuple[Text, ...] = Field(
        default=(), description="result texts read as normal (case-insensitive)"
    )
    abnormal: tuple[Text, ...] = Field(
        default=(), description="result texts read as abnormal (case-insensitive)"
    )


class TestDef(Policy):
    """One test of the catalogue: how results name it, their unit, its intervals, its price."""

    code: Code = Field(description="catalogue code: letters, digits, _ . - (up to 64)")
    name: Names | None = Field(default=None, description="display names")
    category: Code | None = Field(
        default=None, description="the category whose policy the test takes"
    )
    loinc: tuple[Loinc, ...] = Field(
        default=(), description="LOINC codes that identify this test in results"
    )
    aliases: tuple[Alias, ...] = Field(
        default=(),
        description="other codes orders and results use (local HIS codes, Chinese names), matched "
        "exactly after Unicode NFKC and trimming",
    )
    code_patterns: tuple[Text, ...] = Field(
        default=(), description="regular expressions (full match) for local result codes"
    )
    specimen: tuple[Text, ...] = Field(
        default=(), description="accepted specimen types: a result must state one of them"
    )
    units: tuple[Text, ...] = Field(
        default=(),
        description="if given, the only result units accepted; absent: any unit that converts",
    )
    methods: tuple[Text, ...] = Field(
        default=(), description="accepted methods: when given, a result must state one of them"
    )
    scale: Literal["quantitative", "qualitative"] = Field(
        default="quantitative",
        description="quantitative (a number with a unit) or qualitative (a text)",
    )
    unit: Text | None = Field(
        default=None,
        description="canonical unit (UCUM): values and intervals are converted into it; required "
        "for quantitative tests",
    )
    molar_mass: MolarMass | None = Field(
        default=None,
        description="g/mol (180.16, or '180.16 g/mol'): converts mass and substance concentrations",
    )
    equation: Literal["hba1c_ngsp_ifcc"] | None = Field(
        default=None,
        description="hba1c_ngsp_ifcc: NGSP % and IFCC mmol/mol converted by the master equation",
    )
    values: QualitativeValues | None = Field(
        default=None, description="qualitative tests: the normal and abnormal result texts"
    )
    reference_range: Annotated[tuple[LocalRange, ...], BeforeValidator(_ranges)] = Field(
        default=(),
        description="the local interval, or a list of intervals by sex and age band (the first "
        "that matches the patient applies)",
    )
    critical: Critical | None = Field(default=None, description="critical limits, canonical unit")
    plausible: Plausible | None = Field(
        default=None,
        description="the values a living patient's result can take, canonical unit; outside: "
        "implausible_value",
    )
    # Report spellings this test reads as a UCUM unit (IU/L as U/L for an enzyme): per test,
    # because IU is the arbitrary [IU] for hormones.
    unit_aliases: dict[Text, Text] = Field(
        default={},
        description="report spellings read as the given UCUM unit for this test only ({'IU/L': "
        "'U/L'})",
    )
    price: SourcedMoney = Field(
        description="price in the rule set's currency: a quoted decimal string ('5.00'), bare or "
        "{value, source}"
    )
    source: Source | None = Field(default=None, description="where the test's entry comes from")

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


class Panel(RuleModel):
    """A priced bundle of tests (组合项目), decided component by component."""

    code: Code = Field(description="catalogue code of the panel")
    name: Names | None = Field(default=None, description="display names")
    loinc: tuple[Loinc, ...] = Field(default=(), description="LOINC codes that identify the panel")
    aliases: tuple[Alias, ...] = Field(default=(), description="other codes orders use for it")
    components: tuple[Code, ...] = Field(
        min_length=1, description="the tests or other panels it bundles (no cycles)"
    )
    price: SourcedMoney = Field(
        description="price of the whole panel in the rule set's currency ('60.00')"
    )
    partial: Literal["allowed", "not_allowed"] = Field(
        default="allowed",
        description="allowed: recognised components are dropped and the rest ordered (status "
        "partial); not_allowed: re-tested whole",
    )
    source: Source | None = Field(default=None, description="where the panel's entry comes from")


class Category(Policy):
    """A named group of tests with its own policy."""

    name: Names | None = Field(default=None, description="display names")
