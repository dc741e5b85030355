"""The compiled check plan (issue 21) only leaves out calls that could find nothing: every
decision, reason and trace is the same as when every check runs on every candidate."""

from __future__ import annotations

from typing import Any
from unittest import mock

import orjson
import pytest
from hypothesis import HealthCheck, given, settings

from labrecog import Engine
from labrecog.decide import Trace, _item
from labrecog.testing import cases

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ENGINES = {
    name: Engine.from_path(f"labrecog/rulesets/{name}")
    for name in ("demo", "cn-reference", "uk-mri", "us-retest")
}
EVERY_CHECK = _item._Plan(ranges=True, value_flags=True, institution=True)


def _decided(engine: Engine, case: dict[str, Any]) -> tuple[bytes, str]:
    trace = Trace()
    decision = engine.evaluate(case, trace=trace)
    return orjson.dumps(decision.model_dump(mode="json")), repr(trace)


@pytest.mark.parametrize("name", sorted(ENGINES))
def test_plan_decides_as_every_check_does(name: str) -> None:
    engine = ENGINES[name]

    @SETTINGS
    @given(cases(engine))
    def check(case: dict[str, Any]) -> None:
        planned = _decided(engine, case)
        with mock.patch.object(_item, "_plan", lambda *args: EVERY_CHECK):
            assert _decided(engine, case) == planned

    check()


def test_plans_of_the_shipped_rule_sets() -> None:
    """What the plan leaves out, per kind of test: the critical check where no limit is
    declared, the abnormal-text check without texts."""
    rules = ENGINES["demo"].rules
    for test in rules.tests.values():
        assert test.checks_critical == (
            not test.qualitative and (test.critical_low, test.critical_high) != (None, None)
        )
        assert test.checks_abnormal_text == (test.qualitative and bool(test.abnormal_values))
    assert all(engine.rules.checks_institution for engine in ENGINES.values())
