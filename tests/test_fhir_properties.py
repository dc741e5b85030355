"""The FHIR path and the plain case path decide alike, for any valid case.

A case drawn by ``labrecog.testing.strategies.cases`` is written as a FHIR Bundle
(``case_to_bundle``), read back (``read_bundle``) and decided; the decision must equal the
case's own, byte for byte, apart from the ``ext.request`` the FHIR path adds to each item.
The Bundle and the GuidanceResponse must be valid FHIR R4. And a realistic Bundle with
elements removed or replaced by junk is decided or refused with an InputError (whose
OperationOutcome is valid FHIR), never a crash.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from labrecog import InputError
from labrecog.fhir import case_to_bundle, guidance_response, operation_outcome, read_bundle
from labrecog.testing.strategies import cases
from tests.builders import case, demo_engine, prior
from tests.test_fhir_write import mixed as mixed_bundle

R4B = pytest.importorskip("fhir.resources.R4B")
from fhir.resources.R4B.bundle import Bundle  # noqa: E402
from fhir.resources.R4B.guidanceresponse import GuidanceResponse  # noqa: E402
from fhir.resources.R4B.operationoutcome import OperationOutcome  # noqa: E402

ENGINE = demo_engine()

# ``cases`` draws valid, not waivable, input: about 1 item in 400 is waived, so the property
# alone hardly ever compares result_id, saving or superseded reasons. These examples always
# run: a waiver resting on the fresher of two results, next to an item with no prior.
WAIVED = case(
    prior(),
    prior(id="R-2", collected_at="2025-02-26T08:00:00+08:00"),
    tests=("GLU", "TC"),
)


def _without_request(decision: dict[str, Any]) -> dict[str, Any]:
    out = dict(decision)
    out["items"] = [{k: v for k, v in item.items() if k != "ext"} for item in decision["items"]]
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=cases(ENGINE))
@example(data=WAIVED)
def test_fhir_and_case_paths_give_the_same_decision(data: dict[str, Any]) -> None:
    # "checkup" has no Encounter.class: the one setting a Bundle cannot say.
    assume(data["context"].get("setting") != "checkup")
    case = ENGINE.validate_case(data)
    want = ENGINE.evaluate(case).model_dump(mode="json")
    bundle = case_to_bundle(case)
    fhir_case = read_bundle(bundle, ENGINE)
    decision = ENGINE.evaluate(fhir_case.case)
    got = decision.model_dump(mode="json")
    assert _without_request(got) == want
    assert [i["ext"]["request"] for i in got["items"]] == list(fhir_case.requests)
    assert set(fhir_case.observations) == {p["id"] for p in data["prior_results"]}


def test_the_waived_example_is_waived() -> None:
    items = ENGINE.evaluate(ENGINE.validate_case(WAIVED)).model_dump(mode="json")["items"]
    assert [(i["code"], i["status"], i.get("result_id")) for i in items] == [
        ("GLU", "waive", "R-1"),
        ("TC", "retest", None),
    ]
    assert items[0]["reasons"][0]["result_id"] == "R-2"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=cases(ENGINE))
def test_bundles_and_answers_are_valid_fhir(data: dict[str, Any]) -> None:
    case = ENGINE.validate_case(data)
    bundle = case_to_bundle(case)
    Bundle.model_validate(bundle)
    fhir_case = read_bundle(bundle, ENGINE)
    GuidanceResponse.model_validate(guidance_response(ENGINE.evaluate(fhir_case.case), fhir_case))


# --------------------------------------------------------------------------- robustness

_JUNK = (None, 0, -1, 1.5, True, "", "x", "2025-02-27", [], {}, [None], {"reference": 7})


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*prefix, i))
    return out


@st.composite
def _broken_bundles(draw: st.DrawFn) -> dict[str, Any]:
    """A realistic Bundle with a few elements replaced by junk or removed."""
    bundle = mixed_bundle()
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(bundle) if p]
        path = draw(st.sampled_from(paths))
        parent = bundle
        for part in path[:-1]:
            parent = parent[part]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(draw(st.sampled_from(_JUNK)))
    return bundle


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bundle=_broken_bundles())
def test_a_broken_bundle_is_decided_or_refused_never_a_crash(bundle: dict[str, Any]) -> None:
    try:
        fhir_case = read_bundle(bundle, ENGINE)
    except InputError as exc:
        assert exc.problems
        OperationOutcome.model_validate(operation_outcome(exc, 1))
        return
    decision = ENGINE.evaluate(fhir_case.case)
    assert len(decision.items) == len(fhir_case.requests)
    GuidanceResponse.model_validate(guidance_response(decision, fhir_case))
