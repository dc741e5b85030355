"""Run a rule set's own tests, compare decisions with expectations, and measure coverage.

Coverage answers the rule author's question "which of my rules has no test?": a catalogue
entry nobody orders, an exception flag never set, a condition that never matched.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

from labrecog._errors import InputError
from labrecog.authoring.cases import CaseError, Expectation, TestCase, load_test_file
from labrecog.check.facts import CaseFacts
from labrecog.engine import Engine
from labrecog.model.case import Case
from labrecog.model.decision import REASON_CODES, Decision, DecisionItem

__all__ = [
    "KINDS",
    "Coverage",
    "Failure",
    "RunResult",
    "find_test_files",
    "load_tests",
    "run_tests",
]

KINDS = ("tests", "panels", "exceptions", "conditions", "institutions", "reasons")


@dataclass(frozen=True, slots=True)
class Failure:
    """One ordered item whose decision differs from what its test expected."""

    file: str
    line: int
    test: str
    code: str
    differences: tuple[str, ...]
    reasons: str

    def __str__(self) -> str:
        tail = f" (reasons: {self.reasons})" if self.reasons else " (no reasons)"
        return (
            f"{self.file}:{self.line}: test {self.test}: {self.code}: "
            + "; ".join(self.differences)
            + tail
        )


@dataclass(slots=True)
class Coverage:
    """Per kind, every item the rule set defines and those some test exercised."""

    defined: dict[str, frozenset[str]]
    exercised: dict[str, set[str]] = field(default_factory=lambda: {k: set() for k in KINDS})

    def missing(self, kind: str) -> list[str]:
        return sorted(self.defined[kind] - self.exercised[kind])

    def counts(self, kind: str) -> tuple[int, int]:
        total = self.defined[kind]
        return len(total & self.exercised[kind]), len(total)

    def percent(self, kind: str | None = None) -> float:
        """One kind's share, or the overall share of all defined items (100 if none)."""
        kinds = KINDS if kind is None else (kind,)
        done = sum(self.counts(k)[0] for k in kinds)
        total = sum(self.counts(k)[1] for k in kinds)
        return 100.0 if total == 0 else 100.0 * done / total


@dataclass(slots=True)
class RunResult:
    passed: int
    failures: list[Failure]
    coverage: Coverage

    @property
    def failed(self) -> int:
        return len({(f.file, f.test) for f in self.failures})


def find_test_files(ruleset: Path) -> list[Path]:
    """The rule set's ``tests/*.yaml`` (and ``*.yml``), in a stable order."""
    folder = ruleset / "tests"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def load_tests(engine: Engine, files: Iterable[Path]) -> list[TestCase]:
    """All tests of all files; CaseError on the first invalid file (nothing runs then)."""
    out: list[TestCase] = []
    for path in files:
        out.extend(load_test_file(path, engine.rules))
    return out


def run_tests(engine: Engine, tests: Iterable[TestCase], pattern: str | None = None) -> RunResult:
    """Evaluate each selected test; a case the engine refuses is a test-file error."""
    rules = engine.rules
    coverage = Coverage(
        defined={
            "tests": frozenset(rules.tests),
            "panels": frozenset(rules.panels),
            "exceptions": frozenset(rules.exceptions),
            "conditions": frozenset(c.id for c in rules.conditions),
            "institutions": frozenset(rules.institutions),
            "reasons": frozenset(REASON_CODES),
        }
    )
    passed = 0
    failures: list[Failure] = []
    for test in tests:
        if pattern and pattern not in test.name:
            continue
        try:
            valid = engine.validate_case(test.case)
            decision = engine.evaluate(valid, lang="en")
        except InputError as exc:
            raise CaseError(test.case_at, f"test {test.name}: invalid case: {exc}") from None
        _exercise(coverage, engine, valid, decision)
        found = [f for f in (_compare(test, e, decision) for e in test.expect) if f is not None]
        failures.extend(found)
        if not found:
            passed += 1
    return RunResult(passed, failures, coverage)


def _exercise(coverage: Coverage, engine: Engine, case: Case, decision: Decision) -> None:
    rules = engine.rules
    seen = coverage.exercised
    facts = CaseFacts.of(rules, case, "en")
    for flag in case.context.flags:
        seen["exceptions"].add(flag)
    for item in case.tests:
        canon = rules.order_codes.get(item.code, item.code)
        seen["tests"].add(canon)
        seen["panels"].add(canon)
        seen["exceptions"].update(item.flags)
        matched, _ = facts.conditions(frozenset(item.flags))
        seen["conditions"].update(c.id for c in matched)
    for prior in case.prior_results:
        seen["institutions"].add(prior.institution.id)
    for out in decision.items:
        seen["reasons"].update(r.code for r in out.reasons)


def _item(decision: Decision, exp: Expectation) -> DecisionItem | None:
    same = [i for i in decision.items if i.code == exp.code]
    return same[exp.occurrence - 1] if len(same) >= exp.occurrence else None


def _compare(test: TestCase, exp: Expectation, decision: Decision) -> Failure | None:
    name = exp.code if exp.occurrence == 1 else f"{exp.code}#{exp.occurrence}"
    item = _item(decision, exp)
    if item is None:
        ordered = ", ".join(i.code for i in decision.items)
        return Failure(
            test.file, exp.line, test.name, name, (f"not in the decision ({ordered})",), ""
        )
    diffs: list[str] = []
    if exp.status is not None and exp.status != item.status:
        diffs.append(f"expected status {exp.status}, got {item.status}")
    got = {r.code for r in item.reasons}
    if exp.reasons is not None and exp.reasons != got:
        diffs.append(f"expected reasons {_set(exp.reasons)}, got {_set(got)}")
    if exp.reasons_include - got:
        diffs.append(
            f"expected reasons to include {_set(exp.reasons_include - got)}, got {_set(got)}"
        )
    if exp.check_result_id and exp.result_id != item.result_id:
        diffs.append(f"expected result_id {exp.result_id}, got {item.result_id}")
    if exp.saving is not None and not _same_amount(exp.saving, item.saving):
        diffs.append(f"expected saving {exp.saving}, got {item.saving}")
    if not diffs:
        return None
    return Failure(test.file, exp.line, test.name, name, tuple(diffs), explain(item))


def explain(item: DecisionItem) -> str:
    """The item's reasons on one line: code, result used, message."""
    parts = []
    for r in item.reasons:
        head = r.code + (f" {r.result_id}" if r.result_id else "")
        parts.append(f"{head}: {r.message}")
    return "; ".join(parts)


def _set(codes: Iterable[str]) -> str:
    return "[" + ", ".join(sorted(codes)) + "]"


def _same_amount(expected: str, actual: str) -> bool:
    try:
        return Decimal(expected) == Decimal(actual)
    except InvalidOperation:
        return expected == actual
