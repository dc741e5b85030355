"""The case: one order, its patient, and that patient's prior external results.

Validation is strict because a coerced value is a guessed value: ``"6.4"`` is not a
number, ``1`` is not ``true``, a timestamp without offset is not a point in time unless
the rule set says which zone it is in (passed as validation context ``timezone``).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, tzinfo
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationInfo,
    WrapValidator,
    model_validator,
)
from pydantic_core import PydanticCustomError

__all__ = [
    "Authorization",
    "Case",
    "Context",
    "Institution",
    "OrderedItem",
    "Patient",
    "PriorResult",
    "ReferenceRange",
    "ResultStatus",
    "Setting",
    "Sex",
    "UnreadableProblem",
    "UnreadableResult",
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


def _region(value: Any) -> Any:
    # Region codes (GB/T 2260) are digits; spreadsheets export them as numbers.
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    return value


Region = Annotated[str, BeforeValidator(_region), Strict(), Field(pattern=r"^[0-9A-Za-z]{1,12}$")]


_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _timestamp(value: Any, handler: Any, info: ValidationInfo) -> datetime:
    # A bare date or a number is not a point in time: pydantic would guess midnight or epoch.
    if not isinstance(value, datetime) and not (isinstance(value, str) and _TIMESTAMP.match(value)):
        raise PydanticCustomError(
            "timestamp_type", "expected an ISO 8601 date and time with a UTC offset"
        )
    parsed: datetime = handler(value)
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        tz: tzinfo | None = (info.context or {}).get("timezone")
        if tz is None:
            raise PydanticCustomError(
                "timestamp_naive",
                "timestamp has no UTC offset and the rule set declares no timezone",
            )
        parsed = _localise(parsed, tz)
    return _in_range(parsed)


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


class _Model(BaseModel):
    """Unknown fields are input errors; anything extra belongs under ``ext``."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    ext: Ext = None


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


class Patient(_Model):
    id: Id
    sex: SexInput | None = None
    birth_date: Day | None = None


class Institution(_Model):
    id: Id
    name: StrictStr | None = None
    region: Region | None = None
    level: Annotated[int, Strict(), Field(ge=1, le=3)] | None = None


class Context(_Model):
    setting: Setting | None = None
    department: StrictStr | None = None
    flags: tuple[Flag, ...] = ()
    encounter: Id | None = Field(
        default=None,
        description="the visit (encounter) the order is placed in; an authorisation bound "
        "to a visit holds only for orders that name that visit here",
    )


# --- the patient's authorisation, per visit (issue 11; check/_authorization.py) ----------
AuthCode = Annotated[str, Strict(), Field(min_length=1, max_length=256)]


class Authorization(_Model):
    """The patient's permission to use their results from elsewhere for this order.

    ``{"granted": true}`` is the simplest form. The rest says when and for what it holds;
    labrecog checks it against the order's time and visit (docs/case.md). The code is
    recorded, never verified (its issuer does that), and never shown: it is left out of
    ``repr`` and of every message.
    """

    granted: Annotated[bool, Strict()] = Field(
        default=False,
        description="the patient authorised the use of their results; details may be "
        "recorded for an authorisation not (or no longer) granted",
    )
    code: AuthCode | None = Field(
        default=None,
        repr=False,
        description="the dynamic authorisation code the patient gave; recorded, never shown",
    )
    encounter: Id | None = Field(
        default=None,
        description="the visit it is bound to: it holds only for orders whose "
        "context.encounter is this visit",
    )
    granted_at: Timestamp | None = Field(
        default=None, description="when it was given: it holds for orders placed then or later"
    )
    expires_at: Timestamp | None = Field(
        default=None,
        description="the first instant it no longer holds: orders placed before it only",
    )
    ends_with_visit: Annotated[bool, Strict()] = Field(
        default=False,
        description="it lasts as long as its visit (encounter, required) and no longer",
    )
    institutions: tuple[Id, ...] | None = Field(
        default=None,
        min_length=1,
        description="only results performed by these institutions may be used; absent: all",
    )
    results: tuple[Id, ...] | None = Field(
        default=None,
        min_length=1,
        description="only these prior results (by id) may be used; absent: all",
    )

    @model_validator(mode="after")
    def _coherent(self) -> Authorization:
        if (
            self.granted_at is not None
            and self.expires_at is not None
            and self.expires_at <= self.granted_at
        ):
            raise PydanticCustomError(
                "chronology", "expires_at is not after granted_at", {"field": "expires_at"}
            )
        if self.ends_with_visit and self.encounter is None:
            raise PydanticCustomError(
                "visit",
                "ends_with_visit needs the visit it ends with: give encounter",
                {"field": "ends_with_visit"},
            )
        return self


# --- end of the patient's authorisation --------------------------------------------------


class OrderedItem(_Model):
    code: Id
    flags: tuple[Flag, ...] = ()


class ReferenceRange(_Model):
    low: Number | None = None
    high: Number | None = None
    unit: StrictStr | None = None
    text: StrictStr | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ReferenceRange:
        if self.low is not None and self.high is not None and self.low > self.high:
            raise PydanticCustomError("range_order", "reference range low is above high")
        return self


class PriorResult(_Model):
    id: Id
    patient_id: Id
    code: Id | None = None
    loinc: Annotated[str, Strict(), Field(pattern=r"^[0-9]{1,7}-[0-9]$")] | None = None
    specimen: StrictStr | None = None
    value: Number | None = None
    value_text: StrictStr | None = None
    unit: StrictStr | None = None
    reference_range: ReferenceRange | None = None
    collected_at: Timestamp
    reported_at: Timestamp | None = None
    institution: Institution
    mark: StrictStr | None = None
    method: StrictStr | None = None
    status: ResultStatus = "final"
    shared: Annotated[bool, Strict()] = True

    @model_validator(mode="after")
    def _coherent(self) -> PriorResult:
        if self.code is None and self.loinc is None:
            raise PydanticCustomError("identity", "a prior result needs a code or a loinc")
        if self.value is not None and self.value_text is not None:
            raise PydanticCustomError("value", "give either value or value_text, not both")
        if self.reported_at is not None and self.reported_at < self.collected_at:
            raise PydanticCustomError(
                "chronology", "reported_at is before collected_at", {"field": "reported_at"}
            )
        return self


# --- results an adapter could not read (docs/fhir.md, "What refuses a Bundle") -------------


class UnreadableProblem(_Model):
    """Why a result could not be read, named by the path in the adapter's own input."""

    path: StrictStr
    message: StrictStr


class UnreadableResult(_Model):
    """A result an adapter (the FHIR reader, an integrator's) found but could not read or
    trust: never used, but it may be the newest result of a test, so a waiver it might
    contradict is withheld (reason ``unreadable_result``). What is known of it is optional.
    """

    id: Id | None = None
    code: Id | None = None
    loinc: Annotated[str, Strict(), Field(pattern=r"^[0-9]{1,7}-[0-9]$")] | None = None
    collected_at: Timestamp | None = None
    problems: tuple[UnreadableProblem, ...] = Field(min_length=1, max_length=100)


class Case(_Model):
    order_id: Id
    ordered_at: Timestamp
    patient: Patient
    institution: Institution
    context: Context = Context()
    authorization: Authorization = Authorization()
    tests: tuple[OrderedItem, ...] = Field(min_length=1, max_length=500)
    prior_results: tuple[PriorResult, ...] = Field(default=(), max_length=100_000)
    unreadable_results: tuple[UnreadableResult, ...] = Field(default=(), max_length=100_000)

    @model_validator(mode="after")
    def _integrity(self, info: ValidationInfo) -> Case:
        birth = self.patient.birth_date
        tz: tzinfo | None = (info.context or {}).get("timezone")
        ordered = self.ordered_at.astimezone(tz) if tz is not None else self.ordered_at
        if birth is not None and birth > ordered.date():
            raise PydanticCustomError(
                "chronology", "birth_date is after the order", {"path": "patient.birth_date"}
            )
        # Mixed-up patients are a data-integrity fault, never a re-test.
        seen: dict[str, int] = {}
        for i, prior in enumerate(self.prior_results):
            if prior.patient_id != self.patient.id:
                raise PydanticCustomError(
                    "patient_mismatch",
                    "prior result belongs to patient {other}, not {patient}",
                    {
                        "other": prior.patient_id,
                        "patient": self.patient.id,
                        "path": f"prior_results[{i}].patient_id",
                    },
                )
            if prior.id in seen:
                raise PydanticCustomError(
                    "duplicate_result",
                    "result id {id} also used by prior_results[{first}]",
                    {"id": prior.id, "first": seen[prior.id], "path": f"prior_results[{i}].id"},
                )
            seen[prior.id] = i
        return self
