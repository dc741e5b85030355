"""The value types every part of a case is made of: ids, region codes, timestamps, dates,
``ext``, and the strict base model.

Validation is strict because a coerced value is a guessed value: ``"6.4"`` is not a
number, ``1`` is not ``true``, a timestamp without offset is not a point in time unless
the rule set says which zone it is in (passed as validation context ``timezone``).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    Strict,
    ValidationInfo,
    WithJsonSchema,
    WrapValidator,
)
from pydantic_core import PydanticCustomError, TzInfo

from labrecog.model._fielddoc import DocumentedModel

__all__ = [
    "CaseModel",
    "Day",
    "Ext",
    "Flag",
    "Id",
    "Loinc",
    "Number",
    "Region",
    "ResultStatus",
    "Setting",
    "Sex",
    "SexInput",
    "StrictStr",
    "Timestamp",
    "completed_years",
]

Sex = Literal["male", "female", "unknown"]
Setting = Literal["outpatient", "inpatient", "emergency", "checkup"]
ResultStatus = Literal[
    "registered",
    "preliminary",
    "final",
    "amended",
    "corrected",
    "cancelled",
    "entered-in-error",
    "unknown",
]

StrictStr = Annotated[str, Strict()]
Number = Annotated[float, Strict()]
Flag = Annotated[str, Strict(), Field(min_length=1, max_length=64)]
Id = Annotated[str, Strict(), Field(min_length=1, max_length=128)]
Loinc = Annotated[str, Strict(), Field(pattern=r"^[0-9]{1,7}-[0-9]$")]


def _region(value: Any) -> Any:
    # Region codes (GB/T 2260) are digits; spreadsheets export them as numbers.
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    return value


# Strict() and the pattern inside: pydantic-core checks them in one step (in Rust), after
# _region; outside, pydantic checks the pattern in Python (the same verdicts, slower). The
# JSON Schema stays what it was (a string, a number accepted too is not said either).
Region = Annotated[
    Annotated[str, Strict(), Field(pattern=r"^[0-9A-Za-z]{1,12}$")],
    BeforeValidator(_region),
    WithJsonSchema({"type": "string"}),
]


_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _timestamp(value: Any, handler: Any, info: ValidationInfo) -> datetime:
    if type(value) is str:  # the hot path: see _fast
        base = _BASES.get(value[19:])
        if base is not None and _CANONICAL(value) is not None:
            fast = _fast(value, base, info)
            if fast is not None:
                return fast
    # A bare date or a number is not a point in time: pydantic would guess midnight or epoch.
    if not isinstance(value, datetime) and not (isinstance(value, str) and _TIMESTAMP.match(value)):
        raise PydanticCustomError(
            "timestamp_type", "expected an ISO 8601 date and time with a UTC offset"
        )
    parsed: datetime = handler(value)
    zone = parsed.tzinfo
    if isinstance(zone, TzInfo):  # a fixed offset pydantic read: never naive
        return _in_range(_shared(parsed, zone, value))
    if zone is None or parsed.utcoffset() is None:
        parsed = _localise(parsed, _rule_set_zone(info))
    return _in_range(parsed)


def _rule_set_zone(info: ValidationInfo) -> tzinfo:
    tz: tzinfo | None = (info.context or {}).get("timezone")
    if tz is None:
        raise PydanticCustomError(
            "timestamp_naive", "timestamp has no UTC offset and the rule set declares no timezone"
        )
    return tz


# --- one tzinfo object per UTC offset (issue 21) ---------------------------------------
# pydantic gives every parsed timestamp its own TzInfo. Two datetimes holding the same
# tzinfo object compare and subtract field by field; otherwise each comparison asks both
# for their offsets (about ten times slower). For a fixed offset both give the same answer,
# so timestamps of equal offset share one TzInfo (the type, repr and output are pydantic's).
_ZONES: dict[timedelta | None, TzInfo] = {}
_MAX_ZONES = 4096  # timestamp text has whole-minute offsets under 24 h: 2,879 at most
_EPOCH = datetime(2000, 1, 1)
# "+08:00" (or "Z") -> midnight 2000-01-01 in the shared zone of that offset, filled from
# the first such timestamp pydantic reads (at most one entry per offset pydantic accepts);
# "" (no offset) -> the naive _EPOCH: the rule set's zone is attached by _localise.
_BASES: dict[str, datetime] = {"": _EPOCH}
_CANONICAL = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:[+-][0-9]{2}:[0-9]{2}|Z)?"
).fullmatch
_fromiso = datetime.fromisoformat


def _fast(value: str, base: datetime, info: ValidationInfo) -> datetime | None:
    """``YYYY-MM-DDTHH:MM:SS`` and ``+hh:mm`` (or ``Z``) of an offset pydantic has read
    before, or none, without pydantic: the wall-clock fields read by the standard library,
    the shared zone attached by arithmetic. None for anything it does not accept plainly (an
    impossible date, a year near the range's ends, no offset and no rule-set zone): that
    takes pydantic's path, so verdicts and errors stay pydantic's."""
    try:
        naive = _fromiso(value[:19])
    except ValueError:
        return None
    if not 1900 < naive.year < 8999:
        return None
    if base is _EPOCH:
        tz: tzinfo | None = (info.context or {}).get("timezone")
        return None if tz is None else _localise(naive, tz)
    return base + (naive - _EPOCH)


def _shared(parsed: datetime, tz: TzInfo, value: Any) -> datetime:
    offset = parsed.utcoffset()
    zone = _ZONES.get(offset)
    if zone is None:
        if len(_ZONES) >= _MAX_ZONES:  # only datetimes given as objects get past 2,879
            return parsed
        zone = _ZONES.setdefault(offset, tz)
    if zone is not tz and type(parsed) is datetime and not parsed.fold:
        parsed = datetime(
            parsed.year, parsed.month, parsed.day, parsed.hour, parsed.minute, parsed.second,
            parsed.microsecond, zone,
        )  # fmt: skip
    if isinstance(value, str) and len(value) > 19 and _CANONICAL(value) is not None:
        _BASES.setdefault(value[19:], datetime(2000, 1, 1, tzinfo=zone))
    return parsed


# --- end of shared tzinfo ---------------------------------------------------------------


# Instants the engine can compute with: near datetime.min/max the conversion to UTC, or an
# age minus a 100-year rule duration (the longest a rule set may declare), overflows.
_EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _in_range(parsed: datetime) -> datetime:
    if 1900 < parsed.year < 8999:  # the hot path: a year read, no conversion to UTC
        return parsed
    try:
        inside = _EARLIEST <= parsed.astimezone(UTC) < _LATEST
    except OverflowError:
        inside = False
    if not inside:
        raise PydanticCustomError(
            "timestamp_range", "timestamp must lie between 1900-01-01 and 8999-12-31 (UTC)"
        )
    return parsed


def _localise(naive: datetime, tz: tzinfo) -> datetime:
    """A wall-clock time in the rule set's zone, only if it names exactly one instant: in
    the hour clocks go back it names two, in the hour they skip it names none."""
    early, late = naive.replace(tzinfo=tz, fold=0), naive.replace(tzinfo=tz, fold=1)
    if early.utcoffset() == late.utcoffset():
        return early
    back = early.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    kind = "occurs twice" if back == naive else "does not exist"
    raise PydanticCustomError(
        "timestamp_ambiguous",
        "local time {when} {kind} in {zone} (a clock change): give its UTC offset",
        {"when": naive.isoformat(), "kind": kind, "zone": str(tz)},
    )


Timestamp = Annotated[datetime, WrapValidator(_timestamp)]


def _day(value: Any) -> Any:
    if not isinstance(value, str | date) or isinstance(value, datetime):
        raise PydanticCustomError("date_type", "expected an ISO 8601 date (YYYY-MM-DD)")
    return value


Day = Annotated[date, BeforeValidator(_day)]


_EXT_DEPTH = 32


def _ext(value: Any) -> Any:
    # ext is carried into the decision: it must be writable as JSON again, whatever it holds.
    if value is not None and _depth(value) > _EXT_DEPTH:
        raise PydanticCustomError("ext_depth", "ext is nested more than 32 levels deep")
    return value


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if level > _EXT_DEPTH:
            break
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    return deepest


Ext = Annotated[dict[str, Any] | None, AfterValidator(_ext)]


def completed_years(birth: date, on: date) -> int:
    """Age in whole years on ``on``: the age bands of rules and reference intervals."""
    years = on.year - birth.year
    if (on.month, on.day) < (birth.month, birth.day):
        years -= 1
    return years


class CaseModel(DocumentedModel):
    """Base of every part of a case: unknown fields are input errors (anything extra
    belongs under ``ext``), values are never coerced, NaN and infinities are refused."""

    ext: Ext = Field(
        default=None,
        description="the integrator's own data (any JSON object, at most 32 levels deep): "
        "the one place unknown keys are allowed; a case's and an ordered item's ext are "
        "carried into the decision unchanged",
    )


# --- sex as order-entry systems write it (issue 11, Chinese end to end) ----------------
_SEX_SPELLINGS: dict[str, Sex] = {
    "male": "male", "female": "female", "unknown": "unknown",
    "男": "male", "女": "female", "M": "male", "m": "male", "F": "female", "f": "female",
}  # fmt: skip


def _sex(value: Any) -> Any:
    """男/女 and M/F (either case) are male/female; anything else is refused, not guessed."""
    if not isinstance(value, str):
        return value  # the Literal says what a sex is
    found = _SEX_SPELLINGS.get(value)
    if found is None:
        raise PydanticCustomError(
            "sex", "sex is male, female or unknown (男, 女, M, F, m and f are accepted)"
        )
    return found


SexInput = Annotated[
    Sex,
    BeforeValidator(_sex, json_schema_input_type=Literal[tuple(_SEX_SPELLINGS)]),
]
# --- end of sex spellings -----------------------------------------------------------------
