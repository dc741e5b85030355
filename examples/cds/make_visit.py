"""Generate examples/cds/visit-gansu.json: the seed's visit as a CDS Hooks order-select call.

    python examples/cds/make_visit.py > examples/cds/visit-gansu.json   # write it
    python examples/cds/make_visit.py --check   # stale? valid FHIR R4? the expected cards?

Deterministic (no clock, no randomness). The visit (rules/demo: Gansu and Qinghai; the
cn-reference rule set registers only Beijing, Tianjin, Hebei and Shandong laboratories, so
every Gansu result would be refused there):

- 马秀兰, 66, type 2 diabetes, at the endocrinology clinic of 兰州大学第二医院 (LZU2) on
  2025-03-02. At registration (08:52) she gives the dynamic authorisation code from the
  provincial health app; the hospital records it as a Consent bound to this visit
  (``bound-encounter``, ``ends-with-visit``), with no end time.
- At 09:40 the doctor orders glucose, HbA1c (糖化血红蛋白), creatinine and ALT.
- The regional platform holds, newest first: yesterday's bedside (POCT) glucose from a
  township clinic, which names no laboratory (no performer, no encounter): it cannot be
  read, and as the newest glucose it keeps the glucose from being waived on the older
  venous one from 临夏市人民医院 (``unreadable_result`` naming
  ``prefetch.labResults.entry[0].resource.performer``); creatinine and ALT from 甘肃省人民医院
  three days ago, marked 全国HR: recognised; HbA1c from 临夏 in December, 72 days old
  (limit 60 days): too old.

So the summary card says "仅需检查：葡萄糖、糖化血红蛋白A1c（节省 14.00 CNY）".
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
OUT = HERE / "visit-gansu.json"

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
V2_0487 = "http://terminology.hl7.org/CodeSystem/v2-0487"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
BASE = "https://labrecog.dev/fhir"
REGION = f"{BASE}/StructureDefinition/institution-region"
LEVEL = f"{BASE}/StructureDefinition/institution-level"
MARK = f"{BASE}/StructureDefinition/recognition-mark"
BOUND = f"{BASE}/StructureDefinition/bound-encounter"
ENDS = f"{BASE}/StructureDefinition/ends-with-visit"
AUTH_CODE = f"{BASE}/NamingSystem/authorization-code"
INST = "http://example.cn/fhir/NamingSystem/institution-code"
HIS = "http://lzu2.example.cn/fhir/CodeSystem/his-items"  # LZU2's own order item numbers
REQ = "http://lzu2.example.cn/fhir/requisition"
SERVER = "https://fhir.lzu2.example.cn/r4"

PATIENT = "P-0417"
ENCOUNTER = "E-2025-0302-017"
ORDERED_AT = "2025-03-02T09:40:00+08:00"
ORDER_ID = "O-2025-030217"
USER = "PractitionerRole/PR-LZU2-ENDO-07"

Res = dict[str, Any]


def searchset(query: str, resources: list[Res]) -> Res:
    """A search answer as FHIR servers send it: total counts the matches, not the includes."""
    entries: list[Res] = []
    matches = 0
    for res in resources:
        mode = "match" if res["resourceType"] in ("Observation", "Consent") else "include"
        matches += mode == "match"
        entries.append(
            {
                "fullUrl": f"{SERVER}/{res['resourceType']}/{res['id']}",
                "resource": res,
                "search": {"mode": mode},
            }
        )
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": matches,
        "link": [{"relation": "self", "url": f"{SERVER}/{query}"}],
        "entry": entries,
    }


def organization(rid: str, code: str, name: str, region: str, level: int) -> Res:
    return {
        "resourceType": "Organization",
        "id": rid,
        "extension": [
            {"url": REGION, "valueCode": region},
            {"url": LEVEL, "valueInteger": level},
        ],
        "identifier": [{"use": "official", "system": INST, "value": code}],
        "active": True,
        "type": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/organization-type",
                        "code": "prov",
                        "display": "Healthcare Provider",
                    }
                ]
            }
        ],
        "name": name,
    }


def quantity(value: float, unit: str) -> Res:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def observation(
    rid: str,
    loinc: str,
    display: str,
    text: str,
    value: float,
    unit: str,
    low: float,
    high: float,
    collected: str,
    issued: str,
    *,
    performer: str | None = None,
    specimen: str | None = None,
    mark: str | None = None,
    method: str | None = None,
) -> Res:
    out: Res = {"resourceType": "Observation", "id": rid}
    if specimen is not None:
        out["contained"] = [
            {
                "resourceType": "Specimen",
                "id": "specimen",
                "type": {"coding": [{"system": V2_0487, "code": specimen}]},
                "subject": {"reference": f"Patient/{PATIENT}"},
            }
        ]
    if mark is not None:
        out["extension"] = [{"url": MARK, "valueString": mark}]
    out.update(
        {
            "status": "final",
            "category": [{"coding": [{"system": CATEGORY, "code": "laboratory"}]}],
            "code": {
                "coding": [{"system": LOINC, "code": loinc, "display": display}],
                "text": text,
            },
            "subject": {"reference": f"Patient/{PATIENT}"},
            "effectiveDateTime": collected,
            "issued": issued,
        }
    )
    if performer is not None:
        out["performer"] = [{"reference": performer}]
    out["valueQuantity"] = quantity(value, unit)
    if method is not None:
        out["method"] = {"text": method}
    if specimen is not None:
        out["specimen"] = {"reference": "#specimen"}
    out["referenceRange"] = [{"low": quantity(low, unit), "high": quantity(high, unit)}]
    return out


def draft(rid: str, loinc: str, display: str, his: str, text: str) -> Res:
    return {
        "resourceType": "ServiceRequest",
        "id": rid,
        "status": "draft",
        "intent": "order",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://snomed.info/sct",
                        "code": "108252007",
                        "display": "Laboratory procedure",
                    }
                ]
            }
        ],
        "code": {
            "coding": [
                {"system": LOINC, "code": loinc, "display": display},
                {"system": HIS, "code": his, "display": text},
            ],
            "text": text,
        },
        "subject": {"reference": f"Patient/{PATIENT}"},
        "encounter": {"reference": f"Encounter/{ENCOUNTER}"},
        "authoredOn": ORDERED_AT,
        "requester": {"reference": USER, "display": "内分泌科 门诊医师"},
        "requisition": {"system": REQ, "value": ORDER_ID},
    }


GSPH = organization("org-gsph", "GSPH", "甘肃省人民医院", "620102", 3)
LXRM = organization("org-lxrm", "LXRM", "临夏市人民医院", "621226", 2)

DRAFTS = [
    draft(
        "sr-glu", "2345-7", "Glucose [Moles/volume] in Serum or Plasma", "HIS-LAB-0101", "葡萄糖"
    ),
    draft(
        "sr-hba1c",
        "4548-4",
        "Hemoglobin A1c/Hemoglobin.total in Blood",
        "HIS-LAB-0135",
        "糖化血红蛋白",
    ),
    draft(
        "sr-crea",
        "14682-9",
        "Creatinine [Moles/volume] in Serum or Plasma",
        "HIS-LAB-0212",
        "肌酐",
    ),
    draft(
        "sr-alt",
        "1742-6",
        "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
        "HIS-LAB-0301",
        "丙氨酸氨基转移酶",
    ),
]

RESULTS = [
    # Yesterday's bedside glucose from a township clinic: no performer, no encounter.
    observation(
        "obs-poct-glu-0301",
        "14749-6",
        "Glucose [Moles/volume] in Serum or Plasma",
        "血糖（床旁快速检测）",
        8.6,
        "mmol/L",
        3.9,
        6.1,
        "2025-03-01T16:20:00+08:00",
        "2025-03-01T16:22:00+08:00",
        method="床旁快速检测（POCT）",
    ),
    observation(
        "obs-crea-5521",
        "14682-9",
        "Creatinine [Moles/volume] in Serum or Plasma",
        "肌酐",
        68,
        "umol/L",
        41,
        81,
        "2025-02-27T08:00:00+08:00",
        "2025-02-27T11:05:00+08:00",
        performer="Organization/org-gsph",
        specimen="SER",
        mark="全国HR",
    ),
    observation(
        "obs-alt-5522",
        "1742-6",
        "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
        "丙氨酸氨基转移酶",
        18,
        "U/L",
        7,
        40,
        "2025-02-27T08:00:00+08:00",
        "2025-02-27T11:05:00+08:00",
        performer="Organization/org-gsph",
        specimen="SER",
        mark="全国HR",
    ),
    observation(
        "obs-glu-8810",
        "2345-7",
        "Glucose [Moles/volume] in Serum or Plasma",
        "葡萄糖",
        7.2,
        "mmol/L",
        3.9,
        6.1,
        "2025-02-26T08:10:00+08:00",
        "2025-02-26T10:40:00+08:00",
        performer="Organization/org-lxrm",
        specimen="SER",
        mark="本省HR",
    ),
    observation(
        "obs-hba1c-8702",
        "4548-4",
        "Hemoglobin A1c/Hemoglobin.total in Blood",
        "糖化血红蛋白",
        7.4,
        "%",
        4.0,
        6.0,
        "2024-12-20T09:30:00+08:00",
        "2024-12-20T14:10:00+08:00",
        performer="Organization/org-lxrm",
        specimen="BLD",
        mark="本省HR",
    ),
]

CONSENT: Res = {
    "resourceType": "Consent",
    "id": "consent-auth-0302-017",
    "extension": [
        {"url": BOUND, "valueReference": {"reference": f"Encounter/{ENCOUNTER}"}},
        {"url": ENDS, "valueBoolean": True},
    ],
    "identifier": [{"system": AUTH_CODE, "value": "GS-7Q4K-2M9X"}],
    "status": "active",
    "scope": {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                "code": "patient-privacy",
            }
        ]
    },
    "category": [{"coding": [{"system": LOINC, "code": "59284-0", "display": "Patient Consent"}]}],
    "patient": {"reference": f"Patient/{PATIENT}"},
    "dateTime": "2025-03-02T08:52:00+08:00",
    "policyRule": {"text": "检查检验结果互认：一次就医、一次授权"},
    "provision": {"type": "permit", "period": {"start": "2025-03-02T08:52:00+08:00"}},
}

REQUEST: Res = {
    "hook": "order-select",
    "hookInstance": "4f0c2a8e-6b1d-4d35-9c57-2b8e4a1f0317",
    "context": {
        "userId": USER,
        "patientId": PATIENT,
        "encounterId": ENCOUNTER,
        "selections": [f"ServiceRequest/{d['id']}" for d in DRAFTS],
        "draftOrders": {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": d} for d in DRAFTS],
        },
    },
    "prefetch": {
        "patient": {
            "resourceType": "Patient",
            "id": PATIENT,
            "identifier": [
                {
                    "type": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                "code": "MR",
                            }
                        ]
                    },
                    "system": "http://lzu2.example.cn/fhir/NamingSystem/mrn",
                    "value": "0000417",
                }
            ],
            "name": [{"text": "马秀兰", "family": "马", "given": ["秀兰"]}],
            "gender": "female",
            "birthDate": "1958-09-21",
        },
        "labResults": searchset(
            f"Observation?patient={PATIENT}&category=laboratory&_sort=-date"
            "&_include=Observation:performer",
            [*RESULTS, GSPH, LXRM],
        ),
        "consent": searchset(f"Consent?patient={PATIENT}&status=active", [CONSENT]),
        "encounter": {
            "resourceType": "Encounter",
            "id": ENCOUNTER,
            "status": "in-progress",
            "class": {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                "code": "AMB",
                "display": "ambulatory",
            },
            "serviceType": {"text": "内分泌科门诊"},
            "subject": {"reference": f"Patient/{PATIENT}"},
            "period": {"start": "2025-03-02T08:52:00+08:00"},
            # Not in the prefetch (a read of the Encounter includes nothing): the service
            # names the ordering institution from its --institution configuration.
            "serviceProvider": {
                "reference": "Organization/org-lzu2",
                "display": "兰州大学第二医院",
            },
        },
    },
}


def render() -> str:
    return json.dumps(REQUEST, ensure_ascii=False, indent=2) + "\n"


def validate(request: Res) -> int:
    """Every FHIR resource of ``request`` against the R4 models (fhir.resources R4B), if
    installed; the number validated."""
    try:
        from fhir.resources.R4B import get_fhir_model_class
    except ImportError:
        return 0
    resources = [request["context"]["draftOrders"], *request["prefetch"].values()]
    for res in resources:
        get_fhir_model_class(res["resourceType"]).model_validate(res)
    return len(resources)


def check() -> int:
    """The file is current, valid FHIR, and the service answers what the docs say."""
    failures = []
    if OUT.read_text(encoding="utf-8") != render():
        failures.append(f"{OUT.name} is stale; regenerate it")
    n = validate(REQUEST)
    print(f"{n} FHIR resources validated", file=sys.stderr)
    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="verify instead of writing")
    args = parser.parse_args()
    if args.check:
        return check()
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
