"""Issue 21: the faster validation accepts, refuses and builds exactly what the old one did.

The old timestamp and region validators are kept here as oracles (copied from before the
change); a hostile or plain value must give the same datetime (offset, tzinfo type, repr)
or the same errors (type, message, location, context) through both, cold (pydantic reads
the offset) and warm (the fast path). Whole cases, generated and mutated, must validate
alike with the fast path and the shared zones switched off. Timestamps of equal offset
share one tzinfo object, which is what makes comparing them cheap.
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime, tzinfo
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import (
    BeforeValidator,
    Field,
    Strict,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    WrapValidator,
)
from pydantic_core import PydanticCustomError

from labrecog import InputError
from labrecog.load import _json_text
from labrecog.model import Timestamp, _values
from labrecog.model._values import Region
from labrecog.testing.strategies import cases
from tests.builders import demo_engine

ENGINE = demo_engine()
ZONES: list[tzinfo | None] = [
    None,
    ZoneInfo("Asia/Shanghai"),
    ZoneInfo("Europe/London"),
    ZoneInfo("America/New_York"),
]

# --- the oracles: the validators as they were before issue 21 ---------------------------
_OLD_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _old_timestamp(value: Any, handler: Any, info: ValidationInfo) -> datetime:
    if not isinstance(value, datetime) and not (
        isinstance(value, str) and _OLD_TIMESTAMP.match(value)
    ):
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
        parsed = _values._localise(parsed, tz)
    return _values._in_range(parsed)  # the range check, unchanged by the speed work


OLD_TIMESTAMP: TypeAdapter[datetime] = TypeAdapter(
    Annotated[datetime, WrapValidator(_old_timestamp)]
)
NEW_TIMESTAMP: TypeAdapter[datetime] = TypeAdapter(Timestamp)
OLD_REGION: TypeAdapter[str] = TypeAdapter(
    Annotated[
        str, BeforeValidator(_values._region), Strict(), Field(pattern=r"^[0-9A-Za-z]{1,12}$")
    ]
)
NEW_REGION: TypeAdapter[str] = TypeAdapter(Region)


def _outcome(adapter: TypeAdapter[Any], value: Any, zone: tzinfo | None) -> Any:
    try:
        got = adapter.validate_python(value, context={"timezone": zone})
    except ValidationError as exc:
        return [
            (e["type"], e["msg"], e["loc"], e.get("ctx")) for e in exc.errors(include_url=False)
        ]
    if isinstance(got, datetime):
        return ("ok", got, repr(got), type(got.tzinfo), got.utcoffset(), got.fold)
    return ("ok", got)


# --- hostile timestamps -----------------------------------------------------------------
_DIGITS = st.integers(min_value=0, max_value=99).map(lambda n: f"{n:02d}")
_YEARS = st.one_of(
    st.sampled_from(["0001", "1899", "1900", "1901", "2025", "8998", "8999", "9000", "9999"]),
    st.integers(min_value=0, max_value=9999).map(lambda n: f"{n:04d}"),
)
_DAYS = st.one_of(
    st.sampled_from(["2025-03-30", "2025-10-26", "2025-03-09", "2025-11-02", "2024-02-29"]),
    st.builds(
        lambda y, m, d: f"{y}-{m}-{d}",
        _YEARS,
        st.one_of(st.integers(1, 12).map(lambda n: f"{n:02d}"), _DIGITS),
        st.one_of(st.integers(1, 28).map(lambda n: f"{n:02d}"), _DIGITS),
    ),
)
_OFFSETS = st.sampled_from(
    ["", "Z", "z", "+08:00", "-05:00", "+00:00", "-00:00", "+01:00", "+05:45", "+23:59",
     "+24:00", "-23:59", "+0800", "+08", "+14:00", " +08:00", "+08:00 ", "+08:60"]
)  # fmt: skip
TIMESTAMP_TEXT = st.one_of(
    st.builds(
        lambda day, sep, h, m, s, frac, off: f"{day}{sep}{h}:{m}{s}{frac}{off}",
        _DAYS,
        st.sampled_from(["T", "T", "T", " ", "t", "_"]),
        st.one_of(st.sampled_from(["00", "01", "02", "07", "23", "24"]), _DIGITS),
        st.one_of(st.sampled_from(["00", "30", "59", "60"]), _DIGITS),
        st.sampled_from([":00", ":59", ":60", ":07", "", ":5"]),
        st.sampled_from(["", "", ".5", ".123456", ".1234567", "."]),
        _OFFSETS,
    ),
    st.builds(  # local times around clock changes: twice, never, or once
        lambda day, h, m, off: f"{day}T{h}:{m}:00{off}",
        st.sampled_from(["2025-03-30", "2025-10-26", "2025-03-09", "2025-11-02"]),
        st.sampled_from(["00", "01", "02", "03"]),
        st.sampled_from(["00", "30", "59"]),
        st.sampled_from(["", "", "+01:00", "Z"]),
    ),
    st.text(max_size=30),
    st.text(alphabet="0123456789-T:+Z. ٢", max_size=30),
)
HOSTILE = st.one_of(
    TIMESTAMP_TEXT,
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.datetimes(timezones=st.sampled_from([None, UTC, ZoneInfo("Europe/London")])),
    st.dates(),
    st.lists(st.integers(), max_size=2),
)


@settings(max_examples=600)
@given(value=HOSTILE, zone=st.sampled_from(ZONES))
def test_timestamp_accepts_refuses_and_builds_as_the_old_validator(
    value: Any, zone: tzinfo | None
) -> None:
    expected = _outcome(OLD_TIMESTAMP, value, zone)
    assert _outcome(NEW_TIMESTAMP, value, zone) == expected  # cold: pydantic reads it
    assert _outcome(NEW_TIMESTAMP, value, zone) == expected  # warm: the fast path


@settings(max_examples=300)
@given(value=st.one_of(HOSTILE, st.text(alphabet="0123456789aZ \n٢é", max_size=14)))
def test_region_verdicts_are_the_old_ones(value: Any) -> None:
    assert _outcome(NEW_REGION, value, None) == _outcome(OLD_REGION, value, None)


@pytest.mark.parametrize(
    "texts",
    [
        ["2025-03-01T07:30:00+08:00", "2024-12-31T23:59:59.5+08:00", "2025-03-02 07:30:00+08:00"],
        ["2025-03-01T07:30:00Z", "2025-03-01T07:30:00+00:00", "2025-03-01T07:30:00-00:00"],
        ["2025-06-01T00:00:00-05:00", "2025-06-02T00:00:00-05:00"],
    ],
)
def test_equal_offsets_share_one_tzinfo(texts: list[str]) -> None:
    """Regression (issue 21): pydantic gave each timestamp its own TzInfo object."""
    parsed = [NEW_TIMESTAMP.validate_python(t, context={"timezone": None}) for t in texts * 2]
    assert len({id(p.tzinfo) for p in parsed}) == 1
    assert {type(p.tzinfo) for p in parsed} == {_outcome(OLD_TIMESTAMP, texts[0], None)[3]}


def test_a_case_shares_tzinfo_across_its_timestamps() -> None:
    case = ENGINE.validate_case(_a_case())
    zones = {id(case.ordered_at.tzinfo)}
    for prior in case.prior_results:
        zones |= {id(prior.collected_at.tzinfo)}
        if prior.reported_at is not None:
            zones |= {id(prior.reported_at.tzinfo)}
    assert len(zones) == 1


def _a_case() -> dict[str, Any]:
    priors = [
        {
            "id": f"R-{i}",
            "patient_id": "P-1",
            "code": "GLU",
            "value": 5.0,
            "unit": "mmol/L",
            "collected_at": f"2025-02-{i + 1:02d}T08:00:00+08:00",
            "reported_at": f"2025-02-{i + 1:02d}T10:00:00+08:00",
            "institution": {"id": "X", "region": 620102, "level": 3},
        }
        for i in range(3)
    ]
    return {
        "order_id": "O-1",
        "ordered_at": "2025-03-01T09:00:00+08:00",
        "patient": {"id": "P-1"},
        "institution": {"id": "Y"},
        "tests": [{"code": "GLU"}],
        "prior_results": priors,
    }


# --- whole cases: the fast path and the shared zones switched off -------------------------
class _Never(dict[Any, Any]):
    """A cache that never holds anything: the path pydantic takes, zones left unshared."""

    def get(self, key: Any, default: Any = None) -> Any:
        return default

    def setdefault(self, key: Any, default: Any = None) -> Any:
        return default


def _validated(data: Any) -> Any:
    try:
        case = ENGINE.validate_case(data)
    except InputError as exc:
        return ("error", [(p.path, p.message) for p in exc.problems], exc.order_id)
    return ("ok", case, repr(case), case.model_dump_json())


def _slow(data: Any) -> Any:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_values, "_BASES", _Never())
        mp.setattr(_values, "_ZONES", _Never())
        return _validated(data)


def json_paths(node: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a JSON value (keys and indexes), for mutation tests."""
    out = [at] if at else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += json_paths(value, (*at, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += json_paths(value, (*at, i))
    return out


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(ENGINE), data=st.data())
def test_cases_and_mutants_validate_as_without_the_fast_path(case: Any, data: Any) -> None:
    assert _validated(case) == _slow(case)
    for _ in range(3):
        mutant = copy.deepcopy(case)
        paths = json_paths(mutant)
        path = data.draw(st.sampled_from(paths))
        parent = mutant
        for step in path[:-1]:
            parent = parent[step]
        parent[path[-1]] = data.draw(st.one_of(HOSTILE, st.sampled_from(_siblings(case, path))))
        assert _validated(mutant) == _slow(mutant)


def _siblings(case: dict[str, Any], path: tuple[Any, ...]) -> list[Any]:
    """Values of the same field elsewhere in the case: duplicate ids, other patients."""
    priors = case.get("prior_results") or [{}]
    return [p.get(path[-1], "P-2") for p in priors] + ["P-2"]


# --- the integrity check, one pass on the happy path -----------------------------------
def _old_integrity(case: dict[str, Any]) -> tuple[str, str] | None:
    seen: dict[str, int] = {}
    for i, prior in enumerate(case["prior_results"]):
        if prior["patient_id"] != case["patient"]["id"]:
            other, patient = prior["patient_id"], case["patient"]["id"]
            return (
                f"prior_results[{i}].patient_id",
                f"prior result belongs to patient {other}, not {patient}",
            )
        if prior["id"] in seen:
            return (
                f"prior_results[{i}].id",
                f"result id {prior['id']} also used by prior_results[{seen[prior['id']]}]",
            )
        seen[prior["id"]] = i
    return None


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(
    ids=st.lists(st.sampled_from(["R-1", "R-2", "R-3", "R-4"]), min_size=1, max_size=4),
    patients=st.lists(st.sampled_from(["P-1", "P-1", "P-1", "P-2"]), min_size=4, max_size=4),
)
def test_integrity_errors_are_the_old_ones(ids: list[str], patients: list[str]) -> None:
    case = _a_case()
    template = case["prior_results"][0]
    case["prior_results"] = [
        {**template, "id": rid, "patient_id": patients[i]} for i, rid in enumerate(ids)
    ]
    fault = _old_integrity(case)
    outcome = _validated(case)
    if fault is None:
        assert outcome[0] == "ok"
    else:
        assert outcome == ("error", [fault], "O-1")


# --- loads_strict: the run of 19 digits found without re ---------------------------------
@settings(max_examples=300)
@given(
    text=st.one_of(
        st.binary(max_size=80),
        st.text(alphabet='0123456789 ,.-e"٢', max_size=80).map(str.encode),
        st.integers(min_value=10**17, max_value=10**21).map(lambda n: f'{{"a": {n}}}'.encode()),
    )
)
def test_long_digit_runs_are_found_as_by_the_old_search(text: bytes) -> None:
    old = re.search(rb"\d{19}", text) is not None
    assert (_json_text._LONG_RUN in text.translate(_json_text._DIGITS_TO_0)) == old


def _old_loads_strict(raw: bytes) -> Any:
    data = orjson.loads(raw)
    if not isinstance(data, dict | list):
        return data
    if re.search(rb"\d{19}", raw) is not None:
        problem = _json_text.big_integer(raw)
        if problem is not None:
            raise InputError([problem])
    try:
        same = b"\\u0022" not in raw and raw.count(b'"') == orjson.dumps(data).count(b'"')
    except orjson.JSONEncodeError:
        same = False
    if not same:
        problem = _json_text.duplicate_key(raw)
        if problem is not None:
            raise InputError([problem])
    return data


_SCALARS = st.one_of(
    st.sampled_from(['"a"', '"x\\"y"', '"\\u0022"', '"\\\\"', "1", "12345678901234567890"]),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.text(max_size=5).map(lambda t: orjson.dumps(t).decode()),
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda items: "[" + ",".join(items) + "]"),
        st.lists(
            st.tuples(st.sampled_from(['"a"', '"b"', '"\\u0061"', '"\\u0022"']), inner),
            max_size=3,
        ).map(lambda pairs: "{" + ",".join(f"{k}:{v}" for k, v in pairs) + "}"),
    ),
    max_leaves=8,
)


def _parsed(loads: Any, raw: bytes) -> Any:
    try:
        return ("ok", loads(raw))
    except orjson.JSONDecodeError as exc:
        return ("json", str(exc))
    except InputError as exc:
        return ("error", [(p.path, p.message) for p in exc.problems])


@settings(max_examples=400)
@given(text=_JSON)
def test_loads_strict_refuses_as_before(text: str) -> None:
    raw = text.encode()
    assert _parsed(_json_text.loads_strict, raw) == _parsed(_old_loads_strict, raw)
