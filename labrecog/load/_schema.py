"""The rule-file format as pydantic models: the single source of truth for validation,
the JSON Schema editors use, and the shape the compiler reads.

Anything a rule author can write is declared here and in load/_schema_tests.py (the
catalogue) and load/_schema_values.py (the value types); unknown keys are errors (with a
"did you mean" from the loader), so a misspelt ``max_agee`` never silently does nothing.
The meaning of each key is docs/rules.md.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, Strict, field_validator
from pydantic_core import PydanticCustomError

from labrecog.load._currency import Currency
from labrecog.load._schema_lint import LintSettings, RulePolicy
from labrecog.load._schema_tests import (
    AgeBand,
    Category,
    Defaults,
    Delta,
    LocalRange,
    Panel,
    Plausible,
    Policy,
    TestDef,
)
from labrecog.load._schema_values import (
    Code,
    Loinc,
    Names,
    RegionCode,
    RuleModel,
    Source,
    Sourced,
    Text,
    code_str,
    parse_duration,
)

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
    "Names",
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


class ExceptionDef(RuleModel):
    """An order flag that forces a re-test (reason ``exception``), with its display names."""

    zh: Text = Field(description="display name in Chinese")
    en: Text = Field(description="display name in English")
    tests: tuple[Code, ...] = Field(
        default=(),
        description="tests it forces to re-test; with categories also absent: every test",
    )
    categories: tuple[Code, ...] = Field(
        default=(), description="categories whose tests it forces to re-test"
    )
    source: Source | None = Field(default=None, description="where the exception comes from")


class FlagDef(RuleModel):
    """An order flag that conditions may test; it forces nothing itself."""

    zh: Text | None = Field(default=None, description="display name in Chinese")
    en: Text | None = Field(default=None, description="display name in English")


ScopeTarget = Annotated[str, BeforeValidator(code_str), Strict()]


class MarkPolicy(RuleModel):
    """Whether a recognition mark is required, and what each mark covers."""

    required: Annotated[bool, Strict()] = Field(
        default=False, description="results must carry a recognition mark"
    )
    scopes: dict[Text, ScopeTarget] = Field(
        default={},
        description="mark → the ordering institutions it covers: '*', same_province, same_city or "
        "a region-code prefix",
    )

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


RegionScope = Annotated[str, BeforeValidator(code_str), Strict()]


class Recognition(RuleModel):
    """Which performing institutions and results count, and the patient's authorisation."""

    min_institution_level: Annotated[int, Strict(), Field(ge=1, le=3)] | None = Field(
        default=None, description="minimum level (1 to 3) of the performing institution"
    )
    level_rule: Literal["any", "same_or_higher"] = Field(
        default="any",
        description="same_or_higher: the performing lab's level must also be at least the "
        "ordering institution's",
    )
    regions: tuple[RegionScope, ...] = Field(
        default=("*",),
        description="where performing labs may be: region-code prefixes, same_province, same_city "
        "or '*'",
    )
    mark: MarkPolicy = Field(
        default=MarkPolicy(),
        description="the recognition mark a result must carry, and what each mark covers",
    )
    quality_assessment: Literal["required", "not_required"] = Field(
        default="required",
        description="required: a passed quality assessment must be shown (a valid mark, or the "
        "registry's quality.passed)",
    )
    require_authorization: Annotated[bool, Strict()] = Field(
        default=True,
        description="no prior result is used without a patient authorisation that holds for the "
        "order; false: it is not consulted",
    )
    unlisted_institutions: Literal["reject", "use_claims"] = Field(
        default="reject",
        description="with a registry: reject labs not in it, or use_claims (trust the result's "
        "own level and region)",
    )

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


class Quality(RuleModel):
    """A laboratory's quality-assessment findings, per test code."""

    passed: tuple[QualityCode, ...] = Field(
        default=(), description="test codes the lab passed quality assessment for ('*': every test)"
    )
    withdrawn: tuple[Code, ...] = Field(
        default=(), description="test codes never recognised from this lab, even with a mark"
    )
    source: Source | None = Field(default=None, description="where the findings come from")


class InstitutionEntry(RuleModel):
    """A laboratory in the registry: authoritative over what its results claim."""

    id: Text = Field(description="the institution's id, as cases name it")
    name: Names | None = Field(default=None, description="display names")
    level: Annotated[int, Strict(), Field(ge=1, le=3)] | None = Field(
        default=None, description="level 1 to 3; replaces what a result claims"
    )
    region: RegionCode | None = Field(
        default=None, description="region code (2 to 6 digits); replaces what a result claims"
    )
    quality: Quality = Field(
        default=Quality(), description="quality-assessment findings for this lab"
    )
    valid_until: date | None = Field(
        default=None, description="after this date nothing from this lab is recognised"
    )
    source: Source | None = Field(default=None, description="where the entry comes from")


class FlagMatch(RuleModel):
    """A test over the order's flags: any, all and none must each hold."""

    any: tuple[Code, ...] = Field(default=(), description="at least one of these flags is set")
    all: tuple[Code, ...] = Field(default=(), description="every one of these flags is set")
    none: tuple[Code, ...] = Field(default=(), description="none of these flags is set")


def _listify(value: Any) -> Any:
    return [value] if isinstance(value, str | int) and not isinstance(value, bool) else value


def _flag_match(value: Any) -> Any:
    if isinstance(value, list | tuple | str):
        return {"any": _listify(value)}
    return value


class When(RuleModel):
    """Declarative conditions, all of which must hold; no expressions, nothing evaluated."""

    setting: Annotated[
        tuple[Literal["outpatient", "inpatient", "emergency", "checkup"], ...],
        BeforeValidator(_listify),
    ] = Field(default=(), description="order settings it applies to (one or a list)")
    flags: Annotated[FlagMatch, BeforeValidator(_flag_match)] | None = Field(
        default=None, description="the order's flags: a list (any of them) or {any, all, none}"
    )
    sex: Literal["male", "female"] | None = Field(default=None, description="the patient's sex")
    age: AgeBand | None = Field(
        default=None, description="the patient's age band (completed years at the order)"
    )
    institution: Annotated[tuple[Text, ...], BeforeValidator(_listify)] = Field(
        default=(), description="ordering institution ids"
    )
    institution_level: Annotated[tuple[int, ...], BeforeValidator(_listify)] = Field(
        default=(), description="ordering institution levels"
    )
    region: Annotated[tuple[RegionCode, ...], BeforeValidator(_listify)] = Field(
        default=(), description="prefixes of the ordering institution's region code"
    )


class Settings(Policy):
    """What a matching condition sets: policy keys, or an exception to force."""

    exception: Code | None = Field(
        default=None, description="force a re-test of the targeted tests with this exception"
    )


class Condition(RuleModel):
    """A conditional rule: when its clauses hold, it sets policy for its tests."""

    id: Code = Field(description="the condition's id, shown in explanations")
    description: Text | None = Field(
        default=None, description="what the condition is for, in words"
    )
    when: When = Field(description="clauses that must all hold")
    tests: tuple[Code, ...] = Field(default=(), description="tests it applies to")
    categories: tuple[Code, ...] = Field(
        default=(), description="categories it applies to; with tests also absent: every test"
    )
    set: Settings = Field(description="the policy keys it sets (and an exception it forces)")
    source: Source | None = Field(default=None, description="where the rule comes from")


#: LOINC's SYSTEM axis values a result's specimen may be read from (see compile/_safety.py).
LoincSystem = Literal["Ser", "Plas", "Ser/Plas", "Bld", "Ser/Plas/Bld", "Urine", "BldV", "BldA",
                      "BldC", "PPP"]  # fmt: skip


class RuleFile(RuleModel):
    """One rule file; a folder's files are merged key by key before validation."""

    id: Code = Field(description="rule-set id, recorded in every decision")
    version: Annotated[str, BeforeValidator(code_str), Strict(), Field(min_length=1)] = Field(
        description="rule-set version, recorded in every decision (quote it: '2025.1')"
    )
    name: Names | None = Field(default=None, description="display names")
    description: Text | None = Field(default=None, description="what the rule set is, in words")
    effective_from: date | None = Field(
        default=None, description="first day the rules apply (informational)"
    )
    currency: Currency = Field(
        default="CNY", description="ISO 4217 code of prices and savings (default CNY)"
    )
    timezone: Text | None = Field(
        default=None,
        description="IANA zone for case timestamps written without UTC offset; absent: such "
        "timestamps are input errors",
    )
    language: Literal["zh", "en"] = Field(
        default="en", description="default language of reason messages"
    )
    defaults: Defaults = Field(default=Defaults(), description="the base policy of every test")
    recognition: Recognition = Field(
        default=Recognition(), description="which institutions and results count"
    )
    exceptions: dict[Code, ExceptionDef] = Field(
        default={}, description="order flags that force a re-test, with display names"
    )
    flags: dict[Code, FlagDef] = Field(
        default={}, description="other order flags that conditions may test"
    )
    specimens: dict[Text, tuple[Text, ...]] = Field(
        default={}, description="other spellings of specimen names (serum: [血清])"
    )
    # The specimen a LOINC code names (its SYSTEM axis), for results that give none.
    loinc_systems: dict[Loinc, LoincSystem] = Field(
        default={},
        description="LOINC code → its SYSTEM axis: the specimen of a result that states none",
    )
    categories: dict[Code, Category] = Field(
        default={}, description="named groups of tests with their own policy"
    )
    tests: tuple[TestDef, ...] = Field(
        default=(), description="the catalogue of single tests (at least one)"
    )
    panels: tuple[Panel, ...] = Field(default=(), description="priced bundles of tests")
    institutions: tuple[InstitutionEntry, ...] = Field(
        default=(), description="the institution registry: authoritative over what results claim"
    )
    conditions: tuple[Condition, ...] = Field(
        default=(), description="conditional rules, applied in file order (a later match wins)"
    )
    policy: RulePolicy = Field(
        default=RulePolicy(), description="limits the rule set keeps, checked by lint"
    )
    lint: LintSettings = Field(
        default=LintSettings(), description="lint findings accepted, each with its reason"
    )
