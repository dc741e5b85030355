"""labrecog.testing: generated cases are valid, and the example property holds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, Phase, event, find, given, settings

from labrecog import Engine
from labrecog.check._facts import CaseFacts
from labrecog.testing import (
    assert_never_waived_older_than_max_age,
    cases,
    priors,
    used_result,
    waived_items,
)
from tests.builders import demo_engine

ENGINE: Engine = demo_engine()
# find() stops at the first example: no shrinking, which would only cost time here.
# derandomize: a search for a rare outcome must not pass or fail by luck in CI.
FIND = settings(
    max_examples=2000, deadline=None, database=None, phases=[Phase.generate], derandomize=True
)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(cases(ENGINE))
def test_every_generated_case_validates(case: dict[str, Any]) -> None:
    valid = ENGINE.validate_case(case)
    catalogue = set(ENGINE.rules.tests) | set(ENGINE.rules.panels)
    assert {item.code for item in valid.tests} <= catalogue
    assert len(valid.prior_results) <= 8


@FAST
@given(priors(ENGINE, "GLU"))
def test_priors_for_one_test(results: list[dict[str, Any]]) -> None:
    test = ENGINE.rules.tests["GLU"]
    for prior in results:
        assert prior.get("unit") == test.unit
        assert prior.get("specimen") in (*test.specimens, None)
    base = {
        "order_id": "O-1",
        "ordered_at": "2025-03-02T09:30:00+08:00",
        "patient": {"id": "P-1"},
        "institution": {"id": "LZU2"},
        "tests": [{"code": "GLU"}],
        "prior_results": results,
    }
    ENGINE.validate_case(base)


@FAST
@given(cases(ENGINE))
def test_no_result_older_than_max_age_is_ever_used(case: dict[str, Any]) -> None:
    decision = ENGINE.evaluate(case)
    event("waived" if waived_items(decision) else "nothing waived")
    assert_never_waived_older_than_max_age(ENGINE, case, decision)
    # The same property spelt out with the smaller helpers.
    valid = ENGINE.validate_case(case)
    facts = CaseFacts.of(ENGINE.rules, valid, "en")
    for item in case["tests"]:
        for code in (item["code"], *_components(item["code"])):
            prior = used_result(decision, case, code)
            if prior is None:
                continue
            policy = facts.policy(ENGINE.rules.tests[code], frozenset(item.get("flags", ())))
            collected = next(p for p in valid.prior_results if p.id == prior["id"]).collected_at
            assert valid.ordered_at - collected <= policy.max_age


def _components(code: str) -> tuple[str, ...]:
    panel = ENGINE.rules.panels.get(code)
    return panel.components if panel else ()


def test_the_strategies_produce_waives() -> None:
    found = find(
        cases(ENGINE, tests=["GLU"]),
        lambda case: bool(waived_items(ENGINE.evaluate(case))),
        settings=FIND,
    )
    assert waived_items(ENGINE.evaluate(found))


def test_panels_produce_waived_components() -> None:
    found = find(
        cases(ENGINE, tests=["LFT"]),  # partial allowed: one waived component suffices
        lambda case: any(item.waived for item in ENGINE.evaluate(case).items),
        settings=FIND,
    )
    decision = ENGINE.evaluate(found)
    assert any(used_result(decision, found, code) for code in ("ALT", "AST", "TBIL", "ALB"))


def test_unknown_codes_are_refused() -> None:
    try:
        cases(ENGINE, tests=["NOPE"])
    except KeyError:
        pass
    else:  # pragma: no cover
        raise AssertionError("expected KeyError")


UK_MRI = Engine.from_path("labrecog/rulesets/uk-mri")
#: The hour after Europe/London's clocks went forward (2024-03-31 01:00 UTC): wall times
#: 01:00-01:59 do not exist there that night.
AFTER_SPRING_FORWARD = datetime(2024, 3, 31, 2, 0, tzinfo=ZoneInfo("Europe/London"))


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(priors(UK_MRI, next(iter(UK_MRI.rules.tests)), ordered_at=AFTER_SPRING_FORWARD))
def test_priors_keep_time_order_across_a_clock_change(results: list[dict[str, Any]]) -> None:
    """Collection before the order, report after collection, in real time: minutes taken
    from wall-clock times across the change gave reports before their samples (a case the
    engine refuses), found by a property test on uk-mri."""
    order = AFTER_SPRING_FORWARD.astimezone(UTC)
    for prior in results:
        collected = datetime.fromisoformat(prior["collected_at"])
        assert collected <= order
        assert collected.tzinfo is not None and collected.utcoffset() == ZoneInfo(
            "Europe/London"
        ).utcoffset(collected.replace(tzinfo=None))
        if "reported_at" in prior:
            assert datetime.fromisoformat(prior["reported_at"]) >= collected
