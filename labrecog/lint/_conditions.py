"""Findings about ``conditions:``: never applicable, without effect, overlapping.

Conditions apply in file order and a later matching condition wins for the keys it sets
(docs/rules.md). So a condition has no effect when a later one applies whenever it does,
to all its tests, and sets every key it sets; and two conditions whose cases intersect,
target a common test and set one key to different values give an answer that depends on
their order. A later condition that is narrower than an earlier one (a refinement: "every
inpatient, but in the ICU …") is the intended use of "later wins" and is not reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from labrecog.authoring import build_case
from labrecog.compile import CCondition, CompiledRules, Override
from labrecog.lint._findings import Finding
from labrecog.lint._space import space_of
from labrecog.load import LoadedRuleset, Position
from labrecog.words import Lang, format_duration, say

__all__ = ["ConditionPair", "condition_findings", "overlap", "settings_of"]

Say = Callable[..., str]


@dataclass(frozen=True, slots=True)
class ConditionPair:
    """Two conditions that can apply to one case, for a common test; ``witness`` shows it."""

    first: CCondition
    second: CCondition
    tests: tuple[str, ...]
    witness: dict[str, Any]


def settings_of(override: Override) -> dict[str, str]:
    """The keys a condition's ``set:`` gives, each with its value as an author writes it."""
    out: dict[str, str] = {}
    if override.max_age is not None:
        out["max_age"] = str(format_duration(override.max_age))
    if override.tolerance is not None:
        out["reference_range_tolerance"] = f"{override.tolerance:g}"
    if override.reference_range_required is not None:
        out["reference_range_required"] = str(override.reference_range_required).lower()
    if override.abnormal_prior is not None:
        out["abnormal_prior"] = override.abnormal_prior
    if override.critical_prior is not None:
        out["critical_prior"] = override.critical_prior
    if override.recognisable is not None:
        out["recognisable"] = str(override.recognisable).lower()
    if override.exception is not None:
        out["exception"] = override.exception
    if override.delta:
        out["delta"] = f"absolute={override.delta_absolute}, relative={override.delta_relative}"
    return out


def _common_tests(a: CCondition, b: CCondition, all_tests: frozenset[str]) -> frozenset[str]:
    return (a.targets if a.targets is not None else all_tests) & (
        b.targets if b.targets is not None else all_tests
    )


def _ordering_default(rules: CompiledRules) -> dict[str, Any]:
    """The test-case builder's ordering institution, spelt out (id, region, level)."""
    return dict(build_case({}, rules)["institution"])


def overlap(a: CCondition, b: CCondition, rules: CompiledRules) -> ConditionPair | None:
    """The pair with a witness case when both can apply to one case for a common test."""
    tests = _common_tests(a, b, frozenset(rules.tests))
    if not tests:
        return None
    witness = space_of(a).meet(space_of(b)).witness(_ordering_default(rules))
    if witness is None:
        return None
    order = sorted(tests)
    witness["order"] = [order[0]]
    return ConditionPair(a, b, tuple(order), witness)


def condition_findings(
    loaded: LoadedRuleset, rules: CompiledRules, lang: Lang
) -> Iterator[Finding]:
    conds = rules.conditions
    spaces = [space_of(c) for c in conds]
    all_tests = frozenset(rules.tests)
    default = _ordering_default(rules) if conds else {}

    def where(i: int) -> Position:
        return loaded.position(("conditions", i))

    def at(i: int) -> str:
        p = where(i)
        return f"{p.file}:{p.line}"

    def finding(
        i: int, lint_code: str, words: str, subject: tuple[str, ...], **kw: object
    ) -> Finding:
        p = where(i)
        witness = kw.pop("witness", None)
        message = say("lint", words, lang, **kw)
        return Finding(lint_code, p.file, p.line, p.col, message, subject,
                       witness if isinstance(witness, dict) else None)  # fmt: skip

    dead: set[int] = set()
    shadowed: set[tuple[int, int]] = set()  # (earlier, later): reported as C002, not C003
    for i, (cond, space) in enumerate(zip(conds, spaces, strict=True)):
        clause = space.empty_dimension()
        if clause is not None:
            dead.add(i)
            yield finding(i, "C001", "msg.C001.when", (cond.id,), id=cond.id, clause=clause)
        elif cond.targets is not None and not cond.targets:
            dead.add(i)
            yield finding(i, "C001", "msg.C001.targets", (cond.id,), id=cond.id)

    for i, cond in enumerate(conds):
        if i in dead:
            continue
        keys = settings_of(cond.override)
        mine = cond.targets if cond.targets is not None else all_tests
        for j in range(i + 1, len(conds)):
            later = conds[j]
            if j in dead:
                continue
            theirs = later.targets if later.targets is not None else all_tests
            if (
                mine <= theirs
                and keys.keys() <= settings_of(later.override).keys()
                and spaces[j].covers(spaces[i])
            ):
                shadowed.add((i, j))
                witness = _with_order(spaces[i].witness(default), mine)
                yield finding(
                    i, "C002", "msg.C002", (cond.id, later.id), id=cond.id, later=later.id,
                    at=at(j), keys=", ".join(keys), witness=witness,
                )  # fmt: skip
                break
    for i, cond in enumerate(conds):
        if i in dead:
            continue
        for j in range(i + 1, len(conds)):
            if j in dead or (i, j) in shadowed:
                continue
            later = conds[j]
            diffs = _differences(cond.override, later.override)
            if not diffs or spaces[i].covers(spaces[j]):
                continue  # same answers, or the later one refines the earlier: intended
            pair = overlap(cond, later, rules)
            if pair is None:
                continue
            shown = ", ".join(pair.tests[:5]) + (" …" if len(pair.tests) > 5 else "")
            yield finding(
                j, "C003", "msg.C003", (cond.id, later.id), first=cond.id, at=at(i),
                id=later.id, tests=shown, diffs=", ".join(diffs), witness=pair.witness,
            )  # fmt: skip


def _differences(a: Override, b: Override) -> list[str]:
    """Keys both set, to different values: ``max_age (48h, 24h)``."""
    sa, sb = settings_of(a), settings_of(b)
    return [f"{k} ({sa[k]} → {sb[k]})" for k in sa if k in sb and sa[k] != sb[k]]


def _with_order(witness: dict[str, Any] | None, tests: frozenset[str]) -> dict[str, Any] | None:
    if witness is not None and tests:
        witness["order"] = [min(tests)]
    return witness
