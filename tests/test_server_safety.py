"""Issue 17 over the CDS Hooks service: a newer critical result means no delete
suggestion, and a request body with a duplicate key is refused naming the key."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import orjson
import pytest

from tests.test_server_support import SELECT, example_request, lab, live_server


@pytest.fixture(scope="module")
def client() -> Any:
    with httpx.Client(base_url=live_server().url, timeout=30) as c:
        yield c


def glu_cards(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    return [c for c in response.json()["cards"] if "Glucose" in c["summary"]]


def test_a_newer_critical_glucose_means_no_delete_suggestion(client: httpx.Client) -> None:
    """Before issue 17 the 4-day-old 6.4 mmol/L was recognised past a critical 27 mmol/L
    from another lab a day before the order, and the card suggested deleting the order."""
    request = example_request()
    before = glu_cards(client.post(f"/cds-services/{SELECT}", json=request))
    assert [len(c.get("suggestions", [])) for c in before] == [1]

    newer = copy.deepcopy(lab(request, "obs-glu-88"))
    newer["id"] = "obs-glu-99"
    newer["effectiveDateTime"] = "2025-03-01T08:10:00+08:00"
    newer["issued"] = "2025-03-01T09:10:00+08:00"
    newer["valueQuantity"]["value"] = 27.0
    newer["extension"] = []  # no recognition mark: unusable itself, but still evidence
    request["prefetch"]["labResults"]["entry"].append(
        {"fullUrl": "https://ehr.example.org/fhir/Observation/obs-glu-99", "resource": newer}
    )
    after = glu_cards(client.post(f"/cds-services/{SELECT}", json=request))
    assert all("suggestions" not in c for c in after)
    for card in after:
        assert "ServiceRequest/sr-glu" not in orjson.dumps(card.get("suggestions", [])).decode()


def test_a_duplicate_key_in_the_request_is_refused_naming_it(client: httpx.Client) -> None:
    body = orjson.dumps(example_request()).decode()
    assert body.count('"hookInstance":') == 1
    body = body.replace('"hookInstance":', '"hookInstance":"x","hookInstance":', 1)
    response = client.post(
        f"/cds-services/{SELECT}", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    issue = response.json()["issue"][0]
    assert "duplicate key 'hookInstance'" in issue["details"]["text"]
    assert issue["expression"] == ["hookInstance"]


def test_a_newer_unmapped_lab_result_makes_the_waiver_card_a_warning_naming_it(
    client: httpx.Client,
) -> None:
    """A local-only code the rule set cannot map might be glucose under another name: the
    waiver stands, but the card says so first and is a warning."""
    request = example_request()
    newer = copy.deepcopy(lab(request, "obs-glu-88"))
    newer["id"] = "obs-local-1"
    newer["code"] = {"coding": [{"system": "urn:oid:1.2.156.1", "code": "XT-GLU-POCT"}]}
    newer["effectiveDateTime"] = "2025-03-01T08:10:00+08:00"
    newer["issued"] = "2025-03-01T09:10:00+08:00"
    request["prefetch"]["labResults"]["entry"].append(
        {"fullUrl": "https://ehr.example.org/fhir/Observation/obs-local-1", "resource": newer}
    )
    [card] = glu_cards(client.post(f"/cds-services/{SELECT}", json=request))
    assert card["indicator"] == "warning"
    assert "XT-GLU-POCT" in card["detail"]
    assert len(card["suggestions"]) == 1  # still recognised: nothing says it is glucose
