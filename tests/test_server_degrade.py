"""The CDS service degrades per result (issue 11): a result in the prefetch that cannot be
read costs only its own tests a waiver, the call still answers 200 with the other cards,
and every path it shows points into the request the client sent.

The example request (examples/cds/order-select.json): GLU waived on obs-glu-88, LFT partial
(ALT and AST recognised), HbA1c too old. The last part corrupts each resource of it (and of
a variant whose liver results come in a DiagnosticReport) one at a time.
"""

from __future__ import annotations

import copy
import dataclasses
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from labrecog.server import SERVICES, card_uuid
from labrecog.server._errors import ServiceError
from labrecog.server._hook import decide_call, parse_hook_request
from tests.test_fhir_degrade import JUNK, _item_tests, _refs, _tests_named
from tests.test_server_support import (
    INSTITUTION,
    SELECT,
    draft,
    example_request,
    lab,
    live_server,
)

ORDER_ID = "O-2025-000123"
RECEIVED = datetime(2025, 3, 2, 1, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def client() -> Any:
    with httpx.Client(base_url=live_server().url, timeout=30) as c:
        yield c


def post(client: httpx.Client, body: Any) -> httpx.Response:
    return client.post(f"/cds-services/{SELECT}", json=body)


def decide(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The decision items of a request by ServiceRequest, as the service decides them."""
    call = parse_hook_request(body, SERVICES[SELECT])
    engine = live_server().engine
    decision, fhir_case, _ = decide_call(
        call, engine, received_at=RECEIVED, institution=INSTITUTION
    )
    items = decision.model_dump(mode="json")["items"]
    return dict(zip(fhir_case.requests, items, strict=True))


def poct(rid: str = "obs-poc-1") -> dict[str, Any]:
    """Yesterday's point-of-care glucose: as POCT feeds send it, no performer at all."""
    base = copy.deepcopy(lab(example_request(), "obs-glu-88"))
    base["id"] = rid
    for key in ("performer", "contained", "specimen", "extension", "issued", "referenceRange"):
        base.pop(key)
    base["effectiveDateTime"] = "2025-03-01T10:00:00+08:00"
    base["valueQuantity"]["value"] = 5.9
    return base


def with_poct() -> dict[str, Any]:
    request = example_request()
    entries = request["prefetch"]["labResults"]["entry"]
    entries.insert(0, {"fullUrl": "https://ehr.example.org/fhir/Observation/obs-poc-1"})
    entries[0]["resource"] = poct()
    return request


def uid(sr: str) -> str:
    return card_uuid(SELECT, ORDER_ID, f"ServiceRequest/{sr}")


# --------------------------------------------------------------------------- the call


def test_a_performer_less_result_costs_only_its_test_the_waiver(client: httpx.Client) -> None:
    before = post(client, example_request())
    after = post(client, with_poct())
    assert after.status_code == 200, after.text
    cards_before = {c["uuid"]: c for c in before.json()["cards"]}
    cards_after = {c["uuid"]: c for c in after.json()["cards"]}
    assert uid("sr-glu") in cards_before and uid("sr-glu") not in cards_after
    assert cards_after[uid("sr-lft")] == cards_before[uid("sr-lft")]  # unchanged
    items = decide(with_poct())
    glu = items["ServiceRequest/sr-glu"]
    assert glu["status"] == "retest"
    [reason] = glu["reasons"]
    assert reason["code"] == "unreadable_result" and reason["result_id"] == "obs-poc-1"
    assert reason["message"].startswith(
        "result obs-poc-1 could not be read (prefetch.labResults.entry[0].resource.performer: "
        "no performing laboratory"
    )
    assert "obs-glu-88" in reason["message"]
    assert items["ServiceRequest/sr-lft"] == decide(example_request())["ServiceRequest/sr-lft"]


def test_the_used_result_without_a_performer(client: httpx.Client) -> None:
    request = example_request()
    del lab(request, "obs-glu-88")["performer"]
    response = post(client, request)
    assert response.status_code == 200
    assert uid("sr-glu") not in {c["uuid"] for c in response.json()["cards"]}
    glu = decide(request)["ServiceRequest/sr-glu"]
    assert [r["code"] for r in glu["reasons"]] == ["no_prior", "unreadable_result"]
    assert "prefetch.labResults.entry[0].resource.performer" in glu["reasons"][1]["message"]


def test_a_result_the_case_model_refuses_is_named_in_the_request(client: httpx.Client) -> None:
    request = with_poct()
    request["prefetch"]["labResults"]["entry"][0]["resource"]["performer"] = [
        {"reference": "Organization/org-lxrm"}
    ]
    request["prefetch"]["labResults"]["entry"][0]["resource"]["valueQuantity"]["value"] = "5.9"
    assert post(client, request).status_code == 200
    [reason] = decide(request)["ServiceRequest/sr-glu"]["reasons"]
    assert "(prefetch.labResults.entry[0].resource.valueQuantity.value: " in reason["message"]


def test_paths_quoted_inside_a_message_point_into_the_request_too() -> None:
    request = with_poct()
    obs = request["prefetch"]["labResults"]["entry"][0]["resource"]
    obs["performer"] = [{"reference": "Organization/org-lxrm"}]
    obs["code"]["coding"].append({"system": "http://loinc.org", "code": "4548-4"})
    glu = decide(request)["ServiceRequest/sr-glu"]
    message = glu["reasons"][0]["message"]
    assert "(prefetch.labResults.entry[0].resource.code: the LOINC codings name different " in (
        message
    )
    assert "(prefetch.labResults.entry[0].resource.code.coding[1].code)" in message
    assert "entry[3]" not in message


def test_error_paths_point_into_the_request(client: httpx.Client) -> None:
    request = example_request()
    lab(request, "obs-hba1c-12")["subject"] = {"reference": "Patient/P-999"}
    response = post(client, request)
    assert response.status_code == 422
    issue = response.json()["issue"][0]
    assert issue["expression"] == ["prefetch.labResults.entry[1].resource.subject"]
    assert (
        "prefetch.labResults.entry[1].resource.subject: prior result belongs to patient "
        in (issue["details"]["text"])
    )
    request = example_request()
    draft(request, "sr-hba1c")["code"] = {"text": "HbA1c"}
    response = post(client, request)
    assert response.status_code == 422
    assert response.json()["issue"][0]["expression"] == [
        "context.draftOrders.entry[1].resource.code"
    ]
    request = example_request()
    request["prefetch"]["patient"]["birthDate"] = "2030-01-01"
    issue = post(client, request).json()["issue"][0]
    assert issue["expression"] == ["prefetch.patient.birthDate"]


def test_a_fetched_result_says_it_was_fetched() -> None:
    # What the app does after fetching labResults the client left out (server/_app.py).
    full = with_poct()
    sent = copy.deepcopy(full)
    del sent["prefetch"]["labResults"]
    call = parse_hook_request(sent, SERVICES[SELECT])
    call = dataclasses.replace(call, prefetch=full["prefetch"])
    engine = live_server().engine
    decision, _, _ = decide_call(call, engine, received_at=RECEIVED, institution=INSTITUTION)
    glu = next(i for i in decision.items if i.code == "GLU")
    assert "(fetched:labResults.entry[0].resource.performer: " in glu.reasons[0].message


# --------------------------------------------------------------------------- the fuzz


def _with_report() -> dict[str, Any]:
    """The example with its liver results listed by a DiagnosticReport in labReports."""
    request = example_request()
    report = {
        "resourceType": "DiagnosticReport",
        "id": "dr-liver-7",
        "status": "final",
        "category": [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "LAB"}]}
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "24325-3"}]},
        "subject": {"reference": "Patient/P-001"},
        "effectiveDateTime": "2025-02-27T08:00:00+08:00",
        "performer": [{"reference": "Organization/org-gsph"}],
        "result": [
            {"reference": "Observation/obs-alt-31"},
            {"reference": "Observation/obs-ast-32"},
        ],
    }
    request["prefetch"]["labReports"] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"fullUrl": "https://ehr.example.org/fhir/DiagnosticReport/dr-liver-7"}],
    }
    request["prefetch"]["labReports"]["entry"][0]["resource"] = report
    return request


def _resources(request: dict[str, Any]) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Every resource of the request, with the path to it."""
    out: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    for i, entry in enumerate(request["context"]["draftOrders"]["entry"]):
        out.append((("context", "draftOrders", "entry", i, "resource"), entry["resource"]))
    for key, value in request["prefetch"].items():
        if value.get("resourceType") == "Bundle":
            for i, entry in enumerate(value["entry"]):
                out.append((("prefetch", key, "entry", i, "resource"), entry["resource"]))
        else:
            out.append((("prefetch", key), value))
    return out


def _set(body: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    parent: Any = body
    for step in path[:-1]:
        parent = parent[step]
    if value is None:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value


def _status(body: dict[str, Any]) -> tuple[int, dict[str, tuple[Any, ...]]]:
    try:
        items = decide(body)
    except ServiceError as exc:
        return exc.status, {}
    return 200, {
        sr: (
            i["status"],
            i.get("result_id"),
            tuple((w["code"], w["result_id"]) for w in i.get("waived") or ()),
            tuple((r["code"], r.get("result_id"), r.get("test")) for r in i["reasons"]),
        )
        for sr, i in items.items()
    }


ORDER_PARTS = frozenset({"Patient", "ServiceRequest", "Consent", "Encounter"})


@pytest.mark.parametrize("variant", ["example", "with a report"])
def test_corrupting_one_resource_keeps_the_call_and_the_other_cards(variant: str) -> None:
    request = example_request() if variant == "example" else _with_report()
    status, base = _status(request)
    assert status == 200
    engine = live_server().engine
    codes = {sr: item["code"] for sr, item in decide(request).items()}
    everything = [r for _, r in _resources(request)]
    checked = 0
    for path, res in _resources(request):
        kind = res["resourceType"]
        names = {f"{kind}/{res.get('id')}"}
        near = [res, *(r for r in everything if _refs(r) & names)]
        near += [r for r in everything if f"{r['resourceType']}/{r.get('id')}" in _refs(res)]
        concerned = _tests_named(engine, near)
        mutations: list[tuple[str, Any]] = [("removed", None)] if path[-1] == "resource" else []
        for key in res:
            if key != "resourceType":
                mutations.append((f"without {key}", {k: v for k, v in res.items() if k != key}))
                mutations += [(f"{key}={j!r}", {**res, key: copy.deepcopy(j)}) for j in JUNK]
        for label, changed in mutations:
            body = copy.deepcopy(request)
            if changed is None:  # the whole entry
                _set(body, path[:-1], None)
            else:
                _set(body, path, changed)
            where = f"{variant}: {'.'.join(map(str, path))} {label}"
            got_status, got = _status(body)
            if kind in ORDER_PARTS:
                assert got_status in (200, 412, 422), where
                continue
            assert got_status == 200, where
            checked += 1
            for sr, before in base.items():
                if _item_tests(engine, codes[sr]) & concerned:
                    continue
                assert got[sr] == before, f"{where}: {sr} changed"
    assert checked > 100
