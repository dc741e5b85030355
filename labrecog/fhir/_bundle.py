"""A labrecog case written as a FHIR R4 collection Bundle: the reader's inverse.

For integrators who hold cases and want to try the FHIR path, for the sample data, and
for the tests that prove both paths decide alike. Reading the Bundle back with
``read_bundle`` gives the same decision as evaluating the case (items then carry the
ServiceRequest they came from in ``ext.request``).

Not representable, and therefore not written: ``ext`` objects, the ``checkup`` setting
(no Encounter.class for it), ``context.department``, the details of an authorisation not
granted whose period includes the order (they change nothing: it is not granted).
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from labrecog.check import within
from labrecog.fhir._codes import (
    AUTHORIZATION_CODE_SYSTEM,
    EXT_BOUND_ENCOUNTER,
    EXT_ENDS_WITH_VISIT,
    EXT_INSTITUTION_LEVEL,
    EXT_INSTITUTION_REGION,
    EXT_RECOGNITION_MARK,
    EXT_SHARED,
    FHIR_FLAG_SYSTEM,
    LOINC,
    SETTINGS,
    V3_ACT_CODE,
    V3_PARTICIPATION,
)
from labrecog.model import Case, Institution, PriorResult

__all__ = ["LOCAL_SYSTEM", "case_to_bundle"]

#: The code system local codes are written under (the reader takes any non-LOINC system).
LOCAL_SYSTEM = "https://labrecog.dev/fhir/CodeSystem/local"
INSTITUTION_SYSTEM = "https://labrecog.dev/fhir/NamingSystem/institution"
_CLASS = {setting: code for code, setting in reversed(list(SETTINGS.items()))}
_GENDER = {"male": "male", "female": "female", "unknown": "unknown"}


def case_to_bundle(case: Case) -> dict[str, Any]:
    """One collection Bundle: Patient, Organizations, Encounter, Consent, ServiceRequests,
    Specimens and Observations (one per prior result)."""
    writer = _Writer(case)
    return writer.bundle()


class _Writer:
    def __init__(self, case: Case) -> None:
        self.case = case
        self.entries: list[dict[str, Any]] = []
        self.orgs: dict[tuple[Any, ...], str] = {}

    def add(self, resource: dict[str, Any]) -> str:
        ref = f"{resource['resourceType']}/{resource['id']}"
        self.entries.append({"fullUrl": f"urn:labrecog:{ref}", "resource": resource})
        return ref

    def bundle(self) -> dict[str, Any]:
        c = self.case
        patient: dict[str, Any] = {"resourceType": "Patient", "id": _fhir_id(c.patient.id)}
        if c.patient.sex is not None:
            patient["gender"] = _GENDER[c.patient.sex]
        if c.patient.birth_date is not None:
            patient["birthDate"] = c.patient.birth_date.isoformat()
        patient_ref = self.add(patient)
        requester = self.organization(c.institution)
        encounter_ref = self.encounter(patient_ref, requester)
        consent = _consent(c, patient_ref)
        if consent is not None:
            self.add(consent)
        for i, item in enumerate(c.tests):
            request: dict[str, Any] = {
                "resourceType": "ServiceRequest",
                "id": f"sr-{i + 1}",
                "requisition": {"value": c.order_id},
                "status": "active",
                "intent": "order",
                "code": {"coding": [{"system": LOCAL_SYSTEM, "code": item.code}]},
                "subject": {"reference": patient_ref},
                "authoredOn": c.ordered_at.isoformat(),
                "requester": {"reference": requester},
            }
            flags = [*c.context.flags, *(f for f in item.flags if f not in c.context.flags)]
            if flags:
                request["orderDetail"] = [
                    {"coding": [{"system": FHIR_FLAG_SYSTEM, "code": flag}]} for flag in flags
                ]
            if encounter_ref is not None:
                request["encounter"] = {"reference": encounter_ref}
            self.add(request)
        for k, prior in enumerate(c.prior_results):
            self.observation(k, prior)
        return {
            "resourceType": "Bundle",
            "id": _fhir_id(c.order_id),
            "type": "collection",
            "entry": self.entries,
        }

    def encounter(self, patient_ref: str, requester: str) -> str | None:
        """The order's visit: an Encounter with the setting as its class, its id the visit
        (none, referenced by a ``urn:uuid:``, if the case names no visit); a visit without
        a setting FHIR can say is referenced, not written."""
        c = self.case
        visit = c.context.encounter
        if c.context.setting not in _CLASS:
            return None if visit is None else f"Encounter/{_fhir_id(visit)}"
        resource: dict[str, Any] = {
            "resourceType": "Encounter",
            "status": "in-progress",
            "class": {"system": V3_ACT_CODE, "code": _CLASS[c.context.setting]},
            "subject": {"reference": patient_ref},
            "serviceProvider": {"reference": requester},
        }
        if visit is not None:
            return self.add({"id": _fhir_id(visit), **resource})
        placeholder = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'encounter:' + c.order_id)}"
        self.entries.append({"fullUrl": placeholder, "resource": resource})
        return placeholder

    def organization(self, inst: Institution) -> str:
        key = (inst.id, inst.name, inst.region, inst.level)
        found = self.orgs.get(key)
        if found is not None:
            return found
        org: dict[str, Any] = {
            "resourceType": "Organization",
            "id": f"org-{len(self.orgs) + 1}",
            "identifier": [{"system": INSTITUTION_SYSTEM, "value": inst.id}],
        }
        extensions: list[dict[str, Any]] = []
        if inst.region is not None:
            extensions.append({"url": EXT_INSTITUTION_REGION, "valueCode": inst.region})
        if inst.level is not None:
            extensions.append({"url": EXT_INSTITUTION_LEVEL, "valueInteger": inst.level})
        if extensions:
            org["extension"] = extensions
        if inst.name is not None:
            org["name"] = inst.name
        self.orgs[key] = ref = self.add(org)
        return ref

    def observation(self, k: int, p: PriorResult) -> None:
        codings = []
        if p.loinc is not None:
            codings.append({"system": LOINC, "code": p.loinc})
        if p.code is not None:
            codings.append({"system": LOCAL_SYSTEM, "code": p.code})
        obs: dict[str, Any] = {
            "resourceType": "Observation",
            "id": _fhir_id(p.id),
            "status": p.status,
            "category": [{"coding": [{"system": _CATEGORY, "code": "laboratory"}]}],
            "code": {"coding": codings},
            "subject": {"reference": f"Patient/{_fhir_id(p.patient_id)}"},
            "effectiveDateTime": p.collected_at.isoformat(),
            "performer": [{"reference": self.organization(p.institution)}],
        }
        extensions: list[dict[str, Any]] = []
        if p.mark is not None:
            extensions.append({"url": EXT_RECOGNITION_MARK, "valueString": p.mark})
        if not p.shared:
            extensions.append({"url": EXT_SHARED, "valueBoolean": False})
        if extensions:
            obs["extension"] = extensions
        if p.reported_at is not None:
            obs["issued"] = p.reported_at.isoformat()
        if p.value is not None:
            quantity: dict[str, Any] = {"value": p.value}
            if p.unit is not None:
                quantity["unit"] = p.unit
            obs["valueQuantity"] = quantity
        elif p.value_text is not None:
            obs["valueString"] = p.value_text
        if p.method is not None:
            obs["method"] = {"text": p.method}
        if p.specimen is not None:
            obs["specimen"] = {
                "reference": self.add(
                    {
                        "resourceType": "Specimen",
                        "id": f"specimen-{k + 1}",
                        "type": {"text": p.specimen},
                    }
                )
            }
        rr = p.reference_range
        if rr is not None:
            out: dict[str, Any] = {}
            for bound, value in (("low", rr.low), ("high", rr.high)):
                if value is not None:
                    out[bound] = {"value": value}
                    if rr.unit is not None:
                        out[bound]["unit"] = rr.unit
            if rr.text is not None:
                out["text"] = rr.text
            if out:
                obs["referenceRange"] = [out]
        self.add(obs)


_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
_CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"


def _consent(c: Case, patient_ref: str) -> dict[str, Any] | None:
    """The authorisation as a permitting Consent (docs/fhir.md, "Consent"). One not granted
    is written only when its period excludes the order (read back, it is not granted and
    says why); otherwise not at all, which reads back as not granted."""
    auth = c.authorization
    if not auth.granted and within(c.ordered_at, auth.granted_at, auth.expires_at):
        return None
    provision: dict[str, Any] = {"type": "permit"}
    period = {
        bound: moment.isoformat()
        for bound, moment in (("start", auth.granted_at), ("end", auth.expires_at))
        if moment is not None
    }
    if period:
        provision["period"] = period
    if auth.institutions is not None:
        provision["actor"] = [
            {
                "role": {"coding": [{"system": V3_PARTICIPATION, "code": "CST"}]},
                "reference": {
                    "type": "Organization",
                    "identifier": {"system": INSTITUTION_SYSTEM, "value": inst},
                },
            }
            for inst in auth.institutions
        ]
    if auth.results is not None:
        provision["data"] = [
            {"meaning": "instance", "reference": {"reference": f"Observation/{_fhir_id(rid)}"}}
            for rid in auth.results
        ]
    consent: dict[str, Any] = {"resourceType": "Consent", "id": "consent"}
    extensions: list[dict[str, Any]] = []
    if auth.encounter is not None:
        ref = {"reference": f"Encounter/{_fhir_id(auth.encounter)}"}
        extensions.append({"url": EXT_BOUND_ENCOUNTER, "valueReference": ref})
    if auth.ends_with_visit:
        extensions.append({"url": EXT_ENDS_WITH_VISIT, "valueBoolean": True})
    if extensions:
        consent["extension"] = extensions
    if auth.code is not None:
        consent["identifier"] = [{"system": AUTHORIZATION_CODE_SYSTEM, "value": auth.code}]
    return {
        **consent,
        "status": "active",
        "scope": {"coding": [{"system": _CONSENT_SCOPE, "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": LOINC, "code": "59284-0"}]}],
        "patient": {"reference": patient_ref},
        "policyRule": {"text": "mutual recognition of laboratory results"},
        "provision": provision,
    }


def _fhir_id(value: str) -> str:
    """Ids are [A-Za-z0-9-.]{1,64} in FHIR; anything else is hex-escaped, deterministically."""
    if len(value) <= 64 and all(ch.isascii() and (ch.isalnum() or ch in "-.") for ch in value):
        return value
    return "x-" + hashlib.sha256(value.encode("utf-8")).hexdigest()[:40]
