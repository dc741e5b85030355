"""A fast validation of a case given as plain data: msgspec mirrors of the case models.

pydantic's per-field Python validators (timestamps, regions, sex, the model validators)
cost about five times the JSON parse. These Structs hold the same fields with the
constraints msgspec checks in C; :func:`fast_case` then checks in Python only what msgspec
cannot say. It accepts only what the pydantic models accept, building equal values (the
same types, the same shared tzinfo objects); anything else, even valid, gives None, and
the caller validates with the models, which word the error. The models stay the contract.
"""

from __future__ import annotations

import marshal
import re
from datetime import date, datetime, tzinfo
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
import orjson
from msgspec import Meta, Struct, field

from labrecog.model._fast_times import MEMO_LIMIT, Refused, naive_stamps, read_day, when
from labrecog.model._values import _EXT_DEPTH, _SEX_SPELLINGS, _depth

__all__ = ["FAST_MODELS", "fast_case"]

if TYPE_CHECKING:  # what the engine reads once fast_case has finished
    Stamp = datetime
    Day = date
    RegionIn = str
    SexIn = Literal["male", "female", "unknown"]
else:  # what msgspec decodes: fast_case turns these into the values above
    Stamp = str
    Day = str
    RegionIn = str | Annotated[int, Meta(ge=0)]  # the text checked by _institution
    SexIn = str

_FINITE = 1.7976931348623157e308  # NaN and the infinities fail these bounds
Number = Annotated[float, Meta(ge=-_FINITE, le=_FINITE)]
Id = Annotated[str, Meta(min_length=1, max_length=128)]
Flag = Annotated[str, Meta(min_length=1, max_length=64)]
Loinc = str  # checked by _loinc: msgspec's regex is Python's, a call from C per value
AuthCode = Annotated[str, Meta(min_length=1, max_length=256)]
Setting = Literal["outpatient", "inpatient", "emergency", "checkup"]
ResultStatus = Literal[
    "registered", "preliminary", "final", "amended", "corrected", "cancelled",
    "entered-in-error", "unknown",
]  # fmt: skip
Ext = dict[str, Any]


class _Base(Struct, kw_only=True, forbid_unknown_fields=True):
    ext: Ext | None = None


class Patient(_Base, kw_only=True):
    id: Id
    sex: SexIn | None = None
    birth_date: Day | None = None


class Institution(_Base, kw_only=True):
    id: Id
    name: str | None = None
    region: RegionIn | None = None
    level: Annotated[int, Meta(ge=1, le=3)] | None = None


class Context(_Base, kw_only=True):
    setting: Setting | None = None
    department: str | None = None
    flags: tuple[Flag, ...] = ()
    encounter: Id | None = None


class Authorization(_Base, kw_only=True):
    granted: bool = False
    code: AuthCode | None = None
    encounter: Id | None = None
    granted_at: Stamp | None = None
    expires_at: Stamp | None = None
    ends_with_visit: bool = False
    institutions: Annotated[tuple[Id, ...], Meta(min_length=1)] | None = None
    results: Annotated[tuple[Id, ...], Meta(min_length=1)] | None = None


class OrderedItem(_Base, kw_only=True):
    code: Id
    flags: tuple[Flag, ...] = ()


class ReferenceRange(_Base, kw_only=True):
    low: Number | None = None
    high: Number | None = None
    unit: str | None = None
    text: str | None = None


class PriorResult(_Base, kw_only=True):
    id: Id
    patient_id: Id
    code: Id | None = None
    loinc: Loinc | None = None
    specimen: str | None = None
    value: Number | None = None
    value_text: str | None = None
    unit: str | None = None
    reference_range: ReferenceRange | None = None
    collected_at: Stamp
    reported_at: Stamp | None = None
    institution: Institution
    mark: str | None = None
    method: str | None = None
    status: ResultStatus = "final"
    shared: bool = True


class UnreadableProblem(_Base, kw_only=True):
    path: str
    message: str


class UnreadableResult(_Base, kw_only=True):
    id: Id | None = None
    code: Id | None = None
    loinc: Loinc | None = None
    collected_at: Stamp | None = None
    problems: Annotated[tuple[UnreadableProblem, ...], Meta(min_length=1, max_length=100)]


class Case(_Base, kw_only=True):
    order_id: Id
    ordered_at: Stamp
    patient: Patient
    institution: Institution
    context: Context = field(default_factory=Context)
    authorization: Authorization = field(default_factory=Authorization)
    tests: Annotated[tuple[OrderedItem, ...], Meta(min_length=1, max_length=500)]
    prior_results: Annotated[tuple[PriorResult, ...], Meta(max_length=100_000)] = ()
    unreadable_results: Annotated[tuple[UnreadableResult, ...], Meta(max_length=100_000)] = ()


# The mirrors by the name of the model each mirrors (tests/test_fast_path.py holds them equal).
FAST_MODELS: dict[str, type[Struct]] = {
    cls.__name__: cls
    for cls in (Patient, Institution, Context, Authorization, OrderedItem, ReferenceRange,
                PriorResult, UnreadableProblem, UnreadableResult, Case)
}  # fmt: skip


def fast_case(data: dict[str, Any], timezone: tzinfo | None, *, plain: bool = False) -> Case | None:
    """The case ``data`` describes, or None for anything not accepted plainly.

    ``plain``: the caller vouches ``data`` is what a JSON parser returned (exact dicts,
    lists, strs, ints, floats, bools, None, valid Unicode). Otherwise that is checked
    first: pydantic turns a str subclass (an enum member) into a str, msgspec keeps it.
    """
    if not plain and not _json_typed(data):
        return None
    try:
        case = msgspec.convert(data, Case, strict=True)
        _finish(case, timezone)
    except Exception:  # msgspec's or _finish's refusal, or anything unforeseen
        return None  # the models decide
    return case


def _json_typed(data: Any) -> bool:
    """Exact dicts, lists, strs, ints, floats, bools and None (marshal refuses subclasses
    and enum members) and valid Unicode (orjson refuses a lone surrogate, which pydantic
    refuses in a str). Only for data not straight from a JSON parser: about 0.6 parses."""
    try:
        orjson.dumps(data)
        marshal.dumps(data)
    except Exception:  # unmarshallable, not JSON, or nested too deep
        return False
    return True


def _finish(case: Case, tz: tzinfo | None) -> None:
    """What msgspec cannot check: timestamps, region and LOINC texts, regions given as
    numbers, sex spellings, ``ext`` depth and the models' own validators."""
    naive = naive_stamps(tz)
    ordered_at = case.ordered_at = when(case.ordered_at, tz, naive)
    patient = case.patient
    _ext(patient.ext)
    if patient.sex is not None:
        sex = _SEX_SPELLINGS.get(patient.sex)
        if sex is None:
            raise Refused
        patient.sex = sex
    if patient.birth_date is not None:
        patient.birth_date = read_day(patient.birth_date)
    _institution(case.institution)
    _ext(case.context.ext)
    _authorization(case.authorization, tz, naive)
    for item in case.tests:
        _ext(item.ext)
    for prior in case.prior_results:
        _prior(prior, tz, naive)
    for unreadable in case.unreadable_results:
        _ext(unreadable.ext)
        if unreadable.loinc is not None:
            _loinc(unreadable.loinc)
        if unreadable.collected_at is not None:
            unreadable.collected_at = when(unreadable.collected_at, tz, naive)
        for problem in unreadable.problems:
            _ext(problem.ext)
    _ext(case.ext)
    _integrity(case, ordered_at, tz)


def _prior(prior: PriorResult, tz: tzinfo | None, naive: dict[str, datetime]) -> None:
    if prior.ext is not None:
        _ext(prior.ext)
    collected = prior.collected_at = when(prior.collected_at, tz, naive)
    if prior.reported_at is not None:
        reported = prior.reported_at = when(prior.reported_at, tz, naive)
        if reported < collected:
            raise Refused
    rng = prior.reference_range
    if rng is not None:
        _ext(rng.ext)
        if rng.low is not None and rng.high is not None and rng.low > rng.high:
            raise Refused
    inst = prior.institution  # the common case inline: a region seen before, no ext
    region = inst.region
    if (region is not None and region not in _GOOD_REGIONS) or inst.ext is not None:
        _institution(inst)
    loinc = prior.loinc
    if loinc is not None:
        if loinc not in _GOOD_LOINCS:
            _loinc(loinc)
    elif prior.code is None:
        raise Refused
    if prior.value is not None and prior.value_text is not None:
        raise Refused


def _institution(inst: Institution) -> None:
    region: object = inst.region
    if region is None:
        pass
    elif type(region) is str:
        if region not in _GOOD_REGIONS:
            # ^[0-9A-Za-z]{1,12}$ (pydantic's regex: $ is the end of the text)
            if not (region.isascii() and region.isalnum() and len(region) <= 12):
                raise Refused
            _remember(_GOOD_REGIONS, region)
    elif type(region) is int:  # as model/_values._region: digits, at most 12 of them
        text = str(region)
        if len(text) > 12:
            raise Refused
        inst.region = text
    if inst.ext is not None:
        _ext(inst.ext)


_LOINC = re.compile(r"[0-9]{1,7}-[0-9]").fullmatch


def _loinc(code: str) -> None:
    if code not in _GOOD_LOINCS:
        if _LOINC(code) is None:
            raise Refused
        _remember(_GOOD_LOINCS, code)


def _authorization(auth: Authorization, tz: tzinfo | None, naive: dict[str, datetime]) -> None:
    _ext(auth.ext)
    if auth.granted_at is not None:
        auth.granted_at = when(auth.granted_at, tz, naive)
    if auth.expires_at is not None:
        auth.expires_at = when(auth.expires_at, tz, naive)
        if auth.granted_at is not None and auth.expires_at <= auth.granted_at:
            raise Refused
    if auth.ends_with_visit and auth.encounter is None:
        raise Refused


def _integrity(case: Case, ordered_at: datetime, tz: tzinfo | None) -> None:
    birth = case.patient.birth_date
    if birth is not None:
        ordered = ordered_at.astimezone(tz) if tz is not None else ordered_at
        if birth > ordered.date():
            raise Refused
    priors, patient = case.prior_results, case.patient.id
    if priors and not (
        [p.patient_id for p in priors].count(patient) == len(priors)
        and len({p.id for p in priors}) == len(priors)
    ):
        raise Refused


def _ext(value: dict[str, Any] | None) -> None:
    if value is not None and _depth(value) > _EXT_DEPTH:
        raise Refused


# --- memos: labs' regions and LOINC codes repeat across a batch -------------------------
_GOOD_REGIONS: set[str] = set()
_GOOD_LOINCS: set[str] = set()


def _remember(memo: set[str], text: str) -> None:
    if len(memo) >= MEMO_LIMIT:
        memo.clear()
    memo.add(text)
