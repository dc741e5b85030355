"""The linter's reasoning over conditions, against an independent oracle.

For any two generated conditions: the linter finds an overlap exactly when some case
satisfies both (searched exhaustively over a grid that cuts every clause's boundaries),
and each witness it builds makes both conditions apply when the engine evaluates it.
Containment ("covers"), which a C002 finding rests on, is never claimed falsely.
"""

from __future__ import annotations

import dataclasses
import itertools
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from labrecog.compile import CCondition, CompiledRules, Override
from labrecog.engine import Engine
from labrecog.lint import overlap, space_of, witness_applies

DEMO = Path(__file__).resolve().parent.parent / "rules" / "demo"
SETTINGS = ("outpatient", "inpatient", "emergency", "checkup")
FLAGS = ("on_insulin", "condition_changed", "patient_request")
INSTITUTIONS = ("LZU2", "GSPH", "X1")
PREFIXES = ("62", "6201", "620102", "63", "11")
AGE_POINTS = (0, 5, 14, 18, 65, 90)


@cache
def demo() -> Engine:
    return Engine.from_path(DEMO)


def subset(pool: tuple[Any, ...]) -> st.SearchStrategy[frozenset[Any]]:
    """Half the time unconstrained (empty), so that two conditions often meet."""
    some = st.frozensets(st.sampled_from(pool), min_size=1, max_size=len(pool))
    return st.just(frozenset[Any]()) | some


@st.composite
def conditions(draw: st.DrawFn, ident: str) -> CCondition:
    lo = draw(st.none() | st.sampled_from(AGE_POINTS))
    hi = draw(st.none() | st.sampled_from(AGE_POINTS))
    if lo is not None and hi is not None and lo >= hi:
        lo, hi = None, hi  # the loader refuses min >= max; max alone may still be 0
    return CCondition(
        id=ident,
        settings=draw(subset(SETTINGS)),
        flags_any=draw(subset(FLAGS)),
        flags_all=draw(subset(FLAGS)),
        flags_none=draw(subset(FLAGS)),
        sex=draw(st.none() | st.sampled_from(("male", "female"))),
        age_min=lo,
        age_max=hi,
        institutions=draw(subset(INSTITUTIONS)),
        levels=draw(subset((1, 2, 3))),
        regions=tuple(sorted(draw(subset(PREFIXES)))),
        targets=draw(st.none() | st.just(frozenset({"GLU"}))),
        override=Override(),
        source=None,
    )


def admits(c: CCondition, point: tuple[Any, ...]) -> bool:
    """The condition language as docs/rules.md states it, written out plainly."""
    setting, sex, age, inst, level, region, flags = point
    return (
        (not c.settings or setting in c.settings)
        and (not c.flags_any or bool(c.flags_any & flags))
        and c.flags_all <= flags
        and not (c.flags_none & flags)
        and (c.sex is None or c.sex == sex)
        and (c.age_min is None or age >= c.age_min)
        and (c.age_max is None or age < c.age_max)
        and (not c.institutions or inst in c.institutions)
        and (not c.levels or level in c.levels)
        and (not c.regions or any(region.startswith(p) for p in c.regions))
    )


def grid() -> itertools.product[tuple[Any, ...]]:
    ages = sorted({*AGE_POINTS, 1, 100})
    regions = ("620102", "620100", "621226", "630100", "110000", "999999")
    flag_sets = [frozenset(s) for r in range(4) for s in itertools.combinations(FLAGS, r)]
    return itertools.product(
        SETTINGS, ("male", "female"), ages, (*INSTITUTIONS, "OTHER"), (1, 2, 3), regions,
        flag_sets,
    )  # fmt: skip


def with_conditions(rules: CompiledRules, *conds: CCondition) -> CompiledRules:
    """The demo rules with only these conditions (fresh memos: they are per rule set)."""
    return dataclasses.replace(
        rules, conditions=conds, policy_memo={}, condition_memo={}, institution_memo={},
        _pattern_memo={},
    )  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(conditions("A"), conditions("B"))
def test_overlap_is_found_exactly_when_a_case_satisfies_both(a: CCondition, b: CCondition) -> None:
    rules = with_conditions(demo().rules, a, b)
    pair = overlap(a, b, rules)
    exists = any(admits(a, p) and admits(b, p) for p in grid())
    assert (pair is not None) == exists
    if pair is not None:
        assert witness_applies(Engine(rules), pair.witness, ("A", "B"))


_DIMENSIONS = (
    ("settings",), ("flags_any", "flags_all", "flags_none"), ("sex",), ("age_min", "age_max"),
    ("institutions",), ("levels",), ("regions",),
)  # fmt: skip


@st.composite
def near_pairs(draw: st.DrawFn) -> tuple[CCondition, CCondition]:
    """Two conditions alike but in one dimension: containment is then often true, in each
    dimension in turn, so a wrong answer there cannot hide behind another dimension."""
    a, other = draw(conditions("A")), draw(conditions("B"))
    names = draw(st.sampled_from(_DIMENSIONS))
    b = dataclasses.replace(a, id="B", **{n: getattr(other, n) for n in names})
    return a, b


def _free(ident: str, **given_: Any) -> CCondition:
    """A condition constraining only what is given."""
    empty: frozenset[Any] = frozenset()
    fields: dict[str, Any] = dict(
        id=ident, settings=empty, flags_any=empty, flags_all=empty, flags_none=empty, sex=None,
        age_min=None, age_max=None, institutions=empty, levels=empty, regions=(), targets=None,
        override=Override(), source=None,
    )  # fmt: skip
    fields.update(given_)
    return CCondition(**fields)


# One pair per dimension where containment fails only there (hypothesis also searches).
_NEAR_MISSES = (
    (_free("A", regions=("620102",)), _free("B", regions=("62",))),
    (_free("A", age_min=18), _free("B", age_min=14, age_max=65)),
    (_free("A", age_max=65), _free("B", age_min=18)),
    (_free("A", settings=frozenset({"inpatient"})), _free("B")),
    (_free("A", flags_none=frozenset({"on_insulin"})), _free("B")),
    (
        _free("A", flags_all=frozenset({"on_insulin"})),
        _free("B", flags_any=frozenset({"on_insulin", "patient_request"})),
    ),
    (
        _free("A", flags_any=frozenset({"on_insulin"})),
        _free("B", flags_any=frozenset({"on_insulin", "patient_request"})),
    ),
    (_free("A", levels=frozenset({3})), _free("B", levels=frozenset({2, 3}))),
    (_free("A", institutions=frozenset({"GSPH"})), _free("B")),
    (_free("A", sex="male"), _free("B")),
)


@settings(max_examples=300, deadline=None)
@given(near_pairs())
@example((_free("A", regions=("62",)), _free("B", regions=("6201",))))  # covered: true
def test_covers_is_never_claimed_falsely(pair: tuple[CCondition, CCondition]) -> None:
    a, b = pair
    if space_of(a).covers(space_of(b)):
        assert all(admits(a, p) for p in grid() if admits(b, p))


def test_covers_answers_false_on_each_near_miss() -> None:
    for a, b in _NEAR_MISSES:
        assert not all(admits(a, p) for p in grid() if admits(b, p)), (a, b)
        assert not space_of(a).covers(space_of(b)), (a, b)
