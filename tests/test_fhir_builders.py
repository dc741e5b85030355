"""Realistic FHIR R4 Bundles for the FHIR adapter tests, built by small helper functions.

The default bundle is the FHIR form of ``tests.builders.case(prior())``: an outpatient at
兰州大学第二医院 (LZU2) orders a glucose; a glucose from 临夏市人民医院 (LXRM), three days
old and marked 本省HR, is in the bundle: waivable under ``rules/demo``. A test changes one
element and sees what that element does.

The tests in this module prove that what the builders make is valid FHIR R4
(``fhir.resources.R4B``), so the other tests read valid input unless they break it on
purpose.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from labrecog.fhir import FHIR_FLAG_SYSTEM
from labrecog.fhir._codes import (
    EXT_INSTITUTION_LEVEL,
    EXT_INSTITUTION_REGION,
    EXT_RECOGNITION_MARK,
    LOINC,
    UCUM,
    V2_0487,
    V3_ACT_CODE,
)

fhir_bundle = pytest.importorskip("fhir.resources.R4B.bundle")

LOCAL = "http://lzu2.example.cn/fhir/CodeSystem/lab-items"
INSTITUTIONS = "http://example.cn/fhir/NamingSystem/institution-code"
ORDERED_AT = "2025-03-02T09:30:00+08:00"
Resource = dict[str, Any]


def validate_bundle(bundle: Resource) -> None:
    """Raises pydantic's ValidationError unless the Bundle is valid FHIR R4."""
    fhir_bundle.Bundle.model_validate(bundle)


def patient(pid: str = "P-1", **fields: Any) -> Resource:
    out: Resource = {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": "urn:oid:2.16.156.10011.1.4", "value": f"ID-{pid}"}],
        "gender": "male",
        "birthDate": "1961-05-14",
    }
    return _with(out, fields)


def organization(
    rid: str,
    code: str,
    name: str,
    *,
    region: str | None = None,
    level: int | None = None,
    **fields: Any,
) -> Resource:
    out: Resource = {
        "resourceType": "Organization",
        "id": rid,
        "identifier": [{"use": "official", "system": INSTITUTIONS, "value": code}],
        "name": name,
    }
    extensions = []
    if region is not None:
        extensions.append({"url": EXT_INSTITUTION_REGION, "valueCode": region})
    if level is not None:
        extensions.append({"url": EXT_INSTITUTION_LEVEL, "valueInteger": level})
    if extensions:
        out["extension"] = extensions
    return _with(out, fields)


def lzu2(**fields: Any) -> Resource:
    return organization("org-lzu2", "LZU2", "兰州大学第二医院", region="620102", level=3, **fields)


def lxrm(**fields: Any) -> Resource:
    return organization("org-lxrm", "LXRM", "临夏市人民医院", region="621226", level=2, **fields)


def encounter(klass: str = "AMB", **fields: Any) -> Resource:
    out: Resource = {
        "resourceType": "Encounter",
        "id": "enc-1",
        "status": "in-progress",
        "class": {"system": V3_ACT_CODE, "code": klass},
        "subject": {"reference": "Patient/P-1"},
        "serviceProvider": {"reference": "Organization/org-lzu2"},
    }
    return _with(out, fields)


def consent(provision: str = "permit", **fields: Any) -> Resource:
    out: Resource = {
        "resourceType": "Consent",
        "id": "consent-1",
        "status": "active",
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "patient-privacy",
                }
            ]
        },
        "category": [{"coding": [{"system": LOINC, "code": "59284-0"}]}],
        "patient": {"reference": "Patient/P-1"},
        "policyRule": {"text": "检查检验结果互认 (mutual recognition of results)"},
        "provision": {"type": provision},
    }
    return _with(out, fields)


def coding(code: str, system: str = LOCAL, display: str | None = None) -> Resource:
    out: Resource = {"system": system, "code": code}
    if display is not None:
        out["display"] = display
    return out


def service_request(
    rid: str = "sr-1",
    codings: list[Resource] | None = None,
    *,
    flags: tuple[str, ...] = (),
    **fields: Any,
) -> Resource:
    out: Resource = {
        "resourceType": "ServiceRequest",
        "id": rid,
        "requisition": {"system": "http://lzu2.example.cn/fhir/requisition", "value": "O-1"},
        "status": "active",
        "intent": "order",
        "category": [
            {"coding": [{"system": "http://snomed.info/sct", "code": "108252007"}]}
        ],  # laboratory procedure
        "code": {"coding": codings or [coding("2345-7", LOINC, "Glucose [Moles/volume]")]},
        "subject": {"reference": "Patient/P-1"},
        "encounter": {"reference": "Encounter/enc-1"},
        "authoredOn": ORDERED_AT,
        "requester": {"reference": "Organization/org-lzu2"},
    }
    if flags:
        out["orderDetail"] = [{"coding": [coding(f, FHIR_FLAG_SYSTEM)]} for f in flags]
    return _with(out, fields)


def specimen(rid: str = "spec-1", code: str = "SER", **fields: Any) -> Resource:
    out: Resource = {
        "resourceType": "Specimen",
        "id": rid,
        "type": {"coding": [coding(code, V2_0487)]},
        "subject": {"reference": "Patient/P-1"},
    }
    return _with(out, fields)


def quantity(value: float, unit: str, *, ucum: str | None = None) -> Resource:
    out: Resource = {"value": value, "unit": unit}
    if ucum is not None:
        out.update(system=UCUM, code=ucum)
    return out


def observation(
    rid: str = "R-1",
    codings: list[Resource] | None = None,
    *,
    value: Resource | None = None,
    low: float | None = 3.9,
    high: float | None = 6.1,
    unit: str = "mmol/L",
    mark: str | None = "本省HR",
    **fields: Any,
) -> Resource:
    """A glucose result 3 days old from LXRM: waivable for an order of GLU at LZU2."""
    out: Resource = {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        "code": {"coding": codings or [coding("2345-7", LOINC), coding("GLU", display="葡萄糖")]},
        "subject": {"reference": "Patient/P-1"},
        "effectiveDateTime": "2025-02-27T08:00:00+08:00",
        "issued": "2025-02-27T11:00:00+08:00",
        "performer": [{"reference": "Organization/org-lxrm"}],
        "valueQuantity": value or quantity(5.2, "mmol/L", ucum="mmol/L"),
        "specimen": {"reference": "Specimen/spec-1"},
    }
    if mark is not None:
        out["extension"] = [{"url": EXT_RECOGNITION_MARK, "valueString": mark}]
    rr: Resource = {}
    if low is not None:
        rr["low"] = quantity(low, unit, ucum=unit)
    if high is not None:
        rr["high"] = quantity(high, unit, ucum=unit)
    if rr:
        out["referenceRange"] = [rr]
    return _with(out, fields)


def member(
    rid: str, loinc: str, value: float, low: float | None, high: float, **fields: Any
) -> Resource:
    """A panel component in U/L that states only what is its own: performer, times and
    (unless given) mark come from the report or group that lists it."""
    base: dict[str, Any] = {
        "mark": None,
        "performer": None,
        "effectiveDateTime": None,
        "issued": None,
    }
    return observation(
        rid,
        [coding(loinc, LOINC)],
        value=quantity(value, "U/L", ucum="U/L"),
        low=low,
        high=high,
        unit="U/L",
        **{**base, **fields},
    )


def report(rid: str, members: list[str], **fields: Any) -> Resource:
    out: Resource = {
        "resourceType": "DiagnosticReport",
        "id": rid,
        "status": "final",
        "code": {"coding": [coding("24325-3", LOINC, "Hepatic function panel")]},
        "subject": {"reference": "Patient/P-1"},
        "effectiveDateTime": "2025-02-27T08:00:00+08:00",
        "issued": "2025-02-27T11:00:00+08:00",
        "performer": [{"reference": "Organization/org-lxrm"}],
        "result": [{"reference": f"Observation/{m}"} for m in members],
    }
    return _with(out, fields)


def bundle(*resources: Resource, kind: str = "collection", **fields: Any) -> Resource:
    """A Bundle of these resources, each with a fullUrl; transaction entries get requests."""
    entries = []
    for res in resources:
        entry: Resource = {"fullUrl": f"http://example.cn/fhir/{res['resourceType']}/{res['id']}"}
        entry["resource"] = res
        if kind == "transaction":
            entry["request"] = {"method": "PUT", "url": f"{res['resourceType']}/{res['id']}"}
        if kind == "searchset":
            entry["search"] = {
                "mode": "match" if res["resourceType"] == "Observation" else "include"
            }
        entries.append(entry)
    out: Resource = {"resourceType": "Bundle", "id": "b-1", "type": kind, "entry": entries}
    if kind == "searchset":
        out["total"] = sum(1 for r in resources if r["resourceType"] == "Observation")
    return _with(out, fields)


def waivable(*extra: Resource, obs: Resource | None = None, **fields: Any) -> Resource:
    """Patient, LZU2 + encounter + consent, one GLU order, one waivable GLU result."""
    return bundle(
        patient(),
        lzu2(),
        lxrm(),
        encounter(),
        consent(),
        service_request(),
        specimen(),
        obs if obs is not None else observation(),
        *extra,
        **fields,
    )


def find(b: Resource, kind: str, rid: str | None = None) -> Resource:
    """The (first) resource of this type (and id) in the bundle, for editing in place."""
    for entry in b["entry"]:
        res = entry["resource"]
        if res["resourceType"] == kind and (rid is None or res.get("id") == rid):
            return res  # type: ignore[no-any-return]
    raise KeyError((kind, rid))


def drop(b: Resource, kind: str, rid: str | None = None) -> Resource:
    target = find(b, kind, rid)
    b["entry"] = [e for e in b["entry"] if e["resource"] is not target]
    return b


def _with(base: Resource, fields: dict[str, Any]) -> Resource:
    out = copy.deepcopy(base)
    for key, value in fields.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


# --------------------------------------------------------------------------- the proof


@pytest.mark.parametrize("kind", ["collection", "searchset", "transaction"])
def test_the_default_bundle_is_valid_fhir(kind: str) -> None:
    validate_bundle(waivable(kind=kind))


def test_the_panel_bundle_is_valid_fhir() -> None:
    validate_bundle(
        waivable(
            report("dr-1", ["R-2"]),
            observation("R-2", [coding("1742-6", LOINC)], value=quantity(20, "U/L", ucum="U/L")),
        )
    )


def test_a_broken_bundle_is_caught_by_the_models() -> None:
    # The proof is worth something only if the models do reject what is not FHIR.
    b = waivable()
    find(b, "Observation")["effectiveDateTime"] = "27/02/2025 08:00"
    with pytest.raises(ValueError, match="effectiveDateTime"):
        validate_bundle(b)
