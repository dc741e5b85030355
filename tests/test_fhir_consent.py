"""Issue 11: the per-visit authorisation read from a FHIR Consent, and written back.

What is read (docs/fhir.md, "Consent"): the code from ``Consent.identifier`` of labrecog's
authorisation-code system, else ``sourceReference`` (identifier, else reference); the
period from ``provision.period``; the visit from the bound-encounter extension or a
``provision.data`` Encounter; ``ends_with_visit`` from its extension; institutions from
custodian (CST) actors; results from ``provision.data`` Observations. The order's visit is
its ServiceRequests' ``encounter``. The default bundle (tests/test_fhir_builders.py) orders
GLU in Encounter enc-1 at 2025-03-02 09:30 +08:00.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from labrecog.fhir import case_to_bundle, guidance_response, read_bundle
from labrecog.fhir._codes import (
    AUTHORIZATION_CODE_SYSTEM,
    EXT_BOUND_ENCOUNTER,
    EXT_ENDS_WITH_VISIT,
    V3_PARTICIPATION,
)
from tests.builders import case, demo_engine, prior
from tests.test_fhir_builders import (
    consent,
    encounter,
    find,
    service_request,
    validate_bundle,
    waivable,
)
from tests.test_fhir_read import item, paths, read, refused

ENGINE = demo_engine()
CONSENT = "entry[4].resource"
CODE = "839201"


def permit(**provision: Any) -> dict[str, Any]:
    """The default bundle's Consent, its provision given these elements."""
    out = consent()
    out["provision"] = {"type": "permit", **provision}
    return out


def with_consent(*consents: dict[str, Any], extra: tuple[dict[str, Any], ...] = ()) -> Any:
    b = waivable(*extra)
    b["entry"][4]["resource"] = consents[0]
    for more in consents[1:]:
        b["entry"].append({"fullUrl": f"urn:uuid:{more['id']}", "resource": more})
    return b


def bound(res: dict[str, Any], reference: str) -> dict[str, Any]:
    res.setdefault("extension", []).append(
        {"url": EXT_BOUND_ENCOUNTER, "valueReference": {"reference": reference}}
    )
    return res


def auth(b: dict[str, Any]) -> dict[str, Any]:
    dumped: dict[str, Any] = read(b).case.authorization.model_dump(mode="json", exclude_none=True)
    return dumped


def message(b: dict[str, Any]) -> str:
    it = item(b)
    assert [r["code"] for r in it["reasons"]] == ["no_authorization"], it
    text: str = it["reasons"][0]["message"]
    return text


# --------------------------------------------------------------------------- the code


def test_the_code_is_an_identifier_of_labrecogs_authorisation_code_system() -> None:
    c = permit()
    c["identifier"] = [
        {"system": "http://lzu2.example.cn/fhir/consent-id", "value": "CONSENT-88"},
        {"system": AUTHORIZATION_CODE_SYSTEM, "value": CODE},
    ]
    b = with_consent(c)
    validate_bundle(b)
    assert auth(b)["code"] == CODE
    assert item(b)["status"] == "waive"


def test_the_code_may_come_from_the_source_reference() -> None:
    c = permit()
    c["sourceReference"] = {"identifier": {"system": "urn:platform:gs:auth", "value": CODE}}
    assert auth(with_consent(c))["code"] == CODE
    c["sourceReference"] = {"reference": "DocumentReference/auth-839201"}
    assert auth(with_consent(c))["code"] == "DocumentReference/auth-839201"


def test_labrecogs_identifier_wins_over_the_source_reference_and_others_are_not_codes() -> None:
    c = permit()
    c["sourceReference"] = {"identifier": {"value": "FROM-SOURCE"}}
    c["identifier"] = [{"system": AUTHORIZATION_CODE_SYSTEM, "value": CODE}]
    assert auth(with_consent(c))["code"] == CODE
    c["identifier"] = [{"system": "http://lzu2.example.cn/fhir/consent-id", "value": "C-88"}]
    assert auth(with_consent(c))["code"] == "FROM-SOURCE"
    del c["sourceReference"]
    assert "code" not in auth(with_consent(c))


def test_a_code_of_the_wrong_type_is_refused_at_its_path_without_showing_it() -> None:
    c = permit()
    c["identifier"] = [{"system": AUTHORIZATION_CODE_SYSTEM, "value": 839201}]
    err = refused(with_consent(c))
    assert paths(err) == [f"{CONSENT}.identifier[0].value"]
    assert CODE not in str(err)


# --------------------------------------------------------------------------- the period


def test_the_period_is_when_it_was_given_and_when_it_expires() -> None:
    b = with_consent(
        permit(period={"start": "2025-03-02T09:00:00+08:00", "end": "2025-03-02T18:00:00+08:00"})
    )
    validate_bundle(b)
    got = auth(b)
    assert (got["granted"], got["granted_at"], got["expires_at"]) == (
        True,
        "2025-03-02T09:00:00+08:00",
        "2025-03-02T18:00:00+08:00",
    )
    assert item(b)["status"] == "waive"


def test_bare_dates_cover_whole_days_in_the_orders_offset() -> None:
    got = auth(with_consent(permit(period={"start": "2025-03-02", "end": "2025-03-02"})))
    assert (got["granted"], got["granted_at"], got["expires_at"]) == (
        True,
        "2025-03-02T00:00:00+08:00",
        "2025-03-03T00:00:00+08:00",
    )


def test_an_expired_consent_is_read_with_its_period_and_the_reason_says_so() -> None:
    b = with_consent(permit(period={"start": "2025-02-01", "end": "2025-02-28"}))
    got = auth(b)
    assert (got["granted"], got["expires_at"]) == (False, "2025-03-01T00:00:00+08:00")
    assert message(b) == (
        "the patient's authorisation expired at 2025-03-01T00:00:00+08:00; "
        "the order was placed at 2025-03-02T09:30:00+08:00"
    )


def test_an_order_at_the_end_instant_is_outside_the_period() -> None:
    b = with_consent(permit(period={"end": "2025-03-02T09:30:00+08:00"}))
    assert auth(b)["granted"] is False
    assert "expired at 2025-03-02T09:30:00+08:00" in message(b)


def test_a_period_ending_before_it_starts_is_refused_at_its_end() -> None:
    b = with_consent(permit(period={"start": "2025-03-02T10:00:00+08:00", "end": "2025-03-01"}))
    assert paths(refused(b)) == [f"{CONSENT}.provision.period.end"]


# --------------------------------------------------------------------------- the visit


def test_the_orders_visit_is_its_encounter_when_a_consent_is_bound_to_a_visit() -> None:
    assert read(waivable()).case.context.encounter is None  # nothing needs it
    b = with_consent(bound(permit(), "Encounter/enc-1"))
    assert read(b).case.context.encounter == "enc-1"
    find(b, "ServiceRequest")["encounter"] = {"reference": "Encounter/" + "9" * 200}
    assert paths(refused(b)) == ["entry[5].resource.encounter"]


def test_orders_in_different_visits_name_no_one_visit() -> None:
    b = with_consent(
        bound(permit(), "Encounter/enc-1"),
        extra=(service_request("sr-2", encounter={"reference": "Encounter/enc-2"}),),
    )
    assert read(b).case.context.encounter is None
    assert message(b) == (
        "the patient's authorisation is for visit enc-1, but the order does not say which "
        "visit it belongs to (context.encounter)"
    )


def test_a_visit_named_by_identifier_is_the_bundles_encounter_with_it() -> None:
    b = with_consent(bound(permit(), "Encounter/enc-1"))
    b["entry"][3]["resource"]["identifier"] = [{"system": "urn:his:visit", "value": "MZ-77"}]
    find(b, "ServiceRequest")["encounter"] = {
        "identifier": {"system": "urn:his:visit", "value": "MZ-77"}
    }
    assert read(b).case.context.encounter == "enc-1"
    assert item(b)["status"] == "waive"
    find(b, "ServiceRequest")["encounter"] = {"identifier": {"value": "enc-1"}}
    assert read(b).case.context.encounter == "|enc-1"  # never taken for the id enc-1


def test_an_encounter_known_only_by_a_placeholder_names_no_visit() -> None:
    b = with_consent(bound(permit(), "Encounter/enc-1"))
    b["entry"][3]["fullUrl"] = "urn:uuid:1c0f8e2a-0000-4000-8000-000000000001"
    del b["entry"][3]["resource"]["id"]
    find(b, "ServiceRequest")["encounter"] = {"reference": b["entry"][3]["fullUrl"]}
    fc = read(b)
    assert (fc.case.context.encounter, fc.case.context.setting) == (None, "outpatient")


def test_a_consent_bound_to_the_orders_encounter_holds() -> None:
    b = with_consent(bound(permit(), "Encounter/enc-1"))
    validate_bundle(b)
    assert auth(b)["encounter"] == "enc-1"
    assert item(b)["status"] == "waive"


def test_a_consent_bound_to_another_encounter_does_not_hold() -> None:
    other = encounter(id="enc-0", status="finished")
    b = with_consent(bound(permit(), "Encounter/enc-0"), extra=(other,))
    validate_bundle(b)
    assert message(b) == (
        "the patient's authorisation is for visit enc-0; this order is in visit enc-1"
    )
    # The Encounter need not be in the Bundle: its reference names it.
    b = with_consent(bound(permit(), "Encounter/enc-0"))
    assert auth(b)["encounter"] == "enc-0"


def test_a_consent_may_bind_the_visit_through_provision_data() -> None:
    data = [{"meaning": "dependents", "reference": {"reference": "Encounter/enc-1"}}]
    b = with_consent(permit(data=data))
    validate_bundle(b)
    assert auth(b)["encounter"] == "enc-1"
    data[0]["meaning"] = "related"
    data[0]["reference"] = {"reference": "Encounter/enc-0"}
    assert "is for visit enc-0" in message(with_consent(permit(data=data)))


def test_a_consent_that_ends_with_its_visit() -> None:
    c = bound(permit(), "Encounter/enc-1")
    c["extension"].append({"url": EXT_ENDS_WITH_VISIT, "valueBoolean": True})
    b = with_consent(c)
    validate_bundle(b)
    assert auth(b)["ends_with_visit"] is True
    find(b, "ServiceRequest")["encounter"] = {"reference": "Encounter/enc-2"}
    assert "ended with visit enc-1" in message(b)


def test_a_consent_naming_two_visits_does_not_authorise() -> None:
    data = [{"meaning": "related", "reference": {"reference": "Encounter/enc-0"}}]
    b = with_consent(bound(permit(data=data), "Encounter/enc-1"))
    assert auth(b) == {"granted": False, "ends_with_visit": False}


def test_of_several_consents_the_one_that_holds_is_read() -> None:
    old = bound(permit(), "Encounter/enc-0")
    now = bound(consent("permit", id="consent-2"), "Encounter/enc-1")
    now["identifier"] = [{"system": AUTHORIZATION_CODE_SYSTEM, "value": CODE}]
    b = with_consent(old, now)
    assert (auth(b)["encounter"], auth(b)["code"]) == ("enc-1", CODE)
    assert item(b)["status"] == "waive"
    # What the case says of the authorisation is named by the Consent it was read from.
    now["identifier"][0]["value"] = 839201
    assert paths(refused(with_consent(old, now))) == ["entry[8].resource.identifier[0].value"]


def test_a_denying_consent_in_force_still_refuses() -> None:
    b = with_consent(bound(permit(), "Encounter/enc-1"), consent("deny", id="consent-2"))
    assert auth(b) == {"granted": False, "ends_with_visit": False}


# --------------------------------------------------------------------------- coverage


def actor(code: str, reference: dict[str, Any]) -> dict[str, Any]:
    return {
        "role": {"coding": [{"system": V3_PARTICIPATION, "code": code}]},
        "reference": reference,
    }


def test_custodians_are_the_institutions_covered() -> None:
    b = with_consent(permit(actor=[actor("CST", {"reference": "Organization/org-lxrm"})]))
    validate_bundle(b)
    assert auth(b)["institutions"] == ["LXRM"]
    assert item(b)["status"] == "waive"
    other = {"type": "Organization", "identifier": {"value": "GSPH"}}
    b = with_consent(permit(actor=[actor("CST", other)]))
    assert auth(b)["institutions"] == ["GSPH"]
    it = item(b)
    assert [(r["code"], r["result_id"]) for r in it["reasons"]] == [("no_authorization", "R-1")]


def test_an_actor_of_another_role_is_not_interpreted_so_nothing_is_authorised() -> None:
    b = with_consent(permit(actor=[actor("PRCP", {"reference": "Organization/org-lzu2"})]))
    assert auth(b)["granted"] is False
    assert message(b) == "the patient has not authorised the use of external results"


def test_observations_in_provision_data_are_the_results_covered() -> None:
    data = [{"meaning": "instance", "reference": {"reference": "Observation/R-1"}}]
    b = with_consent(permit(data=data))
    validate_bundle(b)
    assert auth(b)["results"] == ["R-1"]
    assert item(b)["status"] == "waive"
    data[0]["reference"] = {"reference": "Observation/R-0"}
    assert auth(with_consent(permit(data=data)))["results"] == ["R-0"]
    assert item(with_consent(permit(data=data)))["reasons"][0]["result_id"] == "R-1"


def test_data_of_a_meaning_not_interpreted_authorises_nothing() -> None:
    data = [{"meaning": "authoredby", "reference": {"reference": "Organization/org-lxrm"}}]
    assert auth(with_consent(permit(data=data)))["granted"] is False


# --------------------------------------------------------------------------- written back

FULL = {
    "granted": True,
    "code": CODE,
    "encounter": "V-1",
    "granted_at": "2025-03-02T09:00:00+08:00",
    "expires_at": "2025-03-02T18:00:00+08:00",
    "ends_with_visit": True,
    "institutions": ["LXRM", "GSPH"],
    "results": ["R-1", "R-9"],
}


@pytest.mark.parametrize("setting", ["outpatient", None])
@pytest.mark.parametrize("visit", ["V-1", "V-2", None])
def test_the_authorisation_and_the_visit_survive_a_round_trip(
    setting: str | None, visit: str | None
) -> None:
    data = case(prior(), authorization=FULL)
    data["context"] = {"flags": [], **({"setting": setting} if setting else {})}
    if visit is not None:
        data["context"]["encounter"] = visit
    valid = ENGINE.validate_case(data)
    bundle = case_to_bundle(valid)
    validate_bundle(bundle)
    fc = read_bundle(bundle, ENGINE)
    assert fc.case.context == valid.context
    assert fc.case.authorization == valid.authorization
    want = ENGINE.evaluate(valid).model_dump(mode="json")["items"]
    got = ENGINE.evaluate(fc.case).model_dump(mode="json")["items"]
    assert [{k: v for k, v in i.items() if k != "ext"} for i in got] == want


def test_the_code_is_in_no_answer() -> None:
    valid = ENGINE.validate_case(case(prior(), authorization=FULL, context__encounter="V-1"))
    fc = read_bundle(case_to_bundle(valid), ENGINE)
    answer = guidance_response(ENGINE.evaluate(fc.case), fc)
    assert CODE not in orjson.dumps(answer).decode()
