"""The YAML test-case format of a rule set's ``tests/`` folder: reading and checking it.

Each test's ``case`` is expanded by :mod:`labrecog.authoring.builder`; a problem anywhere
is reported at its ``file:line:col``, like a rule file's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any, Final

from labrecog._errors import RulesetError, RulesetProblem
from labrecog.authoring.builder import CASE_KEYS, ORDERED_AT, PRIOR_KEYS, At, build_case
from labrecog.compile import CompiledRules
from labrecog.load import KeyPath, Position, SourceMap, YamlProblem, did_you_mean, load_yaml
from labrecog.model import REASON_CODES

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
    "read_test_file",
]

TEST_KEYS: Final = frozenset({"name", "case", "expect"})
EXPECT_KEYS: Final = frozenset({"status", "reasons", "reasons_include", "result_id", "saving"})
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
    tests, problems = read_test_file(path, rules, display)
    if problems:
        raise problems[0]
    return tests


def read_test_file(
    path: FsPath, rules: CompiledRules, display: str | None = None
) -> tuple[list[TestCase], list[CaseError]]:
    """The file's valid tests, and the first problem of each invalid one.

    Tests are independent, so one bad test does not hide the next one's problem: the
    author fixes them all in one round, as ``labrecog validate`` lets them for rule files.
    A file that is not YAML, or not a list, is one problem.
    """
    filename = display or str(path)
    try:
        data, sm = load_yaml(path.read_bytes(), filename)
    except YamlProblem as exc:
        return [], [CaseError(exc.position, exc.message)]
    except OSError as exc:
        return [], [CaseError(Position(filename, 1, 1), f"cannot read: {exc.strerror}")]
    if data is None:
        return [], []
    if not isinstance(data, list):
        return [], [CaseError(sm.nearest(()), "a test file is a list of tests (`- name: ...`)")]
    out: list[TestCase] = []
    problems: list[CaseError] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(data):
        try:
            test = _test(raw, (i,), sm, rules, filename)
        except CaseError as exc:
            problems.append(exc)
            continue
        if test.name in seen:
            problems.append(
                CaseError(
                    sm.nearest((i, "name")),
                    f"duplicate test name {test.name!r} (first at line {seen[test.name]})",
                )
            )
            continue
        seen[test.name] = test.line
        out.append(test)
    return out, problems


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
    except At as exc:
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
