"""The URLs labrecog reads and writes in FHIR: code systems, extensions, identifiers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "AUTHORIZATION_CODE_SYSTEM",
    "CONSENT_ROLES",
    "DECISION_SYSTEM",
    "ERROR_SYSTEM",
    "EXT_BOUND_ENCOUNTER",
    "EXT_ENDS_WITH_VISIT",
    "EXT_INSTITUTION_LEVEL",
    "EXT_INSTITUTION_REGION",
    "EXT_LINE",
    "EXT_ORDER_ID",
    "EXT_RECOGNITION_MARK",
    "EXT_RULESET",
    "EXT_SHARED",
    "FHIR_FLAG_SYSTEM",
    "LOINC",
    "LOINC_OID",
    "OBSERVATION_CATEGORY",
    "ORDER_SYSTEM",
    "REASON_SYSTEM",
    "REFERENCE_RANGE_MEANING",
    "RULESET_URI",
    "SETTINGS",
    "SNOMED",
    "SPECIMEN_CODES",
    "UCUM",
    "V2_0487",
    "V3_ACT_CODE",
    "V3_CONFIDENTIALITY",
    "V3_PARTICIPATION",
    "code_of",
    "is_loinc",
]

_BASE = "https://labrecog.dev/fhir"

#: Order-context flags (exceptions, condition flags) as codings in ServiceRequest.orderDetail
#: or ServiceRequest.reasonCode; the code is the rule set's flag name.
FHIR_FLAG_SYSTEM = f"{_BASE}/CodeSystem/flag"

LOINC = "http://loinc.org"
#: LOINC's OID, the system of LOINC codes in data converted from HL7 v3 / C-CDA.
LOINC_OID = "urn:oid:2.16.840.1.113883.6.1"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"

# Spellings of LOINC's system seen in real feeds, compared after stripping whitespace and
# one trailing slash, ignoring case (scheme, host and "urn:oid:" are case-insensitive).
_LOINC_SYSTEMS = frozenset(
    {
        "http://loinc.org",
        "https://loinc.org",
        "http://www.loinc.org",
        "https://www.loinc.org",
        LOINC_OID,
    }
)

EXT_INSTITUTION_REGION = f"{_BASE}/StructureDefinition/institution-region"
EXT_INSTITUTION_LEVEL = f"{_BASE}/StructureDefinition/institution-level"
EXT_RECOGNITION_MARK = f"{_BASE}/StructureDefinition/recognition-mark"
EXT_SHARED = f"{_BASE}/StructureDefinition/shared"

# -- the patient's authorisation, per visit (Consent; fhir/_consent.py, docs/fhir.md) --------
#: Extension on a Consent: the visit it is bound to (valueReference to an Encounter).
EXT_BOUND_ENCOUNTER = f"{_BASE}/StructureDefinition/bound-encounter"
#: Extension on a Consent: it lasts as long as its visit (valueBoolean).
EXT_ENDS_WITH_VISIT = f"{_BASE}/StructureDefinition/ends-with-visit"
#: Identifier system of the dynamic authorisation code (Consent.identifier).
AUTHORIZATION_CODE_SYSTEM = f"{_BASE}/NamingSystem/authorization-code"
#: Consent.provision.actor.role: the custodian, whose results the Consent covers.
V3_PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
CONSENT_ROLES = frozenset({(V3_PARTICIPATION, "CST")})
# -- end of the patient's authorisation

#: Extension on the GuidanceResponse: the rule set that decided (sub-extensions id, version,
#: digest).
EXT_RULESET = f"{_BASE}/StructureDefinition/ruleset"
#: Extension on an OperationOutcome written for a bad input line: the line number.
EXT_LINE = f"{_BASE}/StructureDefinition/input-line"
#: Extension on an OperationOutcome: the order id, when it could be read.
EXT_ORDER_ID = f"{_BASE}/StructureDefinition/order-id"

#: labrecog's decision statuses (waive, retest, partial) and reason codes.
DECISION_SYSTEM = f"{_BASE}/CodeSystem/decision"
REASON_SYSTEM = f"{_BASE}/CodeSystem/reason"
ERROR_SYSTEM = f"{_BASE}/CodeSystem/error"
#: Identifier system for order ids (GuidanceResponse.requestIdentifier).
ORDER_SYSTEM = f"{_BASE}/NamingSystem/order-id"
RULESET_URI = f"{_BASE}/ruleset"

V2_0487 = "http://terminology.hl7.org/CodeSystem/v2-0487"
SNOMED = "http://snomed.info/sct"
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V3_CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
REFERENCE_RANGE_MEANING = "http://terminology.hl7.org/CodeSystem/referencerange-meaning"

#: Specimen type codings read as the specimen names rule sets use (rules/*/ specimens:).
SPECIMEN_CODES: dict[tuple[str, str], str] = {
    (V2_0487, "SER"): "serum",
    (V2_0487, "PLAS"): "plasma",
    (V2_0487, "BLD"): "whole blood",
    (V2_0487, "WB"): "whole blood",
    (V2_0487, "UR"): "urine",
    (SNOMED, "119364003"): "serum",
    (SNOMED, "119361006"): "plasma",
    (SNOMED, "258580003"): "whole blood",
    (SNOMED, "122575003"): "urine",
}

#: Encounter.class (v3 ActCode) -> case context.setting.
SETTINGS: dict[str, str] = {
    "AMB": "outpatient",
    "IMP": "inpatient",
    "ACUTE": "inpatient",
    "NONAC": "inpatient",
    "EMER": "emergency",
}


def is_loinc(system: object) -> bool:
    """Whether a coding's system is LOINC, however a feed spells it.

    Why: a LOINC coding not recognised as LOINC is ignored, and an older result of the same
    test would then be used in its place; every comparison with LOINC goes through here.
    """
    if not isinstance(system, str):
        return False
    spelled = system.strip().lower()
    if spelled.endswith("/"):
        spelled = spelled[:-1]
    return spelled in _LOINC_SYSTEMS


def code_of(coding: Mapping[str, Any]) -> str | None:
    """A coding's code without surrounding whitespace; None if absent, blank or not text.

    FHIR ``code`` values never carry surrounding whitespace, so stripping guesses nothing;
    padded exports (fixed-width columns, converters) would otherwise match no catalogue code.
    """
    code = coding.get("code")
    if not isinstance(code, str):
        return None
    code = code.strip()
    return code or None
