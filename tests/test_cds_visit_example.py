"""The seed's visit (examples/cds/visit-gansu.json) through the CDS service, as docs/cds-hooks.md
walks it: a performer-less point-of-care glucose costs only the glucose its waiver, the
patient's authorisation code bound to this visit holds, and the summary card says what is
still to order. Under rules/demo in Chinese, with the default card set (summary + items).

The visit: glucose (a venous result from 临夏 four days old would do, but yesterday's bedside
glucose names no laboratory), HbA1c (72 days old, limit 60), creatinine and ALT (甘肃省人民医院,
three days old, 全国HR: recognised, 6.00 + 8.00 CNY).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from labrecog import Engine
from labrecog.server import INSECURE_NO_AUTH, SERVICES, SQLiteFeedbackStore, create_app
from labrecog.server._hook import decide_call, parse_hook_request
from tests.test_server_support import DEMO, INSTITUTION, SELECT, extra_server

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "cds" / "visit-gansu.json"
GENERATOR = ROOT / "examples" / "cds" / "make_visit.py"
BOUND = "https://labrecog.dev/fhir/StructureDefinition/bound-encounter"
POCT_PATH = "prefetch.labResults.entry[0].resource.performer"
AUTH_CODE = "GS-7Q4K-2M9X"
SUMMARY, ITEM, AUTH = "lab-order-summary", "lab-result-recognition", "patient-authorization"
RECEIVED = datetime(2025, 3, 2, 1, 40, tzinfo=UTC)  # unused: every draft has authoredOn
ENGINE = Engine.from_path(DEMO, lang="zh")


def visit() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    return data


def consent(request: dict[str, Any]) -> dict[str, Any]:
    resource: dict[str, Any] = request["prefetch"]["consent"]["entry"][0]["resource"]
    return resource


def other_visit() -> dict[str, Any]:
    """The same call with the patient's code bound to her previous visit, not this one."""
    request = visit()
    for ext in consent(request)["extension"]:
        if ext["url"] == BOUND:
            ext["valueReference"] = {"reference": "Encounter/E-2025-0225-031"}
    consent(request)["provision"]["period"] = {"start": "2025-02-25T10:05:00+08:00"}
    return request


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    store = SQLiteFeedbackStore(tmp_path_factory.mktemp("visit") / "feedback.sqlite3")
    app = create_app(
        ENGINE,
        feedback_store=store,
        auth=INSECURE_NO_AUTH,
        institution=INSTITUTION,
        cards="both",
    )
    try:
        with extra_server(app) as live:
            yield live
    finally:
        store.close()


def post(url: str, request: dict[str, Any]) -> httpx.Response:
    response = httpx.post(f"{url}/cds-services/{SELECT}", json=request, timeout=30)
    assert response.status_code == 200, response.text
    return response


def cards(url: str, request: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = post(url, request).json()["cards"]
    return found


def decide(request: dict[str, Any]) -> dict[str, Any]:
    """The decision the service makes on ``request``, as JSON."""
    call = parse_hook_request(request, SERVICES[SELECT])
    decision, _, _ = decide_call(call, ENGINE, received_at=RECEIVED, institution=INSTITUTION)
    out: dict[str, Any] = decision.model_dump(mode="json")
    return out


def listed(summary: str) -> list[str]:
    """The test names of "仅需检查：A、B（节省 …）"."""
    match = re.fullmatch(r"仅需检查：(.+)（节省 [0-9.]+ CNY）", summary)
    assert match, summary
    return match.group(1).split("、")


# --------------------------------------------------------------------------- the example


def test_the_example_is_what_its_generator_writes() -> None:
    spec = importlib.util.spec_from_file_location("make_visit", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert EXAMPLE.read_text(encoding="utf-8") == module.render()


def test_every_resource_of_the_request_is_valid_fhir_r4() -> None:
    r4b = pytest.importorskip("fhir.resources.R4B")
    request = visit()
    resources = [request["context"]["draftOrders"], *request["prefetch"].values()]
    assert [r["resourceType"] for r in resources] == [
        "Bundle",
        "Patient",
        "Bundle",
        "Bundle",
        "Encounter",
    ]
    for resource in resources:
        r4b.get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def test_the_example_is_shaped_as_the_story_says() -> None:
    request = visit()
    poct = request["prefetch"]["labResults"]["entry"][0]
    assert poct["search"] == {"mode": "match"}
    assert "performer" not in poct["resource"] and "encounter" not in poct["resource"]
    bound = [e for e in consent(request)["extension"] if e["url"] == BOUND]
    encounter = request["prefetch"]["encounter"]["id"]
    assert bound == [{"url": BOUND, "valueReference": {"reference": f"Encounter/{encounter}"}}]
    assert request["context"]["encounterId"] == encounter
    for entry in request["context"]["draftOrders"]["entry"]:
        assert entry["resource"]["encounter"] == {"reference": f"Encounter/{encounter}"}
    period = consent(request)["provision"]["period"]
    assert period == {"start": "2025-03-02T08:52:00+08:00"}  # the morning of the visit
    assert other_visit() != request


# --------------------------------------------------------------------------- the visit


def test_the_summary_card_lists_exactly_what_stays(url: str) -> None:
    got = cards(url, visit())
    assert [c["source"]["topic"]["code"] for c in got] == [SUMMARY, ITEM, ITEM]
    summary = got[0]
    assert listed(summary["summary"]) == ["葡萄糖", "糖化血红蛋白A1c"]
    assert summary["summary"] == "仅需检查：葡萄糖、糖化血红蛋白A1c（节省 14.00 CNY）"
    assert summary["indicator"] == "info" and "suggestions" not in summary
    to_order, recognised = summary["detail"].split("\n\n")[:2]
    glu, hba1c = to_order.splitlines()[1:]
    # Each test that stays says why: the bedside glucose that cannot be read, by its path.
    assert glu.startswith("- 葡萄糖（GLU）：结果 obs-poct-glu-0301 无法读取")
    assert r"prefetch.labResults.entry\[0\].resource.performer" in glu
    assert "no performing laboratory" not in glu  # the reader's words, in Chinese too
    assert hba1c == "- 糖化血红蛋白A1c（HBA1C）：采集于开单前 72天10分钟，超过互认时效 60天"
    assert recognised.splitlines()[1:] == ["- 肌酐（CREA）", "- 丙氨酸氨基转移酶（ALT）"]


def test_the_recognised_items_get_a_delete_and_the_others_none(url: str) -> None:
    items = [c for c in cards(url, visit()) if c["source"]["topic"]["code"] == ITEM]
    deleted = [
        action["resourceId"]
        for card in items
        for suggestion in card["suggestions"]
        for action in suggestion["actions"]
    ]
    assert deleted == ["ServiceRequest/sr-crea", "ServiceRequest/sr-alt"]
    assert all("甘肃省人民医院" in card["summary"] for card in items)


def test_the_performer_less_result_costs_only_the_glucose_its_waiver() -> None:
    decision = decide(visit())
    assert decision["to_order"] == ["GLU", "HBA1C"]
    assert decision["saving"] == "14.00"
    items = {item["code"]: item for item in decision["items"]}
    assert [item["status"] for item in items.values()] == ["retest", "retest", "waive", "waive"]
    [reason] = items["GLU"]["reasons"]
    assert reason["code"] == "unreadable_result"
    assert reason["result_id"] == "obs-poct-glu-0301"
    assert POCT_PATH in reason["message"]
    assert "obs-glu-8810" in reason["message"]  # the older venous glucose it keeps from use
    assert [r["code"] for r in items["HBA1C"]["reasons"]] == ["too_old"]
    # Without the bedside glucose, the venous one from 临夏 would be recognised.
    request = visit()
    del request["prefetch"]["labResults"]["entry"][0]
    without = {item["code"]: item for item in decide(request)["items"]}
    assert without["GLU"]["status"] == "waive"
    assert without["GLU"]["result_id"] == "obs-glu-8810"


def test_the_authorisation_bound_to_this_visit_holds(url: str) -> None:
    decision = decide(visit())
    codes = {r["code"] for item in decision["items"] for r in item["reasons"]}
    assert "no_authorization" not in codes
    response = post(url, visit())
    assert AUTH not in {c["source"]["topic"]["code"] for c in response.json()["cards"]}
    assert AUTH_CODE not in response.text  # recorded, never shown


def test_a_code_bound_to_another_visit_gives_the_notice_and_no_delete(url: str) -> None:
    response = post(url, other_visit())
    got = response.json()["cards"]
    assert [c["source"]["topic"]["code"] for c in got] == [AUTH]
    [notice] = got
    assert notice["summary"] == "请患者授权后可互认 2 项检查"
    assert notice["indicator"] == "info"
    for key in ("suggestions", "selectionBehavior", "overrideReasons"):
        assert key not in notice
    assert "- 肌酐（CREA）\n- 丙氨酸氨基转移酶（ALT）" in notice["detail"]
    assert "葡萄糖" not in notice["detail"] and "糖化血红蛋白" not in notice["detail"]
    assert "甘肃省人民医院" not in response.text and "68" not in notice["detail"]
    assert AUTH_CODE not in response.text
    decision = decide(other_visit())
    for item in decision["items"]:
        assert item["status"] == "retest"
        [reason] = item["reasons"]
        assert reason["code"] == "no_authorization"
        assert "E-2025-0225-031" in reason["message"]
        assert "E-2025-0302-017" in reason["message"]


def test_the_same_code_at_the_next_visit_does_not_carry_over(url: str) -> None:
    """The authorisation ends with its visit: an order in tomorrow's visit, with today's
    Consent still returned by the search, is held back."""
    request = copy.deepcopy(visit())
    tomorrow = "E-2025-0303-022"
    request["context"]["encounterId"] = tomorrow
    request["prefetch"]["encounter"]["id"] = tomorrow
    for entry in request["context"]["draftOrders"]["entry"]:
        entry["resource"]["encounter"] = {"reference": f"Encounter/{tomorrow}"}
        entry["resource"]["authoredOn"] = "2025-03-03T10:15:00+08:00"
    assert [c["source"]["topic"]["code"] for c in cards(url, request)] == [AUTH]
    reasons = [r for item in decide(request)["items"] for r in item["reasons"]]
    assert {r["code"] for r in reasons} == {"no_authorization"}
    assert all("E-2025-0302-017" in r["message"] and tomorrow in r["message"] for r in reasons)
