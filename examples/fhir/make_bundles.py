"""Generate examples/fhir/bundles.ndjson: FHIR R4 Bundles for rules/demo, one idea each.

    python examples/fhir/make_bundles.py > examples/fhir/bundles.ndjson   # write the batch
    python examples/fhir/make_bundles.py --pretty 1 > examples/fhir/story.json  # one, indented
    python examples/fhir/make_bundles.py --check       # evaluate; verify statuses and validity

Deterministic (no clock, no randomness). ``--check`` evaluates every line as
``labrecog evaluate --format fhir`` does, compares each item's status with the one written
here, checks each bad line fails at the FHIR path written here, and (when fhir.resources
is installed) validates every Bundle and every answer against the FHIR R4 models.

Line 1  the docs/case.md story as a ``collection``: glucose from 临夏 (LXRM) 4 days old,
        marked 本省HR, waived; HbA1c 72 days old (too_old); no liver results (no_prior).
Line 2  a ``searchset`` as a regional platform returns it: a liver panel reported by
        甘肃省人民医院 as a DiagnosticReport whose members inherit performer, times and the
        HR mark; the bilirubin printed with the old interval 3.4–20.5 µmol/L makes the panel
        partial (order TBIL only). A blood pressure and the completed order behind the
        report are in the bundle too, and are not part of the decision.
Line 3  a ``transaction`` with ``urn:uuid:`` references, an inpatient on the renal ward
        (Encounter.class IMP): the potassium is 30 hours old (inpatients' electrolytes: 24 h),
        the sodium only ``preliminary``, and the glucose, ordered with the flag
        ``on_insulin`` (3 days), is waived on a result in mg/dL (the UCUM code is read,
        not the display ``mg/dl``). The Consent permits, but a nested deny withholds the
        freshest glucose, which therefore appears nowhere in the answer.
Line 4  an emergency (急诊, flag ``emergency`` in ServiceRequest.reasonCode): re-test all.
Line 5  line 1 plus yesterday's point-of-care glucose, which names no laboratory (no
        performer, no encounter): it cannot be read, so it is not used, and the glucose is
        not waived on the older R-88 either (``unreadable_result`` names the result and the
        FHIR path); HbA1c and the liver panel are decided as in line 1.
Line 6  bad: a result of another patient in the bundle (mixed-up patients).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
RULES = ROOT / "rules" / "demo"

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
V2_0487 = "http://terminology.hl7.org/CodeSystem/v2-0487"
ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
BASE = "https://labrecog.dev/fhir"
FLAG = f"{BASE}/CodeSystem/flag"
REGION = f"{BASE}/StructureDefinition/institution-region"
LEVEL = f"{BASE}/StructureDefinition/institution-level"
MARK = f"{BASE}/StructureDefinition/recognition-mark"
LOCAL = "http://lzu2.example.cn/fhir/CodeSystem/lab-items"  # the hospital's own item codes
INST = "http://example.cn/fhir/NamingSystem/institution-code"
REQ = "http://lzu2.example.cn/fhir/requisition"

Res = dict[str, Any]


# --------------------------------------------------------------------------- helpers


def org(rid: str, code: str, name: str, region: str, level: int | None = None) -> Res:
    ext: list[Res] = [{"url": REGION, "valueCode": region}]
    if level is not None:
        ext.append({"url": LEVEL, "valueInteger": level})
    return {
        "resourceType": "Organization",
        "id": rid,
        "extension": ext,
        "identifier": [{"use": "official", "system": INST, "value": code}],
        "name": name,
    }


LZU2 = org("lzu2", "LZU2", "兰州大学第二医院", "620102", 3)
GSPH = org("gsph", "GSPH", "甘肃省人民医院", "620102", 3)
LXRM = org("lxrm", "LXRM", "临夏市人民医院", "621226", 2)


def patient(pid: str, gender: str, birth: str, name: str) -> Res:
    return {
        "resourceType": "Patient",
        "id": pid,
        "name": [{"text": name}],
        "gender": gender,
        "birthDate": birth,
    }


def encounter(rid: str, klass: str, subject: str, provider: str) -> Res:
    return {
        "resourceType": "Encounter",
        "id": rid,
        "status": "in-progress",
        "class": {"system": ACT, "code": klass},
        "subject": {"reference": subject},
        "serviceProvider": {"reference": provider},
    }


def consent(rid: str, subject: str, *, withhold: list[str] = ()) -> Res:  # type: ignore[assignment]
    provision: Res = {"type": "permit"}
    if withhold:
        provision["provision"] = [
            {
                "type": "deny",
                "data": [{"meaning": "instance", "reference": {"reference": r}} for r in withhold],
            }
        ]
    return {
        "resourceType": "Consent",
        "id": rid,
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
        "patient": {"reference": subject},
        "dateTime": "2025-01-10T10:00:00+08:00",
        "policyRule": {"text": "检查检验结果互认知情同意"},
        "provision": provision,
    }


def order(
    rid: str,
    codings: list[Res],
    subject: str,
    authored: str,
    requester: str,
    encounter_ref: str,
    requisition: str,
    *,
    status: str = "active",
    reason: list[Res] | None = None,
    detail: list[Res] | None = None,
) -> Res:
    out: Res = {
        "resourceType": "ServiceRequest",
        "id": rid,
        "requisition": {"system": REQ, "value": requisition},
        "status": status,
        "intent": "order",
        "code": {"coding": codings},
        "subject": {"reference": subject},
        "encounter": {"reference": encounter_ref},
        "authoredOn": authored,
        "requester": {"reference": requester},
    }
    if reason:
        out["reasonCode"] = reason
    if detail:
        out["orderDetail"] = detail
    return out


def quantity(value: float, unit: str, ucum: str) -> Res:
    return {"value": value, "unit": unit, "system": UCUM, "code": ucum}


def obs(
    rid: str,
    codings: list[Res],
    subject: str,
    value: Res | None,
    *,
    rr: tuple[float | None, float | None, str] | None = None,
    **more: Any,
) -> Res:
    out: Res = {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "category": [{"coding": [{"system": CATEGORY, "code": "laboratory"}]}],
        "code": {"coding": codings},
        "subject": {"reference": subject},
    }
    out.update(more)
    if value is not None:
        out["valueQuantity"] = value
    if rr is not None:
        low, high, unit = rr
        out["referenceRange"] = [
            {k: quantity(v, unit, unit) for k, v in (("low", low), ("high", high)) if v is not None}
        ]
    return out


def specimen(rid: str, code: str, subject: str) -> Res:
    return {
        "resourceType": "Specimen",
        "id": rid,
        "type": {"coding": [{"system": V2_0487, "code": code}]},
        "subject": {"reference": subject},
    }


def bundle(bid: str, kind: str, resources: list[Res], *, uuids: bool = False) -> Res:
    entries = []
    for res in copy.deepcopy(resources):
        url = f"http://fhir.example.cn/{res['resourceType']}/{res['id']}"
        entry: Res = {"fullUrl": url, "resource": res}
        if kind == "searchset":
            entry["search"] = {
                "mode": "match" if res["resourceType"] == "Observation" else "include"
            }
        if kind == "transaction":
            entry["request"] = {"method": "POST", "url": res["resourceType"]}
        entries.append(entry)
    out: Res = {"resourceType": "Bundle", "id": bid, "type": kind, "entry": entries}
    if uuids:
        _to_uuids(out)
    return out


def _to_uuids(b: Res) -> None:
    """Transaction style: the patient and organisations are updated in place (PUT, with
    their ids), everything else is created (POST, no id, an urn:uuid fullUrl)."""
    names = {}
    for n, entry in enumerate(b["entry"], start=1):
        res = entry["resource"]
        if res["resourceType"] in ("Patient", "Organization"):
            entry["request"] = {"method": "PUT", "url": f"{res['resourceType']}/{res['id']}"}
            continue
        uuid = f"urn:uuid:00000000-0000-4000-8000-{n:012d}"
        names[f"{res['resourceType']}/{res.pop('id')}"] = uuid
        entry["fullUrl"] = uuid

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("reference")
            if isinstance(ref, str) and ref in names:
                node["reference"] = names[ref]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(b)


def lab(code: str, local: str | None = None) -> list[Res]:
    out = [{"system": LOINC, "code": code}]
    if local is not None:
        out.append({"system": LOCAL, "code": local})
    return out


# --------------------------------------------------------------------------- the bundles
# Each entry: (bundle or raw text, expected item statuses or the failing FHIR path).

BUNDLES: list[tuple[Res, list[str] | str]] = []

# Line 1: the story of docs/case.md (Example).
P1 = "Patient/P-001"
BUNDLES.append(
    (
        bundle(
            "b-001",
            "collection",
            [
                patient("P-001", "male", "1961-05-14", "张伟"),
                LZU2,
                LXRM,
                GSPH,
                encounter("enc-001", "AMB", P1, "Organization/lzu2"),
                consent("consent-001", P1),
                order(
                    "sr-001-1",
                    [{"system": LOCAL, "code": "HBA1C", "display": "糖化血红蛋白"}],
                    P1,
                    "2025-03-02T09:30:00+08:00",
                    "Organization/lzu2",
                    "Encounter/enc-001",
                    "O-2025-000123",
                ),
                order(
                    "sr-001-2",
                    lab("24325-3"),
                    P1,
                    "2025-03-02T09:30:00+08:00",
                    "Organization/lzu2",
                    "Encounter/enc-001",
                    "O-2025-000123",
                ),
                order(
                    "sr-001-3",
                    lab("2345-7", "GLU"),
                    P1,
                    "2025-03-02T09:30:00+08:00",
                    "Organization/lzu2",
                    "Encounter/enc-001",
                    "O-2025-000123",
                ),
                specimen("spec-88", "SER", P1),
                specimen("spec-12", "BLD", P1),
                obs(
                    "R-88",
                    lab("2345-7", "GLU"),
                    P1,
                    quantity(6.4, "mmol/L", "mmol/L"),
                    rr=(3.9, 6.1, "mmol/L"),
                    effectiveDateTime="2025-02-26T08:10:00+08:00",
                    issued="2025-02-26T11:10:00+08:00",
                    performer=[{"reference": "Organization/lxrm"}],
                    specimen={"reference": "Specimen/spec-88"},
                    method={"text": "hexokinase"},
                    extension=[{"url": MARK, "valueString": "本省HR"}],
                ),
                obs(
                    "R-12",
                    lab("4548-4"),
                    P1,
                    quantity(6.8, "%", "%"),
                    rr=(4.0, 6.0, "%"),
                    effectiveDateTime="2024-12-20T09:30:00+08:00",
                    issued="2024-12-20T12:30:00+08:00",
                    performer=[{"reference": "Organization/gsph"}],
                    specimen={"reference": "Specimen/spec-12"},
                    extension=[{"url": MARK, "valueString": "全国HR"}],
                ),
            ],
        ),
        ["retest", "retest", "waive"],
    )
)

# Line 2: a searchset with a liver panel report.
P2 = "Patient/P-010"
members = [
    obs("ALT-7", lab("1742-6", "ALT"), P2, quantity(22, "U/L", "U/L"), rr=(7, 40, "U/L")),
    obs("AST-7", lab("1920-8", "AST"), P2, quantity(20, "U/L", "U/L"), rr=(13, 35, "U/L")),
    obs(
        "TBIL-7",
        lab("1975-2", "TBIL"),
        P2,
        quantity(12.1, "μmol/L", "umol/L"),
        rr=(3.4, 20.5, "umol/L"),
    ),
    obs("ALB-7", lab("1751-7", "ALB"), P2, quantity(45, "g/L", "g/L"), rr=(40, 55, "g/L")),
]
BUNDLES.append(
    (
        bundle(
            "b-010",
            "searchset",
            [
                patient("P-010", "female", "1975-08-30", "李娜"),
                LZU2,
                GSPH,
                encounter("enc-010", "AMB", P2, "Organization/lzu2"),
                consent("consent-010", P2),
                order(
                    "sr-010-1",
                    [{"system": LOCAL, "code": "LFT", "display": "肝功能"}],
                    P2,
                    "2025-03-05T08:40:00+08:00",
                    "Organization/lzu2",
                    "Encounter/enc-010",
                    "O-2025-000310",
                ),
                order(
                    "sr-gsph-55",
                    lab("24325-3"),
                    P2,
                    "2025-02-24T07:50:00+08:00",
                    "Organization/gsph",
                    "Encounter/enc-010",
                    "GSPH-55",
                    status="completed",
                ),
                specimen("spec-7", "SER", P2),
                {
                    "resourceType": "DiagnosticReport",
                    "id": "dr-7",
                    "status": "final",
                    "basedOn": [{"reference": "ServiceRequest/sr-gsph-55"}],
                    "code": {"coding": lab("24325-3")},
                    "subject": {"reference": P2},
                    "effectiveDateTime": "2025-02-24T08:05:00+08:00",
                    "issued": "2025-02-24T15:20:00+08:00",
                    "performer": [{"reference": "Organization/gsph"}],
                    "specimen": [{"reference": "Specimen/spec-7"}],
                    "extension": [{"url": MARK, "valueString": "全国HR"}],
                    "result": [{"reference": f"Observation/{m['id']}"} for m in members],
                },
                *members,
                obs(
                    "bp-1",
                    [{"system": LOINC, "code": "8480-6", "display": "Systolic blood pressure"}],
                    P2,
                    quantity(128, "mmHg", "mm[Hg]"),
                    effectiveDateTime="2025-03-05T08:30:00+08:00",
                ),
            ],
        ),
        ["partial"],
    )
)

# Line 3: a transaction, inpatient, with urn:uuid references.
P3 = "Patient/P-020"
BUNDLES.append(
    (
        bundle(
            "b-020",
            "transaction",
            [
                patient("P-020", "male", "1956-02-11", "王强"),
                LZU2,
                LXRM,
                encounter("enc-020", "IMP", P3, "Organization/lzu2"),
                consent("consent-020", P3, withhold=["Observation/GLU-19"]),
                order(
                    "sr-020-1",
                    lab("2823-3"),
                    P3,
                    "2025-03-03T10:00:00+08:00",
                    "Organization/lzu2",
                    "Encounter/enc-020",
                    "O-2025-000420",
                ),
                order(
                    "sr-020-2",
                    lab("2951-2"),
                    P3,
                    "2025-03-03T10:00:00+08:00",
                    "Organization/lzu2",
                    "Encounter/enc-020",
                    "O-2025-000420",
                ),
                order(
                    "sr-020-3",
                    lab("2345-7"),
                    P3,
                    "2025-03-03T10:00:00+08:00",
                    "Organization/lzu2",
                    "Encounter/enc-020",
                    "O-2025-000420",
                    detail=[
                        {"coding": [{"system": FLAG, "code": "on_insulin"}], "text": "胰岛素治疗中"}
                    ],
                ),
                specimen("spec-20", "SER", P3),
                *[
                    obs(
                        rid,
                        codings,
                        P3,
                        value,
                        rr=rr,
                        effectiveDateTime=at,
                        issued=at[:11] + "09:00:00+08:00",
                        status=status,
                        performer=[{"reference": "Organization/lxrm"}],
                        specimen={"reference": "Specimen/spec-20"},
                        extension=[{"url": MARK, "valueString": "本省HR"}],
                    )
                    for rid, codings, value, rr, at, status in (
                        (
                            "K-20",
                            lab("2823-3"),
                            quantity(4.1, "mmol/L", "mmol/L"),
                            (3.5, 5.3, "mmol/L"),
                            "2025-03-02T04:00:00+08:00",
                            "final",
                        ),  # issued at 09:00 each
                        (
                            "NA-20",
                            lab("2951-2"),
                            quantity(140, "mmol/L", "mmol/L"),
                            (137, 147, "mmol/L"),
                            "2025-03-03T06:00:00+08:00",
                            "preliminary",
                        ),
                        (
                            "GLU-20",
                            lab("2345-7"),
                            quantity(101, "mg/dl", "mg/dL"),
                            (70, 110, "mg/dL"),
                            "2025-03-01T07:00:00+08:00",
                            "final",
                        ),
                        (
                            "GLU-19",
                            lab("2345-7"),
                            quantity(5.0, "mmol/L", "mmol/L"),
                            (3.9, 6.1, "mmol/L"),
                            "2025-03-02T07:00:00+08:00",
                            "final",
                        ),
                    )
                ],
            ],
            uuids=True,
        ),
        ["retest", "retest", "waive"],
    )
)

# Line 4: an emergency.
P4 = "Patient/P-030"
EMERGENCY = [{"coding": [{"system": FLAG, "code": "emergency"}], "text": "急危重症抢救"}]
BUNDLES.append(
    (
        bundle(
            "b-030",
            "collection",
            [
                patient("P-030", "female", "1980-10-03", "赵敏"),
                LZU2,
                LXRM,
                encounter("enc-030", "EMER", P4, "Organization/lzu2"),
                consent("consent-030", P4),
                order(
                    "sr-030-1",
                    lab("2345-7"),
                    P4,
                    "2025-03-04T22:15:00+08:00",
                    "Organization/lzu2",
                    "Encounter/enc-030",
                    "O-2025-000530",
                    reason=EMERGENCY,
                ),
                order(
                    "sr-030-2",
                    lab("2823-3"),
                    P4,
                    "2025-03-04T22:15:00+08:00",
                    "Organization/lzu2",
                    "Encounter/enc-030",
                    "O-2025-000530",
                    reason=EMERGENCY,
                ),
                specimen("spec-30", "SER", P4),
                obs(
                    "GLU-30",
                    lab("2345-7"),
                    P4,
                    quantity(5.6, "mmol/L", "mmol/L"),
                    rr=(3.9, 6.1, "mmol/L"),
                    effectiveDateTime="2025-03-03T08:00:00+08:00",
                    issued="2025-03-03T10:00:00+08:00",
                    performer=[{"reference": "Organization/lxrm"}],
                    specimen={"reference": "Specimen/spec-30"},
                    extension=[{"url": MARK, "valueString": "本省HR"}],
                ),
            ],
        ),
        ["retest", "retest"],
    )
)

# Line 5: a result that cannot be read costs only its own test the waiver (issue 11).
poct = json.loads(json.dumps(BUNDLES[0][0]))
poct["id"] = "b-005"
poct["entry"].append(
    {
        "fullUrl": "http://fhir.example.cn/Observation/POC-7",
        "resource": obs(
            "POC-7",
            lab("2345-7"),
            P1,
            quantity(7.9, "mmol/L", "mmol/L"),
            effectiveDateTime="2025-03-01T16:20:00+08:00",
        ),
    }
)
BUNDLES.append((poct, ["retest", "retest", "retest"]))

# Line 6: somebody else's result in the bundle.
mixed = json.loads(json.dumps(BUNDLES[0][0]))
mixed["id"] = "b-002"
mixed["entry"][-1]["resource"]["subject"] = {"reference": "Patient/P-777"}
BUNDLES.append((mixed, "entry[12].resource.subject"))


# --------------------------------------------------------------------------- output


def write(out: Any, pretty: int | None) -> None:
    if pretty is not None:
        out.write(json.dumps(BUNDLES[pretty - 1][0], ensure_ascii=False, indent=2) + "\n")
        return
    for b, _ in BUNDLES:
        out.write(json.dumps(b, ensure_ascii=False, separators=(",", ":")) + "\n")


def check() -> int:
    sys.path.insert(0, str(ROOT))
    from labrecog import Engine
    from labrecog.batch.fhir_lines import evaluate_bundle_line

    engine = Engine.from_path(RULES)
    try:
        from fhir.resources.R4B.bundle import Bundle
        from fhir.resources.R4B.guidanceresponse import GuidanceResponse
        from fhir.resources.R4B.operationoutcome import OperationOutcome
    except ImportError:
        Bundle = GuidanceResponse = OperationOutcome = None  # type: ignore[assignment,misc]
    stored = (HERE / "bundles.ndjson").read_bytes().splitlines()
    failures = []
    if len(stored) != len(BUNDLES):
        failures.append(f"bundles.ndjson has {len(stored)} lines, {len(BUNDLES)} expected")
    for n, (b, expected) in enumerate(BUNDLES, start=1):
        raw = json.dumps(b, ensure_ascii=False, separators=(",", ":")).encode()
        if n <= len(stored) and stored[n - 1] != raw:
            failures.append(f"line {n}: bundles.ndjson is stale; regenerate it")
        if Bundle is not None:
            Bundle.model_validate(b)
        record, answer = evaluate_bundle_line(engine, n, raw, fhir_out=True)
        if isinstance(expected, str):
            got = record.get("error", {}).get("path")
            if got != expected:
                failures.append(f"line {n}: expected an error at {expected}, got {got}")
            if OperationOutcome is not None:
                OperationOutcome.model_validate(answer)
            continue
        statuses = [i["status"] for i in record.get("items", [])]
        if statuses != expected:
            failures.append(f"line {n}: expected {expected}, got {statuses or record}")
        if GuidanceResponse is not None:
            GuidanceResponse.model_validate(answer)
    for failure in failures:
        print(failure, file=sys.stderr)
    print(f"{len(BUNDLES)} bundles checked, {len(failures)} problems", file=sys.stderr)
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--pretty", type=int, metavar="N", help="write bundle N, indented")
    args = parser.parse_args()
    if args.check:
        return check()
    write(sys.stdout, args.pretty)
    return 0


if __name__ == "__main__":
    sys.exit(main())
