"""Issue 17: the freshest result governs, impossible values never waive, and only a result
that passed every check is ``superseded``.

Each regression here failed on the engine before the fix: K was waived on a 21-hour-old
4.2 mmol/L past a 3-hour-old critical 6.9; -140, 0 and 1e300 were waived; too-old results
older than the one used were called ``superseded``.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labrecog import Engine, RulesetError
from tests.builders import case, decide, item, prior, reason_codes

RULES = """
id: safety-test
version: "1"
currency: CNY
timezone: Asia/Shanghai
defaults: {max_age: 14d, reference_range_required: false, critical_prior: reject,
           delta: {relative: 0.5, source: default relative}}
recognition: {regions: ["*"], quality_assessment: not_required, require_authorization: false,
              unlisted_institutions: use_claims}
loinc_systems: {"2345-7": Ser/Plas, "2339-0": Bld, "2823-3": Ser/Plas}
categories:
  electrolytes: {delta: {relative: 0.3}}
tests:
  - code: K
    category: electrolytes
    loinc: [2823-3]
    specimen: [serum, plasma]
    unit: mmol/L
    reference_range: {low: 3.5, high: 5.3}
    critical: {low: 2.5, high: 6.5}
    plausible: {low: 0.5, high: 15, source: plausible K}
    delta: {absolute: 1.0, source: delta K}
    price: "4.00"
  - code: GLU
    loinc: [2345-7, 2339-0]
    specimen: [serum, plasma]
    unit: mmol/L
    molar_mass: 180.16 g/mol
    reference_range: {low: 3.9, high: 6.1}
    plausible: {low: 0.5, high: 100}
    price: "5.00"
  - code: CRP
    loinc: [1988-5]
    unit: mg/L
    reference_range: {high: 10}
    price: "9.00"
  - code: ALT
    loinc: [1742-6]
    unit: U/L
    unit_aliases: {"IU/L": "U/L"}
    reference_range: {high: 40}
    price: "3.00"
  - code: AST
    loinc: [1920-8]
    unit: U/L
    reference_range: {high: 40}
    price: "3.00"
  - code: TSH
    loinc: [3016-3]
    unit: m[IU]/L
    reference_range: {low: 0.4, high: 4.0}
    price: "20.00"
  - code: HBSAG
    scale: qualitative
    values: {normal: [negative], abnormal: [positive]}
    price: "10.00"
"""

ORDERED = "2025-03-02T09:30:00+08:00"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    path = tmp_path_factory.mktemp("rules") / "rules.yaml"
    path.write_text(RULES, encoding="utf-8")
    return Engine.from_path(path)


def res(rid: str, code: str, value: Any, hours: float, **extra: Any) -> dict[str, Any]:
    """A result of ``code`` collected ``hours`` before the order, from lab L-1."""
    from datetime import datetime, timedelta

    at = datetime.fromisoformat(ORDERED) - timedelta(hours=hours)
    out: dict[str, Any] = {
        "id": rid,
        "patient_id": "P-1",
        "code": code,
        "collected_at": at.isoformat(),
        "institution": {"id": extra.pop("lab", "L-1")},
    }
    if isinstance(value, str):
        out["value_text"] = value
    elif value is not None:
        out["value"] = value
        out["unit"] = extra.pop("unit", "mmol/L")
    if code in ("K", "GLU") and "specimen" not in extra:
        out["specimen"] = "serum"
    out.update(extra)
    return out


def order(*priors: dict[str, Any], tests: tuple[str, ...] = ("K",)) -> dict[str, Any]:
    return {
        "order_id": "O-1",
        "ordered_at": ORDERED,
        "patient": {"id": "P-1", "sex": "male", "birth_date": "1961-05-14"},
        "institution": {"id": "H-1"},
        "tests": [{"code": t} for t in tests],
        "prior_results": list(priors),
    }


def one(engine: Engine, data: dict[str, Any], code: str = "K") -> dict[str, Any]:
    return item(data, code, engine)


def by_result(entry: dict[str, Any]) -> dict[str | None, set[str]]:
    out: dict[str | None, set[str]] = {}
    for r in entry["reasons"]:
        out.setdefault(r.get("result_id"), set()).add(r["code"])
    return out


# -- 1. a newer result that says otherwise wins --------------------------------------------


def test_newer_critical_potassium_blocks_the_older_normal_one_in_the_demo_rules() -> None:
    """The issue's report, on the shipped demo rules: 6.9 mmol/L 3 h before the order (from
    a lab without a mark), 4.2 mmol/L 21 h before from a marked lab."""
    rr = {"low": 3.5, "high": 5.3, "unit": "mmol/L"}
    newer = prior(id="R-new", code="K", loinc="2823-3", value=6.9, reference_range=rr, mark=None,
                  collected_at="2025-03-02T06:30:00+08:00", reported_at=None)  # fmt: skip
    older = prior(id="R-old", code="K", loinc="2823-3", value=4.2, reference_range=rr,
                  collected_at="2025-03-01T12:30:00+08:00", reported_at=None)  # fmt: skip
    entry = item(case(newer, older, tests=("K",)), "K")
    assert entry["status"] == "retest"
    reasons = by_result(entry)
    assert "newer_result_conflicts" in reasons["R-old"]
    assert {"critical_value", "mark_missing"} <= reasons["R-new"]
    message = next(r["message"] for r in entry["reasons"] if r["code"] == "newer_result_conflicts")
    assert "R-new" in message and "6.9" in message


def test_without_the_newer_critical_result_the_older_one_is_waived() -> None:
    older = prior(id="R-old", code="K", loinc="2823-3", value=4.2,
                  reference_range={"low": 3.5, "high": 5.3, "unit": "mmol/L"},
                  collected_at="2025-03-01T12:30:00+08:00", reported_at=None)  # fmt: skip
    entry = item(case(older, tests=("K",)), "K")
    assert (entry["status"], entry["result_id"]) == ("waive", "R-old")


def test_an_unshared_newer_result_stays_invisible(engine: Engine) -> None:
    data = order(res("N", "K", 6.9, 3, shared=False), res("O", "K", 4.2, 21))
    entry = one(engine, data)
    assert (entry["status"], entry["result_id"]) == ("waive", "O")
    assert all(r.get("result_id") != "N" for r in entry["reasons"])


@pytest.mark.parametrize(
    ("value", "status"),
    [(4.9, "waive"), (5.2, "waive"), (5.21, "retest"), (3.19, "retest"), (3.2, "waive")],
)
def test_the_absolute_delta_limit_of_the_test_is_inclusive(
    engine: Engine, value: float, status: str
) -> None:
    """K: |newer − used| ≤ 1.0 mmol/L is the same clinical picture; the newer one is
    unusable here only because it has no specimen."""
    newer = res("N", "K", value, 3, specimen="urine")
    entry = one(engine, order(newer, res("O", "K", 4.2, 21)))
    assert entry["status"] == status
    if status == "retest":
        assert "newer_result_conflicts" in by_result(entry)["O"]
        assert "1 mmol/L" in next(
            r["message"] for r in entry["reasons"] if r["code"] == "newer_result_conflicts"
        )


def test_a_test_delta_replaces_the_category_and_default_ones(engine: Engine) -> None:
    # 30 % of 4.2 would be 1.26: the test's own 1.0 mmol/L governs, alone.
    newer = res("N", "K", 5.35, 3, specimen="urine")
    assert one(engine, order(newer, res("O", "K", 4.2, 21)))["status"] == "retest"


def test_the_default_relative_delta_applies_to_tests_without_their_own(engine: Engine) -> None:
    def glu(value: float) -> str:
        newer = res("N", "GLU", value, 3, specimen="urine")
        return str(
            one(engine, order(newer, res("O", "GLU", 6.0, 21), tests=("GLU",)), "GLU")["status"]
        )

    assert glu(9.0) == "waive"  # 50 % of 6.0 = 3.0
    assert glu(9.01) == "retest"
    assert glu(2.99) == "retest"


@pytest.mark.parametrize(
    ("newer", "why"),
    [
        ({"value": -140}, "implausible"),
        ({"value": 0}, "implausible"),
        ({"value": 1e300}, "implausible"),
        ({"value": 4.2, "unit": "mmol/kg"}, "uncomparable"),
        ({"value": 4.2, "unit": None}, "uncomparable"),
        ({"value": None}, "uncomparable"),
        ({"value": 2.4}, "critical"),
    ],
)
def test_a_newer_result_that_cannot_vouch_for_the_patient_blocks_the_waiver(
    engine: Engine, newer: dict[str, Any], why: str
) -> None:
    data = res("N", "K", newer["value"], 3, unit=newer.get("unit", "mmol/L"))
    if newer.get("unit", "x") is None:
        data.pop("unit")
    entry = one(engine, order(data, res("O", "K", 4.2, 21)))
    assert entry["status"] == "retest"
    conflict = [r for r in entry["reasons"] if r["code"] == "newer_result_conflicts"]
    assert [r["result_id"] for r in conflict] == ["O"]
    words = {"implausible": "implausible", "uncomparable": "cannot be compared",
             "critical": "critical"}  # fmt: skip
    assert words[why] in conflict[0]["message"]


@pytest.mark.parametrize("status", ["cancelled", "entered-in-error", "registered"])
def test_withdrawn_or_empty_newer_results_are_no_evidence(engine: Engine, status: str) -> None:
    newer = res("N", "K", 6.9 if status != "registered" else None, 3, status=status)
    entry = one(engine, order(newer, res("O", "K", 4.2, 21)))
    assert (entry["status"], entry["result_id"]) == ("waive", "O")


def test_a_preliminary_newer_critical_value_is_still_evidence(engine: Engine) -> None:
    entry = one(engine, order(res("N", "K", 6.9, 3, status="preliminary"), res("O", "K", 4.2, 21)))
    assert entry["status"] == "retest"
    assert {"result_status", "critical_value"} <= by_result(entry)["N"]


def test_a_result_collected_after_the_order_is_not_a_newer_prior(engine: Engine) -> None:
    entry = one(engine, order(res("F", "K", 6.9, -2), res("O", "K", 4.2, 21)))
    assert (entry["status"], entry["result_id"]) == ("waive", "O")
    assert "future_result" in by_result(entry)["F"]


def test_every_older_eligible_result_is_overridden_too(engine: Engine) -> None:
    data = order(res("N", "K", 6.9, 3), res("O1", "K", 4.2, 21), res("O2", "K", 4.1, 30))
    entry = one(engine, data)
    reasons = by_result(entry)
    assert entry["status"] == "retest"
    assert reasons["O1"] == {"newer_result_conflicts"} == reasons["O2"]


def test_qualitative_newer_result_of_another_class_conflicts(engine: Engine) -> None:
    def status(newer: str) -> str:
        data = order(res("N", "HBSAG", newer, 3, lab="L-2", status="preliminary"),
                     res("O", "HBSAG", "negative", 21), tests=("HBSAG",))  # fmt: skip
        return str(one(engine, data, "HBSAG")["status"])

    assert status("negative") == "waive"
    assert status("positive") == "retest"
    assert status("weakly reactive") == "retest"


def test_a_newer_conflict_in_a_panel_component_stops_that_component(engine: Engine) -> None:
    data = order(res("N", "K", 6.9, 3), res("O", "K", 4.2, 21), res("G", "GLU", 5.0, 21),
                 tests=("K", "GLU"))  # fmt: skip
    decision = decide(data, engine)
    statuses = {i["code"]: i["status"] for i in decision["items"]}
    assert statuses == {"K": "retest", "GLU": "waive"}


# -- 2. impossible values never waive -------------------------------------------------------


@pytest.mark.parametrize("value", [-140.0, 0.0, 0.49, 15.01, 1e300])
def test_implausible_values_never_waive(engine: Engine, value: float) -> None:
    entry = one(engine, order(res("O", "K", value, 21)))
    assert entry["status"] == "retest"
    assert by_result(entry)["O"] == {"implausible_value"}


@pytest.mark.parametrize("value", [0.5, 15.0])
def test_the_plausible_limits_are_inclusive(engine: Engine, value: float) -> None:
    # 0.5 and 15 are critical, but plausible: the reason is the critical value, not plausibility
    entry = one(engine, order(res("O", "K", value, 21)))
    assert by_result(entry)["O"] == {"critical_value"}


def test_a_negative_value_is_implausible_without_any_declaration(engine: Engine) -> None:
    entry = one(engine, order(res("O", "CRP", -3.0, 10, unit="mg/L"), tests=("CRP",)), "CRP")
    assert entry["status"] == "retest"
    assert "negative" in entry["reasons"][0]["message"]
    entry = one(engine, order(res("O", "CRP", 0.0, 10, unit="mg/L"), tests=("CRP",)), "CRP")
    assert entry["status"] == "waive"  # zero CRP is a real report


def test_demo_rules_refuse_a_negative_glucose() -> None:
    entry = item(case(prior(value=-5.2)))
    assert entry["status"] == "retest"
    assert reason_codes(entry) == {"implausible_value"}


def test_an_overflowing_conversion_is_implausible(engine: Engine) -> None:
    """CRP declares no plausible limits: 1.7e308 g/L is infinite in mg/L, never a value."""
    data = order(res("O", "CRP", 1.7e308, 10, unit="g/L"), tests=("CRP",))
    entry = one(engine, data, "CRP")
    assert by_result(entry)["O"] == {"implausible_value"}
    assert "inf" in entry["reasons"][0]["message"]


def test_the_trace_records_every_candidates_fate(engine: Engine) -> None:
    from labrecog import Trace

    data = order(
        res("NEW", "K", 6.9, 3),
        res("USED", "K", 4.2, 21),
        res("OLDER", "K", 4.1, 30),
        res("URINE", "K", 4.0, 40, specimen="urine"),
        res("G", "GLU", 5.0, 10),
        tests=("K", "GLU"),
    )
    trace = Trace()
    engine.evaluate(data, trace=trace)
    fates = [(c.test, c.result_id, c.verdict) for c in trace.candidates]
    assert fates == [
        ("K", "NEW", "rejected"),
        ("K", "USED", "overridden"),
        ("K", "OLDER", "overridden"),
        ("K", "URINE", "rejected"),
        ("GLU", "G", "used"),
    ]
    assert trace.age == 63 and trace.conditions == [(), ()]
    assert trace.policies[("K", frozenset())].delta_absolute == 1.0


# -- 5. superseded only for results that passed every check ---------------------------------


def test_only_eligible_older_results_are_superseded(engine: Engine) -> None:
    data = order(
        res("NEW", "K", 4.3, 3),
        res("OLD-OK", "K", 4.2, 30),
        res("OLD-TOO-OLD", "K", 4.2, 24 * 20),
        res("OLD-URINE", "K", 4.2, 40, specimen="urine"),
    )
    entry = one(engine, data)
    assert entry["result_id"] == "NEW"
    assert by_result(entry) == {
        "OLD-OK": {"superseded"},
        "OLD-TOO-OLD": {"too_old"},
        "OLD-URINE": {"specimen_mismatch"},
    }


# -- 6. unmapped results are named -----------------------------------------------------------


def test_a_newer_unmapped_result_is_named_on_the_waiver(engine: Engine) -> None:
    data = order(res("X", "K+LOCAL", 6.9, 3), res("O", "K", 4.2, 21), res("Y", "OLDX", 1, 30))
    entry = one(engine, data)
    assert (entry["status"], entry["result_id"]) == ("waive", "O")
    unmapped = [r for r in entry["reasons"] if r["code"] == "unmapped_result"]
    assert [r["result_id"] for r in unmapped] == ["X"]  # Y is older than the one used
    assert "K+LOCAL" in unmapped[0]["message"]
    withdrawn = res("X", "K+LOCAL", 6.9, 3, status="entered-in-error")
    entry = one(engine, order(withdrawn, res("O", "K", 4.2, 21)))
    assert "unmapped_result" not in reason_codes(entry)


# -- US-style data: specimen from the LOINC system, unit spellings ---------------------------


@pytest.mark.parametrize(
    ("loinc", "status"), [("2345-7", "waive"), ("2339-0", "retest"), (None, "retest")]
)
def test_the_loinc_system_names_a_missing_specimen(
    engine: Engine, loinc: str | None, status: str
) -> None:
    data = res("O", "GLU", 5.0, 21)
    del data["specimen"]
    if loinc is None:
        data["code"] = "GLU"
    else:
        data["loinc"] = loinc
    entry = one(engine, order(data, tests=("GLU",)), "GLU")
    assert entry["status"] == status
    if status == "retest":
        assert reason_codes(entry) == {"specimen_mismatch"}


@pytest.mark.parametrize(
    ("code", "unit", "value", "status"),
    [
        ("GLU", "MG/DL", 90.0, "waive"),
        ("GLU", "mg/dL", 90.0, "waive"),
        ("ALT", "IU/L", 20.0, "waive"),
        ("ALT", "U/L", 20.0, "waive"),
        ("AST", "IU/L", 20.0, "retest"),  # no unit_aliases: IU is the arbitrary [IU]
        ("TSH", "MIU/L", 2.0, "waive"),  # milli, not mega
        ("TSH", "mIU/L", 2.0, "waive"),
    ],
)
def test_us_unit_spellings(engine: Engine, code: str, unit: str, value: float, status: str) -> None:
    entry = one(engine, order(res("O", code, value, 10, unit=unit), tests=(code,)), code)
    assert entry["status"] == status, entry["reasons"]


# -- loading ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "electrolytes: {delta: {relative: 0.3}}",
            "electrolytes: {delta: {absolute: 0.3}}",
            "absolute delta",
        ),
        (
            "plausible: {low: 0.5, high: 15, source: plausible K}",
            "plausible: {low: 0.5, high: 6}",
            "outside the plausible limits",
        ),
        ('"2823-3": Ser/Plas}', '"2823-3": Ser/Plas, "1234-5": Bld}', "not in the catalogue"),
        ('"2823-3": Ser/Plas}', '"2823-3": Serum}', "Ser/Plas"),
        ("delta: {absolute: 1.0, source: delta K}", "delta: {source: delta K}", "delta limit"),
        ('unit_aliases: {"IU/L": "U/L"}', 'unit_aliases: {"IU/L": "mmol/L"}', "IU/L"),
    ],
)
def test_bad_safety_knobs_do_not_load(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in RULES
    path = tmp_path / "rules.yaml"
    path.write_text(RULES.replace(old, new), encoding="utf-8")
    with pytest.raises(RulesetError) as info:
        Engine.from_path(path)
    assert message in str(info.value)


# -- properties -------------------------------------------------------------------------------

_K = st.builds(
    lambda v, h, mark, spec: (v, h, mark, spec),
    st.floats(min_value=-5, max_value=20, allow_nan=False),
    st.integers(min_value=-5, max_value=24 * 20),
    st.booleans(),
    st.sampled_from(["serum", "urine"]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_K, min_size=1, max_size=6), st.randoms())
def test_priors_order_never_matters(
    engine: Engine, raw: list[tuple[float, int, bool, str]], rnd: random.Random
) -> None:
    priors = [res(f"R{i}", "K", v, h, specimen=s) for i, (v, h, _, s) in enumerate(raw)]
    first = decide(order(*priors), engine)
    rnd.shuffle(priors)
    assert decide(order(*priors), engine) == first


@settings(max_examples=150, deadline=None)
@given(st.lists(_K, min_size=1, max_size=5), st.floats(min_value=-5, max_value=20))
def test_a_waiver_never_rests_on_a_result_older_than_a_newer_conflict(
    engine: Engine, raw: list[tuple[float, int, bool, str]], critical: float
) -> None:
    """Adding a fresher critical or implausible result never leaves a waiver standing on
    an older result (fail closed)."""
    priors = [res(f"R{i}", "K", v, h + 2, specimen=s) for i, (v, h, _, s) in enumerate(raw)]
    value = critical if (critical <= 2.5 or critical >= 6.5) else 7.0
    entry = one(engine, order(res("NEWEST", "K", value, 1, lab="OTHER"), *priors))
    assert entry["status"] == "retest"


# -- 3. ambiguous and non-existent local times are input errors -----------------------------

UK_RULES = Path(__file__).resolve().parent.parent / "rules" / "uk-mri"


@pytest.mark.parametrize(
    ("ordered_at", "kind"),
    [("2025-10-26T01:30:00", "occurs twice"), ("2025-03-30T01:30:00", "does not exist")],
)
def test_a_local_time_at_a_clock_change_is_refused(ordered_at: str, kind: str) -> None:
    from labrecog import InputError

    engine = Engine.from_path(UK_RULES)
    data = {
        "order_id": "O-1",
        "ordered_at": ordered_at,
        "patient": {"id": "P-1", "sex": "male", "birth_date": "1961-05-14"},
        "institution": {"id": "H-1"},
        "tests": [{"code": "PCT"}],
    }
    with pytest.raises(InputError) as info:
        engine.evaluate(data)
    problem = info.value.problems[0]
    assert problem.path == "ordered_at"
    assert kind in problem.message and "Europe/London" in problem.message


def test_a_local_time_one_hour_from_the_change_is_read_in_the_zone() -> None:
    engine = Engine.from_path(UK_RULES)
    case_ = engine.validate_case(
        {
            "order_id": "O-1",
            "ordered_at": "2025-10-26T02:30:00",
            "patient": {"id": "P-1"},
            "institution": {"id": "H-1"},
            "tests": [{"code": "PCT"}],
        }
    )
    assert case_.ordered_at.utcoffset() is not None
    assert case_.ordered_at.isoformat() == "2025-10-26T02:30:00+00:00"


# -- 4. duplicate JSON keys are input errors -------------------------------------------------


def test_a_duplicate_key_in_a_prior_result_is_an_input_error_naming_it() -> None:
    import orjson

    from labrecog import InputError
    from tests.builders import demo_engine

    text = orjson.dumps(case(prior(patient_id="P-999"))).decode()
    text = text.replace('"patient_id":"P-999"', '"patient_id":"P-999","patient_id":"P-1"')
    assert text.count('"patient_id"') == 2
    with pytest.raises(InputError) as info:
        demo_engine().evaluate_json(text)
    assert info.value.problems[0].path == "prior_results[0].patient_id"
    assert "duplicate key 'patient_id'" in info.value.problems[0].message


@pytest.mark.parametrize(
    "text",
    [
        '{"a":1,"b":{"c":"\\":","d":2}}',  # an escaped quote before a colon, in a value
        '{"a" : 1, "b" : 2}',  # spaces: the exact path, which finds no duplicate
        '{"a":"\\u0022:", "b":1}',
        '{"k":[{"x":1},{"x":1}]}',  # equal keys in different objects are fine
    ],
)
def test_text_without_duplicates_reads_as_orjson_reads_it(text: str) -> None:
    import orjson

    from labrecog.load._json_text import loads_strict

    assert loads_strict(text) == orjson.loads(text)


@given(st.recursive(
    # 64-bit integers only: a longer one is refused on its own (tests/test_bounds.py)
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3)
    | st.lists(st.tuples(st.sampled_from(['a', 'b', '"', '":', ':', '\\']), inner),
               max_size=4),
    max_leaves=12,
), st.sampled_from([":", " : ", "\t:", ":\n", " :"]), st.booleans())  # fmt: skip
@settings(max_examples=300, deadline=None)
def test_the_fast_duplicate_check_agrees_with_the_exact_one(
    tree: Any, sep: str, escape: bool
) -> None:
    """Objects are built as key/value pair lists, duplicates allowed, and written as JSON
    text by hand: loads_strict refuses exactly the texts with a duplicate key."""
    import json

    from labrecog import InputError
    from labrecog.load._json_text import loads_strict

    def write(node: Any) -> str:
        if isinstance(node, list) and node and isinstance(node[0], tuple):
            return "{" + ",".join(f"{json.dumps(k)}{sep}{write(v)}" for k, v in node) + "}"
        if isinstance(node, list):
            return "[" + ",".join(write(v) for v in node) + "]"
        return json.dumps(node, ensure_ascii=False)

    def has_dup(node: Any) -> bool:
        if isinstance(node, list) and node and isinstance(node[0], tuple):
            keys = [k for k, _ in node]
            return len(keys) != len(set(keys)) or any(has_dup(v) for _, v in node)
        return isinstance(node, list) and any(has_dup(v) for v in node)

    text = write(tree)
    if escape and "\\\\" not in text:  # the same text, quotes in strings written \u0022
        text = text.replace('\\"', "\\u0022")
    try:
        loads_strict(text)
        refused = False
    except InputError:
        refused = True
    assert refused == has_dup(tree)


@pytest.mark.parametrize(
    "text",
    [
        '{"a":1,"a":"\\u0022\\u0022"}',  # the dropped key's quotes return as escaped quotes
        '{"a"\t:1,"a"\t:2}',
        '{"x":{"a" :1,"a" :2}}',
    ],
)
def test_duplicates_that_would_defeat_a_naive_count_are_found(text: str) -> None:
    from labrecog import InputError
    from labrecog.load._json_text import loads_strict

    with pytest.raises(InputError) as info:
        loads_strict(text)
    assert "duplicate key 'a'" in info.value.problems[0].message
