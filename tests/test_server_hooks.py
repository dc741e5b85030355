"""The CDS Hooks service over real HTTP: discovery, service calls, refusals, CORS, logs."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from labrecog.fhir import FHIR_FLAG_SYSTEM
from labrecog.server import SUMMARY_LIMIT, card_uuid
from tests.test_server_support import (
    MAX_BODY,
    PATIENT_VALUES,
    SELECT,
    SIGN,
    as_order_sign,
    draft,
    example_request,
    lab,
    leaks,
    live_server,
)

ORDER_ID = "O-2025-000123"


@pytest.fixture(scope="module")
def client() -> Any:
    server = live_server()
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def post(client: httpx.Client, service: str, body: Any) -> httpx.Response:
    return client.post(f"/cds-services/{service}", json=body)


def by_request(cards: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Cards keyed by the ServiceRequest they are about (uuid is per order and item)."""
    out = {}
    for sr in ("sr-glu", "sr-hba1c", "sr-lft"):
        uid = card_uuid(SELECT, ORDER_ID, f"ServiceRequest/{sr}")
        for card in cards:
            if card["uuid"] == uid:
                out[sr] = card
    return out


def assert_outcome(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "Traceback" not in response.text and 'File "' not in response.text
    body: dict[str, Any] = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"] and body["issue"][0]["severity"] == "error"
    return body


# --------------------------------------------------------------------------- discovery


def test_discovery_lists_order_select_and_order_sign(client: httpx.Client) -> None:
    response = client.get("/cds-services")
    assert response.status_code == 200
    services = {s["id"]: s for s in response.json()["services"]}
    assert set(services) == {SELECT, SIGN}
    assert services[SELECT]["hook"] == "order-select"
    assert services[SIGN]["hook"] == "order-sign"
    for service in services.values():
        assert service["description"] and service["title"]
        prefetch = service["prefetch"]
        assert prefetch["patient"] == "Patient/{{context.patientId}}"
        assert prefetch["labResults"].startswith("Observation?patient={{context.patientId}}")
        assert "category=laboratory" in prefetch["labResults"]
        # rules/demo requires the patient's authorisation, so consent is asked for
        assert prefetch["consent"].startswith("Consent?patient={{context.patientId}}")
        assert "encounter" in prefetch and "labReports" in prefetch


def test_health_and_openapi(client: httpx.Client) -> None:
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["ruleset"]["id"] == "demo"
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    assert f"/cds-services/{SELECT}" in doc["paths"]
    assert f"/cds-services/{SIGN}/feedback" in doc["paths"]


# --------------------------------------------------------------------------- cards


def test_order_select_waives_glucose_with_a_delete_suggestion(client: httpx.Client) -> None:
    server = live_server()
    response = post(client, SELECT, example_request())
    assert response.status_code == 200, response.text
    cards = response.json()["cards"]
    found = by_request(cards)
    # GLU waived (card with suggestion), LFT partial (card, no suggestion), HbA1c too old
    assert set(found) == {"sr-glu", "sr-lft"} and len(cards) == 2
    glu = found["sr-glu"]
    assert len(glu["summary"]) < SUMMARY_LIMIT
    assert "Glucose" in glu["summary"]
    detail = glu["detail"]
    for text in ("6.4 mmol/L", "2025-02-26 08:10", "临夏市人民医院", "LXRM", "本省HR"):
        assert text in detail, text
    assert "Observation/obs-glu-88" in detail
    # 6.4 is above the printed 3.9-6.1: waived (abnormal_prior: allow) but flagged
    assert glu["indicator"] == "warning"
    assert glu["source"]["label"] == "labrecog demo 2025.1"
    assert glu["selectionBehavior"] == "any"
    [suggestion] = glu["suggestions"]
    [action] = suggestion["actions"]
    assert action == {
        "type": "delete",
        "description": action["description"],
        "resourceId": "ServiceRequest/sr-glu",
    }
    assert "Observation/obs-glu-88" in action["description"]
    rules = server.engine.rules
    assert glu["overrideReasons"] == [
        {"system": FHIR_FLAG_SYSTEM, "code": flag, "display": exc.name_en}
        for flag, exc in rules.exceptions.items()
    ]


def test_partial_panel_card_explains_without_suggesting(client: httpx.Client) -> None:
    cards = post(client, SELECT, example_request()).json()["cards"]
    lft = by_request(cards)["sr-lft"]
    assert "suggestions" not in lft and "selectionBehavior" not in lft
    assert lft["indicator"] == "info"
    assert len(lft["summary"]) < SUMMARY_LIMIT
    assert "Total bilirubin" in lft["summary"] and "Albumin" in lft["summary"]
    for text in ("32 U/L", "24 U/L", "甘肃省人民医院", "2025-02-27 08:00", "To order"):
        assert text in lft["detail"], text
    assert lft["overrideReasons"]


def test_order_sign_answers_the_same_decision(client: httpx.Client) -> None:
    select = post(client, SELECT, example_request()).json()["cards"]
    response = post(client, SIGN, as_order_sign(example_request()))
    assert response.status_code == 200, response.text
    sign = response.json()["cards"]
    assert [c["summary"] for c in sign] == [c["summary"] for c in select]
    actions = [
        a["resourceId"] for c in sign for s in c.get("suggestions", []) for a in s["actions"]
    ]
    assert actions == ["ServiceRequest/sr-glu"]
    assert {c["uuid"] for c in sign}.isdisjoint({c["uuid"] for c in select})


def test_answers_are_deterministic(client: httpx.Client) -> None:
    first = post(client, SELECT, example_request())
    second = post(client, SELECT, example_request())
    assert first.content == second.content


def test_an_exception_flag_on_the_order_turns_the_waiver_into_a_retest(
    client: httpx.Client,
) -> None:
    request = example_request()
    draft(request, "sr-glu")["reasonCode"] = [
        {"coding": [{"system": FHIR_FLAG_SYSTEM, "code": "condition_changed"}]}
    ]
    cards = post(client, SELECT, request).json()["cards"]
    assert set(by_request(cards)) == {"sr-lft"}


def test_no_draft_service_request_means_no_cards_and_no_prefetch_needed(
    client: httpx.Client,
) -> None:
    request = example_request()
    request["context"]["draftOrders"]["entry"] = [
        {
            "resource": {
                "resourceType": "MedicationRequest",
                "id": "rx-1",
                "status": "draft",
                "intent": "order",
            }
        }
    ]
    del request["prefetch"]
    response = post(client, SELECT, request)
    assert response.status_code == 200
    assert response.json() == {"cards": []}


def test_a_service_request_in_prefetch_is_never_an_order_to_delete(
    client: httpx.Client,
) -> None:
    request = example_request()
    earlier = json.loads(json.dumps(draft(request, "sr-glu")))
    earlier["id"] = "sr-earlier"
    request["prefetch"]["labResults"]["entry"].append(
        {"fullUrl": "ServiceRequest/sr-earlier", "resource": earlier}
    )
    response = post(client, SELECT, request)
    assert response.status_code == 200, response.text
    actions = [
        a["resourceId"]
        for c in response.json()["cards"]
        for s in c.get("suggestions", [])
        for a in s["actions"]
    ]
    assert actions == ["ServiceRequest/sr-glu"]


def test_null_prefetch_means_no_data(client: httpx.Client) -> None:
    request = example_request()
    request["prefetch"]["labResults"] = None
    assert post(client, SELECT, request).json() == {"cards": []}
    request = example_request()
    request["prefetch"]["consent"] = None  # no consent: rules/demo waives nothing
    cards = post(client, SELECT, request).json()["cards"]
    # no item card, only the notice that the patient's authorisation is missing
    assert [c["source"]["topic"]["code"] for c in cards] == ["patient-authorization"]
    assert "suggestions" not in cards[0]


def test_paginated_results_are_used_as_given(client: httpx.Client) -> None:
    request = example_request()
    request["prefetch"]["labResults"]["link"].append(
        {"relation": "next", "url": "https://ehr.example.org/fhir/Observation?page=2"}
    )
    hook_instance = "7a1f0c2e-0000-4000-8000-00000000d0d0"
    request["hookInstance"] = hook_instance
    response = post(client, SELECT, request)
    assert response.status_code == 200
    assert len(response.json()["cards"]) == 2
    lines = [r for r in live_server().log_records() if r.get("hook_instance") == hook_instance]
    assert lines and lines[-1]["prefetch_paginated"] is True


# --------------------------------------------------------------------------- refusals


def test_missing_prefetch_is_412_with_an_operation_outcome(client: httpx.Client) -> None:
    request = example_request()
    del request["prefetch"]["labResults"]
    body = assert_outcome(post(client, SELECT, request), 412)
    assert body["issue"][0]["expression"] == ["prefetch.labResults"]
    request = example_request()
    del request["prefetch"]
    body = assert_outcome(post(client, SELECT, request), 412)
    assert body["issue"][0]["expression"] == [
        "prefetch.patient",
        "prefetch.labResults",
        "prefetch.consent",
    ]


def test_prefetch_the_client_failed_to_fetch_is_412(client: httpx.Client) -> None:
    failed = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout"}],
    }
    request = example_request()
    request["prefetch"]["labResults"] = failed
    assert_outcome(post(client, SELECT, request), 412)
    request = example_request()
    request["prefetch"]["labResults"]["entry"].append(
        {"resource": failed, "search": {"mode": "outcome"}}
    )
    assert_outcome(post(client, SELECT, request), 412)
    request = example_request()
    request["prefetch"]["patient"] = None
    assert_outcome(post(client, SELECT, request), 412)


def test_malformed_json_is_400_without_a_traceback(client: httpx.Client) -> None:
    response = client.post(
        f"/cds-services/{SELECT}",
        content=b'{"hook": "order-select", "context": {',
        headers={"content-type": "application/json"},
    )
    assert_outcome(response, 400)


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda r: r.pop("hookInstance"), "hookInstance"),
        (lambda r: r.__setitem__("hook", "order-sign"), "hook"),
        (lambda r: r["context"].pop("selections"), "context.selections"),
        (lambda r: r["context"].__setitem__("draftOrders", []), "context.draftOrders"),
        (lambda r: r.__setitem__("fhirServer", None), "fhirServer"),
        (lambda r: r["prefetch"].__setitem__("labResults", [1]), "prefetch.labResults"),
        (
            lambda r: r["context"]["draftOrders"]["entry"].append(
                r["context"]["draftOrders"]["entry"][0]
            ),
            "context.draftOrders.entry[3].resource.id",
        ),
    ],
)
def test_malformed_requests_are_400(client: httpx.Client, change: Any, path: str) -> None:
    request = example_request()
    change(request)
    body = assert_outcome(post(client, SELECT, request), 400)
    assert body["issue"][0]["expression"] == [path]


def test_fhir_data_that_cannot_be_read_is_422(client: httpx.Client) -> None:
    request = example_request()
    lab(request, "obs-glu-88")["subject"] = {"reference": "Patient/P-999"}
    body = assert_outcome(post(client, SELECT, request), 422)
    assert any("subject" in e for e in body["issue"][0]["expression"])
    request = example_request()
    request["prefetch"]["patient"]["id"] = "P-002"
    assert_outcome(post(client, SELECT, request), 422)


def test_oversized_body_is_413(client: httpx.Client) -> None:
    request = example_request()
    request["context"]["padding"] = "x" * (MAX_BODY + 10)
    assert_outcome(post(client, SELECT, request), 413)

    def chunks() -> Any:  # no Content-Length: the limit holds while streaming
        for _ in range(40):
            yield b" " * 10_000

    response = client.post(
        f"/cds-services/{SELECT}", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_outcome(response, 413)


def test_unknown_service_wrong_method_and_media_type(client: httpx.Client) -> None:
    assert_outcome(post(client, "no-such-service", example_request()), 404)
    assert_outcome(client.get(f"/cds-services/{SELECT}"), 405)
    assert_outcome(client.get("/nowhere"), 404)
    response = client.post(
        f"/cds-services/{SELECT}",
        content=json.dumps(example_request()),
        headers={"content-type": "text/plain"},
    )
    assert_outcome(response, 415)


# --------------------------------------------------------------------------- CORS


def test_cors_preflight_and_headers(client: httpx.Client) -> None:
    origin = "https://sandbox.cds-hooks.org"
    preflight = client.options(
        f"/cds-services/{SELECT}",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, authorization",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    for response in (
        client.get("/cds-services", headers={"Origin": origin}),
        client.post(f"/cds-services/{SELECT}", json={}, headers={"Origin": origin}),
    ):
        assert response.headers["access-control-allow-origin"] == "*"


# --------------------------------------------------------------------------- logs


def test_log_lines_name_the_order_and_never_patient_values(client: httpx.Client) -> None:
    server = live_server()
    request = example_request()
    hook_instance = "5b0c1d9e-1111-4222-8333-944455556666"
    request["hookInstance"] = hook_instance
    assert post(client, SELECT, request).status_code == 200
    bad = example_request()
    bad["hookInstance"] = hook_instance
    lab(bad, "obs-glu-88")["subject"] = {"reference": "Patient/P-999"}
    assert post(client, SELECT, bad).status_code == 422
    records = server.log_records()
    mine = [r for r in records if r.get("hook_instance") == hook_instance]
    assert len(mine) == 2
    ok, refused = mine
    assert ok["event"] == "request" and ok["status"] == 200
    assert ok["order_id"] == ORDER_ID and ok["service"] == SELECT
    assert (ok["waive"], ok["partial"], ok["retest"], ok["cards"]) == (1, 1, 1, 2)
    assert isinstance(ok["latency_ms"], float)
    assert refused["status"] == 422 and refused["error"] == "invalid_input"
    assert leaks(records, (*PATIENT_VALUES, "P-999")) == []
