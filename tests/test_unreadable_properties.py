"""Fail closed with results that could not be read: an unreadable result never adds a
waiver, and one whose time is unknown always blocks the tests it may be for."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labrecog.testing import cases
from tests.builders import demo_engine

ENGINE = demo_engine()
RULES = ENGINE.rules
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RANK = {"retest": 0, "partial": 1, "waive": 2}
# Reasons that stop a test before any result is looked at: then no result is named.
BLOCKERS = {"not_recognisable", "condition_undecidable", "exception", "no_authorization"}


def _items(data: dict[str, Any]) -> list[dict[str, Any]]:
    return list(ENGINE.evaluate(data, lang="en").model_dump(mode="json")["items"])


def _tests_of(prior: dict[str, Any]) -> set[str]:
    """The catalogue tests a result's code or LOINC may name (a panel: its components)."""
    found: set[str] = set()
    if prior.get("code") is not None:
        found.update(RULES.resolve_result_code(prior["code"]))
    if prior.get("loinc") in RULES.loinc:
        found.add(RULES.loinc[prior["loinc"]])
    return found


@FAST
@given(data=cases(ENGINE), pick=st.data(), keep_time=st.booleans())
def test_an_unreadable_result_never_adds_a_waiver(
    data: dict[str, Any], pick: st.DataObject, keep_time: bool
) -> None:
    priors = data.get("prior_results") or []
    if not priors:
        return
    before = _items(data)
    k = pick.draw(st.integers(0, len(priors) - 1))
    prior = priors.pop(k)
    unreadable: dict[str, Any] = {
        "id": prior["id"],
        "problems": [{"path": f"prior_results[{k}].value", "message": "cannot be read"}],
    }
    for key in ("code", "loinc"):
        if prior.get(key) is not None:
            unreadable[key] = prior[key]
    if keep_time:
        unreadable["collected_at"] = prior["collected_at"]
    data["unreadable_results"] = [unreadable]
    after = _items(data)
    concerned = _tests_of(prior)
    for was, now in zip(before, after, strict=True):
        assert RANK[now["status"]] <= RANK[was["status"]], (was, now)
        if not keep_time and now["code"] in concerned:
            assert now["status"] == "retest"
            reasons = {r["code"] for r in now["reasons"]}
            assert "unreadable_result" in reasons or reasons & BLOCKERS, now
