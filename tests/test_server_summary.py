"""The order-level cards: the summary ("仅需检查：…"), the authorisation notice, card sets.

The example request (examples/cds/order-select.json) decides GLU waive, HBA1C retest (too
old), LFT partial (ALT, AST recognised; TBIL, ALB to order): 5.00 + 49.00 CNY saved.
"""

from __future__ import annotations

import contextlib
import copy
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest

from labrecog import Engine
from labrecog.model import Decision, DecisionItem, Reason, RulesetRef, WaivedComponent
from labrecog.server import INSECURE_NO_AUTH, SUMMARY_LIMIT, SQLiteFeedbackStore, create_app
from labrecog.server._card_text import CardContext
from labrecog.server._summary_card import authorization_blocked, summary_card
from tests.builders import case
from tests.test_server_support import (
    DEMO,
    INSTITUTION,
    SELECT,
    SIGN,
    as_order_sign,
    draft,
    example_request,
    extra_server,
    live_server,
)

FLAG = "https://labrecog.dev/fhir/CodeSystem/flag"
ITEM, SUMMARY, AUTH = "lab-result-recognition", "lab-order-summary", "patient-authorization"
_ENGINES: dict[str, Engine] = {}


def engine(lang: str) -> Engine:
    if lang not in _ENGINES:
        _ENGINES[lang] = Engine.from_path(DEMO, lang=lang)
    return _ENGINES[lang]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[tuple[str, str], str]]:
    """One live server per (card set or "default", language), started on first use."""
    folder = tmp_path_factory.mktemp("summary")
    urls: dict[tuple[str, str], str] = {}
    with contextlib.ExitStack() as stack:

        class Lazy(dict[tuple[str, str], str]):
            def __missing__(self, key: tuple[str, str]) -> str:
                cards, lang = key
                store = SQLiteFeedbackStore(folder / f"{cards}-{lang}.sqlite3")
                stack.callback(store.close)
                # "default": create_app as called without a card set
                chosen: dict[str, Any] = {} if cards == "default" else {"cards": cards}
                app = create_app(
                    engine(lang),
                    feedback_store=store,
                    auth=INSECURE_NO_AUTH,
                    institution=INSTITUTION,
                    **chosen,
                )
                self[key] = stack.enter_context(extra_server(app))
                return self[key]

        urls = Lazy()
        yield urls


@pytest.fixture(scope="module")
def validate_card() -> Any:
    """The served OpenAPI document's Card schema (the CDS Hooks 2.0 card, narrowed)."""
    doc = httpx.get(f"{live_server().url}/openapi.json").json()
    schema = {"$ref": "#/components/schemas/Card", "components": doc["components"]}
    return jsonschema_rs.validator_for(schema).validate


def call(url: str, request: dict[str, Any], service: str = SELECT) -> list[dict[str, Any]]:
    response = httpx.post(f"{url}/cds-services/{service}", json=request, timeout=30)
    assert response.status_code == 200, response.text
    cards: list[dict[str, Any]] = response.json()["cards"]
    return cards


def topics(cards: list[dict[str, Any]]) -> list[str]:
    return [c["source"]["topic"]["code"] for c in cards]


def flag(request: dict[str, Any], sr_id: str, code: str = "condition_changed") -> None:
    draft(request, sr_id).setdefault("reasonCode", []).append(
        {"coding": [{"system": FLAG, "code": code}]}
    )


def only_drafts(request: dict[str, Any], *keep: str) -> dict[str, Any]:
    out = copy.deepcopy(request)
    context = out["context"]
    context["draftOrders"]["entry"] = [
        e for e in context["draftOrders"]["entry"] if e["resource"]["id"] in keep
    ]
    context["selections"] = [f"ServiceRequest/{k}" for k in keep]
    return out


def no_consent() -> dict[str, Any]:
    request = example_request()
    request["prefetch"]["consent"] = None  # rules/demo requires authorisation
    return request


def assert_order_level(card: dict[str, Any], validate: Any) -> None:
    """An order-level card: info, nothing to accept or override, a valid CDS Hooks card."""
    validate(card)
    assert card["indicator"] == "info"
    for key in ("suggestions", "selectionBehavior", "overrideReasons"):
        assert key not in card
    assert len(card["summary"]) < SUMMARY_LIMIT


# --------------------------------------------------------------------------- summary card


def test_the_default_answer_is_the_summary_then_the_item_cards(
    servers: dict[tuple[str, str], str], validate_card: Any
) -> None:
    cards = call(servers["default", "en"], example_request())
    assert topics(cards) == [SUMMARY, ITEM, ITEM]
    summary = cards[0]
    assert_order_level(summary, validate_card)
    assert summary["summary"] == (
        "Only Haemoglobin A1c, Total bilirubin, Albumin need to be done — 54.00 CNY saved"
    )
    assert summary["detail"] == (
        "**Still to order:**\n"
        "- Haemoglobin A1c (HBA1C): collected 72d before the order; results older than 60d "
        "are not recognised\n"
        "- Total bilirubin (TBIL), Albumin (ALB): the rest of Liver function panel (LFT) "
        "is recognised\n"
        "\n"
        "**Recognised, not to be repeated:**\n"
        "- Glucose (GLU)\n"
        "- Liver function panel (LFT): 2 of 4 components\n"
        "\n"
        "**Total saving:** 54.00 CNY"
    )
    assert summary["source"]["topic"]["display"] == "What the order still needs"
    # the item cards are exactly what a service answering items alone says
    assert cards[1:] == call(servers["items", "en"], example_request())
    for card in cards:
        validate_card(card)


def test_the_summary_card_in_chinese(servers: dict[tuple[str, str], str]) -> None:
    summary = call(servers["both", "zh"], example_request())[0]
    assert summary["summary"] == "仅需检查：糖化血红蛋白A1c、总胆红素、白蛋白（节省 54.00 CNY）"
    assert summary["detail"].startswith(
        "**仅需检查：**\n- 糖化血红蛋白A1c（HBA1C）：采集于开单前 72天，超过互认时效 60天\n"
    )
    assert "- 总胆红素（TBIL）、白蛋白（ALB）：肝功能（LFT）其余项目可互认" in summary["detail"]
    assert "- 肝功能（LFT）：4项中2项" in summary["detail"]
    assert summary["detail"].endswith("**合计节省：** 54.00 CNY")
    assert summary["source"]["topic"]["display"] == "本次医嘱仍需检查的项目"


def test_card_sets(servers: dict[tuple[str, str], str], validate_card: Any) -> None:
    both = call(servers["both", "en"], example_request())
    items = call(servers["items", "en"], example_request())
    summary = call(servers["summary", "en"], example_request())
    assert topics(items) == [ITEM, ITEM]
    assert topics(summary) == [SUMMARY]
    assert both == summary + items
    for card in both:
        validate_card(card)


def test_when_nothing_stays_the_summary_says_so(servers: dict[tuple[str, str], str]) -> None:
    request = only_drafts(example_request(), "sr-glu")
    en = call(servers["default", "en"], request)
    zh = call(servers["both", "zh"], request)
    assert topics(en) == [SUMMARY, ITEM]
    assert en[0]["summary"] == "No ordered test needs to be done — 5.00 CNY saved"
    assert en[0]["detail"].startswith(
        "**Still to order:** nothing, every ordered test is recognised.\n\n"
    )
    assert zh[0]["summary"] == "所开检查均可互认，无需检查（节省 5.00 CNY）"


def test_one_test_left_reads_in_the_singular(servers: dict[tuple[str, str], str]) -> None:
    request = only_drafts(example_request(), "sr-glu", "sr-hba1c")
    cards = call(servers["default", "en"], request)
    assert cards[0]["summary"] == "Only Haemoglobin A1c needs to be done — 5.00 CNY saved"


def test_nothing_recognised_means_no_summary_card(servers: dict[tuple[str, str], str]) -> None:
    request = example_request()
    for sr_id in ("sr-glu", "sr-hba1c", "sr-lft"):
        flag(request, sr_id)
    assert call(servers["default", "en"], request) == []


def test_order_level_uuids_are_stable_per_order_and_service(
    servers: dict[tuple[str, str], str],
) -> None:
    url = servers["default", "en"]
    first = call(url, example_request())[0]
    again = call(url, example_request())[0]
    sign = call(url, as_order_sign(example_request()), SIGN)[0]
    assert first == again
    assert sign["uuid"] != first["uuid"]
    request = example_request()
    for entry in request["context"]["draftOrders"]["entry"]:
        entry["resource"]["requisition"]["value"] = "O-OTHER"
    assert call(url, request)[0]["uuid"] != first["uuid"]


# --------------------------------------------------------------------------- authorisation


@pytest.mark.parametrize("cards", ["both", "items", "summary"])
def test_the_authorisation_notice_comes_with_every_card_set(
    servers: dict[tuple[str, str], str], validate_card: Any, cards: str
) -> None:
    (notice,) = call(servers[cards, "en"], no_consent())
    assert_order_level(notice, validate_card)
    assert notice["source"]["topic"]["code"] == AUTH
    # HbA1c's only result on file is too old: authorising would not save it, so it is not
    # counted (nor named) although authorisation is all its decision mentions.
    assert notice["summary"] == "2 ordered tests could be recognised once the patient authorises"
    listed = [line for line in notice["detail"].splitlines() if line.startswith("- ")]
    assert listed == ["- Glucose (GLU)", "- Liver function panel (LFT)"]


def test_the_authorisation_notice_in_chinese(servers: dict[tuple[str, str], str]) -> None:
    (notice,) = call(servers["both", "zh"], no_consent())
    assert notice["summary"] == "请患者授权后可互认 2 项检查"
    assert "- 葡萄糖（GLU）" in notice["detail"]


def test_an_item_with_another_blocker_is_not_counted(servers: dict[tuple[str, str], str]) -> None:
    request = no_consent()
    flag(request, "sr-glu")  # an exception re-tests glucose whatever the patient says
    (notice,) = call(servers["default", "en"], request)
    assert notice["summary"] == "1 ordered test could be recognised once the patient authorises"
    assert "Glucose" not in notice["detail"]


def test_one_blocked_test_reads_in_the_singular(servers: dict[tuple[str, str], str]) -> None:
    (notice,) = call(servers["default", "en"], only_drafts(no_consent(), "sr-glu"))
    assert notice["summary"] == "1 ordered test could be recognised once the patient authorises"


def test_no_notice_when_authorising_would_recognise_nothing(
    servers: dict[tuple[str, str], str],
) -> None:
    # HbA1c alone: held back by the authorisation only, but its result is too old anyway.
    assert call(servers["default", "en"], only_drafts(no_consent(), "sr-hba1c")) == []


def test_no_notice_when_the_patient_has_authorised(servers: dict[tuple[str, str], str]) -> None:
    assert AUTH not in topics(call(servers["default", "en"], example_request()))


def _item(code: str, status: str, *reasons: tuple[str, str | None], **extra: Any) -> DecisionItem:
    return DecisionItem(
        code=code,
        status=status,  # type: ignore[arg-type]
        saving="0.00",
        reasons=tuple(Reason(code=c, message="-", test=t) for c, t in reasons),  # type: ignore[arg-type]
        **extra,
    )


def test_what_counts_as_blocked_only_by_authorisation() -> None:
    alt = WaivedComponent(code="ALT", result_id="R-1")
    items = (
        _item("GLU", "retest", ("no_authorization", None)),
        _item("K", "retest", ("no_authorization", None), ("exception", None)),
        _item("NA", "retest", ("no_prior", None)),
        _item("TSH", "waive"),
        # partial: the recognised ALT's superseded candidate is no blocker; TBIL's reason is
        _item(
            "LFT",
            "partial",
            ("superseded", "ALT"),
            ("no_authorization", "TBIL"),
            waived=(alt,),
            retest=("TBIL",),
        ),
        # a panel that may not be split: partial_not_allowed names the recognised TC
        _item("LIPID", "retest", ("no_authorization", "TRIG"), ("partial_not_allowed", "TC")),
        _item("LIPID", "retest", ("too_old", "TRIG"), ("partial_not_allowed", "TC")),
        _item("HBA1C", "retest"),
    )
    decision = Decision(
        order_id="O",
        patient_id="P",
        ruleset=RulesetRef(id="demo", version="1", digest="sha256:0"),
        currency="CNY",
        saving="0.00",
        to_order=(),
        items=items,
    )
    assert [i.code for i in authorization_blocked(decision)] == ["GLU", "LFT", "LIPID"]


# --------------------------------------------------------------------------- text safety


def _context(lang: str = "en") -> CardContext:
    rules = engine(lang).rules
    valid = engine(lang).validate_case(case())
    return CardContext(rules=rules, lang=lang, case=valid, priors={}, observations={}, tz=None)  # type: ignore[arg-type]


def test_a_long_list_is_shortened_below_140_characters_and_request_text_is_inert() -> None:
    codes = tuple(f"LOCAL-[x](https://evil.example)-{n}" for n in range(30))
    decision = Decision(
        order_id="O",
        patient_id="P",
        ruleset=RulesetRef(id="demo", version="1", digest="sha256:0"),
        currency="CNY",
        saving="5.00",
        to_order=codes,
        items=(
            _item("GLU", "waive"),
            *(_item(c, "retest", ("unknown_test", None)) for c in codes),
        ),
    )
    card = summary_card(_context(), decision, "00000000-0000-0000-0000-000000000000")
    assert card is not None
    assert len(card["summary"]) < SUMMARY_LIMIT and "…" in card["summary"]
    assert "](" not in card["detail"].replace("\\](", "")
    assert r"LOCAL-\[x\](https://evil.example)-29" in card["detail"]


# --------------------------------------------------------------------------- feedback


def test_order_level_cards_are_recorded_and_feedback_on_them_joins_the_order(
    tmp_path: Path,
) -> None:
    store = SQLiteFeedbackStore(tmp_path / "f.sqlite3")
    app = create_app(
        engine("en"), feedback_store=store, auth=INSECURE_NO_AUTH, institution=INSTITUTION
    )
    with extra_server(app) as url:
        summary = call(url, example_request())[0]
        (notice,) = call(url, no_consent())
        feedback = {
            "feedback": [
                {
                    "card": card["uuid"],
                    "outcome": "overridden",
                    "overrideReason": {"userComment": "seen"},
                    "outcomeTimestamp": "2025-03-02T01:31:05Z",
                }
                for card in (summary, notice)
            ]
        }
        response = httpx.post(f"{url}/cds-services/{SELECT}/feedback", json=feedback)
        assert response.json() == {"stored": 2}
    store.close()
    db = sqlite3.connect(tmp_path / "f.sqlite3")
    try:
        rows = db.execute(
            "SELECT card_uuid, item_code, status, service_request, observations, suggestion_uuid "
            "FROM cds_card WHERE item_code = '*' ORDER BY status"
        ).fetchall()
        joined = db.execute(
            "SELECT card_uuid, order_id, item_code, outcome FROM cds_feedback ORDER BY id"
        ).fetchall()
    finally:
        db.close()
    assert rows == [
        (notice["uuid"], "*", "authorization", "", "[]", None),
        (summary["uuid"], "*", "summary", "", "[]", None),
    ]
    assert joined == [
        (summary["uuid"], "O-2025-000123", "*", "overridden"),
        (notice["uuid"], "O-2025-000123", "*", "overridden"),
    ]
