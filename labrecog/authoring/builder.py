"""The case builder of a rule set's tests: a compact case expanded into a full one.

Rule authors are not programmers: a test must state only what matters to it (one prior
GLU result 8 days old), so everything else comes from defaults that give a recognisable
case. Defaults that depend on the rule set (the ordering lab, units, specimens, marks) are
taken from the compiled rules, so the same format works for any rule set.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any, Final

from pydantic_core import PydanticCustomError

from labrecog.compile import CompiledRules, CTest
from labrecog.load import KeyPath, did_you_mean, parse_duration
from labrecog.model import PriorResult

__all__ = ["CASE_KEYS", "ORDERED_AT", "PRIOR_KEYS", "At", "build_case"]

ORDERED_AT: Final = "2025-03-02T09:30:00+08:00"
PATIENT_ID: Final = "P-1"
BIRTH_DATE: Final = date(1961, 5, 14)
DEFAULT_PRIOR_AGE: Final = "1d"

_SHORTCUTS: Final = frozenset(
    {"order", "priors", "flags", "setting", "sex", "patient_age", "ordering", "authorized"}
)
_FULL: Final = frozenset(
    {
        "order_id",
        "ordered_at",
        "patient",
        "institution",
        "context",
        "authorization",
        "tests",
        "prior_results",
        "ext",
    }
)
CASE_KEYS: Final = _SHORTCUTS | _FULL
# A prior may give any PriorResult field, plus the builder's shortcuts.
PRIOR_KEYS: Final = frozenset(PriorResult.model_fields) | {"age", "range"}


class At(Exception):
    """A builder problem at a path inside the `case:` mapping."""

    def __init__(self, path: KeyPath, message: str, *, key: bool = False) -> None:
        super().__init__(message)
        self.path = path
        self.message = message
        self.key = key  # point at the mapping key (unknown keys), not its value


def build_case(spec: Mapping[str, Any], rules: CompiledRules) -> dict[str, Any]:
    """Expand a compact case into a full one: defaults first, then shortcuts, then full fields.

    Defaults: ordered at ``ORDERED_AT`` by an outpatient adult man (born 1961-05-14) who
    authorised sharing, at the first institution of the rule set's registry.
    """
    for key in spec:
        if key not in CASE_KEYS:
            message = f"unknown key '{key}' in case{did_you_mean(key, CASE_KEYS)}"
            raise At((key,), message, key=True)
    for short, full in (("order", "tests"), ("priors", "prior_results")):
        if short in spec and full in spec:
            raise At((full,), f"give either {short} or {full}, not both")
    ordered_at = _when(spec.get("ordered_at", ORDERED_AT), ("ordered_at",))
    case: dict[str, Any] = {
        "order_id": "O-1",
        "ordered_at": ordered_at.isoformat(),
        "patient": {"id": PATIENT_ID, "sex": "male", "birth_date": BIRTH_DATE.isoformat()},
        "institution": _ordering(rules),
        "context": {"setting": "outpatient", "flags": []},
        "authorization": {"granted": True},
        "tests": [],
        "prior_results": [],
    }
    if "ordering" in spec:
        case["institution"] = _institution(spec["ordering"], rules, ("ordering",))
    if "setting" in spec:
        case["context"]["setting"] = spec["setting"]
    if "flags" in spec:
        case["context"]["flags"] = _list(spec["flags"], ("flags",))
    if "sex" in spec:
        case["patient"]["sex"] = spec["sex"]
    if "patient_age" in spec:
        case["patient"]["birth_date"] = _birth(spec["patient_age"], ordered_at).isoformat()
    if "authorized" in spec:
        case["authorization"]["granted"] = spec["authorized"]
    for i, item in enumerate(_list(spec.get("order", []), ("order",))):
        case["tests"].append(item if isinstance(item, dict) else {"code": item})
        if not isinstance(item, dict | str):
            raise At(("order", i), "an ordered item is a code or {code, flags}")
    for i, raw in enumerate(_list(spec.get("priors", []), ("priors",))):
        case["prior_results"].append(_prior(raw, i, ordered_at, case, rules))
    for key in _FULL - {"ordered_at"}:
        if key in spec:
            value = spec[key]
            if isinstance(value, dict) and isinstance(case.get(key), dict):
                case[key] = {**case[key], **copy.deepcopy(value)}
            else:
                case[key] = copy.deepcopy(value)
    return case


def _prior(
    raw: object, i: int, ordered_at: datetime, case: dict[str, Any], rules: CompiledRules
) -> dict[str, Any]:
    """A final, shared result from the ordering lab, marked as widely as the rule set allows.

    Unit, specimen, method and value default to the catalogue test's unit, first specimen,
    first method and the middle of its reference range (first normal value if qualitative).
    """
    path: KeyPath = ("priors", i)
    if not isinstance(raw, dict):
        raise At(path, "a prior is a mapping with at least a code, e.g. {code: GLU, age: 8d}")
    for key in raw:
        if key not in PRIOR_KEYS:
            message = f"unknown key '{key}' in prior{did_you_mean(key, PRIOR_KEYS)}"
            raise At((*path, key), message, key=True)
    if "age" in raw and "collected_at" in raw:
        raise At(path, "give either age or collected_at, not both")
    out: dict[str, Any] = {
        "id": f"R-{i + 1}",
        "patient_id": case["patient"]["id"],
        "status": "final",
        "shared": True,
    }
    code = raw.get("code")
    test = _catalogue(rules, code) if isinstance(code, str) else None
    if test is not None:
        out["specimen"] = sorted(test.specimens)[0] if test.specimens else None
        out["method"] = sorted(test.methods)[0] if test.methods else None
        if test.qualitative:
            if test.normal_values:
                out["value_text"] = sorted(test.normal_values)[0]
        else:
            out["unit"] = test.unit
            local = test.local_range(case["patient"].get("sex"), None)
            if local:
                out["reference_range"] = {"low": local.low, "high": local.high, "unit": test.unit}
                known = [v for v in (local.low, local.high) if v is not None]
                if known:
                    out["value"] = round(sum(known) / len(known), 3)
    age = _duration(raw.get("age", DEFAULT_PRIOR_AGE), (*path, "age"))
    out["collected_at"] = (ordered_at - age).isoformat()
    inst = raw.get("institution", case["institution"])
    out["institution"] = _institution(inst, rules, (*path, "institution"))
    mark = _widest_mark(rules)
    if mark is not None:
        out["mark"] = mark
    if "range" in raw:
        rng = raw["range"]
        if not isinstance(rng, list) or len(rng) != 2:
            raise At((*path, "range"), "range is [low, high] (use null for an open end)")
        unit = raw.get("unit", out.get("unit"))
        out["reference_range"] = {"low": rng[0], "high": rng[1], "unit": unit}
        if rng[0] is None and rng[1] is None:
            out.pop("reference_range")
    for key, value in raw.items():
        if key in ("age", "range", "institution"):
            continue
        if key == "value_text":
            out.pop("value", None)
        if key == "value":
            out.pop("value_text", None)
        if key == "collected_at":
            value = _when(value, (*path, key)).isoformat()
        out[key] = copy.deepcopy(value)
    return {k: v for k, v in out.items() if v is not None or k in raw}


def _catalogue(rules: CompiledRules, code: str) -> CTest | None:
    found = rules.tests.get(code)
    if found is None:
        canon = rules.result_codes.get(code) or rules.order_codes.get(code)
        found = rules.tests.get(canon) if canon else None
    return found


def _ordering(rules: CompiledRules) -> dict[str, Any]:
    for inst in rules.institutions.values():
        return _registry(inst.id, rules)
    return {"id": "ORDERING", "level": 3}


def _registry(ident: str, rules: CompiledRules) -> dict[str, Any]:
    inst = rules.institutions[ident]
    out: dict[str, Any] = {"id": inst.id}
    if inst.region is not None:
        out["region"] = inst.region
    if inst.level is not None:
        out["level"] = inst.level
    return out


def _institution(raw: object, rules: CompiledRules, path: KeyPath) -> dict[str, Any]:
    """An id names a registry entry (its level and region are filled in); a mapping is as is."""
    if isinstance(raw, dict):
        return copy.deepcopy(raw)
    if isinstance(raw, str):
        if raw in rules.institutions:
            return _registry(raw, rules)
        return {"id": raw}
    raise At(path, "an institution is a registry id or a mapping {id, region, level}")


def _widest_mark(rules: CompiledRules) -> str | None:
    scopes = rules.recognition.mark_scopes
    for name, scope in scopes.items():
        if scope == "*":
            return name
    return next(iter(scopes), None)


def _list(raw: object, path: KeyPath) -> list[Any]:
    if not isinstance(raw, list):
        raise At(path, "expected a list")
    return raw


def _duration(raw: object, path: KeyPath) -> timedelta:
    """The rule files' own duration syntax (h, d, w), so tests and rules read alike."""
    try:
        return parse_duration(raw)
    except PydanticCustomError:
        raise At(path, f"a duration is a number with h, d or w (e.g. 8d), not {raw!r}") from None


def _when(raw: object, path: KeyPath) -> datetime:
    if isinstance(raw, datetime):
        value = raw
    elif isinstance(raw, str):
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            raise At(path, f"expected an ISO 8601 date and time, not {raw!r}") from None
    else:
        raise At(path, "expected an ISO 8601 date and time with a UTC offset")
    if value.tzinfo is None:
        raise At(path, "the time needs a UTC offset, e.g. 2025-03-02T09:30:00+08:00")
    return value


def _birth(raw: object, ordered_at: datetime) -> date:
    """A birth date giving exactly `raw` completed years on the order date (birthday passed)."""
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise At(("patient_age",), "patient_age is a whole number of years")
    day = ordered_at.date() - timedelta(days=1)
    try:
        return day.replace(year=day.year - raw)
    except ValueError:  # 29 February
        return (day - timedelta(days=1)).replace(year=day.year - raw)
