"""Reading FHIR R4 Bundles into cases: every element docs/fhir.md lists, and failing closed.

Entry indexes in ``waivable()``: 0 Patient, 1 Organization LZU2 (orders), 2 Organization
LXRM (performs), 3 Encounter, 4 Consent, 5 ServiceRequest, 6 Specimen, 7 Observation,
then the extra resources a test adds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from labrecog import Engine
from labrecog.fhir import FHIR_FLAG_SYSTEM, FhirCase, FhirInputError, read_bundle
from labrecog.fhir._codes import (
    EXT_INSTITUTION_REGION,
    EXT_SHARED,
    LOINC,
    REFERENCE_RANGE_MEANING,
    SNOMED,
    UCUM,
    V3_CONFIDENTIALITY,
)
from tests.builders import DEMO, case, demo_engine, prior
from tests.test_fhir_builders import (
    ORDERED_AT,
    bundle,
    coding,
    consent,
    drop,
    encounter,
    find,
    lxrm,
    lzu2,
    member,
    observation,
    organization,
    patient,
    quantity,
    report,
    service_request,
    specimen,
    validate_bundle,
    waivable,
)

ENGINE = demo_engine()
OBS = "entry[7].resource"
SR = "entry[5].resource"


def read(b: dict[str, Any], engine: Engine = ENGINE, **kw: Any) -> FhirCase:
    return read_bundle(b, engine, **kw)


def decide(b: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return ENGINE.evaluate(read(b, **kw).case).model_dump(mode="json")


def item(b: dict[str, Any], i: int = 0, **kw: Any) -> dict[str, Any]:
    found: dict[str, Any] = decide(b, **kw)["items"][i]
    return found


def reasons(it: dict[str, Any]) -> set[str]:
    return {r["code"] for r in it["reasons"]}


def refused(b: Any, engine: Engine = ENGINE, **kw: Any) -> FhirInputError:
    with pytest.raises(FhirInputError) as info:
        read_bundle(b, engine, **kw)
    return info.value


def paths(err: FhirInputError) -> list[str]:
    return [p.path for p in err.problems]


def unusable(b: dict[str, Any], engine: Engine = ENGINE) -> tuple[list[str], str]:
    """The problem paths and messages of the one result that could not be read. Changed
    (issue 11): a bad result used to refuse the Bundle; now only it is lost, named in the
    case's unreadable_results, and its test is re-tested with ``unreadable_result``."""
    fc = read(b, engine)
    [bad] = fc.case.unreadable_results
    first = engine.evaluate(fc.case).model_dump(mode="json")["items"][0]
    assert first["status"] == "retest" and "unreadable_result" in reasons(first)
    return [p.path for p in bad.problems], "; ".join(p.message for p in bad.problems)


def prior0(b: dict[str, Any]) -> dict[str, Any]:
    fc = read(b)
    assert len(fc.case.prior_results) == 1
    found: dict[str, Any] = fc.case.prior_results[0].model_dump(mode="json", exclude_none=True)
    return found


@pytest.fixture(scope="module")
def no_tz_engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    folder = tmp_path_factory.mktemp("no-tz")
    for part in DEMO.glob("*.yaml"):
        text = part.read_text(encoding="utf-8")
        (folder / part.name).write_text(text.replace("timezone: Asia/Shanghai\n", ""), "utf-8")
    return Engine.from_path(folder)


# --------------------------------------------------------------------------- the whole case


def test_the_default_bundle_reads_as_the_equivalent_case() -> None:
    fc = read(waivable())
    got = fc.case.model_dump(mode="json", exclude_none=True)
    want = ENGINE.validate_case(case(prior())).model_dump(mode="json", exclude_none=True)
    # What FHIR adds: names of organisations, and the ServiceRequest each item came from.
    del got["institution"]["name"], got["prior_results"][0]["institution"]["name"]
    assert got["tests"][0].pop("ext") == {"request": "ServiceRequest/sr-1"}
    assert got == want
    assert fc.requests == ("ServiceRequest/sr-1",)
    assert dict(fc.observations) == {"R-1": "Observation/R-1"}
    assert fc.patient == "Patient/P-1"
    assert item(waivable())["status"] == "waive"


@pytest.mark.parametrize("kind", ["collection", "searchset", "transaction", "batch"])
def test_bundle_types_that_carry_an_order(kind: str) -> None:
    assert item(waivable(kind=kind))["status"] == "waive"


@pytest.mark.parametrize("kind", ["document", "history", "transaction-response", None])
def test_other_bundle_types_are_refused(kind: str | None) -> None:
    err = refused(waivable(type=kind) if kind else waivable(type=None))
    assert paths(err) == ["type"]


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ([], ""),
        ({"resourceType": "Patient", "id": "P-1"}, "resourceType"),
        ({"resourceType": "Bundle", "type": "collection"}, "entry"),
        ({"resourceType": "Bundle", "type": "collection", "entry": [7]}, "entry[0]"),
        (
            {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"id": 1}}]},
            "entry[0].resource",
        ),
    ],
)
def test_what_is_not_a_bundle_is_an_input_error(data: Any, path: str) -> None:
    assert paths(refused(data)) == [path]


def test_entries_without_a_resource_are_skipped() -> None:
    b = waivable(kind="transaction")
    b["entry"].append({"request": {"method": "DELETE", "url": "Observation/old"}})
    assert item(b)["status"] == "waive"


# --------------------------------------------------------------------------- patient


@pytest.mark.parametrize(
    ("gender", "sex"),
    [
        ("male", "male"),
        ("female", "female"),
        ("other", "unknown"),
        ("unknown", "unknown"),
        (None, None),
    ],
)
def test_patient_gender_is_the_sex(gender: str | None, sex: str | None) -> None:
    b = waivable()
    b["entry"][0]["resource"] = patient(gender=gender)
    assert read(b).case.patient.sex == sex


def test_patient_birth_date_must_be_a_full_date() -> None:
    b = waivable()
    find(b, "Patient")["birthDate"] = "1961"
    assert paths(refused(b)) == ["entry[0].resource.birthDate"]


def test_a_bundle_without_a_patient_or_with_two_is_refused() -> None:
    assert paths(refused(drop(waivable(), "Patient"))) == ["entry"]
    err = refused(waivable(patient("P-2")))
    assert paths(err) == ["entry[8].resource"]
    assert "second Patient" in str(err)


def test_a_patient_without_id_is_named_by_its_full_url() -> None:
    b = waivable(kind="transaction")
    uuid = "urn:uuid:2f1d4b5c-2b7e-4a53-9d6e-0c6f3f7c1a10"
    b["entry"][0]["fullUrl"] = uuid
    del b["entry"][0]["resource"]["id"]
    for kind in ("ServiceRequest", "Observation", "Consent"):
        res = find(b, kind)
        res["subject" if kind != "Consent" else "patient"] = {"reference": uuid}
    find(b, "Encounter")["subject"] = {"reference": uuid}
    validate_bundle(b)
    fc = read(b)
    assert fc.case.patient.id == uuid
    assert fc.patient == uuid
    assert item(b)["status"] == "waive"


def test_a_subject_given_by_identifier_names_the_patient() -> None:
    b = waivable()
    find(b, "Observation")["subject"] = {
        "identifier": {"system": "urn:oid:2.16.156.10011.1.4", "value": "ID-P-1"}
    }
    assert item(b)["status"] == "waive"


def test_a_result_of_another_patient_makes_the_case_an_input_error() -> None:
    b = waivable()
    find(b, "Observation")["subject"] = {"reference": "Patient/P-2"}
    err = refused(b)
    assert paths(err) == [f"{OBS}.subject"]
    assert "P-2" in str(err)
    assert err.order_id == "O-1"


def test_a_result_without_subject_is_unreadable() -> None:
    b = waivable()
    del find(b, "Observation")["subject"]
    assert unusable(b)[0] == [f"{OBS}.subject"]


# --------------------------------------------------------------------------- the order


def test_service_requests_in_entry_order_each_an_item() -> None:
    b = waivable(
        service_request("sr-2", [coding("HBA1C")]),
        service_request("sr-3", [coding("24325-3", LOINC)]),
    )
    fc = read(b)
    assert [t.code for t in fc.case.tests] == ["GLU", "HBA1C", "LFT"]
    assert fc.requests == ("ServiceRequest/sr-1", "ServiceRequest/sr-2", "ServiceRequest/sr-3")
    items = decide(b)["items"]
    assert [i["ext"] for i in items] == [{"request": r} for r in fc.requests]


def test_a_local_code_is_ordered_as_written_and_a_loinc_as_the_catalogue_code() -> None:
    assert read(waivable()).case.tests[0].code == "GLU"  # LOINC 2345-7 only
    b = waivable()
    find(b, "ServiceRequest")["code"]["coding"] = [coding("2345-7", LOINC), coding("FBG")]
    assert read(b).case.tests[0].code == "FBG"  # an alias: the engine resolves it
    assert item(b)["status"] == "waive"


def test_an_order_code_nothing_resolves_is_an_unknown_test() -> None:
    b = waivable()
    find(b, "ServiceRequest")["code"]["coding"] = [
        coding("30522-7", LOINC, "hs-CRP"),
        coding("HSCRP"),
    ]
    it = item(b)
    assert it["code"] == "30522-7"
    assert it["status"] == "retest"
    assert reasons(it) == {"unknown_test"}


def test_codings_that_name_different_items_are_an_input_error() -> None:
    b = waivable()
    find(b, "ServiceRequest")["code"]["coding"] = [coding("2345-7", LOINC), coding("K")]
    err = refused(b)
    assert paths(err) == [f"{SR}.code"]
    assert "GLU" in str(err) and "K" in str(err)


def test_an_order_without_a_coded_code_is_an_input_error() -> None:
    b = waivable()
    find(b, "ServiceRequest")["code"] = {"text": "血糖"}
    assert paths(refused(b)) == [f"{SR}.code"]


def test_only_draft_and_active_requests_are_the_order() -> None:
    b = waivable(
        service_request("sr-old", [coding("K")], status="completed"),
        service_request("sr-draft", [coding("NA")], status="draft"),
    )
    fc = read(b)
    assert [t.code for t in fc.case.tests] == ["GLU", "NA"]
    assert fc.requests == ("ServiceRequest/sr-1", "ServiceRequest/sr-draft")


def test_no_draft_or_active_request_is_an_input_error() -> None:
    b = waivable()
    find(b, "ServiceRequest")["status"] = "completed"
    err = refused(b)
    assert paths(err) == ["entry"]
    assert "no draft or active ServiceRequest" in str(err)
    assert "no ServiceRequest" in str(refused(drop(waivable(), "ServiceRequest")))


@pytest.mark.parametrize(("field", "value"), [("status", None), ("intent", "option")])
def test_a_request_without_status_or_with_an_option_intent_is_refused(
    field: str, value: str | None
) -> None:
    b = waivable()
    find(b, "ServiceRequest")[field] = value
    assert paths(refused(b)) == [f"{SR}.{field}"]


def test_proposals_are_evaluated_like_orders() -> None:
    b = waivable()
    find(b, "ServiceRequest").update(status="draft", intent="proposal")
    assert item(b)["status"] == "waive"


def test_an_order_for_another_patient_is_refused() -> None:
    b = waivable()
    find(b, "ServiceRequest")["subject"] = {"reference": "Patient/P-9"}
    assert paths(refused(b)) == [f"{SR}.subject"]


def test_flags_from_order_detail_and_reason_code() -> None:
    b = waivable(service_request("sr-2", [coding("K")], flags=("patient_request",)))
    find(b, "ServiceRequest", "sr-1")["reasonCode"] = [
        {"coding": [coding("emergency", FHIR_FLAG_SYSTEM)], "text": "急诊抢救"},
        {"coding": [coding("E11.9", "http://hl7.org/fhir/sid/icd-10")]},
    ]
    fc = read(b)
    assert fc.case.tests[0].flags == ("emergency",)
    assert fc.case.tests[1].flags == ("patient_request",)
    first = item(b)
    assert first["status"] == "retest"
    assert [r.get("flag") for r in first["reasons"]] == ["emergency"]


def test_an_unknown_flag_is_an_input_error_at_its_coding() -> None:
    b = waivable()
    find(b, "ServiceRequest")["orderDetail"] = [
        {"coding": [coding("x", "http://example.org")]},
        {"coding": [coding("emergancy", FHIR_FLAG_SYSTEM)]},
    ]
    err = refused(b)
    assert paths(err) == [f"{SR}.orderDetail[1].coding[0].code"]
    assert "did you mean 'emergency'" in str(err)


def test_a_flag_condition_applies_through_the_request() -> None:
    # on_insulin shortens glucose to 3 days; the default result is 3 days and 1.5 hours old.
    b = waivable(
        obs=observation(
            effectiveDateTime="2025-02-26T08:00:00+08:00", issued="2025-02-26T11:00:00+08:00"
        )
    )
    assert item(b)["status"] == "waive"
    find(b, "ServiceRequest")["orderDetail"] = [
        {"coding": [coding("on_insulin", FHIR_FLAG_SYSTEM)]}
    ]
    assert reasons(item(b)) == {"too_old"}


# --------------------------------------------------------------------------- order time


def test_authored_on_is_the_order_time_and_the_latest_wins() -> None:
    b = waivable(service_request("sr-2", [coding("K")], authoredOn="2025-03-02T09:45:00+08:00"))
    assert read(b).case.ordered_at.isoformat() == "2025-03-02T09:45:00+08:00"


def test_without_authored_on_the_fallback_is_used_or_it_is_an_input_error() -> None:
    b = waivable()
    del find(b, "ServiceRequest")["authoredOn"]
    err = refused(b)
    assert paths(err) == [f"{SR}.authoredOn"]
    when = datetime.fromisoformat(ORDERED_AT)
    assert read(b, ordered_at=when).case.ordered_at == when
    naive = read(b, ordered_at=datetime(2025, 3, 2, 9, 30)).case.ordered_at
    assert naive == when  # the rule set's timezone


def test_a_date_is_not_an_order_time() -> None:
    b = waivable()
    find(b, "ServiceRequest")["authoredOn"] = "2025-03-02"
    err = refused(b)
    assert paths(err) == [f"{SR}.authoredOn"]
    assert "date and time" in str(err)


def test_a_naive_order_time_needs_a_rule_set_timezone(no_tz_engine: Engine) -> None:
    b = waivable()
    find(b, "ServiceRequest")["authoredOn"] = "2025-03-02T09:30:00"
    assert read(b).case.ordered_at.isoformat() == ORDERED_AT
    err = refused(b, no_tz_engine)
    assert paths(err) == [f"{SR}.authoredOn"]
    assert "no UTC offset" in str(err)


# --------------------------------------------------------------------------- ordering side


def test_the_requester_names_the_ordering_institution() -> None:
    inst = read(waivable()).case.institution
    assert (inst.id, inst.name, inst.region, inst.level) == (
        "LZU2",
        "兰州大学第二医院",
        "620102",
        3,
    )


def test_a_practitioner_role_names_its_organization() -> None:
    role = {
        "resourceType": "PractitionerRole",
        "id": "role-1",
        "practitioner": {"reference": "Practitioner/dr-wang"},
        "organization": {"reference": "Organization/org-lzu2"},
    }
    b = waivable(role)
    find(b, "ServiceRequest")["requester"] = {"reference": "PractitionerRole/role-1"}
    del find(b, "Encounter")["serviceProvider"]
    validate_bundle(b)
    assert read(b).case.institution.id == "LZU2"


def test_a_practitioner_requester_falls_back_to_the_encounter_provider() -> None:
    b = waivable()
    find(b, "ServiceRequest")["requester"] = {"reference": "Practitioner/dr-wang"}
    assert read(b).case.institution.id == "LZU2"


def test_no_ordering_organization_uses_the_fallback_or_is_an_input_error() -> None:
    b = waivable()
    del find(b, "ServiceRequest")["requester"]
    del find(b, "Encounter")["serviceProvider"]
    err = refused(b)
    assert paths(err) == [f"{SR}.requester"]
    fallback = {"id": "GSPH", "region": "620102", "level": 3}
    assert read(b, institution=fallback).case.institution.id == "GSPH"


def test_a_logical_reference_names_the_institution_by_identifier() -> None:
    b = waivable()
    find(b, "ServiceRequest")["requester"] = {
        "type": "Organization",
        "identifier": {
            "system": "http://example.cn/fhir/NamingSystem/institution-code",
            "value": "GSPH",
        },
        "display": "甘肃省人民医院",
    }
    validate_bundle(b)
    inst = read(b).case.institution
    assert (inst.id, inst.name, inst.region) == ("GSPH", "甘肃省人民医院", None)


def test_an_organization_without_identifier_is_an_input_error() -> None:
    b = waivable()
    del find(b, "Organization", "org-lzu2")["identifier"]
    err = refused(b)
    assert "entry[1].resource.identifier" in paths(err)
    assert "never by resource id" in str(err)


def test_the_official_identifier_is_preferred() -> None:
    b = waivable()
    find(b, "Organization", "org-lzu2")["identifier"] = [
        {"system": "urn:oid:1.2.156.112604", "value": "12620000438000000X"},
        {"use": "official", "system": "http://example.cn/inst", "value": "LZU2"},
    ]
    assert read(b).case.institution.id == "LZU2"
    find(b, "Organization", "org-lzu2")["identifier"][1].pop("use")
    assert read(b).case.institution.id == "12620000438000000X"


@pytest.mark.parametrize(
    ("klass", "setting"),
    [
        ("AMB", "outpatient"),
        ("IMP", "inpatient"),
        ("ACUTE", "inpatient"),
        ("EMER", "emergency"),
        ("HH", None),
    ],
)
def test_encounter_class_is_the_setting(klass: str, setting: str | None) -> None:
    b = waivable()
    b["entry"][3]["resource"] = encounter(klass)
    assert read(b).case.context.setting == setting


def test_no_encounter_leaves_the_setting_undecided() -> None:
    b = drop(waivable(), "Encounter")
    del find(b, "ServiceRequest")["encounter"]
    assert read(b).case.context.setting is None
    # The demo rule set has an inpatient condition for electrolytes: undecidable, re-test.
    find(b, "ServiceRequest")["code"]["coding"] = [coding("K")]
    find(b, "Observation")["code"]["coding"] = [coding("2823-3", LOINC)]
    assert "condition_undecidable" in reasons(item(b))


# --------------------------------------------------------------------------- consent


def test_no_consent_is_no_authorization() -> None:
    b = drop(waivable(), "Consent")
    assert read(b).case.authorization.granted is False
    assert reasons(item(b)) == {"no_authorization"}


def test_a_denying_or_inactive_or_expired_consent_does_not_authorise() -> None:
    b = waivable(consent("deny", id="consent-2"))
    assert read(b).case.authorization.granted is False
    b = waivable()
    find(b, "Consent")["status"] = "inactive"
    assert read(b).case.authorization.granted is False
    b = waivable()
    find(b, "Consent")["provision"]["period"] = {"start": "2024-01-01", "end": "2025-02-28"}
    assert read(b).case.authorization.granted is False
    find(b, "Consent")["provision"]["period"]["end"] = "2025-03-02"
    assert read(b).case.authorization.granted is True
    find(b, "Consent")["provision"]["period"]["start"] = "2025-03-02T10:00:00+08:00"
    assert read(b).case.authorization.granted is False


def test_a_consent_of_another_patient_is_an_input_error() -> None:
    b = waivable()
    find(b, "Consent")["patient"] = {"reference": "Patient/P-2"}
    assert paths(refused(b)) == ["entry[4].resource.patient"]


def test_a_nested_deny_withholds_the_results_it_names() -> None:
    b = waivable()
    find(b, "Consent")["provision"]["provision"] = [
        {
            "type": "deny",
            "data": [{"meaning": "instance", "reference": {"reference": "Observation/R-1"}}],
        }
    ]
    validate_bundle(b)
    assert read(b).case.authorization.granted is True
    assert read(b).case.prior_results[0].shared is False
    it = item(b)
    assert reasons(it) == {"no_prior"}
    assert "R-1" not in str(it)


def test_a_nested_deny_that_cannot_be_read_withholds_authorisation() -> None:
    b = waivable()
    find(b, "Consent")["provision"]["provision"] = [
        {
            "type": "deny",
            "class": [{"system": "http://hl7.org/fhir/resource-types", "code": "Observation"}],
        }
    ]
    validate_bundle(b)
    assert read(b).case.authorization.granted is False


# --------------------------------------------------------------------------- results: identity


def test_loinc_and_local_codes_identify_a_result() -> None:
    assert {k: prior0(waivable())[k] for k in ("code", "loinc")} == {
        "code": "GLU",
        "loinc": "2345-7",
    }
    only_loinc = waivable(obs=observation(codings=[coding("14749-6", LOINC)]))
    assert "code" not in prior0(only_loinc)
    assert item(only_loinc)["status"] == "waive"
    only_local = waivable(obs=observation(codings=[coding("GLUC")]))
    assert prior0(only_local)["code"] == "GLUC"
    assert item(only_local)["status"] == "waive"


def test_a_loinc_the_rule_set_does_not_map_cannot_confirm_the_local_code() -> None:
    b = waivable(obs=observation(codings=[coding("2339-0", LOINC), coding("GLU")]))
    assert reasons(item(b)) == {"identity_conflict"}


def test_results_of_tests_the_rule_set_does_not_know_are_not_read() -> None:
    bp = {
        "resourceType": "Observation",
        "id": "bp-1",
        "status": "final",
        "code": {"coding": [coding("8480-6", LOINC, "Systolic blood pressure")]},
        "subject": {"reference": "Patient/P-1"},
        "effectiveDateTime": "2025-03-01",  # no performer, no time: it does not matter
        "valueQuantity": quantity(130, "mmHg", ucum="mm[Hg]"),
    }
    fc = read(waivable(bp))
    assert [p.id for p in fc.case.prior_results] == ["R-1"]


def test_local_codings_naming_different_tests_make_it_unreadable_for_each() -> None:
    b = waivable(obs=observation(codings=[coding("GLU"), coding("K", "http://other.example")]))
    bad = read(b).case.unreadable_results
    assert [(u.code, [p.path for p in u.problems]) for u in bad] == [
        ("GLU", [f"{OBS}.code"]),
        ("K", [f"{OBS}.code"]),
    ]
    assert reasons(item(b)) == {"no_prior", "unreadable_result"}


# --------------------------------------------------------------------------- results: value


def test_ucum_code_is_preferred_over_the_display_unit() -> None:
    q = quantity(93.7, "毫克/分升", ucum="mg/dL")
    got = prior0(waivable(obs=observation(value=q)))
    assert (got["value"], got["unit"]) == (93.7, "mg/dL")
    assert item(waivable(obs=observation(value=q)))["status"] == "waive"


def test_a_unit_outside_ucum_is_read_from_unit() -> None:
    q = {"value": 5.2, "unit": "mmol/L", "system": "http://example.cn/units", "code": "MMOL"}
    assert prior0(waivable(obs=observation(value=q)))["unit"] == "mmol/L"


def test_a_quantity_without_unit_is_unit_unknown() -> None:
    b = waivable(obs=observation(value={"value": 5.2}))
    assert reasons(item(b)) == {"unit_unknown"}


def test_a_result_without_value_is_not_used_and_says_why() -> None:
    obs = observation()
    del obs["valueQuantity"]
    obs["dataAbsentReason"] = {"text": "haemolysed"}
    assert reasons(item(waivable(obs=obs))) == {"value_unrecognised"}
    obs = observation(value=None)
    del obs["valueQuantity"]
    obs["valueRange"] = {"low": quantity(5, "mmol/L"), "high": quantity(6, "mmol/L")}
    assert reasons(item(waivable(obs=obs))) == {"value_unrecognised"}


def test_a_censored_value_is_not_a_number() -> None:
    q = quantity(2.8, "mmol/L", ucum="mmol/L")
    q["comparator"] = "<"
    b = waivable(obs=observation(value=q))
    assert prior0(b)["value_text"] == "<2.8 mmol/L"
    assert reasons(item(b)) == {"value_unrecognised"}


def test_a_string_value_is_text() -> None:
    obs = observation(codings=[coding("5196-1", LOINC)], low=None, high=None)
    del obs["valueQuantity"]
    obs["valueString"] = "阴性"
    b = waivable(obs=obs)
    find(b, "ServiceRequest")["code"]["coding"] = [coding("HBSAG")]
    assert prior0(b)["value_text"] == "阴性"
    assert item(b)["status"] == "waive"


def test_a_coded_value_is_text_from_its_text_or_display() -> None:
    obs = observation(codings=[coding("5196-1", LOINC)], low=None, high=None)
    del obs["valueQuantity"]
    obs["valueCodeableConcept"] = {"coding": [coding("260385009", SNOMED, "Negative")]}
    b = waivable(obs=obs)
    find(b, "ServiceRequest")["code"]["coding"] = [coding("HBSAG")]
    assert prior0(b)["value_text"] == "Negative"
    assert item(b)["status"] == "waive"
    obs["valueCodeableConcept"] = {"coding": [coding("10828004", SNOMED, "Positive")]}
    b = waivable(obs=obs)
    find(b, "ServiceRequest")["code"]["coding"] = [coding("HBSAG")]
    assert reasons(item(b)) == {"abnormal_value"}


def test_interpretation_is_not_read() -> None:
    # The engine judges abnormal values against the rule set's interval, not the lab's flag.
    obs = observation(
        interpretation=[
            {
                "coding": [
                    coding(
                        "HH", "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
                    )
                ]
            }
        ]
    )
    assert item(waivable(obs=obs)) == item(waivable())


# --------------------------------------------------------------------------- results: time


def test_effective_date_time_is_collection_and_issued_is_report_time() -> None:
    got = prior0(waivable())
    assert got["collected_at"] == "2025-02-27T08:00:00+08:00"
    assert got["reported_at"] == "2025-02-27T11:00:00+08:00"


def test_effective_period_start_and_effective_instant() -> None:
    obs = observation(
        effectiveDateTime=None,
        effectivePeriod={"start": "2025-02-26T20:00:00+08:00", "end": "2025-02-27T08:00:00+08:00"},
    )
    assert prior0(waivable(obs=obs))["collected_at"] == "2025-02-26T20:00:00+08:00"
    obs = observation(effectiveDateTime=None, effectiveInstant="2025-02-27T00:00:00Z")
    assert prior0(waivable(obs=obs))["collected_at"] == "2025-02-27T00:00:00Z"


def test_a_date_is_read_as_the_earliest_collection_time_it_can_denote() -> None:
    # Changed (issue 17): a date-only time used to refuse the bundle. It is now the start of
    # that day at UTC+14:00, so the result can only look older than it is
    # (tests/test_fhir_realfeeds.py covers years, months, issued and the order's day).
    b = waivable(obs=observation(effectiveDateTime="2025-02-27"))
    assert prior0(b)["collected_at"] == "2025-02-27T00:00:00+14:00"
    where, why = unusable(waivable(obs=observation(effectiveDateTime="27/02/2025")))
    assert where == [f"{OBS}.effectiveDateTime"]
    assert "date and time" in why
    where, why = unusable(waivable(obs=observation(effectiveDateTime="2025-02-30")))
    assert where == [f"{OBS}.effectiveDateTime"]
    assert "not a valid date" in why


def test_a_naive_collection_time_needs_a_rule_set_timezone(no_tz_engine: Engine) -> None:
    b = waivable(obs=observation(effectiveDateTime="2025-02-27T08:00:00"))
    assert prior0(b)["collected_at"] == "2025-02-27T08:00:00+08:00"
    where, why = unusable(b, no_tz_engine)
    assert where == [f"{OBS}.effectiveDateTime"]
    assert "no UTC offset" in why


def test_without_effective_the_specimen_collection_time_is_used() -> None:
    b = waivable(obs=observation(effectiveDateTime=None))
    find(b, "Specimen")["collection"] = {"collectedDateTime": "2025-02-27T07:50:00+08:00"}
    assert prior0(b)["collected_at"] == "2025-02-27T07:50:00+08:00"


def test_without_any_collection_time_it_is_unreadable() -> None:
    assert unusable(waivable(obs=observation(effectiveDateTime=None)))[0] == [f"{OBS}.effective[x]"]
    timing = observation(effectiveDateTime=None, effectiveTiming={"event": ["2025-02-27"]})
    assert unusable(waivable(obs=timing))[0] == [f"{OBS}.effectiveTiming"]


def test_issued_before_collection_is_unreadable() -> None:
    b = waivable(obs=observation(issued="2025-02-27T07:00:00+08:00"))
    assert unusable(b)[0] == [f"{OBS}.issued"]


def test_a_result_collected_after_the_order_is_not_a_prior() -> None:
    obs = observation(
        effectiveDateTime="2025-03-02T10:00:00+08:00", issued="2025-03-02T11:00:00+08:00"
    )
    assert reasons(item(waivable(obs=obs))) == {"future_result"}


# --------------------------------------------------------------------------- reference range


def test_reference_range_low_high_and_unit() -> None:
    assert prior0(waivable())["reference_range"] == {"low": 3.9, "high": 6.1, "unit": "mmol/L"}


def test_a_missing_reference_range_is_not_recognised() -> None:
    b = waivable(obs=observation(low=None, high=None))
    assert reasons(item(b)) == {"reference_range_missing"}


def test_only_a_normal_range_is_the_reference_interval() -> None:
    obs = observation()
    therapeutic = {
        "low": quantity(4.4, "mmol/L", ucum="mmol/L"),
        "high": quantity(7.0, "mmol/L", ucum="mmol/L"),
        "type": {"coding": [coding("treatment", REFERENCE_RANGE_MEANING)]},
    }
    normal = obs["referenceRange"][0]
    normal["type"] = {"coding": [coding("normal", REFERENCE_RANGE_MEANING)]}
    obs["referenceRange"] = [therapeutic, normal]
    assert prior0(waivable(obs=obs))["reference_range"]["high"] == 6.1
    obs["referenceRange"] = [therapeutic]
    assert "reference_range" not in prior0(waivable(obs=obs))


def test_several_normal_ranges_are_ambiguous_and_none_is_used() -> None:
    # A female and a male interval (appliesTo is not read): neither can be chosen, so the
    # result has no reference range and a test that needs one is re-tested, not waived.
    obs = observation()
    wider = {
        "low": quantity(3.0, "mmol/L", ucum="mmol/L"),
        "high": quantity(9.0, "mmol/L", ucum="mmol/L"),
    }
    obs["referenceRange"] = [*obs["referenceRange"], wider]
    b = waivable(obs=obs)
    validate_bundle(b)
    assert "reference_range" not in prior0(b)
    assert item(b)["status"] == "retest"
    assert reasons(item(b)) == {"reference_range_missing"}


def test_reference_range_bounds_in_different_units_make_it_unreadable() -> None:
    obs = observation()
    obs["referenceRange"][0]["high"] = quantity(110, "mg/dL", ucum="mg/dL")
    assert unusable(waivable(obs=obs))[0] == [f"{OBS}.referenceRange[0].high"]


def test_reference_range_low_above_high_is_named_by_fhir_path() -> None:
    b = waivable(obs=observation(low=7.0, high=6.1))
    assert unusable(b)[0] == [f"{OBS}.referenceRange[0]"]


# --------------------------------------------------------------------------- performer


def test_performer_organization_is_the_institution() -> None:
    got = prior0(waivable())["institution"]
    assert got == {"id": "LXRM", "name": "临夏市人民医院", "region": "621226", "level": 2}


def test_a_contained_performer() -> None:
    b = drop(waivable(), "Organization", "org-lxrm")
    obs = find(b, "Observation")
    obs["contained"] = [lxrm(id="lab")]
    obs["performer"] = [{"reference": "#lab"}]
    validate_bundle(b)
    assert prior0(b)["institution"]["id"] == "LXRM"
    assert item(b)["status"] == "waive"


def test_a_performer_by_urn_uuid_full_url() -> None:
    b = waivable(kind="transaction")
    uuid = "urn:uuid:7d3c6b9a-8a55-4b0e-9f2e-1d0c5e7b4a21"
    b["entry"][2]["fullUrl"] = uuid
    del b["entry"][2]["resource"]["id"]
    b["entry"][2]["request"] = {"method": "POST", "url": "Organization"}
    find(b, "Observation")["performer"] = [{"reference": uuid}]
    validate_bundle(b)
    assert prior0(b)["institution"]["id"] == "LXRM"


def test_a_performer_by_identifier_only() -> None:
    b = drop(waivable(), "Organization", "org-lxrm")
    find(b, "Observation")["performer"] = [
        {"type": "Organization", "identifier": {"value": "LXRM"}, "display": "临夏市人民医院"}
    ]
    got = prior0(b)["institution"]
    assert got == {"id": "LXRM", "name": "临夏市人民医院"}
    # The registry knows LXRM (level 2, region 621226): recognised on the registry's word.
    assert item(b)["status"] == "waive"


def test_the_first_organization_among_performers_is_the_lab() -> None:
    b = waivable()
    find(b, "Observation")["performer"] = [
        {"reference": "Practitioner/tech-1"},
        {"reference": "Organization/org-lxrm"},
    ]
    assert prior0(b)["institution"]["id"] == "LXRM"


def test_performers_naming_different_labs_make_it_unreadable() -> None:
    b = waivable(lzu2())
    find(b, "Observation")["performer"] = [
        {"reference": "Organization/org-lxrm"},
        {"reference": "Organization/org-lzu2"},
    ]
    where, why = unusable(b)
    assert where == [f"{OBS}.performer"]
    assert "different laboratories" in why


def test_an_unknown_performer_makes_it_unreadable() -> None:
    b = drop(waivable(), "Organization", "org-lxrm")
    where, why = unusable(b)
    assert where == ["entry[6].resource.performer"]  # one entry fewer
    assert "no performing laboratory" in why
    b = waivable()
    find(b, "Observation")["performer"] = [{"reference": "Practitioner/tech-1"}]
    assert unusable(b)[0] == [f"{OBS}.performer"]


def test_region_from_an_address_extension() -> None:
    org = lxrm(
        extension=None,
        address=[
            {
                "city": "临夏市",
                "postalCode": "731100",
                "extension": [{"url": EXT_INSTITUTION_REGION, "valueCode": "621226"}],
            }
        ],
    )
    b = waivable()
    b["entry"][2]["resource"] = org
    validate_bundle(b)
    got = prior0(b)["institution"]
    assert got["region"] == "621226"
    assert "level" not in got


def test_a_postal_code_is_not_a_region() -> None:
    b = waivable()
    b["entry"][2]["resource"] = lxrm(extension=None, address=[{"postalCode": "731100"}])
    assert "region" not in prior0(b)["institution"]


def test_a_bad_level_is_named_by_its_extension() -> None:
    b = waivable()
    find(b, "Organization", "org-lxrm")["extension"][1] = {
        "url": "https://labrecog.dev/fhir/StructureDefinition/institution-level",
        "valueInteger": 5,
    }
    assert unusable(b)[0] == ["entry[2].resource.extension[1].valueInteger"]


# --------------------------------------------------------------------------- status, mark ...


@pytest.mark.parametrize("status", ["preliminary", "registered", "cancelled", "entered-in-error"])
def test_a_result_not_final_is_not_used(status: str) -> None:
    b = waivable(obs=observation(status=status))
    assert reasons(item(b)) == {"result_status"}


@pytest.mark.parametrize("status", ["amended", "corrected"])
def test_amended_and_corrected_results_are_used(status: str) -> None:
    assert item(waivable(obs=observation(status=status)))["status"] == "waive"


def test_a_result_without_status_is_unreadable() -> None:
    assert unusable(waivable(obs=observation(status=None)))[0] == [f"{OBS}.status"]


def test_the_recognition_mark_extension() -> None:
    assert prior0(waivable())["mark"] == "本省HR"
    b = waivable(obs=observation(mark=None))
    # LXRM is not in the registry's quality list: without the mark nothing vouches for it.
    assert reasons(item(b)) == {"mark_missing", "quality_not_assured"}
    assert reasons(item(b)) == reasons(
        ENGINE.evaluate(case(prior(mark=None))).model_dump()["items"][0]
    )


@pytest.mark.parametrize(
    ("code", "system", "name"),
    [
        ("SER", None, "serum"),
        ("PLAS", None, "plasma"),
        ("119364003", SNOMED, "serum"),
        ("UR", None, "urine"),
    ],
)
def test_specimen_type_codes(code: str, system: str | None, name: str) -> None:
    b = waivable()
    b["entry"][6]["resource"] = specimen(code=code)
    if system is not None:
        find(b, "Specimen")["type"]["coding"][0]["system"] = system
    assert prior0(b)["specimen"] == name
    if name == "urine":
        assert reasons(item(b)) == {"specimen_mismatch"}


def test_specimen_type_text_and_missing_specimen() -> None:
    b = waivable()
    find(b, "Specimen")["type"] = {"text": "血清"}
    assert prior0(b)["specimen"] == "血清"
    assert item(b)["status"] == "waive"
    b = drop(waivable(), "Specimen")
    assert "specimen" not in prior0(b)
    assert reasons(item(b)) == {"specimen_mismatch"}


def test_method_text() -> None:
    b = waivable(obs=observation(method={"text": "hexokinase"}))
    assert prior0(b)["method"] == "hexokinase"
    b = waivable(obs=observation(method={"coding": [coding("CLIA", display="化学发光")]}))
    assert prior0(b)["method"] == "CLIA"


def test_a_result_marked_not_shared_is_neither_used_nor_shown() -> None:
    obs = observation()
    obs["extension"].append({"url": EXT_SHARED, "valueBoolean": False})
    it = item(waivable(obs=obs))
    assert reasons(it) == {"no_prior"}
    assert "R-1" not in str(it)


def test_a_restricted_result_is_not_used() -> None:
    obs = observation(meta={"security": [coding("R", V3_CONFIDENTIALITY)]})
    b = waivable(obs=obs)
    validate_bundle(b)
    assert prior0(b)["shared"] is False
    assert reasons(item(b)) == {"no_prior"}


# --------------------------------------------------------------------------- reports


def _liver(*members: dict[str, Any], **report_fields: Any) -> dict[str, Any]:
    b = waivable(report("dr-1", [m["id"] for m in members], **report_fields), *members)
    find(b, "ServiceRequest")["code"]["coding"] = [coding("24325-3", LOINC)]
    return b


LIVER = (
    ("ALT", "1742-6", 30.0, 9.0, 50.0),
    ("AST", "1920-8", 25.0, 15.0, 40.0),
)


def test_a_report_s_members_are_the_panel_components_and_inherit_from_it() -> None:
    members = [member(*row) for row in LIVER]
    tbil = observation(
        "TBIL",
        [coding("1975-2", LOINC)],
        value=quantity(12, "umol/L", ucum="umol/L"),
        low=None,
        high=26,
        unit="umol/L",
        mark=None,
        performer=None,
        effectiveDateTime=None,
        issued=None,
    )
    alb = observation(
        "ALB",
        [coding("1751-7", LOINC)],
        value=quantity(45, "g/L", ucum="g/L"),
        low=40,
        high=55,
        unit="g/L",
        mark=None,
        performer=None,
        effectiveDateTime=None,
        issued=None,
    )
    mark = [
        {
            "url": "https://labrecog.dev/fhir/StructureDefinition/recognition-mark",
            "valueString": "本省HR",
        }
    ]
    b = _liver(*members, tbil, alb, extension=mark, specimen=[{"reference": "Specimen/spec-1"}])
    for m in (*members, tbil, alb):
        del find(b, "Observation", m["id"])["specimen"]
    validate_bundle(b)
    fc = read(b)
    by_id = {p.id: p for p in fc.case.prior_results}
    assert set(by_id) == {"R-1", "ALT", "AST", "TBIL", "ALB"}
    alt = by_id["ALT"]
    assert alt.institution.id == "LXRM"
    assert alt.collected_at.isoformat() == "2025-02-27T08:00:00+08:00"
    assert alt.reported_at is not None and alt.mark == "本省HR" and alt.specimen == "serum"
    it = item(b)
    assert it["status"] == "waive"
    assert [w["result_id"] for w in it["waived"]] == ["ALT", "AST", "TBIL", "ALB"]


def test_a_preliminary_report_makes_its_final_members_unusable() -> None:
    members = [member(*row) for row in LIVER]
    b = _liver(*members, status="preliminary")
    for result in read(b).case.prior_results:
        assert result.status == ("final" if result.id == "R-1" else "preliminary")
    err_item = item(b)
    assert "result_status" in reasons(err_item)


@pytest.mark.parametrize("status", [None, "", "bogus", 7])
def test_a_report_without_a_readable_status_makes_its_members_unusable(status: Any) -> None:
    # Fail closed: a report whose status cannot be read is not final, so neither are its
    # members, whatever they say.
    members = [member(*row) for row in LIVER]
    b = _liver(*members)
    find(b, "DiagnosticReport")["status"] = status
    if status is None:
        del find(b, "DiagnosticReport")["status"]
    for result in read(b).case.prior_results:
        assert result.status == ("final" if result.id == "R-1" else "unknown")
    assert "result_status" in reasons(item(b))


def test_an_appended_report_keeps_its_members_usable() -> None:
    members = [member(*row) for row in LIVER]
    b = _liver(*members, status="appended")
    assert {p.status for p in read(b).case.prior_results} == {"final"}


def test_a_preliminary_group_makes_its_final_members_unusable() -> None:
    alt = member("ALT", "1742-6", 30.0, 9.0, 50.0)
    group = observation(
        "panel", [coding("24325-3", LOINC)], value=None, low=None, high=None, status="preliminary"
    )
    del group["valueQuantity"]
    group["hasMember"] = [{"reference": "Observation/ALT"}]
    fc = read(waivable(group, alt))
    assert next(p for p in fc.case.prior_results if p.id == "ALT").status == "preliminary"


def test_contained_members_of_a_report() -> None:
    alt = member("alt", "1742-6", 30.0, 9.0, 50.0)
    dr = report("dr-1", [])
    dr["contained"] = [alt]
    dr["result"] = [{"reference": "#alt"}]
    b = waivable(dr)
    validate_bundle(b)
    fc = read(b)
    assert "DiagnosticReport/dr-1#alt" in fc.observations
    prior = next(p for p in fc.case.prior_results if p.id == "DiagnosticReport/dr-1#alt")
    assert prior.institution.id == "LXRM"


def test_grouping_observation_members() -> None:
    alt = member("ALT", "1742-6", 30.0, 9.0, 50.0)
    group = observation("panel", [coding("24325-3", LOINC)], value=None, low=None, high=None)
    del group["valueQuantity"]
    group["hasMember"] = [{"reference": "Observation/ALT"}]
    b = waivable(group, alt)
    fc = read(b)
    assert {p.id for p in fc.case.prior_results} == {"R-1", "ALT"}
    assert next(p for p in fc.case.prior_results if p.id == "ALT").institution.id == "LXRM"


# --------------------------------------------------------------------------- order id


def test_order_id_from_argument_requisition_bundle_identifier_or_id() -> None:
    b = waivable()
    assert read(b).case.order_id == "O-1"  # ServiceRequest.requisition
    assert read(b, order_id="X-9").case.order_id == "X-9"
    del find(b, "ServiceRequest")["requisition"]
    assert read(b).case.order_id == "b-1"  # Bundle.id
    b["identifier"] = {"system": "http://example.cn/batch", "value": "B-77"}
    assert read(b).case.order_id == "B-77"
    del b["identifier"], b["id"]
    assert paths(refused(b)) == ["identifier"]


def test_requests_of_different_requisitions_are_an_input_error() -> None:
    other = service_request("sr-2", [coding("K")])
    other["requisition"]["value"] = "O-2"
    assert paths(refused(waivable(other))) == ["entry[8].resource.requisition.value"]


def test_problems_are_collected_not_stopped_at_the_first() -> None:
    b = waivable(obs=observation(effectiveDateTime="27/02/2025", status=None))
    assert unusable(b)[0] == [f"{OBS}.status"]  # the reader's own problems come first
    b = waivable(obs=observation(effectiveDateTime="27/02/2025", issued="27/02/2025"))
    assert set(unusable(b)[0]) == {f"{OBS}.effectiveDateTime", f"{OBS}.issued"}
    b = waivable()
    find(b, "Observation")["subject"] = {"reference": "Patient/P-2"}
    find(b, "Consent")["patient"] = {"reference": "Patient/P-2"}
    assert paths(refused(b)) == ["entry[4].resource.patient", f"{OBS}.subject"]


def test_an_organization_reference_that_does_not_resolve_for_the_requester() -> None:
    b = waivable()
    find(b, "ServiceRequest")["requester"] = {"reference": "Organization/elsewhere"}
    assert read(b).case.institution.id == "LZU2"  # the encounter's provider


def test_bundle_with_unrelated_resources_reads_the_same() -> None:
    extra = [
        {"resourceType": "Practitioner", "id": "dr-wang", "name": [{"text": "王医生"}]},
        {
            "resourceType": "OperationOutcome",
            "id": "oo",
            "issue": [{"severity": "information", "code": "informational"}],
        },
    ]
    b = waivable(*extra, kind="searchset")
    validate_bundle(b)
    assert item(b) == item(waivable())


def test_an_ordering_patient_given_twice_as_bundle_entries_is_refused_even_if_equal() -> None:
    b = bundle(patient(), patient(), lzu2(), service_request())
    assert "second Patient" in str(refused(b))


def test_organization_helper_regions() -> None:
    org = organization("o", "Z", "Z lab", region="630100")
    assert org["extension"][0]["valueCode"] == "630100"
    assert UCUM.startswith("http")


def test_a_group_listed_after_its_members_still_lends_them_its_performer() -> None:
    alt = observation(
        "ALT",
        [coding("1742-6", LOINC)],
        value=quantity(30, "U/L", ucum="U/L"),
        low=9,
        high=50,
        unit="U/L",
        performer=None,
    )
    group = observation("panel", [coding("24325-3", LOINC)], low=None, high=None)
    del group["valueQuantity"]
    group["hasMember"] = [{"reference": "Observation/ALT"}]
    fc = read(waivable(alt, group))
    assert next(p for p in fc.case.prior_results if p.id == "ALT").institution.id == "LXRM"


def test_reference_cycles_end() -> None:
    a = observation(
        "A", [coding("1742-6", LOINC)], performer=None, hasMember=[{"reference": "Observation/B"}]
    )
    b = observation(
        "B", [coding("1742-6", LOINC)], performer=None, hasMember=[{"reference": "Observation/A"}]
    )
    bad = read(waivable(a, b)).case.unreadable_results
    assert [[p.path for p in u.problems] for u in bad] == [
        ["entry[8].resource.performer"],
        ["entry[9].resource.performer"],
    ]
    role = {
        "resourceType": "PractitionerRole",
        "id": "r",
        "organization": {"reference": "PractitionerRole/r"},
    }
    bundle_ = waivable(role)
    find(bundle_, "ServiceRequest")["requester"] = {"reference": "PractitionerRole/r"}
    assert read(bundle_).case.institution.id == "LZU2"  # the encounter's provider


def test_the_first_mapped_loinc_is_the_result_s_loinc() -> None:
    codings = [coding("9999-9", LOINC), coding("2345-7", LOINC), coding("14749-6", LOINC)]
    assert prior0(waivable(obs=observation(codings=codings)))["loinc"] == "2345-7"
    assert (
        prior0(waivable(obs=observation(codings=[*codings[:1], coding("GLU")])))["loinc"]
        == "9999-9"
    )


def test_orders_of_two_requisitions_are_one_problem_each_naming_the_first() -> None:
    b = waivable(service_request("sr-2", [coding("HBA1C")]))
    find(b, "ServiceRequest", "sr-2")["requisition"]["value"] = "O-2"
    with pytest.raises(FhirInputError) as info:
        read(b)
    [problem] = info.value.problems
    assert problem.message.startswith("the ServiceRequests belong to different requisitions")
    assert "(O-1, O-2)" in problem.message
    assert problem.path == "entry[8].resource.requisition.value"  # sr-2, the one that differs


def test_orders_whose_encounters_disagree_on_the_setting_are_a_problem() -> None:
    other = encounter("IMP", id="enc-2")
    b = waivable(
        service_request("sr-2", [coding("HBA1C")], encounter={"reference": "Encounter/enc-2"}),
        other,
    )
    with pytest.raises(FhirInputError) as info:
        read(b)
    [problem] = info.value.problems
    assert "disagree on the setting (outpatient at" in problem.message
    assert problem.message.endswith("inpatient here)")
    assert problem.path == "entry[9].resource.class.code"  # enc-2
