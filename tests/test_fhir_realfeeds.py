"""Real feeds (issue 17): Synthea, C-CDA conversions and the FHIR specification's lab examples.

The bundles in ``tests/fixtures/fhir-realfeeds/`` are written by hand in the shapes those
sources produce (they are not downloads): ``synthea.json`` (a Synthea 3.x transaction:
``urn:uuid`` fullUrls, conditional references to Organizations, no performer, no specimen,
no reference range, vital signs mixed in), ``ccda.json`` (a C-CDA conversion: LOINC by OID,
date-only and month-only times) and ``spec-report.json`` (reports whose results state only
code and value; time, subject and performer are on the report). Every one is valid FHIR R4.

The other tests change one element of ``tests.test_fhir_builders.waivable()``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from labrecog import Engine
from labrecog.fhir import FhirCase, FhirInputError, read_bundle
from labrecog.fhir._codes import LOINC, LOINC_OID, OBSERVATION_CATEGORY
from labrecog.fhir._read import _Reader
from tests.builders import DEMO, demo_engine
from tests.test_fhir_builders import (
    coding,
    find,
    lxrm,
    observation,
    quantity,
    report,
    validate_bundle,
    waivable,
)

ENGINE = demo_engine()
FIXTURES = Path(__file__).parent / "fixtures" / "fhir-realfeeds"
OBS = "entry[7].resource"


def fixture(name: str) -> dict[str, Any]:
    """A fixture bundle, proven valid FHIR R4 first (so what is read is what servers send)."""
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text("utf-8"))
    validate_bundle(data)
    return data


def read(b: dict[str, Any], engine: Engine = ENGINE) -> FhirCase:
    return read_bundle(b, engine)


def priors(fc: FhirCase) -> dict[str, dict[str, Any]]:
    return {
        p.id: p.model_dump(mode="json", exclude_none=True, exclude={"ext"})
        for p in fc.case.prior_results
    }


def consented(b: dict[str, Any], patient: str) -> dict[str, Any]:
    """The bundle with an active permitting Consent: the demo rules require authorisation,
    and without it the engine looks at no result at all."""
    out = copy.deepcopy(b)
    consent = {
        "resourceType": "Consent",
        "id": "consent-test",
        "status": "active",
        "scope": {"text": "patient-privacy"},
        "category": [{"coding": [{"system": LOINC, "code": "59284-0"}]}],
        "patient": {"reference": patient},
        "provision": {"type": "permit"},
    }
    out["entry"].append({"fullUrl": "urn:uuid:6c0f8e2a-0000-4000-8000-00000000c0de"})
    out["entry"][-1]["resource"] = consent
    if out["type"] in ("transaction", "batch"):
        out["entry"][-1]["request"] = {"method": "POST", "url": "Consent"}
    return out


def items(b: dict[str, Any]) -> dict[str, dict[str, Any]]:
    decision = ENGINE.evaluate(read(b).case).model_dump(mode="json")
    return {it["code"]: it for it in decision["items"]}


def examined(it: dict[str, Any]) -> list[str]:
    """The result ids the item's reasons name, in order, each once."""
    seen: list[str] = []
    for r in it["reasons"]:
        if r.get("result_id") and r["result_id"] not in seen:
            seen.append(r["result_id"])
    return seen


# --------------------------------------------------------------------------- Synthea

SYN = "https://github.com/synthetichealth/synthea"
ORG_OLD = "b1ddf812-1fdd-3adf-b1d5-32cc8bd07ebb"  # referenced only (not in the bundle)
ORG_NEW = "ef58ea08-d883-3957-8300-150554edc8fb"  # in the bundle (POSTed with ifNoneExist)
SYN_PATIENT = "5e1f0c3a-9d2b-4c71-a8e4-2b7f6d3c9a10"  # its id; referenced by urn:uuid


def syn(n: int) -> str:
    return f"7f3e{n:04d}-5b2a-4c1d-9e8f-0a1b2c3d4e5f"


# Observation number -> (code, loinc): mapped results carry only the LOINC the rule set maps;
# unmapped laboratory results their first coding's code as well.
SYN_LAB = {
    4: ("2339-0", "2339-0"),  # glucose [mass/volume] in blood: the demo maps 2345-7 only
    5: ("6299-2", "6299-2"),
    6: ("38483-4", "38483-4"),
    7: ("49765-1", "49765-1"),
    8: ("2947-0", "2947-0"),
    9: ("6298-4", "6298-4"),
    10: ("2069-3", "2069-3"),
    11: ("20565-8", "20565-8"),
    12: (None, "4548-4"),  # HbA1c -> HBA1C
    13: (None, "2093-3"),  # cholesterol -> TC
    14: (None, "2571-8"),  # triglycerides -> TRIG
    18: ("5778-6", "5778-6"),  # urine colour, a coded value
    19: ("2339-0", "2339-0"),
    20: (None, "4548-4"),
}
SYN_NOT_LAB = {1, 2, 3, 15, 16, 17}  # height, weight, BP panel, heart rate, smoking, pain


def test_synthea_every_laboratory_result_is_read_and_no_vital_sign() -> None:
    got = priors(read(fixture("synthea")))
    assert set(got) == {syn(n) for n in SYN_LAB}
    assert not {syn(n) for n in SYN_NOT_LAB} & set(got)
    for n, (code, loinc) in SYN_LAB.items():
        assert (got[syn(n)].get("code"), got[syn(n)]["loinc"]) == (code, loinc), n
        assert got[syn(n)]["patient_id"] == SYN_PATIENT
    assert got[syn(18)]["value_text"] == "Yellow color (qualifier value)"


def test_synthea_the_lab_is_the_encounter_s_service_provider() -> None:
    b = fixture("synthea")
    got = priors(read(b))
    old = {"id": ORG_OLD, "name": "FAMILY HEALTH CENTER OF WORCESTER, INC."}
    new = {"id": ORG_NEW, "name": "SAINT VINCENT HOSPITAL"}
    for n in SYN_LAB:
        assert got[syn(n)]["institution"] == (new if n >= 18 else old), n
    # The panels' performer is a Practitioner: not a laboratory, so the encounter decides.
    panel = find(b, "DiagnosticReport")
    assert panel["performer"][0]["reference"].startswith("Practitioner?identifier=")
    reader = _Reader(ENGINE, b)
    glu_old = [p["id"] for p in reader.read(None, None, None)["prior_results"]].index(syn(4))
    assert reader.fhir_path(f"prior_results[{glu_old}].institution") == (
        "entry[2].resource.serviceProvider"  # encounter 1
    )
    assert reader.fhir_path(f"prior_results[{glu_old}].institution.id") == (
        "entry[2].resource.serviceProvider.reference"
    )


def test_synthea_times_units_and_what_is_left_unset() -> None:
    got = priors(read(fixture("synthea")))
    glu = got[syn(19)]
    assert (glu["value"], glu["unit"]) == (101.3, "mg/dL")
    assert glu["collected_at"] == "2025-02-20T08:40:55-05:00"
    assert glu["reported_at"] == "2025-02-20T08:40:55.917000-05:00"
    assert (got[syn(20)]["value"], got[syn(20)]["unit"]) == (6.4, "%")
    assert (got[syn(8)]["value"], got[syn(8)]["unit"]) == (140.2, "mmol/L")
    for p in got.values():
        # No specimen and no range in the feed: none invented (the engine infers the
        # specimen from the LOINC system, or answers specimen_mismatch).
        assert "specimen" not in p
        assert "reference_range" not in p


def test_synthea_the_order() -> None:
    fc = read(fixture("synthea"))
    assert [t.code for t in fc.case.tests] == ["HBA1C", "GLU", "K", "TC"]
    assert fc.case.order_id == "REQ-2025-0303-17"
    assert fc.case.institution.id == ORG_NEW  # encounter 3's provider, by identifier
    assert fc.case.institution.name == "SAINT VINCENT HOSPITAL"
    assert fc.case.context.setting == "outpatient"
    assert fc.patient == f"Patient/{SYN_PATIENT}"


def test_synthea_the_engine_judges_the_newest_hba1c_first() -> None:
    got = items(consented(fixture("synthea"), f"urn:uuid:{SYN_PATIENT}"))
    assert examined(got["HBA1C"]) == [syn(20), syn(12)]
    assert examined(got["TC"]) == [syn(13)]
    # Glucose in blood (2339-0) is not the rule set's glucose: no prior for GLU.
    assert {r["code"] for r in got["GLU"]["reasons"]} == {"no_prior"}


# --------------------------------------------------------------------------- C-CDA


CCDA_PATIENT = "c3a1e7b0-4f2d-4b8e-9a61-7d2e5c8f0b14"
CCDA_LAB = {"id": "1234567893", "name": "Community Health Laboratory"}


def test_ccda_loinc_by_oid_and_date_only_times() -> None:
    got = priors(read(fixture("ccda")))
    assert set(got) == {
        "a1c-2024-09-15",
        "a1c-2024-12-20",
        "tsh-2023-06",
        "k-2025-03-03",
        "chol-2024-12-20",
        "tg-2024-12-20",
        "hdl-2024-12-20",
    }
    want = {
        # id: (code, loinc, collected_at)
        "a1c-2024-09-15": (None, "4548-4", "2024-09-15T08:30:00-05:00"),
        "a1c-2024-12-20": (None, "4548-4", "2024-12-20T00:00:00+14:00"),
        "tsh-2023-06": (None, "3016-3", "2023-06-01T00:00:00+14:00"),
        # The order's own day, no report time: perhaps collected after the order.
        "k-2025-03-03": (None, "2823-3", "2025-03-03T23:59:59.999999-12:00"),
        "chol-2024-12-20": (None, "2093-3", "2024-12-20T00:00:00+14:00"),
        "tg-2024-12-20": (None, "2571-8", "2024-12-20T00:00:00+14:00"),
        "hdl-2024-12-20": ("2085-9", "2085-9", "2024-12-20T00:00:00+14:00"),  # unmapped
    }
    for rid, (code, loinc, collected) in want.items():
        p = got[rid]
        assert (p.get("code"), p["loinc"], p["collected_at"]) == (code, loinc, collected), rid
        assert p["institution"] == CCDA_LAB  # own performer, or the lipid report's
        assert p["patient_id"] == CCDA_PATIENT
    fc = read(fixture("ccda"))
    assert [t.code for t in fc.case.tests] == ["HBA1C", "TC", "TSH", "K"]  # ordered by OID
    assert fc.case.institution.id == "1912301953"


def test_ccda_the_newer_date_only_result_is_the_one_judged_first() -> None:
    got = items(consented(fixture("ccda"), f"urn:uuid:{CCDA_PATIENT}"))
    assert examined(got["HBA1C"]) == ["a1c-2024-12-20", "a1c-2024-09-15"]
    # 73 days before the order at the earliest: older than HBA1C's 60 days.
    too_old = [r for r in got["HBA1C"]["reasons"] if r["code"] == "too_old"]
    assert too_old[0]["result_id"] == "a1c-2024-12-20"
    assert examined(got["TSH"]) == ["tsh-2023-06"]


# --------------------------------------------------------------------------- spec examples


def test_spec_reports_lend_their_results_time_subject_and_performer() -> None:
    fc = read(fixture("spec-report"))
    got = priors(fc)
    lipids = {f"DiagnosticReport/lipids#{k}" for k in ("cholesterol", "triglyceride")}
    unmapped = {f"DiagnosticReport/lipids#{k}" for k in ("hdlcholesterol", "ldlcholesterol")}
    chem = {"f001-k", "f001-crea", "f001-glu"}
    assert set(got) == lipids | unmapped | chem | {"f001-egfr"}
    acme = {"id": "ACME-LAB-01", "name": "Acme Laboratory, Inc"}
    for rid in lipids | unmapped:
        assert got[rid]["collected_at"] == "2025-02-24T08:30:00+08:00"
        assert got[rid]["reported_at"] == "2025-02-24T14:26:00+08:00"
        assert got[rid]["institution"] == acme
        assert got[rid]["patient_id"] == "pat2"
    for rid in chem | {"f001-egfr"}:
        assert got[rid]["collected_at"] == "2025-02-26T07:10:00+08:00"  # effectivePeriod.start
        assert got[rid]["institution"] == acme
    hdl = got["DiagnosticReport/lipids#hdlcholesterol"]
    assert (hdl["code"], hdl["loinc"], hdl["value"], hdl["unit"]) == (
        "2085-9",
        "2085-9",
        1.3,
        "mmol/L",
    )
    assert (got["f001-egfr"]["code"], got["f001-egfr"]["loinc"]) == ("33914-3", "33914-3")
    assert fc.observations["DiagnosticReport/lipids#hdlcholesterol"] == (
        "DiagnosticReport/lipids#hdlcholesterol"
    )
    assert fc.observations["f001-egfr"] == "Observation/f001-egfr"
    assert [t.code for t in fc.case.tests] == ["TC", "TRIG", "K", "CREA", "GLU"]


# --------------------------------------------------------------------------- LOINC spellings

NEWER = "2025-03-01T08:00:00+08:00"


@pytest.mark.parametrize(
    ("system", "code"),
    [
        ("http://loinc.org/", "2345-7"),
        ("https://loinc.org", "2345-7"),
        (LOINC_OID, "2345-7"),
        (" http://loinc.org ", "2345-7"),
        ("http://loinc.org", " 2345-7 "),
        ("HTTP://LOINC.ORG", "2345-7"),
    ],
)
def test_a_newer_result_in_any_loinc_spelling_is_the_one_read(system: str, code: str) -> None:
    newer = observation(
        "R-2",
        [{"system": system, "code": code}],
        effectiveDateTime=NEWER,
        issued="2025-03-01T11:00:00+08:00",
    )
    b = waivable(newer)
    got = priors(read(b))
    assert got["R-2"]["loinc"] == "2345-7"
    assert "code" not in got["R-2"]
    it = items(b)["GLU"]
    assert (it["status"], it["result_id"]) == ("waive", "R-2")  # not the older R-1


@pytest.mark.parametrize("system", ["http://loinc.org/", "https://loinc.org", LOINC_OID])
def test_an_order_or_a_panel_in_any_loinc_spelling_is_read(system: str) -> None:
    b = waivable()
    find(b, "ServiceRequest")["code"]["coding"] = [{"system": system, "code": "2345-7 "}]
    assert [t.code for t in read(b).case.tests] == ["GLU"]
    assert items(b)["GLU"]["status"] == "waive"
    find(b, "ServiceRequest")["code"]["coding"] = [{"system": system, "code": "24325-3"}]
    assert [t.code for t in read(b).case.tests] == ["LFT"]


# --------------------------------------------------------------------------- unmapped results


def lab(rid: str, loinc: str, **fields: Any) -> dict[str, Any]:
    """A laboratory Observation coded only by a LOINC the demo rules do not map."""
    fields.setdefault("effectiveDateTime", NEWER)
    fields.setdefault("issued", "2025-03-01T11:00:00+08:00")
    return observation(rid, [coding(loinc, LOINC, "Glucose [Mass/volume] in Blood")], **fields)


def test_a_newer_unmapped_lab_result_is_passed_on_and_named() -> None:
    b = waivable(lab("G-2", "2339-0", value=quantity(95, "mg/dL", ucum="mg/dL")))
    got = priors(read(b))
    assert set(got) == {"R-1", "G-2"}
    assert {k: got["G-2"][k] for k in ("code", "loinc", "value", "unit")} == {
        "code": "2339-0",
        "loinc": "2339-0",
        "value": 95.0,
        "unit": "mg/dL",
    }
    assert got["G-2"]["institution"]["id"] == "LXRM"
    it = items(b)["GLU"]
    assert (it["status"], it["result_id"]) == ("waive", "R-1")
    warned = [r for r in it["reasons"] if r["code"] == "unmapped_result"]
    assert [r["result_id"] for r in warned] == ["G-2"]


def test_only_laboratory_results_are_passed_on_unmapped() -> None:
    vital = lab("BP-1", "8480-6")
    vital["category"] = [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "vital-signs"}]}]
    uncategorised = lab("X-1", "8310-5")
    del uncategorised["category"]
    member = lab("M-1", "2085-9")
    del member["category"]  # but a result of a report: a lab result
    panel = report("dr-9", ["M-1"], code={"coding": [coding("57698-3", LOINC)]})
    group = lab("GRP-1", "24325-3", hasMember=[{"reference": "Observation/M-1"}])
    del group["valueQuantity"]  # a grouping whose LOINC is the demo's liver panel
    got = priors(read(waivable(vital, uncategorised, member, panel, group)))
    assert set(got) == {"R-1", "M-1"}
    assert (got["M-1"]["code"], got["M-1"]["loinc"]) == ("2085-9", "2085-9")


def test_an_unmapped_result_never_refuses_the_bundle() -> None:
    no_lab = lab("N-1", "2339-0", performer=None)
    other = lab("N-2", "2339-0", subject={"reference": "Patient/P-2"})
    bad_value = lab("N-3", "2339-0", value={"value": "high", "unit": "mg/dL"})
    no_status = lab("N-4", "2339-0", status=None)
    no_time = lab("N-5", "2339-0", effectiveDateTime=None)
    reversed_ = lab("N-6", "2339-0", issued="2025-02-28T08:00:00+08:00")
    coded = lab("N-7", "2339-0")
    del coded["valueQuantity"]
    coded["valueCodeableConcept"] = {"text": "see report"}
    coded["component"] = [{"code": {"text": "x"}, "valueString": "y"}]
    same_id = lab("R-1", "2339-0")  # a second Observation/R-1: the mapped one keeps the id
    b = waivable(no_lab, other, bad_value, no_status, no_time, reversed_, coded, same_id)
    fc = read(b)
    got = priors(fc)
    assert set(got) == {"R-1", "N-7"}
    assert got["R-1"]["code"] == "GLU"
    assert got["N-7"]["value_text"] == "see report"
    assert dict(fc.observations) == {"R-1": "Observation/R-1", "N-7": "Observation/N-7"}
    assert items(b)["GLU"]["result_id"] == "R-1"
    # The same defects in a mapped result make it unreadable, naming the element (changed
    # by issue 11: they used to refuse the bundle); another patient's result still does.
    [bad] = read(waivable(observation("R-2", performer=None))).case.unreadable_results
    assert [p.path for p in bad.problems] == ["entry[8].resource.performer"]
    err = _refused(waivable(observation("R-2", subject={"reference": "Patient/P-2"})))
    assert [p.path for p in err.problems] == ["entry[8].resource.subject"]


def _refused(b: dict[str, Any], engine: Engine = ENGINE) -> FhirInputError:
    with pytest.raises(FhirInputError) as info:
        read_bundle(b, engine)
    return info.value


@pytest.fixture(scope="module")
def pattern_engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """The demo rules, with a code pattern on TSH that any LOINC-shaped code matches."""
    folder = tmp_path_factory.mktemp("patterns")
    for part in DEMO.glob("*.yaml"):
        text = part.read_text(encoding="utf-8")
        if part.name == "catalogue.yaml":
            text = text.replace(
                "    loinc: [3016-3]\n",
                "    loinc: [3016-3]\n    code_patterns: ['[0-9]+-[0-9]']\n",
            )
        (folder / part.name).write_text(text, "utf-8")
    return Engine.from_path(folder)


def test_an_unmapped_code_a_pattern_would_claim_is_named_by_its_loinc_only(
    pattern_engine: Engine,
) -> None:
    assert pattern_engine.rules.resolve_result_code("2339-0") == ("TSH",)
    b = waivable(lab("G-2", "2339-0"))
    find(b, "ServiceRequest")["code"]["coding"] = [coding("TSH")]
    fc = read(b, pattern_engine)
    got = {p.id: p for p in fc.case.prior_results}
    assert (got["G-2"].code, got["G-2"].loinc) == (None, "2339-0")
    # Not taken for a TSH: the glucose names no test at all.
    decision = pattern_engine.evaluate(fc.case).model_dump(mode="json")
    assert [r["code"] for r in decision["items"][0]["reasons"]] == ["no_prior"]


# --------------------------------------------------------------------------- the performer


def lab_encounter(**fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": "enc-lab",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": "Patient/P-1"},
        "serviceProvider": {"reference": "Organization/org-lxrm"},
    }
    out.update(fields)
    return out


def institution_path(b: dict[str, Any]) -> str:
    reader = _Reader(ENGINE, b)
    reader.read(None, None, None)
    return reader.fhir_path("prior_results[0].institution")


def test_without_performer_the_encounter_s_service_provider_is_the_lab() -> None:
    obs = observation(performer=None, encounter={"reference": "Encounter/enc-lab"})
    b = waivable(lab_encounter(), obs=obs)
    validate_bundle(b)
    assert priors(read(b))["R-1"]["institution"]["id"] == "LXRM"
    assert items(b)["GLU"]["status"] == "waive"
    assert institution_path(b) == "entry[8].resource.serviceProvider"


def test_the_performer_is_resolved_observation_then_report_then_encounter() -> None:
    enc = lab_encounter(serviceProvider={"reference": "Organization/org-lzu2"})
    own = observation(encounter={"reference": "Encounter/enc-lab"})
    b = waivable(enc, obs=own)
    assert priors(read(b))["R-1"]["institution"]["id"] == "LXRM"
    assert institution_path(b) == f"{OBS}.performer[0]"
    # No performer on the Observation: its report's, not the encounter's.
    member = observation(performer=None, encounter={"reference": "Encounter/enc-lab"})
    b = waivable(enc, report("dr-1", ["R-1"]), obs=member)
    assert priors(read(b))["R-1"]["institution"]["id"] == "LXRM"
    assert institution_path(b) == "entry[9].resource.performer[0]"
    # Neither has one: the report's encounter when the Observation names none.
    member = observation(performer=None)
    rep = report("dr-1", ["R-1"], performer=None, encounter={"reference": "Encounter/enc-lab"})
    b = waivable(lab_encounter(), rep, obs=member)
    assert priors(read(b))["R-1"]["institution"]["id"] == "LXRM"
    assert institution_path(b) == "entry[8].resource.serviceProvider"


def test_a_conditional_reference_names_an_organization_of_the_bundle_by_identifier() -> None:
    b = waivable()
    ident = "http://example.cn/fhir/NamingSystem/institution-code|LXRM"
    find(b, "Observation")["performer"] = [{"reference": f"Organization?identifier={ident}"}]
    assert priors(read(b))["R-1"]["institution"] == lxrm_institution()
    assert items(b)["GLU"]["status"] == "waive"


def lxrm_institution() -> dict[str, Any]:
    org = lxrm()
    return {"id": "LXRM", "name": org["name"], "region": "621226", "level": 2}


# --------------------------------------------------------------------------- partial times


@pytest.mark.parametrize(
    ("effective", "collected"),
    [
        ("2025", "2025-01-01T00:00:00+14:00"),
        ("2025-02", "2025-02-01T00:00:00+14:00"),
        ("2025-02-27", "2025-02-27T00:00:00+14:00"),
    ],
)
def test_a_partial_collection_time_is_the_earliest_instant(effective: str, collected: str) -> None:
    b = waivable(obs=observation(effectiveDateTime=effective))
    assert priors(read(b))["R-1"]["collected_at"] == collected


def test_partial_period_start_specimen_collection_and_issued() -> None:
    period = observation(effectiveDateTime=None, effectivePeriod={"start": "2025-02-26"})
    assert priors(read(waivable(obs=period)))["R-1"]["collected_at"] == (
        "2025-02-26T00:00:00+14:00"
    )
    b = waivable(obs=observation(effectiveDateTime=None))
    find(b, "Specimen")["collection"] = {"collectedDateTime": "2025-02-26"}
    assert priors(read(b))["R-1"]["collected_at"] == "2025-02-26T00:00:00+14:00"
    issued = observation(issued="2025-02-27")
    got = priors(read(waivable(obs=issued)))["R-1"]
    assert got["collected_at"] == "2025-02-27T08:00:00+08:00"  # a full time is kept as is
    assert got["reported_at"] == "2025-02-27T23:59:59.999999-12:00"


def test_a_date_only_result_never_looks_younger_than_it_can_be() -> None:
    # GLU may be 7 days old; the order is 2025-03-02T09:30+08:00. Dated 2025-02-23, the
    # result may have been collected as early as 2025-02-22T10:00Z: more than 7 days.
    b = waivable(obs=observation(effectiveDateTime="2025-02-23"))
    assert {r["code"] for r in items(b)["GLU"]["reasons"]} == {"too_old"}
    b = waivable(obs=observation(effectiveDateTime="2025-02-24"))
    assert items(b)["GLU"]["status"] == "waive"


def test_a_date_only_result_of_the_order_s_day_is_not_used_unless_reported_before() -> None:
    # Dated the day of the order and never reported: it may be the order's own result.
    b = waivable(obs=observation(effectiveDateTime="2025-03-02", issued=None))
    assert priors(read(b))["R-1"]["collected_at"] == "2025-03-02T23:59:59.999999-12:00"
    assert {r["code"] for r in items(b)["GLU"]["reasons"]} == {"future_result"}
    # Reported at 08:00, before the 09:30 order: collected before it too.
    b = waivable(
        obs=observation(effectiveDateTime="2025-03-02", issued="2025-03-02T08:00:00+08:00")
    )
    assert priors(read(b))["R-1"]["collected_at"] == "2025-03-02T00:00:00+14:00"
    assert items(b)["GLU"]["status"] == "waive"
    # An unmapped one is only ever named, never used: its earliest instant.
    b = waivable(lab("G-2", "2339-0", effectiveDateTime="2025-03-02", issued=None))
    assert priors(read(b))["G-2"]["collected_at"] == "2025-03-02T00:00:00+14:00"


@pytest.mark.parametrize("value", ["2025-02-30", "2025-13", "0000"])
def test_a_partial_time_that_is_not_a_date_makes_the_result_unreadable(value: str) -> None:
    # Changed by issue 11: it used to refuse the bundle.
    [bad] = read(waivable(obs=observation(effectiveDateTime=value))).case.unreadable_results
    assert [p.path for p in bad.problems] == [f"{OBS}.effectiveDateTime"]
    assert "not a valid date" in bad.problems[0].message
    assert bad.collected_at is None
