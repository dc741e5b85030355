"""Decisions as FHIR: GuidanceResponse, DetectedIssue and OperationOutcome, valid R4."""

from __future__ import annotations

from typing import Any

import pytest

from labrecog import InputError, InputProblem
from labrecog.fhir import (
    FhirInputError,
    detected_issues,
    guidance_response,
    operation_outcome,
    read_bundle,
)
from labrecog.fhir._codes import EXT_LINE, EXT_RULESET, LOINC, REASON_SYSTEM
from tests.builders import demo_engine
from tests.test_fhir_builders import (
    coding,
    find,
    member,
    observation,
    quantity,
    report,
    service_request,
    waivable,
)

R4B = pytest.importorskip("fhir.resources.R4B")
from fhir.resources.R4B.detectedissue import DetectedIssue  # noqa: E402
from fhir.resources.R4B.guidanceresponse import GuidanceResponse  # noqa: E402
from fhir.resources.R4B.operationoutcome import OperationOutcome  # noqa: E402

ENGINE = demo_engine()


def answer(b: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    fc = read_bundle(b, ENGINE)
    decision = ENGINE.evaluate(fc.case)
    gr = guidance_response(decision, fc)
    issues = detected_issues(decision, fc)
    GuidanceResponse.model_validate(gr)
    for issue in issues:
        DetectedIssue.model_validate(issue)
    return gr, issues


def mixed() -> dict[str, Any]:
    """GLU waived, HBA1C re-tested (no prior), LFT partial (ALT, AST waived; TBIL, ALB not)."""
    members = [
        member(rid, loinc, value, low, high, mark="本省HR")
        for rid, loinc, value, low, high in (
            ("ALT", "1742-6", 30, 9, 50),
            ("AST", "1920-8", 25, 15, 40),
        )
    ]
    return waivable(
        service_request("sr-2", [coding("HBA1C")]),
        service_request("sr-3", [coding("24325-3", LOINC)]),
        report("dr-1", ["ALT", "AST"]),
        *members,
    )


def parameters(gr: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in gr["contained"] if c["resourceType"] == "Parameters")
    return found


def items(gr: dict[str, Any]) -> list[dict[str, list[Any]]]:
    """Each item's parts grouped by name."""
    out = []
    for p in parameters(gr)["parameter"]:
        if p["name"] != "item":
            continue
        parts: dict[str, list[Any]] = {}
        for part in p["part"]:
            value = next((v for k, v in part.items() if k.startswith("value")), part.get("part"))
            parts.setdefault(part["name"], []).append(value)
        out.append(parts)
    return out


def test_guidance_response_is_valid_and_records_the_decision() -> None:
    gr, _ = answer(mixed())
    assert gr["resourceType"] == "GuidanceResponse"
    assert gr["status"] == "success"
    assert gr["subject"] == {"reference": "Patient/P-1"}
    assert gr["occurrenceDateTime"] == "2025-03-02T09:30:00+08:00"
    assert gr["requestIdentifier"]["value"] == "O-1"
    assert gr["moduleUri"].endswith("/ruleset/demo/2025.1")
    ruleset = {e["url"]: e["valueString"] for e in gr["extension"][0]["extension"]}
    assert gr["extension"][0]["url"] == EXT_RULESET
    assert ruleset["id"] == "demo" and ruleset["digest"] == ENGINE.ruleset.digest
    assert gr["outputParameters"] == {"reference": "#decision"}
    assert [rc["text"] for rc in gr["reasonCode"]] == [
        "GLU: waive",
        "HBA1C: retest",
        "LFT: partial",
    ]
    assert gr["reasonCode"][1]["coding"] == [{"system": REASON_SYSTEM, "code": "no_prior"}]


def test_every_item_names_its_service_request_and_results() -> None:
    gr, _ = answer(mixed())
    glu, hba1c, lft = items(gr)
    assert glu["request"] == [{"reference": "ServiceRequest/sr-1"}]
    assert glu["status"][0]["code"] == "waive"
    assert glu["result"] == [{"reference": "Observation/R-1"}]
    assert glu["institution"] == ["LXRM"]
    assert glu["saving"] == [{"value": 5.0, "currency": "CNY"}]
    assert glu["issue"] == [{"reference": "#issue-1"}]
    assert hba1c["request"] == [{"reference": "ServiceRequest/sr-2"}]
    assert "issue" not in hba1c
    reason = {p["name"]: p for p in hba1c["reason"][0]}
    assert reason["code"]["valueCoding"]["code"] == "no_prior"
    assert lft["status"][0]["code"] == "partial"
    assert lft["retest"] == ["TBIL", "ALB"]
    waived = [{p["name"]: p for p in w} for w in lft["waived"]]
    assert [w["result"]["valueReference"] for w in waived] == [
        {"reference": "Observation/ALT"},
        {"reference": "Observation/AST"},
    ]


def test_what_is_still_to_order_comes_last() -> None:
    params = parameters(answer(mixed())[0])["parameter"]
    to_order = [p["valueString"] for p in params if p["name"] == "to_order"]
    assert to_order == ["HBA1C", "TBIL", "ALB"]
    assert [p["name"] for p in params[-3:]] == ["to_order"] * 3


def test_rejected_results_are_referenced_by_their_observation() -> None:
    b = waivable(obs=observation(status="preliminary"))
    gr, issues = answer(b)
    assert issues == []
    (glu,) = items(gr)
    reason = {p["name"]: p for p in glu["reason"][0]}
    assert reason["code"]["valueCoding"]["code"] == "result_status"
    assert reason["result"]["valueReference"] == {"reference": "Observation/R-1"}


def test_detected_issues_for_what_need_not_be_repeated() -> None:
    gr, issues = answer(mixed())
    assert [i["code"]["coding"][0]["code"] for i in issues] == ["waive", "partial"]
    glu, lft = issues
    assert glu["implicated"] == [
        {"reference": "ServiceRequest/sr-1"},
        {"reference": "Observation/R-1"},
    ]
    assert glu["patient"] == {"reference": "Patient/P-1"}
    assert glu["identifiedDateTime"] == "2025-03-02T09:30:00+08:00"
    assert glu["mitigation"][0]["action"]["text"] == "do not repeat the test"
    assert lft["mitigation"][0]["action"]["text"] == "order only TBIL, ALB"
    assert "id" not in glu  # standalone: the server assigns ids
    contained = [c for c in gr["contained"] if c["resourceType"] == "DetectedIssue"]
    assert [c["id"] for c in contained] == ["issue-1", "issue-3"]
    assert {k: v for k, v in contained[0].items() if k != "id"} == glu


def test_the_answer_is_deterministic() -> None:
    assert answer(mixed()) == answer(mixed())


def test_operation_outcome_from_an_input_error_names_every_path() -> None:
    # Another patient's consent and result (a bad result alone is no input error: issue 11).
    b = waivable(obs=observation(subject={"reference": "Patient/P-2"}))
    find(b, "Consent")["patient"] = {"reference": "Patient/P-2"}
    with pytest.raises(FhirInputError) as info:
        read_bundle(b, ENGINE)
    oo = operation_outcome(info.value, 17)
    OperationOutcome.model_validate(oo)
    assert oo["extension"][0] == {"url": EXT_LINE, "valueInteger": 17}
    assert [i["expression"] for i in oo["issue"]] == [
        ["Bundle.entry[4].resource.patient"],
        ["Bundle.entry[7].resource.subject"],
    ]
    assert all(i["severity"] == "error" and i["code"] == "invalid" for i in oo["issue"])
    assert oo["issue"][0]["diagnostics"].startswith("line 17: ")


def test_operation_outcome_from_a_batch_error_record() -> None:
    record = InputError([InputProblem("", "not valid JSON: unexpected end")]).to_record(3)
    oo = operation_outcome(record)
    OperationOutcome.model_validate(oo)
    assert oo["extension"] == [{"url": EXT_LINE, "valueInteger": 3}]
    assert "expression" not in oo["issue"][0]
    internal = {
        "line": 4,
        "order_id": None,
        "error": {"code": "internal_error", "message": "boom", "path": ""},
    }
    assert operation_outcome(internal)["issue"][0]["code"] == "exception"


def test_a_waived_item_of_a_result_inside_a_report_references_it() -> None:
    alt = observation(
        "alt",
        [coding("1742-6", LOINC)],
        value=quantity(30, "U/L", ucum="U/L"),
        low=9,
        high=50,
        unit="U/L",
        performer=None,
    )
    dr = report("dr-1", [])
    dr["contained"] = [alt]
    dr["result"] = [{"reference": "#alt"}]
    b = waivable(dr)
    find(b, "ServiceRequest")["code"]["coding"] = [coding("ALT")]
    gr, issues = answer(b)
    (alt_item,) = items(gr)
    assert alt_item["result"] == [{"reference": "DiagnosticReport/dr-1#alt"}]
    assert issues[0]["implicated"][1] == {"reference": "DiagnosticReport/dr-1#alt"}
