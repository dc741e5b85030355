"""A case is decided or refused with an InputError naming the field: never half-decided."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
import pytest

from labrecog import Case, Engine, InputError
from tests.builders import DELETE, case, decide, demo_engine, item, prior

NO_TZ_RULES = """\
id: no-tz
version: "1"
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


@pytest.fixture(scope="module")
def no_tz_engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    path = tmp_path_factory.mktemp("rules") / "no-tz.yaml"
    path.write_text(NO_TZ_RULES, encoding="utf-8")
    return Engine.from_path(path)


def refused(data: Any, engine: Engine | None = None) -> InputError:
    with pytest.raises(InputError) as info:
        (engine or demo_engine()).evaluate(data)
    return info.value


# --------------------------------------------------------------------------- paths


@pytest.mark.parametrize(
    ("data", "path", "words"),
    [
        (case(prior(), ordered_at=DELETE), "ordered_at", "required field is missing"),
        (case(prior(), order_id=DELETE), "order_id", "required field is missing"),
        (case(prior(), patient=DELETE), "patient", "required field is missing"),
        (case(prior(), patient__id=DELETE), "patient.id", "required field is missing"),
        (case(prior(value=float("nan"))), "prior_results[0].value", "finite"),
        (case(prior(value=float("inf"))), "prior_results[0].value", "finite"),
        (case(prior(value=float("-inf"))), "prior_results[0].value", "finite"),
        (case(prior(value="6.4")), "prior_results[0].value", "number"),
        (case(prior(value=True)), "prior_results[0].value", "number"),
        (case(prior(), foo=1), "foo", "unknown field"),
        (
            case(prior(), patient__birth_date="2026-01-01"),
            "patient.birth_date",
            "after the order",
        ),
        (case(prior(), patient__nickname="x"), "patient.nickname", "unknown field"),
        (case(prior(colour="red")), "prior_results[0].colour", "unknown field"),
        (
            case(prior(patient_id="P-2")),
            "prior_results[0].patient_id",
            "belongs to patient P-2, not P-1",
        ),
        (
            case(prior(), prior(id="R-1")),
            "prior_results[1].id",
            "result id R-1 also used by prior_results[0]",
        ),
        (case(prior(), tests=[]), "tests", "at least 1"),
        (
            case(prior(reported_at="2025-02-27T07:59:59+08:00")),
            "prior_results[0].reported_at",
            "reported_at is before collected_at",
        ),
        (
            case(prior(code=DELETE, loinc=DELETE)),
            "prior_results[0]",
            "needs a code or a loinc",
        ),
        (
            case(prior(value_text="5.2")),
            "prior_results[0]",
            "either value or value_text",
        ),
        (
            case(prior(reference_range={"low": 7.0, "high": 3.0, "unit": "mmol/L"})),
            "prior_results[0].reference_range",
            "low is above high",
        ),
        (case(prior(loinc="2345")), "prior_results[0].loinc", "pattern"),
        (case(prior(status="done")), "prior_results[0].status", "final"),
        (case(prior(shared="yes")), "prior_results[0].shared", "boolean"),
        (case(prior(), authorization__granted=1), "authorization.granted", "boolean"),
        (case(prior(), institution__level=4), "institution.level", "3"),
        (case(prior(), patient__sex="X"), "patient.sex", "male"),  # M, F, 男, 女 are accepted
        (case(prior(), patient__birth_date="2025-13-01"), "patient.birth_date", "month"),
        (case(prior(), ordered_at=1740879000), "ordered_at", "ISO 8601"),
        (
            case(prior(collected_at="2025-02-27T08:00:00+08:00x")),
            "prior_results[0].collected_at",
            "datetime",
        ),
        (case(prior(), context__setting="ward"), "context.setting", "inpatient"),
        (case(prior(), tests=[{"code": ""}]), "tests[0].code", "at least 1"),
        (
            case(prior(), context__flags=["emergncy"]),
            "context.flags[0]",
            "unknown flag 'emergncy' (did you mean 'emergency'?)",
        ),
        (
            case(prior(), tests=["K", {"code": "GLU", "flags": ["emergncy"]}]),
            "tests[1].flags[0]",
            "did you mean 'emergency'?",
        ),
        (case(prior(), context__flags=["zzzzzz"]), "context.flags[0]", "unknown flag 'zzzzzz'"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_input_error_path(data: dict[str, Any], path: str, words: str) -> None:
    error = refused(data)
    assert error.path == path
    assert words in str(error)
    assert error.problems[0].path == path
    assert error.code == "invalid_input"


def test_input_error_keeps_order_id_when_it_has_one() -> None:
    assert refused(case(prior(value="6.4"))).order_id == "O-1"
    assert refused(case(prior(value="6.4"), order_id=DELETE)).order_id is None


def test_unknown_flag_without_near_miss_has_no_hint() -> None:
    error = refused(case(prior(), context__flags=["zzzzzz"]))
    assert "did you mean" not in str(error)


def test_all_unknown_flags_are_reported() -> None:
    data = case(prior(), context__flags=["emergncy", "on_insulin", "xyz"])
    error = refused(data)
    assert [p.path for p in error.problems] == ["context.flags[0]", "context.flags[2]"]


def test_mixed_patients_refuse_even_an_unshared_result() -> None:
    error = refused(case(prior(), prior(id="R-2", patient_id="P-9", shared=False)))
    assert error.path == "prior_results[1].patient_id"


# --------------------------------------------------------------------------- timestamps


def test_naive_timestamp_uses_rule_set_timezone() -> None:
    engine = demo_engine()
    parsed = engine.validate_case(
        case(
            prior(collected_at="2025-02-27T08:00:00", reported_at="2025-02-27T11:00:00"),
            ordered_at="2025-03-02T09:30:00",
        )
    )
    assert parsed.ordered_at.utcoffset() is not None
    assert parsed.ordered_at.isoformat() == "2025-03-02T09:30:00+08:00"
    assert parsed.prior_results[0].collected_at.isoformat() == "2025-02-27T08:00:00+08:00"


def test_naive_timestamp_is_interpreted_in_shanghai_at_the_boundary() -> None:
    # 7 days exactly in Shanghai time: a naive 09:30 is 01:30Z, not 09:30Z.
    boundary = prior(collected_at="2025-02-23T01:30:00Z", reported_at="2025-02-23T03:00:00Z")
    assert item(case(boundary, ordered_at="2025-03-02T09:30:00"))["status"] == "waive"
    late = prior(collected_at="2025-02-23T01:29:59Z", reported_at="2025-02-23T03:00:00Z")
    assert item(case(late, ordered_at="2025-03-02T09:30:00"))["status"] == "retest"


def test_naive_datetime_object_uses_rule_set_timezone() -> None:
    parsed = demo_engine().validate_case(case(prior(), ordered_at=datetime(2025, 3, 2, 9, 30)))
    assert parsed.ordered_at.isoformat() == "2025-03-02T09:30:00+08:00"


def test_naive_timestamp_without_rule_set_timezone_is_an_error(no_tz_engine: Engine) -> None:
    aware = case(prior(institution={"id": "X"}))
    assert item(aware, engine=no_tz_engine)["status"] == "waive"
    error = refused(case(prior(), ordered_at="2025-03-02T09:30:00"), no_tz_engine)
    assert error.path == "ordered_at"
    assert "no UTC offset" in str(error)
    naive_prior = prior(collected_at="2025-02-27T08:00:00+08:00", reported_at="2025-02-27T11:00:00")
    error = refused(case(naive_prior), no_tz_engine)
    assert error.path == "prior_results[0].reported_at"


def test_date_only_ordered_at_is_refused() -> None:
    error = refused(case(prior(), ordered_at="2025-03-02"))
    assert error.path == "ordered_at"


def test_date_only_ordered_at_never_waives() -> None:
    # Collected 00:30 on 23 Feb: 6d23h30m before midnight, but 7d9h before a 09:30 order.
    old = prior(collected_at="2025-02-23T00:30:00+08:00", reported_at="2025-02-23T01:00:00+08:00")
    try:
        entry = item(case(old, ordered_at="2025-03-02"))
    except InputError:
        return
    assert entry["status"] == "retest"


def test_epoch_string_is_not_a_timestamp() -> None:
    error = refused(case(prior(), ordered_at="1740879000"))
    assert error.path == "ordered_at"


# --------------------------------------------------------------------------- ext


def test_ext_is_accepted_and_carried() -> None:
    data = case(
        prior(ext={"lab_accession": "A-77", "nested": {"x": [1, 2]}}),
        ext={"his_visit": "V-9"},
        patient__ext={"mrn": "000123"},
    )
    parsed = demo_engine().validate_case(data)
    assert parsed.ext == {"his_visit": "V-9"}
    assert parsed.patient.ext == {"mrn": "000123"}
    assert parsed.prior_results[0].ext == {"lab_accession": "A-77", "nested": {"x": [1, 2]}}
    assert item(data)["status"] == "waive"


def test_ext_must_be_an_object() -> None:
    assert refused(case(prior(), ext=[1, 2])).path == "ext"


# --------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("data", [[case(prior())], "case", 17, None])
def test_non_mapping_case(data: Any) -> None:
    error = refused(data)
    assert error.path == ""
    assert "JSON object" in str(error)
    assert error.order_id is None


@pytest.mark.parametrize(
    "raw",
    [b"{", b'{"order_id": ', b"\xff\xfe{}", b"not json", "{'single': 'quotes'}"],
    ids=["truncated", "truncated_value", "not_utf8", "garbage", "python_repr"],
)
def test_evaluate_json_rejects_broken_json(raw: bytes | str) -> None:
    with pytest.raises(InputError) as info:
        demo_engine().evaluate_json(raw)
    assert info.value.path == ""
    assert "not valid JSON" in str(info.value)


def test_evaluate_json_rejects_a_json_list() -> None:
    with pytest.raises(InputError) as info:
        demo_engine().evaluate_json(b"[1, 2]")
    assert "JSON object" in str(info.value)


def test_evaluate_json_nan_literal_is_refused() -> None:
    raw = orjson.dumps(case(prior())).replace(b'"value":5.2', b'"value":NaN')
    assert b"NaN" in raw
    with pytest.raises(InputError):
        demo_engine().evaluate_json(raw)


def test_evaluate_json_decides_valid_json() -> None:
    raw = orjson.dumps(case(prior()))
    decision = demo_engine().evaluate_json(raw)
    assert decision.model_dump(mode="json") == decide(case(prior()))
    assert demo_engine().evaluate_json(raw.decode()).saving == "5.00"


def test_case_model_is_accepted_as_is() -> None:
    engine = demo_engine()
    parsed = engine.validate_case(case(prior()))
    assert isinstance(parsed, Case)
    assert engine.evaluate(parsed).model_dump(mode="json") == decide(case(prior()))


def test_a_validated_case_still_gets_its_flags_checked() -> None:
    parsed = Case.model_validate(case(prior(), context__flags=["emergncy"]))
    with pytest.raises(InputError) as info:
        demo_engine().evaluate(parsed)
    assert info.value.path == "context.flags[0]"


# --------------------------------------------------------------------------- record


def test_to_record_shape() -> None:
    error = refused(case(prior(collected_at="yesterday")))
    record = error.to_record(line=17)
    assert set(record) == {"line", "order_id", "error"}
    assert record["line"] == 17
    assert record["order_id"] == "O-1"
    assert record["error"] == {
        "code": "invalid_input",
        "message": str(error),
        "path": "prior_results[0].collected_at",
    }
    assert isinstance(record["error"]["message"], str) and record["error"]["message"]
    orjson.dumps(record)  # JSON-ready


def test_to_record_without_order_id() -> None:
    record = refused([1]).to_record(line=3)
    assert record == {
        "line": 3,
        "order_id": None,
        "error": {"code": "invalid_input", "message": "a case must be a JSON object", "path": ""},
    }


def test_to_record_without_line() -> None:
    assert refused(case(prior(), foo=1)).to_record()["line"] is None
