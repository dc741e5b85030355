"""Degrade per result, never per Bundle (issue 11): a result that cannot be read or trusted
makes only that result unusable; the case is still decided.

``waivable()`` entries: 0 Patient, 1 LZU2, 2 LXRM, 3 Encounter, 4 Consent, 5 ServiceRequest
(GLU), 6 Specimen, 7 Observation R-1 (GLU, 3 days old, waivable), then what a test adds.
The last part is an exhaustive FHIR-content fuzz over realistic Bundles.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from labrecog import Engine, InputError, Trace, UnreadableResult
from labrecog.cli import main
from labrecog.fhir import FhirCase, FhirInputError, read_bundle
from labrecog.fhir._codes import EXT_INSTITUTION_REGION, LOINC, V3_CONFIDENTIALITY
from tests.builders import DEMO, case, demo_engine, prior
from tests.test_fhir_builders import (
    coding,
    encounter,
    find,
    member,
    observation,
    organization,
    quantity,
    report,
    service_request,
    waivable,
)
from tests.test_fhir_realfeeds import consented

ENGINE = demo_engine()
ROOT = Path(__file__).resolve().parent.parent
YESTERDAY = "2025-03-01T10:00:00+08:00"  # after R-1 (2025-02-27), before the order


def read(b: dict[str, Any], engine: Engine = ENGINE, **kw: Any) -> FhirCase:
    return read_bundle(b, engine, **kw)


def items(b: dict[str, Any], engine: Engine = ENGINE) -> dict[str, dict[str, Any]]:
    decision = engine.evaluate(read(b, engine).case).model_dump(mode="json")
    return {i["code"]: i for i in decision["items"]}


def codes(item: dict[str, Any]) -> list[str]:
    return [r["code"] for r in item["reasons"]]


def refused(b: dict[str, Any], engine: Engine = ENGINE) -> FhirInputError:
    with pytest.raises(FhirInputError) as info:
        read_bundle(b, engine)
    return info.value


def poct(rid: str = "POC-1", **fields: Any) -> dict[str, Any]:
    """A point-of-care glucose yesterday: no performer, no encounter, as POCT feeds send it."""
    base: dict[str, Any] = {"performer": None, "effectiveDateTime": YESTERDAY, "issued": None}
    return observation(rid, value=quantity(5.4, "mmol/L", ucum="mmol/L"), **{**base, **fields})


def potassium(rid: str = "K-1", **fields: Any) -> dict[str, Any]:
    return observation(
        rid,
        [coding("2823-3", LOINC)],
        value=quantity(4.2, "mmol/L", ucum="mmol/L"),
        low=3.5,
        high=5.3,
        **fields,
    )


def with_k(*extra: dict[str, Any], obs: dict[str, Any] | None = None) -> dict[str, Any]:
    """GLU and K ordered, each with a waivable result; ``extra`` resources added last."""
    sr_k = service_request("sr-2", [coding("2823-3", LOINC)])
    return waivable(sr_k, potassium(), *extra, obs=obs)


# --------------------------------------------------------------------------- the contract


def test_a_performer_less_result_is_unreadable_and_only_its_test_is_retested() -> None:
    b = with_k(poct())
    fc = read(b)
    assert [p.id for p in fc.case.prior_results] == ["R-1", "K-1"]
    [bad] = fc.case.unreadable_results
    assert bad.id == "POC-1" and bad.loinc == "2345-7" and bad.code == "GLU"
    assert bad.collected_at is not None and bad.collected_at.isoformat() == YESTERDAY
    assert bad.problems[0].path == "entry[10].resource.performer"
    assert bad.problems[0].message.startswith("no performing laboratory")
    assert fc.observations["POC-1"] == "Observation/POC-1"
    got = items(b)
    assert got["K"]["status"] == "waive" and got["K"]["result_id"] == "K-1"
    glu = got["GLU"]
    assert glu["status"] == "retest" and codes(glu) == ["unreadable_result"]
    reason = glu["reasons"][0]
    assert reason["result_id"] == "POC-1"
    assert reason["message"] == (
        "result POC-1 could not be read (entry[10].resource.performer: no performing "
        "laboratory: no performer of the Observation or its report is an Organization (in "
        "the Bundle, or referenced by identifier) or a PractitionerRole with one, and no "
        "Encounter of theirs has a serviceProvider that is); it may be newer than R-1, "
        "which is therefore not relied on"
    )


def test_the_same_decision_without_the_unreadable_result_when_it_is_older() -> None:
    # Collected before the result the waiver rests on: it cannot be the newest.
    b = with_k(poct(effectiveDateTime="2025-02-20T10:00:00+08:00"))
    assert len(read(b).case.unreadable_results) == 1
    got = items(b)
    assert got["GLU"]["status"] == "waive" and got["GLU"]["result_id"] == "R-1"
    assert "unreadable_result" not in codes(got["GLU"])


def test_an_unreadable_result_collected_after_the_order_does_not_matter() -> None:
    got = items(with_k(poct(effectiveDateTime="2025-03-02T10:00:00+08:00")))
    assert got["GLU"]["status"] == "waive"


def test_an_unreadable_result_at_the_same_instant_blocks() -> None:
    got = items(with_k(poct(effectiveDateTime="2025-02-27T08:00:00+08:00")))
    assert codes(got["GLU"]) == ["unreadable_result"]


def test_an_unknown_collection_time_blocks() -> None:
    b = with_k(poct(effectiveDateTime=None))
    [bad] = read(b).case.unreadable_results
    assert bad.collected_at is None
    assert bad.problems[0].path == "entry[10].resource.effective[x]"
    assert codes(items(b)["GLU"]) == ["unreadable_result"]


@pytest.mark.parametrize(
    ("day", "known", "blocks"),
    [
        ("2025-02-20", "2025-02-20T23:59:59.999999-12:00", False),  # wholly before R-1
        ("2025-03-01", None, True),  # may be before or after the order: unknown
        ("2025-03-05", "2025-03-05T00:00:00+14:00", False),  # wholly after the order
    ],
)
def test_a_date_without_a_time_stands_for_every_instant_it_may_be(
    day: str, known: str | None, blocks: bool
) -> None:
    b = with_k(poct(effectiveDateTime=day))
    [bad] = read(b).case.unreadable_results
    assert (bad.collected_at.isoformat() if bad.collected_at else None) == known
    assert (codes(items(b)["GLU"]) == ["unreadable_result"]) is blocks


def test_a_retest_anyway_still_names_the_unreadable_result() -> None:
    b = with_k(poct(), obs=observation(effectiveDateTime="2025-01-01T08:00:00+08:00"))
    glu = items(b)["GLU"]
    assert glu["status"] == "retest"
    assert codes(glu) == ["too_old", "unreadable_result"]
    assert glu["reasons"][1]["message"].startswith("result POC-1 could not be read (")
    assert "may be newer" not in glu["reasons"][1]["message"]
    # An exception flag: the same.
    flagged = with_k(poct())
    find(flagged, "ServiceRequest", "sr-1")["orderDetail"] = [
        {"coding": [{"system": "https://labrecog.dev/fhir/CodeSystem/flag", "code": "emergency"}]}
    ]
    assert codes(items(flagged)["GLU"]) == ["exception", "unreadable_result"]


def test_no_other_result_the_unreadable_one_is_named_beside_no_prior() -> None:
    b = with_k(obs=poct("R-1"))
    glu = items(b)["GLU"]
    assert codes(glu) == ["no_prior", "unreadable_result"]
    assert glu["reasons"][1]["result_id"] == "R-1"


BAD_RESULTS: list[tuple[dict[str, Any], str, str]] = [
    ({"effectiveDateTime": "27/02/2025"}, "effectiveDateTime", "ISO 8601"),
    ({"effectiveDateTime": None, "effectivePeriod": {"end": YESTERDAY}}, "effectivePeriod",
     "needs a start"),
    ({"effectiveDateTime": "2025-02-30"}, "effectiveDateTime", "not a valid date"),
    ({"issued": "2025-02-01T08:00:00+08:00"}, "issued", "reported_at is before collected_at"),
    ({"valueQuantity": {"value": "5.2", "unit": "mmol/L"}}, "valueQuantity.value", "valid number"),
    ({"valueQuantity": "5.2"}, "valueQuantity", "expected a Quantity"),
    ({"valueQuantity": {"value": True, "unit": "mmol/L"}}, "valueQuantity.value", "valid number"),
    ({"status": None}, "status", "required"),
    ({"status": "final-ish"}, "status", "Input should be"),
    ({"subject": None}, "subject", "whose result is it"),
    ({"subject": {"display": "Mr Wang"}}, "subject", "names no patient"),
    ({"subject": "Patient/P-1"}, "subject", "expected a Reference"),
    ({"performer": [{"reference": "Organization/nowhere"}]}, "performer", "no performing"),
    ({"specimen": {"reference": 7}}, "specimen.reference", "non-empty string"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "path", "message"), BAD_RESULTS)
def test_a_bad_result_is_a_reason_not_an_input_error(
    change: dict[str, Any], path: str, message: str
) -> None:
    b = with_k(obs=observation(**change))
    fc = read(b)
    [bad] = fc.case.unreadable_results
    assert bad.id == "R-1" and bad.loinc == "2345-7"
    assert bad.problems[0].path.startswith(f"entry[7].resource.{path.split('.')[0]}")
    assert message in bad.problems[0].message
    got = items(b)
    assert got["K"]["status"] == "waive"  # the other item is untouched
    assert got["GLU"]["status"] == "retest"
    assert "unreadable_result" in codes(got["GLU"])


def test_a_time_without_offset_is_unreadable_where_the_rule_set_has_no_timezone(
    tmp_path: Path,
) -> None:
    for part in DEMO.glob("*.yaml"):
        text = part.read_text(encoding="utf-8")
        (tmp_path / part.name).write_text(text.replace("timezone: Asia/Shanghai\n", ""), "utf-8")
    engine = Engine.from_path(tmp_path)
    lab = [{"reference": "Organization/org-lxrm"}]
    b = with_k(poct(effectiveDateTime="2025-03-01T10:00:00", performer=lab))
    [bad] = read(b, engine).case.unreadable_results
    assert bad.collected_at is None  # not guessed
    assert bad.problems[0].path == "entry[10].resource.effectiveDateTime"
    assert "no UTC offset" in bad.problems[0].message
    assert codes(items(b, engine)["GLU"]) == ["unreadable_result"]


def test_a_value_the_case_model_refuses_names_the_fhir_path() -> None:
    b = with_k(poct(performer=[{"reference": "Organization/org-lxrm"}], valueQuantity=None))
    find(b, "Observation", "POC-1")["valueQuantity"] = {"value": float("nan"), "unit": "mmol/L"}
    [bad] = read(b).case.unreadable_results
    assert bad.id == "POC-1"
    assert bad.problems[0].path == "entry[10].resource.valueQuantity.value"
    assert codes(items(b)["GLU"]) == ["unreadable_result"]


def test_the_laboratory_named_by_the_encounter_is_the_path_of_a_bad_region() -> None:
    # The performing lab comes from Encounter.serviceProvider; its region extension is
    # not a region code: the Case model refuses it, named where it was read.
    lab = organization("org-poc", "POC-LAB", "社区卫生服务中心")
    lab["extension"] = [{"url": EXT_INSTITUTION_REGION, "valueCode": "甘肃临夏"}]
    visit = encounter(id="enc-poc", serviceProvider={"reference": "Organization/org-poc"})
    b = with_k(lab, visit, poct(encounter={"reference": "Encounter/enc-poc"}))
    [bad] = read(b).case.unreadable_results
    assert bad.problems[0].path == "entry[10].resource.extension[0].valueCode"
    assert codes(items(b)["GLU"]) == ["unreadable_result"]


def test_an_encounter_provider_makes_a_performer_less_result_readable() -> None:
    lab = organization("org-poc", "LXRM", "临夏市人民医院", region="621226", level=2)
    visit = encounter(id="enc-poc", serviceProvider={"reference": "Organization/org-poc"})
    b = with_k(lab, visit, poct(encounter={"reference": "Encounter/enc-poc"}))
    fc = read(b)
    assert not fc.case.unreadable_results
    assert {p.id: p.institution.id for p in fc.case.prior_results}["POC-1"] == "LXRM"


def test_codings_naming_different_tests_make_it_unreadable_for_each() -> None:
    both = observation("X-1", [coding("2345-7", LOINC), coding("2823-3", LOINC)])
    b = with_k(both)
    fc = read(b)
    assert [(u.id, u.loinc) for u in fc.case.unreadable_results] == [
        ("X-1", "2345-7"),
        ("X-1", "2823-3"),
    ]
    assert "different tests" in fc.case.unreadable_results[0].problems[0].message
    got = items(b)
    assert codes(got["GLU"]) == ["unreadable_result"]
    assert codes(got["K"]) == ["unreadable_result"]


def test_a_panel_component_that_cannot_be_read_is_retested_alone() -> None:
    alt = member("ALT", "1742-6", 30.0, 9.0, 50.0)
    ast = member("AST", "1920-8", 25.0, 15.0, 40.0, subject={"display": "?"})
    b = waivable(report("dr-1", ["ALT", "AST"]), alt, ast)
    find(b, "ServiceRequest")["code"]["coding"] = [coding("24325-3", LOINC)]
    fc = read(b)
    assert [u.id for u in fc.case.unreadable_results] == ["AST"]
    # The reader inherits the report's time: the unreadable AST is as new as ALT.
    lft = items(b)["LFT"]
    by_test = {(r["test"], r["code"]) for r in lft["reasons"]}
    assert ("AST", "unreadable_result") in by_test
    assert lft["status"] in ("partial", "retest")
    assert "AST" not in [w["code"] for w in lft.get("waived") or []]


def test_a_report_whose_result_list_cannot_be_read_blocks_its_panel() -> None:
    alt = member("ALT", "1742-6", 30.0, 9.0, 50.0)
    dr = report("dr-1", ["ALT"])
    dr["result"].append({"reference": 7})  # which result was meant cannot be known
    b = waivable(dr, alt)
    find(b, "ServiceRequest")["code"]["coding"] = [coding("24325-3", LOINC)]
    fc = read(b)
    [bad] = fc.case.unreadable_results
    assert bad.id == "DiagnosticReport/dr-1" and bad.loinc == "24325-3"
    assert bad.problems[0].path == "entry[8].resource.result[1].reference"
    lft = items(b)["LFT"]
    assert {r["test"] for r in lft["reasons"] if r["code"] == "unreadable_result"} == {
        "ALT",
        "AST",
        "TBIL",
        "ALB",
    }


def test_a_withheld_result_is_neither_used_nor_shown_readable_or_not() -> None:
    restricted = {"security": [{"system": V3_CONFIDENTIALITY, "code": "R"}]}
    b = with_k(poct(meta=restricted))
    fc = read(b)
    assert not fc.case.unreadable_results
    assert "POC-1" not in json.dumps(items(b), ensure_ascii=False)
    assert items(b)["GLU"]["status"] == "waive"  # as a readable withheld result would be
    odd = poct(meta=restricted, performer=[{"reference": "Organization/org-lxrm"}])
    odd["valueQuantity"]["value"] = "5.4"  # refused by the Case model, but withheld first
    assert not read(with_k(odd)).case.unreadable_results


def test_an_unmapped_result_that_cannot_be_read_is_still_left_out() -> None:
    odd = observation("N-1", [coding("99999-9", LOINC)], performer=None)
    fc = read(with_k(odd))
    assert not fc.case.unreadable_results
    assert "N-1" not in [p.id for p in fc.case.prior_results]


# --------------------------------------------------------------------------- what still refuses


def test_a_result_of_another_patient_still_refuses_the_bundle() -> None:
    err = refused(with_k(poct(subject={"reference": "Patient/P-777"})))
    assert [p.path for p in err.problems] == ["entry[10].resource.subject"]
    assert "belongs to patient P-777, not P-1" in str(err)
    # ... even when the result could not be read anyway (no performer there either).
    err = refused(with_k(poct(subject={"reference": "Patient/P-777"}, effectiveDateTime=None)))
    assert [p.path for p in err.problems] == ["entry[10].resource.subject"]


def test_a_duplicate_result_id_still_refuses_the_bundle() -> None:
    err = refused(with_k(poct("R-1")))
    assert "R-1" in str(err) and "also used by" in str(err)
    err = refused(with_k(poct("X"), poct("X", effectiveDateTime=None)))
    assert "also used by" in str(err)


def test_no_patient_no_order_or_a_bad_order_still_refuse() -> None:
    b = with_k(poct())
    b["entry"] = [e for e in b["entry"] if e["resource"]["resourceType"] != "Patient"]
    assert "no Patient" in str(refused(b))
    b = with_k(poct())
    b["entry"] = [e for e in b["entry"] if e["resource"]["resourceType"] != "ServiceRequest"]
    assert "no order" in str(refused(b))
    b = with_k(poct())
    find(b, "ServiceRequest", "sr-2")["code"] = {"text": "potassium"}
    assert [p.path for p in refused(b).problems] == ["entry[8].resource.code"]


def test_native_json_keeps_its_strict_contract() -> None:
    bad = prior(id="R-2", collected_at="2025-03-01")
    with pytest.raises(InputError) as info:
        ENGINE.evaluate(case(prior(), bad))
    assert [p.path for p in info.value.problems] == ["prior_results[1].collected_at"]


# --------------------------------------------------------------------------- the engine


def unreadable(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "U-1",
        "code": "GLU",
        "collected_at": YESTERDAY,
        "problems": [{"path": "results[3].lab", "message": "no laboratory"}],
    }
    return {**base, **fields}


def one(data: dict[str, Any], engine: Engine = ENGINE) -> dict[str, Any]:
    found: dict[str, Any] = engine.evaluate(data).model_dump(mode="json")["items"][0]
    return found


def test_an_adapter_passes_unreadable_results_in_the_case() -> None:
    entry = one(case(prior(), unreadable_results=[unreadable()]))
    assert entry["status"] == "retest"
    assert entry["reasons"] == [
        {
            "code": "unreadable_result",
            "message": "result U-1 could not be read (results[3].lab: no laboratory); it may "
            "be newer than R-1, which is therefore not relied on",
            "result_id": "U-1",
        }
    ]
    parsed = ENGINE.validate_case(case(unreadable_results=[unreadable()]))
    assert isinstance(parsed.unreadable_results[0], UnreadableResult)


def test_what_an_unreadable_result_is_known_to_be_is_optional_but_checked() -> None:
    anonymous = unreadable(id=None, code=None, loinc="14749-6", collected_at=None)
    entry = one(case(prior(), unreadable_results=[anonymous]))
    assert entry["reasons"][0]["message"].startswith("a result could not be read (")
    assert "result_id" not in entry["reasons"][0]
    for bad in (
        unreadable(problems=[]),
        unreadable(loinc="2345"),
        unreadable(collected_at="2025-03-01"),
        unreadable(extra=1),
    ):
        with pytest.raises(InputError):
            ENGINE.validate_case(case(unreadable_results=[bad]))


def test_an_unreadable_result_of_another_test_changes_nothing() -> None:
    entry = one(case(prior(), unreadable_results=[unreadable(code="K")]))
    assert entry["status"] == "waive" and entry["reasons"] == []


def test_the_chinese_message() -> None:
    zh = Engine.from_path(DEMO, lang="zh")
    entry = one(case(prior(), unreadable_results=[unreadable()]), zh)
    assert entry["reasons"][0]["message"] == (
        "结果 U-1 无法读取（results[3].lab：no laboratory），它可能比 R-1 更新，故不采用 R-1"
    )


def test_the_trace_says_the_used_candidate_was_blocked() -> None:
    trace = Trace()
    ENGINE.evaluate(case(prior(), unreadable_results=[unreadable()]), trace=trace)
    assert [(c.test, c.result_id, c.verdict) for c in trace.candidates] == [
        ("GLU", "R-1", "blocked")
    ]


def test_nothing_is_spent_on_unreadable_results_when_there_are_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import labrecog.decide._order as order

    def boom(*args: Any) -> Any:
        raise AssertionError("indexed without unreadable results")

    monkeypatch.setattr(order, "index_unreadable", boom)
    assert one(case(prior()))["status"] == "waive"


# --------------------------------------------------------------------------- the command line


def test_evaluate_input_format_fhir_decides_a_bundle_with_a_bad_result(tmp_path: Path) -> None:
    src = tmp_path / "bundles.ndjson"
    src.write_bytes(orjson.dumps(with_k(poct())) + b"\n")
    result = CliRunner().invoke(
        main, ["evaluate", str(src), "--rules", str(DEMO), "--input-format", "fhir", "-q"]
    )
    assert result.exit_code == 0, result.output
    [record] = [json.loads(line) for line in result.stdout_bytes.splitlines()]
    got = {i["code"]: i for i in record["items"]}
    assert got["K"]["status"] == "waive"
    assert codes(got["GLU"]) == ["unreadable_result"]
    assert "entry[10].resource.performer" in got["GLU"]["reasons"][0]["message"]


# --------------------------------------------------------------------------- the fuzz
# Every resource of realistic Bundles, removed or corrupted one at a time: the Bundle is
# still decided unless the resource is part of the order itself (the patient, an order, the
# ordering encounter or institution, the consent); and every ordered item that the resource
# cannot concern keeps its decision.

JUNK: tuple[Any, ...] = (42, "??", [{"junk": True}], {})
ORDER_KINDS = frozenset({"Patient", "ServiceRequest", "Consent"})


def _fixtures() -> list[tuple[str, dict[str, Any]]]:
    lines = (ROOT / "examples" / "fhir" / "bundles.ndjson").read_text("utf-8").splitlines()
    out = [(f"examples line {n}", json.loads(lines[n - 1])) for n in (1, 2, 3)]
    feeds = ROOT / "tests" / "fixtures" / "fhir-realfeeds"
    for path in sorted(feeds.glob("*.json")):
        b = json.loads(path.read_text("utf-8"))
        [who] = [e for e in b["entry"] if e["resource"]["resourceType"] == "Patient"]
        ref = who.get("fullUrl") or f"Patient/{who['resource']['id']}"
        out.append((path.name, consented(b, ref)))  # the demo rules require authorisation
    return out


def _keys(res: dict[str, Any]) -> set[str]:
    """How a resource can be referenced: Type/id and its fullUrl."""
    return {f"{res['resourceType']}/{res.get('id')}"}


def _refs(node: Any) -> set[str]:
    """Every reference string in a resource."""
    if isinstance(node, dict):
        found = {node["reference"]} if isinstance(node.get("reference"), str) else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node)) if node else set()
    return set()


def _names(entry: dict[str, Any]) -> set[str]:
    res = entry["resource"]
    out = _keys(res)
    if isinstance(entry.get("fullUrl"), str):
        out.add(entry["fullUrl"])
    return out


def _neighbours(b: dict[str, Any], i: int) -> list[dict[str, Any]]:
    """The resource, what it references and what references it, two hops (a performing
    Organization reaches its results through their report)."""
    entries = b["entry"]
    near = {i}
    for _ in range(2):
        names = set().union(*(_names(entries[k]) for k in near))
        refs = set().union(*(_refs(entries[k]["resource"]) for k in near))
        near |= {k for k, e in enumerate(entries) if _refs(e["resource"]) & names}
        near |= {k for k, e in enumerate(entries) if _names(e) & refs}
    return [entries[k]["resource"] for k in near]


def _tests_named(engine: Engine, resources: list[dict[str, Any]]) -> set[str]:
    rules = engine.rules
    out: set[str] = set()
    inside = [c for r in resources if isinstance(r.get("contained"), list) for c in r["contained"]]
    for res in [*resources, *(c for c in inside if isinstance(c, dict))]:
        concept = res.get("code")
        for c in concept.get("coding", []) if isinstance(concept, dict) else []:
            code = c.get("code") if isinstance(c, dict) else None
            if not isinstance(code, str):
                continue
            target = rules.loinc.get(code.strip()) or rules.order_codes.get(code.strip())
            named = set(rules.resolve_result_code(code.strip()))
            if target is not None:
                named.add(target)
            for t in list(named):
                if t in rules.panels:
                    named |= set(rules.panels[t].components)
            out |= named
    return out


def _order_entries(b: dict[str, Any]) -> set[int]:
    """Entries the order rests on: patient, orders, consent, and what the orders name."""
    entries = b["entry"]
    near = {k for k, e in enumerate(entries) if e["resource"]["resourceType"] in ORDER_KINDS}
    for _ in range(2):
        refs = set().union(
            *(
                _refs(entries[k]["resource"])
                for k in near
                if entries[k]["resource"]["resourceType"] == "ServiceRequest"
                or entries[k]["resource"]["resourceType"] == "Encounter"
            )
        )
        near |= {k for k, e in enumerate(entries) if _names(e) & refs}
    return near


def _decide(engine: Engine, b: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    fc = read_bundle(b, engine)
    decision = engine.evaluate(fc.case)
    out = {}
    for request, item in zip(fc.requests, decision.items, strict=True):
        reasons = tuple(
            (r.code, r.result_id, r.test) for r in item.reasons if r.code != "unmapped_result"
        )
        comps = tuple((w.code, w.result_id) for w in item.waived or ())
        out[request] = (item.code, item.status, item.result_id, comps, item.retest, reasons)
    return out


def _variants(res: dict[str, Any]) -> list[tuple[str, dict[str, Any] | None]]:
    out: list[tuple[str, dict[str, Any] | None]] = [("removed", None)]
    for key in res:
        if key == "resourceType":
            continue  # not a resource any more: a malformed Bundle, refused as such
        gone = {k: v for k, v in res.items() if k != key}
        out.append((f"without {key}", gone))
        for junk in JUNK:
            out.append((f"{key}={junk!r}", {**res, key: copy.deepcopy(junk)}))
    return out


def _item_tests(engine: Engine, code: str) -> set[str]:
    rules = engine.rules
    found = rules.order_codes.get(code, code)
    if found in rules.panels:
        return set(rules.panels[found].components)
    return {found}


@pytest.mark.parametrize(("name", "bundle"), _fixtures(), ids=lambda v: str(v)[:24])
def test_corrupting_one_resource_changes_only_what_it_concerns(
    name: str, bundle: dict[str, Any]
) -> None:
    engine = ENGINE
    base = _decide(engine, bundle)
    order = _order_entries(bundle)
    checked = 0
    for i, entry in enumerate(bundle["entry"]):
        res = entry["resource"]
        concerned = _tests_named(engine, _neighbours(bundle, i))
        for label, changed in _variants(res):
            mutated = copy.deepcopy(bundle)
            if changed is None:
                del mutated["entry"][i]
            else:
                mutated["entry"][i]["resource"] = changed
            where = f"{name}: entry[{i}] {res['resourceType']} {label}"
            try:
                got = _decide(engine, mutated)
            except FhirInputError as exc:
                assert i in order, f"{where}: refused: {exc}"
                continue
            checked += 1
            if i in order:
                continue  # the order itself changed: any decision is its own
            assert set(got) == set(base), where
            for request, before in base.items():
                if _item_tests(engine, before[0]) & concerned:
                    continue
                assert got[request] == before, f"{where}: {request} changed"
    assert checked > 50
