"""Feedback over real HTTP: stored in SQLite, joined to the order through the issued card."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

import httpx
import pytest

from labrecog import Engine
from labrecog.fhir import FHIR_FLAG_SYSTEM
from labrecog.server import INSECURE_NO_AUTH, Caller, FeedbackItem, IssuedCard, create_app
from tests.test_server_support import (
    DEMO,
    INSTITUTION,
    PATIENT_VALUES,
    SELECT,
    SIGN,
    example_request,
    extra_server,
    leaks,
    live_server,
)


@pytest.fixture(scope="module")
def client() -> Any:
    server = live_server()
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def rows(sql: str, *args: Any) -> list[sqlite3.Row]:
    db = sqlite3.connect(live_server().db_path)
    db.row_factory = sqlite3.Row
    try:
        return list(db.execute(sql, args))
    finally:
        db.close()


def cards_for(client: httpx.Client, hook_instance: str) -> dict[str, dict[str, Any]]:
    request = example_request()
    request["hookInstance"] = hook_instance
    response = client.post(f"/cds-services/{SELECT}", json=request)
    assert response.status_code == 200
    return {"GLU" if "suggestions" in card else "LFT": card for card in response.json()["cards"]}


def test_feedback_is_stored_and_joined_to_the_order(client: httpx.Client) -> None:
    cards = cards_for(client, "0f0f0f0f-aaaa-4bbb-8ccc-000000000001")
    glu, lft = cards["GLU"], cards["LFT"]
    reason = lft["overrideReasons"][1]
    feedback = {
        "feedback": [
            {
                "card": glu["uuid"],
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": glu["suggestions"][0]["uuid"]}],
                "outcomeTimestamp": "2025-03-02T01:31:05Z",
            },
            {
                "card": lft["uuid"],
                "outcome": "overridden",
                "overrideReason": {
                    "reason": reason,
                    "userComment": "jaundice since yesterday",
                },
                "outcomeTimestamp": "2025-03-02T09:31:40+08:00",
            },
        ]
    }
    response = client.post(f"/cds-services/{SELECT}/feedback", json=feedback)
    assert response.status_code == 200, response.text
    assert response.json() == {"stored": 2}
    accepted, overridden = rows(
        "SELECT * FROM cds_feedback WHERE card_uuid IN (?, ?) ORDER BY id",
        glu["uuid"],
        lft["uuid"],
    )[-2:]
    assert accepted["service_id"] == SELECT
    assert accepted["order_id"] == "O-2025-000123" and accepted["item_code"] == "GLU"
    assert accepted["outcome"] == "accepted"
    assert json.loads(accepted["accepted_suggestions"]) == [glu["suggestions"][0]["uuid"]]
    assert accepted["outcome_timestamp"] == "2025-03-02T01:31:05+00:00"
    assert overridden["order_id"] == "O-2025-000123" and overridden["item_code"] == "LFT"
    assert overridden["outcome"] == "overridden"
    assert (overridden["override_system"], overridden["override_code"]) == (
        FHIR_FLAG_SYSTEM,
        "condition_changed",
    )
    assert overridden["override_display"] == "condition has changed"
    assert overridden["user_comment"] == "jaundice since yesterday"
    assert overridden["outcome_timestamp"] == "2025-03-02T01:31:40+00:00"


def test_issued_cards_are_recorded_without_patient_values(client: httpx.Client) -> None:
    cards = cards_for(client, "0f0f0f0f-aaaa-4bbb-8ccc-000000000002")
    [glu] = rows("SELECT * FROM cds_card WHERE card_uuid = ?", cards["GLU"]["uuid"])
    assert glu["order_id"] == "O-2025-000123"
    assert glu["status"] == "waive" and glu["item_code"] == "GLU"
    assert glu["service_request"] == "ServiceRequest/sr-glu"
    assert json.loads(glu["observations"]) == ["Observation/obs-glu-88"]
    assert glu["suggestion_uuid"] == cards["GLU"]["suggestions"][0]["uuid"]
    assert glu["ruleset"] == "demo 2025.1" and glu["ruleset_digest"].startswith("sha256:")
    [lft] = rows("SELECT * FROM cds_card WHERE card_uuid = ?", cards["LFT"]["uuid"])
    assert lft["status"] == "partial" and lft["suggestion_uuid"] is None
    # issued_at is a clock reading (it may well contain "6.4"), not patient data.
    issued = [
        {k: v for k, v in dict(r).items() if k != "issued_at"}
        for r in rows("SELECT * FROM cds_card")
    ]
    dump = json.dumps(issued, ensure_ascii=False)
    for value in PATIENT_VALUES:
        assert value not in dump


def test_feedback_on_an_unknown_card_is_kept_unjoined(client: httpx.Client) -> None:
    card = "11111111-2222-4333-8444-555555555555"
    feedback = {
        "feedback": [
            {"card": card, "outcome": "overridden", "outcomeTimestamp": "2025-03-02T01:00:00Z"}
        ]
    }
    response = client.post(f"/cds-services/{SIGN}/feedback", json=feedback)
    assert response.status_code == 200
    [row] = rows("SELECT * FROM cds_feedback WHERE card_uuid = ?", card)
    assert row["order_id"] is None and row["service_id"] == SIGN


@pytest.mark.parametrize(
    ("item", "path"),
    [
        ({"outcome": "accepted"}, "feedback[0].acceptedSuggestions"),
        ({"outcome": "rejected"}, "feedback[0].outcome"),
        ({"outcomeTimestamp": "2025-03-02"}, "feedback[0].outcomeTimestamp"),
        ({"outcomeTimestamp": "yesterday"}, "feedback[0].outcomeTimestamp"),
        ({"overrideReason": None}, "feedback[0].overrideReason"),
        ({"overrideReason": {"reason": {"system": "x"}}}, "feedback[0].overrideReason.reason.code"),
        ({"card": ""}, "feedback[0].card"),
    ],
)
def test_invalid_feedback_is_400(client: httpx.Client, item: dict[str, Any], path: str) -> None:
    entry = {"card": "c-1", "outcome": "overridden", "outcomeTimestamp": "2025-03-02T01:00:00Z"}
    entry.update(item)
    response = client.post(f"/cds-services/{SELECT}/feedback", json={"feedback": [entry]})
    assert response.status_code == 400, response.text
    assert response.json()["issue"][0]["expression"] == [path]


def test_empty_or_misdirected_feedback(client: httpx.Client) -> None:
    assert client.post(f"/cds-services/{SELECT}/feedback", json={"feedback": []}).status_code == 400
    assert client.post(f"/cds-services/{SELECT}/feedback", json=[]).status_code == 400
    response = client.post("/cds-services/nope/feedback", json={"feedback": []})
    assert response.status_code == 404


class _BrokenStore:
    """A store that fails with a message quoting patient data: it must reach no one."""

    def record_cards(self, cards: Sequence[IssuedCard], caller: Caller | None = None) -> None:
        raise RuntimeError("disk full while writing 6.4 mmol/L for 1961-05-14")

    def record_feedback(
        self, service_id: str, items: Sequence[FeedbackItem], caller: Caller | None = None
    ) -> int:
        raise RuntimeError("disk full while writing 6.4 mmol/L for 1961-05-14")

    def close(self) -> None:
        pass


def test_internal_errors_are_500_without_stack_trace_or_values() -> None:
    app = create_app(
        Engine.from_path(DEMO),
        feedback_store=_BrokenStore(),
        auth=INSECURE_NO_AUTH,
        institution=INSTITUTION,
        cards="items",
    )
    feedback = {
        "feedback": [
            {"card": "c-1", "outcome": "overridden", "outcomeTimestamp": "2025-03-02T01:00:00Z"}
        ]
    }
    logs = live_server().logs  # the handler sits on the "labrecog.server" logger
    before = len(logs.snapshot())
    with extra_server(app) as url:
        response = httpx.post(f"{url}/cds-services/{SELECT}/feedback", json=feedback)
        assert response.status_code == 500
        body = response.json()
        assert body["resourceType"] == "OperationOutcome"
        assert "Traceback" not in response.text and "6.4" not in response.text
        # A store that cannot record cards does not withhold them: they are the answer.
        cards = httpx.post(f"{url}/cds-services/{SELECT}", json=example_request(), timeout=30)
        assert cards.status_code == 200 and len(cards.json()["cards"]) == 2
    records = [json.loads(line) for line in logs.snapshot()[before:]]
    errors = [r for r in records if r["event"] in ("internal_error", "card_store_failed")]
    assert {r["event"] for r in errors} == {"internal_error", "card_store_failed"}
    assert all(r["exception"] == "RuntimeError" and r["frames"] for r in errors)
    assert leaks(records, (*PATIENT_VALUES, "disk full")) == []
