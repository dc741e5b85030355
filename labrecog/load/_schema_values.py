"""The value types rule files are written in: codes, durations, money, units, values with
their provenance. Shared by the rule-format models (load/_schema.py, load/_schema_tests.py).
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BeforeValidator, Field, Strict
from pydantic_core import PydanticCustomError

from labrecog.model import DocumentedModel, list_fields

__all__ = [
    "Alias",
    "Code",
    "Loinc",
    "MolarMass",
    "Names",
    "Positive",
    "PriorPolicy",
    "RegionCode",
    "RuleModel",
    "Source",
    "Sourced",
    "SourcedDuration",
    "SourcedFraction",
    "SourcedMoney",
    "Text",
    "code_str",
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


class RuleModel(DocumentedModel):
    """Base of every rule-format model: unknown keys are errors, values are not coerced."""


Text = Annotated[str, Strict(), Field(min_length=1)]
Code = Annotated[str, Strict(), Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")]
Source = Annotated[str, Strict(), Field(min_length=1, max_length=500)]
# Other names a hospital orders or reports a test by: local HIS codes, Chinese names
# (糖化血红蛋白). Any text; the compiler normalises (NFKC, trimmed) and refuses invisible
# characters and collisions (compile/_codes.py).
Alias = Annotated[str, Strict(), Field(min_length=1, max_length=64)]


def code_str(value: Any) -> Any:
    # Region codes written without quotes arrive as ints.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


RegionCode = Annotated[str, BeforeValidator(code_str), Strict(), Field(pattern=r"^[0-9]{2,6}$")]
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


_SOURCED = "A value with its provenance: written bare (``7d``) or as ``{value: 7d, source: ...}``."


class Sourced(RuleModel, Generic[T]):
    __doc__ = _SOURCED

    value: T = Field(description="the value itself")
    source: Source | None = Field(
        default=None,
        description="where the value comes from (a guideline, a committee decision), shown in "
        "explanations",
    )


SourcedDuration = Annotated[Sourced[Duration], BeforeValidator(_sourced)]
SourcedMoney = Annotated[Sourced[Money], BeforeValidator(_sourced)]
SourcedFraction = Annotated[Sourced[Fraction], BeforeValidator(_sourced)]
# A parametrised model is a class of its own, without the generic's docstring: the JSON
# Schema would show each one undescribed.
for _kind in (Sourced[Duration], Sourced[Money], Sourced[Fraction]):
    _kind.__doc__ = _SOURCED
    list_fields(_kind)


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


class Names(RuleModel):
    """Display names in Chinese and English."""

    zh: Text | None = Field(default=None, description="the name in Chinese")
    en: Text | None = Field(default=None, description="the name in English")


PriorPolicy = Literal["allow", "reject"]
Positive = Annotated[float, Strict(), Field(gt=0, lt=1e12)]
