"""Issue 11: the patient authorises once per visit, with a dynamic code.

An authorisation holds for an order when it is granted, was granted no later than the
order, has not expired by the order time, and (when bound to a visit) the order is in
that visit. Otherwise every test is re-tested with one ``no_authorization`` reason saying
why, and no result is looked at. An authorisation that covers only some institutions or
results leaves the others unused, each named by a ``no_authorization`` reason; a result it
does not cover is never examined, and one newer than the result that would be used keeps
the waiver back (fail closed). ``{"granted": true}`` works as before.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from labrecog import Engine, InputError
from labrecog.testing import cases
from tests.builders import DELETE, case, demo_engine, prior

ENGINE = demo_engine()
VISIT = "V-20250302-001"
OTHER_VISIT = "V-20250211-007"
CODE = "839201"
ORDERED = "2025-03-02T09:30:00+08:00"
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FIND = settings(
    max_examples=2000, deadline=None, database=None, phases=[Phase.generate], derandomize=True
)
# Reasons that stop a test before any result is looked at.
BLOCKERS = {"not_recognisable", "condition_undecidable", "exception", "no_authorization"}


def decision(data: dict[str, Any], engine: Engine = ENGINE) -> dict[str, Any]:
    return engine.evaluate(data, lang="en").model_dump(mode="json")


def outcome(data: dict[str, Any], code: str = "GLU", engine: Engine = ENGINE) -> dict[str, Any]:
    for entry in decision(data, engine)["items"]:
        if entry["code"] == code:
            return dict(entry)
    raise AssertionError(f"no item {code}")


def codes(entry: dict[str, Any]) -> list[str]:
    return [r["code"] for r in entry["reasons"]]


def per_visit(**fields: Any) -> dict[str, Any]:
    """A code the patient gave at 09:00 for visit VISIT, valid until 18:00 that day."""
    base: dict[str, Any] = {
        "granted": True,
        "code": CODE,
        "encounter": VISIT,
        "granted_at": "2025-03-02T09:00:00+08:00",
        "expires_at": "2025-03-02T18:00:00+08:00",
    }
    return {k: v for k, v in {**base, **fields}.items() if v is not DELETE}


def in_visit(*priors: dict[str, Any], visit: Any = VISIT, **auth: Any) -> dict[str, Any]:
    """An order placed in ``visit`` with the per-visit authorisation (changed by ``auth``)."""
    return case(*priors, authorization=per_visit(**auth), context__encounter=visit)


def refused(data: dict[str, Any]) -> InputError:
    with pytest.raises(InputError) as info:
        ENGINE.evaluate(data)
    return info.value


# --------------------------------------------------------------------------- the simplest form


def test_granted_true_alone_still_waives_and_false_still_refuses() -> None:
    assert outcome(case(prior()))["status"] == "waive"
    it = outcome(case(prior(), authorization={"granted": False}))
    assert codes(it) == ["no_authorization"]
    assert it["reasons"][0]["message"] == (
        "the patient has not authorised the use of external results"
    )
    assert codes(outcome(case(prior(), authorization=DELETE))) == ["no_authorization"]


def test_a_code_bound_to_the_orders_visit_waives() -> None:
    it = outcome(in_visit(prior(), ends_with_visit=True))
    assert (it["status"], it["result_id"], it["reasons"]) == ("waive", "R-1", [])
    # A code alone (no visit, no times) is the simplest form with a code.
    assert outcome(case(prior(), authorization={"granted": True, "code": CODE}))["status"] == (
        "waive"
    )


# --------------------------------------------------------------------------- time


def test_an_authorisation_expired_at_the_order_time_does_not_hold() -> None:
    it = outcome(in_visit(prior(), expires_at=ORDERED))
    assert (it["status"], codes(it)) == ("retest", ["no_authorization"])
    assert it["reasons"][0]["message"] == (
        "the patient's authorisation expired at 2025-03-02T09:30:00+08:00; "
        "the order was placed at 2025-03-02T09:30:00+08:00"
    )
    assert it["reasons"][0].get("result_id") is None
    # expires_at is the first instant it no longer holds: one second later it still does.
    assert outcome(in_visit(prior(), expires_at="2025-03-02T09:30:01+08:00"))["status"] == "waive"


def test_an_authorisation_granted_after_the_order_does_not_hold() -> None:
    it = outcome(in_visit(prior(), granted_at="2025-03-02T09:30:01+08:00"))
    assert (it["status"], codes(it)) == ("retest", ["no_authorization"])
    assert it["reasons"][0]["message"] == (
        "the patient's authorisation was given at 2025-03-02T09:30:01+08:00, "
        "after the order was placed (2025-03-02T09:30:00+08:00)"
    )
    # granted_at is inclusive: given at the very instant of the order, it holds.
    assert outcome(in_visit(prior(), granted_at=ORDERED))["status"] == "waive"


def test_times_compare_as_instants_whatever_their_offsets() -> None:
    # 01:30 UTC is 09:30 in Beijing: the order's own instant, so expired.
    it = outcome(in_visit(prior(), expires_at="2025-03-02T01:30:00+00:00"))
    assert codes(it) == ["no_authorization"]
    assert outcome(in_visit(prior(), expires_at="2025-03-02T01:31:00Z"))["status"] == "waive"


def test_the_reason_is_worded_in_chinese_too() -> None:
    data = in_visit(prior(), visit=OTHER_VISIT)
    zh = ENGINE.evaluate(data, lang="zh").items[0].reasons[0].message
    assert zh == f"患者授权仅限就诊 {VISIT}，本次开单属于就诊 {OTHER_VISIT}"
    zh = ENGINE.evaluate(in_visit(prior(), expires_at=ORDERED), lang="zh").items[0].reasons
    assert zh[0].message.startswith("患者授权已于 2025-03-02T09:30:00+08:00 失效")


# --------------------------------------------------------------------------- the visit


def test_an_authorisation_for_another_visit_does_not_hold() -> None:
    it = outcome(in_visit(prior(), visit=OTHER_VISIT))
    assert (it["status"], codes(it)) == ("retest", ["no_authorization"])
    assert it["reasons"][0]["message"] == (
        f"the patient's authorisation is for visit {VISIT}; this order is in visit {OTHER_VISIT}"
    )


def test_an_authorisation_that_ended_with_its_visit_says_so() -> None:
    it = outcome(in_visit(prior(), visit=OTHER_VISIT, ends_with_visit=True, expires_at=DELETE))
    assert it["reasons"][0]["message"] == (
        f"the patient's authorisation ended with visit {VISIT}; "
        f"this order is in visit {OTHER_VISIT}"
    )
    assert outcome(in_visit(prior(), ends_with_visit=True, expires_at=DELETE))["status"] == "waive"


def test_a_visit_bound_authorisation_cannot_be_proved_by_an_order_without_a_visit() -> None:
    it = outcome(in_visit(prior(), visit=DELETE))
    assert (it["status"], codes(it)) == ("retest", ["no_authorization"])
    assert it["reasons"][0]["message"] == (
        f"the patient's authorisation is for visit {VISIT}, but the order does not say "
        "which visit it belongs to (context.encounter)"
    )


def test_an_order_in_a_visit_with_an_unbound_authorisation_is_fine() -> None:
    data = case(prior(), authorization=per_visit(encounter=DELETE), context__encounter=VISIT)
    assert outcome(data)["status"] == "waive"


def test_time_is_judged_before_the_grant_and_the_visit() -> None:
    # A recorded but withdrawn authorisation that has also expired: the expiry is named.
    data = in_visit(
        prior(), granted=False, granted_at=DELETE, expires_at="2025-03-01T18:00:00+08:00"
    )
    assert "expired at 2025-03-01T18:00:00+08:00" in outcome(data)["reasons"][0]["message"]
    withdrawn = outcome(in_visit(prior(), granted=False))
    assert withdrawn["reasons"][0]["message"] == (
        "the patient has not authorised the use of external results"
    )


# ------------------------------------------------------------------- every test of the order


def test_every_ordered_test_and_panel_carries_only_the_one_reason() -> None:
    data = in_visit(prior(), visit=OTHER_VISIT)
    data["tests"] = [{"code": c} for c in ("GLU", "LIPID", "LFT", "K")]
    for entry in decision(data)["items"]:
        assert entry["status"] == "retest"
        assert set(codes(entry)) == {"no_authorization"}, entry
        assert all(r.get("result_id") is None for r in entry["reasons"]), entry


def test_other_blockers_are_still_named_beside_it() -> None:
    data = in_visit(prior(), visit=OTHER_VISIT)
    data["context"]["flags"] = ["emergency"]
    assert set(codes(outcome(data))) == {"exception", "no_authorization"}


# --------------------------------------------------------------------------- coverage

R2 = {"collected_at": "2025-02-28T08:00:00+08:00", "reported_at": "2025-02-28T11:00:00+08:00"}
GSPH = {"id": "GSPH", "region": "620100", "level": 3}


def test_a_result_from_an_institution_not_covered_is_not_used() -> None:
    it = outcome(in_visit(prior(), institutions=["GSPH"]))
    assert (it["status"], codes(it)) == ("retest", ["no_authorization"])
    reason = it["reasons"][0]
    assert reason["result_id"] == "R-1"
    assert reason["message"] == "the patient's authorisation does not cover this result"
    assert "LXRM" not in orjson.dumps(it).decode()
    assert outcome(in_visit(prior(), institutions=["GSPH", "LXRM"]))["status"] == "waive"


def test_a_result_not_listed_is_not_used() -> None:
    it = outcome(in_visit(prior(), results=["R-9"]))
    assert (codes(it), it["reasons"][0].get("result_id")) == (["no_authorization"], "R-1")
    assert outcome(in_visit(prior(), results=["R-1"]))["status"] == "waive"


def test_both_lists_must_cover_a_result() -> None:
    data = in_visit(prior(), institutions=["LXRM"], results=["R-9"])
    assert codes(outcome(data)) == ["no_authorization"]
    data = in_visit(prior(), institutions=["GSPH"], results=["R-1"])
    assert codes(outcome(data)) == ["no_authorization"]


def test_an_older_result_not_covered_is_named_beside_the_waiver() -> None:
    older = prior(id="R-0", collected_at="2025-02-25T08:00:00+08:00", reported_at=DELETE)
    it = outcome(in_visit(prior(), older, results=["R-1"]))
    assert (it["status"], it["result_id"]) == ("waive", "R-1")
    assert [(r["code"], r.get("result_id")) for r in it["reasons"]] == [("no_authorization", "R-0")]


def test_a_newer_result_not_covered_keeps_the_waiver_back() -> None:
    # R-2 is newer than R-1 and may say something R-1 does not: labrecog may not look.
    it = outcome(in_visit(prior(), prior(id="R-2", **R2), results=["R-1"]))
    assert (it["status"], codes(it)) == ("retest", ["no_authorization"])
    assert it["reasons"][0].get("result_id") == "R-2"
    assert it["reasons"][0]["message"] == (
        "this result is newer than R-1, which could otherwise be used, but the patient's "
        "authorisation does not cover it, so R-1 is not relied on"
    )


def test_a_result_not_covered_is_never_examined() -> None:
    # Implausible, critical, preliminary: nothing of it shows, only that it is not covered.
    bad = prior(id="R-2", value=999.0, status="preliminary", **R2)
    it = outcome(in_visit(prior(), bad, institutions=["GSPH"]))
    assert [(r["code"], r.get("result_id")) for r in it["reasons"]] == [
        ("no_authorization", "R-2"),
        ("no_authorization", "R-1"),
    ]
    assert "999" not in orjson.dumps(it).decode()


def test_covered_results_that_fail_are_explained_beside_those_not_covered() -> None:
    old = prior(id="R-0", collected_at="2025-01-02T08:00:00+08:00", reported_at=DELETE)
    it = outcome(in_visit(prior(institution=GSPH), old, institutions=["LXRM"]))
    assert [(r["code"], r.get("result_id")) for r in it["reasons"]] == [
        ("too_old", "R-0"),
        ("no_authorization", "R-1"),
    ]


def test_only_the_authorisation_holds_back_a_test_whose_results_are_all_uncovered() -> None:
    data = in_visit(prior(), prior(id="R-2", **R2), institutions=["GSPH"])
    data["tests"] = [{"code": "GLU"}, {"code": "K"}]
    glu, k = decision(data)["items"]
    assert set(codes(glu)) == {"no_authorization"}
    assert codes(k) == ["no_prior"]  # nothing of K at all: not the authorisation's doing


# --------------------------------------------------------------------------- the contract


@pytest.mark.parametrize(
    ("auth", "path"),
    [
        (per_visit(expires_at="2025-03-02T09:00:00+08:00"), "authorization.expires_at"),
        (per_visit(expires_at="2025-03-01T09:00:00+08:00"), "authorization.expires_at"),
        (per_visit(encounter=DELETE, ends_with_visit=True), "authorization.ends_with_visit"),
        (per_visit(institutions=[]), "authorization.institutions"),
        (per_visit(results=[]), "authorization.results"),
        (per_visit(code=839201), "authorization.code"),
        (per_visit(code=""), "authorization.code"),
        (per_visit(encounter=""), "authorization.encounter"),
        (per_visit(granted_at="2025-03-02"), "authorization.granted_at"),
        (per_visit(ends_with_visit="yes"), "authorization.ends_with_visit"),
        (per_visit(visit=VISIT), "authorization.visit"),
    ],
)
def test_an_incoherent_authorisation_is_an_input_error(auth: dict[str, Any], path: str) -> None:
    err = refused(case(prior(), authorization=auth, context__encounter=VISIT))
    assert [p.path for p in err.problems] == [path]
    assert CODE not in str(err)


def test_an_order_visit_must_be_an_id() -> None:
    assert [p.path for p in refused(case(prior(), context__encounter=7)).problems] == [
        "context.encounter"
    ]


def test_details_may_be_recorded_for_an_authorisation_not_granted() -> None:
    valid = ENGINE.validate_case(in_visit(prior(), granted=False))
    assert valid.authorization.code == CODE
    assert codes(outcome(in_visit(prior(), granted=False))) == ["no_authorization"]


def test_the_code_is_never_shown() -> None:
    data = in_visit(prior(), visit=OTHER_VISIT)
    valid = ENGINE.validate_case(data)
    assert CODE not in repr(valid)
    assert CODE not in str(valid.authorization)
    assert CODE not in orjson.dumps(decision(data)).decode()
    assert CODE not in orjson.dumps(decision(in_visit(prior()))).decode()


def test_authorisation_is_not_consulted_when_the_rule_set_does_not_require_it(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    path = tmp_path_factory.mktemp("rules") / "open.yaml"
    path.write_text(OPEN_RULES, encoding="utf-8")
    engine = Engine.from_path(path)
    for auth in (
        per_visit(expires_at=ORDERED),
        per_visit(granted=False),
        per_visit(institutions=["GSPH"]),
        per_visit(results=["R-9"]),
    ):
        it = outcome(
            case(prior(), authorization=auth, context__encounter=OTHER_VISIT), "GLU", engine
        )
        assert (it["status"], it["reasons"]) == ("waive", []), auth


OPEN_RULES = """\
id: open
version: "1"
timezone: Asia/Shanghai
recognition:
  regions: ["*"]
  quality_assessment: not_required
  require_authorization: false
tests:
  - code: GLU
    loinc: [2345-7]
    unit: mmol/L
    specimen: [serum]
    reference_range: {low: 3.9, high: 6.1}
    price: "5.00"
"""


# --------------------------------------------------------------------------- properties

RANK = {"retest": 0, "partial": 1, "waive": 2}


def _restricted(draw: st.DrawFn, data: dict[str, Any]) -> dict[str, Any]:
    """An authorisation of the case's order that is the same grant with limits added."""
    ordered = datetime.fromisoformat(data["ordered_at"])
    auth: dict[str, Any] = {"granted": True}
    if draw(st.booleans()):
        auth["granted_at"] = (ordered + timedelta(minutes=draw(st.integers(-600, 60)))).isoformat()
    if draw(st.booleans()):
        start = datetime.fromisoformat(auth.get("granted_at", data["ordered_at"]))
        auth["expires_at"] = (start + timedelta(minutes=draw(st.integers(1, 900)))).isoformat()
    if draw(st.booleans()):
        auth["encounter"] = draw(st.sampled_from(["V-1", "V-2"]))
        auth["ends_with_visit"] = draw(st.booleans())
    ids = [p["id"] for p in data["prior_results"]]
    labs = sorted({p["institution"]["id"] for p in data["prior_results"]} | {"GSPH"})
    if draw(st.booleans()):
        auth["institutions"] = draw(st.lists(st.sampled_from(labs), min_size=1, unique=True))
    if ids and draw(st.booleans()):
        auth["results"] = draw(st.lists(st.sampled_from(ids), min_size=1, unique=True))
    return auth


@FAST
@given(data=cases(ENGINE), extra=st.data())
def test_limiting_an_authorisation_never_turns_a_retest_into_a_waiver(
    data: dict[str, Any], extra: st.DataObject
) -> None:
    data["authorization"] = {"granted": True}
    data["context"]["encounter"] = extra.draw(st.sampled_from(["V-1", "V-2"]))
    free = decision(data)["items"]
    data["authorization"] = extra.draw(st.composite(lambda draw: _restricted(draw, data))())
    limited = decision(data)["items"]
    for before, after in zip(free, limited, strict=True):
        assert RANK[after["status"]] <= RANK[before["status"]], (before, after)
        if after["status"] == "waive" and after.get("result_id") is not None:
            assert after.get("result_id") == before["result_id"]


@FAST
@given(data=cases(ENGINE), late=st.integers(0, 60 * 24 * 30))
def test_past_its_expiry_an_authorisation_waives_nothing_and_looks_at_nothing(
    data: dict[str, Any], late: int
) -> None:
    ordered = datetime.fromisoformat(data["ordered_at"])
    data["authorization"] = {
        "granted": True,
        "expires_at": (ordered - timedelta(minutes=late)).isoformat(),
    }
    for entry in decision(data)["items"]:
        assert entry["status"] == "retest"
        if entry["reasons"] and entry["reasons"][0]["code"] == "unknown_test":
            continue
        assert "no_authorization" in codes(entry)
        assert set(codes(entry)) <= BLOCKERS, entry
        assert all(r.get("result_id") is None for r in entry["reasons"]), entry


def _has(field: str) -> Any:
    def holds(data: dict[str, Any]) -> bool:
        return field in data["authorization"] or field in data["context"]

    return holds


@pytest.mark.parametrize(
    "field",
    ["code", "encounter", "granted_at", "expires_at", "ends_with_visit", "institutions", "results"],
)
def test_generated_cases_carry_every_authorisation_field_sometimes(field: str) -> None:
    found = find(cases(ENGINE), _has(field), settings=FIND)
    ENGINE.validate_case(found)


def test_generated_cases_give_the_order_a_visit_sometimes() -> None:
    found = find(cases(ENGINE), lambda d: "encounter" in d["context"], settings=FIND)
    ENGINE.validate_case(found)
