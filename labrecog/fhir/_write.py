"""Writing a decision as FHIR R4: a GuidanceResponse, DetectedIssues, an OperationOutcome.

The GuidanceResponse is the whole answer: its ``outputParameters`` (a contained
Parameters) hold every decision item with its reasons, each item naming the
ServiceRequest it answers and the Observations used or rejected; a contained DetectedIssue
per waived or partly waived item says "this order duplicates a recent result" in the
resource FHIR has for it. ``docs/fhir.md`` maps every field.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from labrecog._errors import InputError
from labrecog.fhir._codes import (
    DECISION_SYSTEM,
    ERROR_SYSTEM,
    EXT_LINE,
    EXT_ORDER_ID,
    EXT_RULESET,
    FHIR_FLAG_SYSTEM,
    ORDER_SYSTEM,
    REASON_SYSTEM,
    RULESET_URI,
)
from labrecog.fhir._read import FhirCase
from labrecog.model import Decision, DecisionItem, Reason

__all__ = ["detected_issues", "guidance_response", "operation_outcome"]

_STATUS_TEXT = {
    "waive": "recognised: need not be repeated",
    "partial": "partly recognised: order only the listed components",
    "retest": "not recognised: perform the test",
}


def guidance_response(decision: Decision, fhir_case: FhirCase) -> dict[str, Any]:
    """The decision as an R4 GuidanceResponse (a dict, ready for JSON)."""
    issues = detected_issues(decision, fhir_case)
    contained: list[dict[str, Any]] = [_parameters(decision, fhir_case)]
    issue_ids: dict[int, str] = {}
    n = 0
    for i, item in enumerate(decision.items):
        if item.status != "retest":
            issue_ids[i] = f"issue-{i + 1}"
            contained.append({"resourceType": "DetectedIssue", "id": issue_ids[i], **issues[n]})
            n += 1
    params = contained[0]["parameter"]
    for i, issue_id in issue_ids.items():
        # Parameters lists the order's entries first, then one "item" per decision item.
        params[_FIXED + i]["part"].append(
            {"name": "issue", "valueReference": {"reference": f"#{issue_id}"}}
        )
    ruleset = decision.ruleset
    return {
        "resourceType": "GuidanceResponse",
        "contained": contained,
        "extension": [
            {
                "url": EXT_RULESET,
                "extension": [
                    {"url": "id", "valueString": ruleset.id},
                    {"url": "version", "valueString": ruleset.version},
                    {"url": "digest", "valueString": ruleset.digest},
                ],
            }
        ],
        "requestIdentifier": {"system": ORDER_SYSTEM, "value": decision.order_id},
        "moduleUri": f"{RULESET_URI}/{quote(ruleset.id, safe='')}/"
        f"{quote(ruleset.version, safe='')}",
        "status": "success",
        "subject": {"reference": fhir_case.patient},
        "occurrenceDateTime": fhir_case.case.ordered_at.isoformat(),
        "reasonCode": [_reason_code(item) for item in decision.items],
        "outputParameters": {"reference": "#decision"},
    }


def detected_issues(decision: Decision, fhir_case: FhirCase) -> list[dict[str, Any]]:
    """One DetectedIssue per item that need not (all) be repeated, in item order.

    Re-test items raise no issue: the order stands. Their reasons are in the
    GuidanceResponse's parameters.
    """
    out: list[dict[str, Any]] = []
    patient = {"reference": fhir_case.patient}
    when = fhir_case.case.ordered_at.isoformat()
    for i, item in enumerate(decision.items):
        if item.status == "retest":
            continue
        implicated = [_request(fhir_case, i)]
        used = _used(item)
        implicated += [_result(fhir_case, rid) for rid in used]
        issue: dict[str, Any] = {
            "resourceType": "DetectedIssue",
            "identifier": [{"system": ORDER_SYSTEM, "value": f"{decision.order_id}#{i + 1}"}],
            "status": "final",
            "code": {
                "coding": [
                    {
                        "system": DECISION_SYSTEM,
                        "code": item.status,
                        "display": _STATUS_TEXT[item.status],
                    }
                ],
                "text": f"{item.code}: {_STATUS_TEXT[item.status]}",
            },
            "severity": "low",
            "patient": patient,
            "identifiedDateTime": when,
            "implicated": implicated,
            "detail": _detail(item, decision.currency),
            "evidence": [{"detail": [_result(fhir_case, rid) for rid in used]}],
        }
        if item.status == "partial" and item.retest:
            issue["mitigation"] = [
                {"action": {"text": "order only " + ", ".join(item.retest)}, "date": when}
            ]
        else:
            issue["mitigation"] = [{"action": {"text": "do not repeat the test"}, "date": when}]
        out.append(issue)
    return out


def operation_outcome(
    error: InputError | Mapping[str, Any], line: int | None = None
) -> dict[str, Any]:
    """A bad input as an OperationOutcome: one issue per problem, each with its FHIR path.

    ``error`` is an :class:`InputError` (all its problems) or a batch error record
    (``{"line", "order_id", "error": {"code", "message", "path"}}``).
    """
    if isinstance(error, InputError):
        code, order_id = error.code, error.order_id
        problems = [(p.path, p.message) for p in error.problems] or [("", str(error))]
    else:
        body = error.get("error") or {}
        code = str(body.get("code") or "invalid_input")
        order_id = error.get("order_id")
        problems = [(str(body.get("path") or ""), str(body.get("message") or ""))]
        if line is None and isinstance(error.get("line"), int):
            line = error["line"]
    issues = []
    for path, message in problems:
        issue: dict[str, Any] = {
            "severity": "error",
            "code": "exception" if code == "internal_error" else "invalid",
            "details": {"coding": [{"system": ERROR_SYSTEM, "code": code}], "text": message},
            "diagnostics": f"line {line}: {message}" if line is not None else message,
        }
        if path:
            issue["expression"] = [f"Bundle.{path}"]
        issues.append(issue)
    out: dict[str, Any] = {"resourceType": "OperationOutcome"}
    extensions: list[dict[str, Any]] = []
    if line is not None:
        extensions.append({"url": EXT_LINE, "valueInteger": line})
    if isinstance(order_id, str):
        extensions.append({"url": EXT_ORDER_ID, "valueString": order_id})
    if extensions:
        out["extension"] = extensions
    out["issue"] = issues
    return out


# -- the Parameters ------------------------------------------------------------------------

_FIXED = 4  # order_id, ruleset, saving, patient: then the items


def _parameters(decision: Decision, fhir_case: FhirCase) -> dict[str, Any]:
    r = decision.ruleset
    params: list[dict[str, Any]] = [
        {"name": "order_id", "valueString": decision.order_id},
        {
            "name": "ruleset",
            "part": [
                {"name": "id", "valueString": r.id},
                {"name": "version", "valueString": r.version},
                {"name": "digest", "valueString": r.digest},
            ],
        },
        {"name": "saving", "valueMoney": _money(decision.saving, decision.currency)},
        {"name": "patient", "valueReference": {"reference": fhir_case.patient}},
    ]
    for i, item in enumerate(decision.items):
        params.append({"name": "item", "part": _item(item, i, decision.currency, fhir_case)})
    # Last, after the items (whose places _FIXED counts on): what is still to be tested.
    params.extend({"name": "to_order", "valueString": code} for code in decision.to_order)
    return {"resourceType": "Parameters", "id": "decision", "parameter": params}


def _item(item: DecisionItem, i: int, currency: str, fc: FhirCase) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [
        {"name": "request", "valueReference": _request(fc, i)},
        {"name": "code", "valueString": item.code},
        {"name": "status", "valueCoding": _status(item.status)},
        {"name": "saving", "valueMoney": _money(item.saving, currency)},
    ]
    if item.result_id is not None:
        parts.append({"name": "result", "valueReference": _result(fc, item.result_id)})
    if item.institution is not None:
        parts.append({"name": "institution", "valueString": item.institution})
    if item.max_age is not None:
        parts.append({"name": "max_age", "valueString": item.max_age})
    if item.source is not None:
        parts.append({"name": "source", "valueString": item.source})
    for w in item.waived or ():
        waived = [
            {"name": "code", "valueString": w.code},
            {"name": "result", "valueReference": _result(fc, w.result_id)},
        ]
        if w.institution is not None:
            waived.append({"name": "institution", "valueString": w.institution})
        parts.append({"name": "waived", "part": waived})
    for code in item.retest or ():
        parts.append({"name": "retest", "valueString": code})
    for reason in item.reasons:
        parts.append({"name": "reason", "part": _reason(reason, fc)})
    return parts


def _reason(reason: Reason, fc: FhirCase) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [
        {"name": "code", "valueCoding": {"system": REASON_SYSTEM, "code": reason.code}},
        {"name": "message", "valueString": reason.message},
    ]
    if reason.result_id is not None:
        parts.append({"name": "result", "valueReference": _result(fc, reason.result_id)})
    if reason.test is not None:
        parts.append({"name": "test", "valueString": reason.test})
    if reason.flag is not None:
        parts.append(
            {"name": "flag", "valueCoding": {"system": FHIR_FLAG_SYSTEM, "code": reason.flag}}
        )
    if reason.source is not None:
        parts.append({"name": "source", "valueString": reason.source})
    return parts


def _reason_code(item: DecisionItem) -> dict[str, Any]:
    codes = sorted({r.code for r in item.reasons})
    out: dict[str, Any] = {"text": f"{item.code}: {item.status}"}
    if codes:
        out["coding"] = [{"system": REASON_SYSTEM, "code": code} for code in codes]
    return out


def _status(status: str) -> dict[str, Any]:
    return {"system": DECISION_SYSTEM, "code": status, "display": _STATUS_TEXT[status]}


def _request(fc: FhirCase, i: int) -> dict[str, Any]:
    return {"reference": fc.requests[i]} if i < len(fc.requests) else {"display": "(unknown)"}


def _result(fc: FhirCase, result_id: str) -> dict[str, Any]:
    ref = fc.observations.get(result_id)
    return {"reference": ref} if ref is not None else {"display": result_id}


def _used(item: DecisionItem) -> list[str]:
    if item.result_id is not None:
        return [item.result_id]
    return [w.result_id for w in item.waived or ()]


def _money(amount: str, currency: str) -> dict[str, Any]:
    return {"value": float(Decimal(amount)), "currency": currency}


def _detail(item: DecisionItem, currency: str) -> str:
    if item.result_id is not None:
        used = f"result {item.result_id}"
        if item.institution:
            used += f" from {item.institution}"
        if item.max_age:
            used += f", within {item.max_age}"
    else:
        used = "results " + ", ".join(
            f"{w.code} {w.result_id}" + (f" from {w.institution}" if w.institution else "")
            for w in item.waived or ()
        )
    text = f"{item.code}: {_STATUS_TEXT[item.status]}; {used}; saving {item.saving} {currency}"
    if item.retest:
        text += f"; order {', '.join(item.retest)}"
    return text
