"""The YAML test-case format of a rule set's ``tests/`` folder, and the case builder.

Rule authors are not programmers: a test must state only what matters to it (one prior
GLU result 8 days old), so everything else comes from defaults that give a recognisable
case. Defaults that depend on the rule set (the ordering lab, units, specimens, marks) are
taken from the compiled rules, so the same format works for any rule set.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path as FsPath
from typing import Any, Final

from pydantic_core import PydanticCustomError

from labrecog._errors import RulesetError, RulesetProblem
from labrecog.compile import CompiledRules, CTest
from labrecog.load import (
    KeyPath,
    Position,
    SourceMap,
    YamlProblem,
    did_you_mean,
    load_yaml,
    parse_duration,
)
from labrecog.model import REASON_CODES, PriorResult

__all__ = [
    "CASE_KEYS",
    "EXPECT_KEYS",
    "ORDERED_AT",
    "PRIOR_KEYS",
    "CaseError",
    "Expectation",
    "TestCase",
    "build_case",
    "load_test_file",
]

ORDERED_AT: Final = "2025-03-02T09:30:00+08:00"
PATIENT_ID: Final = "P-1"
BIRTH_DATE: Final = date(1961, 5, 14)
DEFAULT_PRIOR_AGE: Final = "1d"

TEST_KEYS: Final = frozenset({"name", "case", "expect"})
EXPECT_KEYS: Final = frozenset({"status", "reasons", "reasons_include", "result_id", "saving"})
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
_STATUSES: Final = frozenset({"waive", "retest", "partial"})


class CaseError(RulesetError):
    """A test file that cannot be run; carries `file:line:col` like rule-set errors.

    A rule set's tests are rule-set material, so this is a :class:`RulesetError` whose one
    problem is where the file went wrong (``str()`` is ``file:line:col: message``).
    """

    def __init__(self, position: Position, message: str) -> None:
        super().__init__([RulesetProblem(position.file, position.line, position.col, message)])
        self.position = position
        self.message = message

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.position, self.message))


@dataclass(frozen=True, slots=True)
class Expectation:
    """What one ordered item must look like; ``None`` fields are not checked."""

    code: str
    occurrence: int  # 1 for "GLU", 2 for "GLU#2" (the second GLU ordered)
    line: int
    status: str | None
    reasons: frozenset[str] | None
    reasons_include: frozenset[str]
    result_id: str | None
    check_result_id: bool
    saving: str | None


@dataclass(frozen=True, slots=True)
class TestCase:
    """One named test: the built case and the expectations on its items."""

    __test__ = False  # not a pytest class, despite the name

    name: str
    file: str
    line: int
    spec: Mapping[str, Any]
    case: dict[str, Any]
    expect: tuple[Expectation, ...]
    case_at: Position  # where `case:` is written, for cases the engine refuses


def load_test_file(
    path: FsPath, rules: CompiledRules, display: str | None = None
) -> list[TestCase]:
    """Read, check and build every test of one file; raise CaseError on the first problem."""
    filename = display or str(path)
    try:
        data, sm = load_yaml(path.read_bytes(), filename)
    except YamlProblem as exc:
        raise CaseError(exc.position, exc.message) from None
    except OSError as exc:
        raise CaseError(Position(filename, 1, 1), f"cannot read: {exc.strerror}") from None
    if data is None:
        return []
    if not isinstance(data, list):
        raise CaseError(sm.nearest(()), "a test file is a list of tests (`- name: ...`)")
    out: list[TestCase] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(data):
        test = _test(raw, (i,), sm, rules, filename)
        if test.name in seen:
            raise CaseError(
                sm.nearest((i, "name")),
                f"duplicate test name {test.name!r} (first at line {seen[test.name]})",
            )
        seen[test.name] = test.line
        out.append(test)
    return out


def _test(
    raw: object, path: KeyPath, sm: SourceMap, rules: CompiledRules, filename: str
) -> TestCase:
    where = sm.nearest(path)
    if not isinstance(raw, dict):
        raise CaseError(where, "a test is a mapping with name, case and expect")
    _known(raw, TEST_KEYS, path, sm, "test")
    for key in ("name", "case", "expect"):
        if key not in raw:
            raise CaseError(where, f"test is missing '{key}'")
    name = raw["name"]
    if not isinstance(name, str) or not name:
        raise CaseError(sm.nearest((*path, "name")), "name must be a non-empty string")
    spec = raw["case"]
    if not isinstance(spec, dict):
        raise CaseError(sm.nearest((*path, "case")), "case must be a mapping")
    try:
        case = build_case(spec, rules)
    except _At as exc:
        at: KeyPath = (*path, "case", *exc.path)
        pos = (sm.key(at) if exc.key else None) or sm.nearest(at)
        raise CaseError(pos, exc.message) from None
    expect = _expectations(raw["expect"], (*path, "expect"), sm)
    case_at = sm.nearest((*path, "case"))
    return TestCase(name, filename, where.line, spec, case, expect, case_at)


def _known(
    raw: Mapping[str, object], allowed: frozenset[str], path: KeyPath, sm: SourceMap, what: str
) -> None:
    for key in raw:
        if key not in allowed:
            pos = sm.key((*path, key)) or sm.nearest((*path, key))
            raise CaseError(pos, f"unknown key '{key}' in {what}{did_you_mean(key, allowed)}")


def _expectations(raw: object, path: KeyPath, sm: SourceMap) -> tuple[Expectation, ...]:
    if not isinstance(raw, dict) or not raw:
        raise CaseError(sm.nearest(path), "expect must map ordered codes to expected outcomes")
    out: list[Expectation] = []
    for key, spec in raw.items():
        here = (*path, key)
        pos = sm.key(here) or sm.nearest(here)
        code, _, nth = key.partition("#")
        if not code or (nth and not nth.isdigit()):
            raise CaseError(pos, f"expected an ordered code such as GLU or GLU#2, got {key!r}")
        if not isinstance(spec, dict) or not spec:
            raise CaseError(
                sm.nearest(here), f"expect.{key} must be a mapping, e.g. {{status: waive}}"
            )
        _known(spec, EXPECT_KEYS, here, sm, f"expect.{key}")
        if "reasons" in spec and "reasons_include" in spec:
            raise CaseError(sm.nearest(here), "give either reasons or reasons_include, not both")
        status = spec.get("status")
        if status is not None and status not in _STATUSES:
            raise CaseError(
                sm.nearest((*here, "status")),
                f"status must be waive, retest or partial, not {status!r}",
            )
        reasons = _codes(spec.get("reasons"), (*here, "reasons"), sm) if "reasons" in spec else None
        include = _codes(spec.get("reasons_include"), (*here, "reasons_include"), sm)
        result_id = spec.get("result_id")
        if result_id is not None and not isinstance(result_id, str):
            raise CaseError(sm.nearest((*here, "result_id")), "result_id must be a string or null")
        saving = spec.get("saving")
        if saving is not None:
            if isinstance(saving, bool) or not isinstance(saving, str | int | float):
                raise CaseError(
                    sm.nearest((*here, "saving")), "saving must be an amount like '5.00'"
                )
            saving = str(saving)
        out.append(
            Expectation(
                code=code,
                occurrence=int(nth) if nth else 1,
                line=pos.line,
                status=status,
                reasons=reasons,
                reasons_include=include or frozenset(),
                result_id=result_id,
                check_result_id="result_id" in spec,
                saving=saving,
            )
        )
    return tuple(out)


def _codes(raw: object, path: KeyPath, sm: SourceMap) -> frozenset[str]:
    if raw is None:
        return frozenset()
    if not isinstance(raw, list):
        raise CaseError(sm.nearest(path), "reason codes are a list, e.g. [too_old]")
    known = frozenset(REASON_CODES)
    for i, code in enumerate(raw):
        if not isinstance(code, str) or code not in known:
            raise CaseError(
                sm.nearest((*path, i)),
                f"unknown reason code {code!r}{did_you_mean(str(code), known)}",
            )
    return frozenset(raw)


class _At(Exception):
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
            raise _At((key,), message, key=True)
    for short, full in (("order", "tests"), ("priors", "prior_results")):
        if short in spec and full in spec:
            raise _At((full,), f"give either {short} or {full}, not both")
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
            raise _At(("order", i), "an ordered item is a code or {code, flags}")
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
        raise _At(path, "a prior is a mapping with at least a code, e.g. {code: GLU, age: 8d}")
    for key in raw:
        if key not in PRIOR_KEYS:
            message = f"unknown key '{key}' in prior{did_you_mean(key, PRIOR_KEYS)}"
            raise _At((*path, key), message, key=True)
    if "age" in raw and "collected_at" in raw:
        raise _At(path, "give either age or collected_at, not both")
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
            raise _At((*path, "range"), "range is [low, high] (use null for an open end)")
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
    raise _At(path, "an institution is a registry id or a mapping {id, region, level}")


def _widest_mark(rules: CompiledRules) -> str | None:
    scopes = rules.recognition.mark_scopes
    for name, scope in scopes.items():
        if scope == "*":
            return name
    return next(iter(scopes), None)


def _list(raw: object, path: KeyPath) -> list[Any]:
    if not isinstance(raw, list):
        raise _At(path, "expected a list")
    return raw


def _duration(raw: object, path: KeyPath) -> timedelta:
    """The rule files' own duration syntax (h, d, w), so tests and rules read alike."""
    try:
        return parse_duration(raw)
    except PydanticCustomError:
        raise _At(path, f"a duration is a number with h, d or w (e.g. 8d), not {raw!r}") from None


def _when(raw: object, path: KeyPath) -> datetime:
    if isinstance(raw, datetime):
        value = raw
    elif isinstance(raw, str):
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            raise _At(path, f"expected an ISO 8601 date and time, not {raw!r}") from None
    else:
        raise _At(path, "expected an ISO 8601 date and time with a UTC offset")
    if value.tzinfo is None:
        raise _At(path, "the time needs a UTC offset, e.g. 2025-03-02T09:30:00+08:00")
    return value


def _birth(raw: object, ordered_at: datetime) -> date:
    """A birth date giving exactly `raw` completed years on the order date (birthday passed)."""
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise _At(("patient_age",), "patient_age is a whole number of years")
    day = ordered_at.date() - timedelta(days=1)
    try:
        return day.replace(year=day.year - raw)
    except ValueError:  # 29 February
        return (day - timedelta(days=1)).replace(year=day.year - raw)
