"""Card text: the engine's language, the 140-character summary, inert Markdown."""

from __future__ import annotations

import copy
import re
from typing import Any

import httpx

from labrecog import Engine
from labrecog.server import INSECURE_NO_AUTH, SUMMARY_LIMIT, SQLiteFeedbackStore, create_app
from labrecog.server._cards import fit_summary, md
from tests.test_server_support import (
    DEMO,
    INSTITUTION,
    SELECT,
    example_request,
    extra_server,
    live_server,
)


def _org(request: dict[str, Any], org_id: str) -> dict[str, Any]:
    for entry in request["prefetch"]["labResults"]["entry"]:
        if entry["resource"]["id"] == org_id:
            resource: dict[str, Any] = entry["resource"]
            return resource
    raise KeyError(org_id)


def test_cards_speak_the_engines_language(tmp_path: Any) -> None:
    store = SQLiteFeedbackStore(tmp_path / "zh.sqlite3")
    app = create_app(
        Engine.from_path(DEMO, lang="zh"),
        feedback_store=store,
        auth=INSECURE_NO_AUTH,
        institution=INSTITUTION,
        cards="items",
    )
    with extra_server(app) as url:
        response = httpx.post(f"{url}/cds-services/{SELECT}", json=example_request(), timeout=30)
        services = httpx.get(f"{url}/cds-services").json()["services"]
    store.close()
    glu, lft = response.json()["cards"]
    assert glu["summary"] == "葡萄糖：可互认临夏市人民医院 2025-02-26的结果，无需重复检查"
    assert "采集时间" in glu["detail"] and "6.4 mmol/L" in glu["detail"]
    assert glu["overrideReasons"][1]["display"] == "病情变化"
    assert glu["suggestions"][0]["label"] == "撤销葡萄糖草稿医嘱"
    assert lft["summary"].startswith("肝功能：2/4项可互认")
    assert all(len(c["summary"]) < SUMMARY_LIMIT for c in (glu, lft))
    assert services[0]["title"] == "检查检验结果互认（选择医嘱时）"


def test_long_names_are_shortened_below_140_characters() -> None:
    request = example_request()
    _org(request, "org-lxrm")["name"] = "甘肃省临夏回族自治州临夏市人民医院检验科" * 12
    response = httpx.post(f"{live_server().url}/cds-services/{SELECT}", json=request, timeout=30)
    glu = response.json()["cards"][0]
    assert len(glu["summary"]) < SUMMARY_LIMIT
    assert glu["summary"].startswith("Glucose: no need to re-test — recognised result of 2025")
    assert "…" in glu["summary"]
    # the detail keeps the whole name
    assert "甘肃省临夏回族自治州临夏市人民医院检验科" * 12 in glu["detail"]


def test_text_from_the_request_cannot_inject_markdown_or_html() -> None:
    request = example_request()
    _org(request, "org-lxrm")["name"] = "Lab [click](https://evil.example) <img src=x> **x**"
    response = httpx.post(f"{live_server().url}/cds-services/{SELECT}", json=request, timeout=30)
    detail = response.json()["cards"][0]["detail"]
    # every bracket and angle bracket escaped: shown as text, never a link or a tag
    assert re.search(r"(?<!\\)(\]\(|<)", detail) is None
    assert r"Lab \[click\](https://evil.example) \<img src=x\> \*\*x\*\*" in detail


def test_fit_summary_and_md_helpers() -> None:
    text = fit_summary("{a} and {b}", {"a": "x" * 100, "b": "y" * 100}, ("a", "b"))
    assert len(text) == SUMMARY_LIMIT - 1 and text.count("…") >= 1
    assert fit_summary("{a}", {"a": "short"}, ("a",)) == "short"
    assert md("a\nb  c|d") == r"a b c\|d"


def test_a_panel_recognised_whole_gets_a_delete_suggestion() -> None:
    request = example_request()
    entries = request["prefetch"]["labResults"]["entry"]
    alt = next(e for e in entries if e["resource"]["id"] == "obs-alt-31")
    for obs_id, loinc, value, unit, low, high in (
        ("obs-tbil-33", "1975-2", 12.0, "umol/L", None, 26.0),
        ("obs-alb-34", "1751-7", 45.0, "g/L", 40.0, 55.0),
    ):
        entry = copy.deepcopy(alt)
        resource = entry["resource"]
        resource["id"] = obs_id
        entry["fullUrl"] = entry["fullUrl"].replace("obs-alt-31", obs_id)
        resource["code"]["coding"] = [{"system": "http://loinc.org", "code": loinc}]
        resource["valueQuantity"] = {"value": value, "unit": unit}
        bounds: dict[str, Any] = {}
        if low is not None:
            bounds["low"] = {"value": low, "unit": unit}
        bounds["high"] = {"value": high, "unit": unit}
        resource["referenceRange"] = [bounds]
        entries.insert(0, entry)
    response = httpx.post(f"{live_server().url}/cds-services/{SELECT}", json=request, timeout=30)
    assert response.status_code == 200, response.text
    _glu, lft = response.json()["cards"]
    assert lft["summary"] == (
        "Liver function panel: no need to re-test — recognised result of 2025-02-27 "
        "from 甘肃省人民医院"
    )
    [action] = lft["suggestions"][0]["actions"]
    assert action["resourceId"] == "ServiceRequest/sr-lft"
    for text in ("obs-alt-31", "obs-ast-32", "obs-tbil-33", "obs-alb-34", "12 umol/L"):
        assert text in lft["detail"] or text in action["description"], text
    assert "To order" not in lft["detail"]
