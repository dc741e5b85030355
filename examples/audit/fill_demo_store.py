"""Fill an audit store with a month of order-select calls and their feedback, through the
real CDS service, for the audit queries docs/security.md shows.

    .venv/bin/python examples/audit/fill_demo_store.py audit-demo.sqlite3
    .venv/bin/labrecog audit --db audit-demo.sqlite3 --from 2025-03-01 --to 2025-04-01

The service (rules/demo, all cards, in the insecure mode a developer's machine uses: no
JWT, so the caller columns stay empty) answers each call over HTTP in process (httpx's
ASGI transport). Each visit is examples/cds/order-select.json (glucose waived, the liver
panel partly recognised, HbA1c to order; the summary card) moved to its own time (the
prior results move with it), with its own order id, doctor and Encounter; the doctor then
accepts or overrides the cards, with the override reasons the cards offer (a partial card
has no suggestion, so it can only be overridden). The store's clock is set to each visit's
time, so the store, and every audit of it, is the same on every run. Refuses to write over
an existing file.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from labrecog import Engine
from labrecog.server import INSECURE_NO_AUTH, SQLiteFeedbackStore, create_app

ROOT = Path(__file__).resolve().parent.parent.parent
REQUEST = ROOT / "examples" / "cds" / "order-select.json"
SELECT = "labrecog-order-select"
SHANGHAI = ZoneInfo("Asia/Shanghai")
INSTITUTION = {"id": "LZU2", "region": "620102", "level": 3}
ORDERED = datetime.fromisoformat("2025-03-02T09:30:00+08:00")  # the example's authoredOn
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2}|Z)")

ENDO = ("PractitionerRole/PR-LZU2-ENDO-07", "内分泌科门诊")
CARDIO = ("PractitionerRole/PR-LZU2-CARD-02", "心内科门诊")
ER = ("PractitionerRole/PR-LZU2-ER-01", "急诊科")
WARD = ("PractitionerRole/PR-LZU2-GEN-11", None)  # an Encounter without serviceType

# (local time in Lanzhou, doctor, glucose card, liver panel card, summary card): each card's
# feedback is "accepted", an override reason (an exception flag the card offers), "-" for
# an override without a coded reason, "dismissed" (the summary card), or None (no feedback).
VISITS: list[tuple[str, tuple[str, str | None], str | None, str | None, str | None]] = [
    ("2025-02-28 17:20", ENDO, "accepted", None, None),
    ("2025-03-01 07:45", ER, "emergency", "emergency", "dismissed"),
    ("2025-03-03 09:10", ENDO, "accepted", "condition_changed", None),
    ("2025-03-05 10:30", ENDO, "accepted", None, None),
    ("2025-03-07 14:05", CARDIO, "condition_changed", "rapid_change", "dismissed"),
    ("2025-03-10 09:40", CARDIO, "accepted", "-", None),
    ("2025-03-12 11:15", ENDO, "accepted", None, None),
    ("2025-03-14 08:55", ER, "emergency", None, None),
    ("2025-03-18 15:30", WARD, "patient_request", "patient_request", None),
    ("2025-03-20 10:00", ENDO, None, None, None),
    ("2025-03-24 09:25", CARDIO, "accepted", "condition_changed", None),
    ("2025-03-27 16:40", ENDO, "accepted", None, None),
    ("2025-03-31 22:10", ER, "condition_changed", None, "dismissed"),
    ("2025-04-01 07:30", ENDO, "accepted", None, None),  # still March 31st in UTC
]


def shifted(value: Any, by: timedelta) -> Any:
    """Every FHIR dateTime in ``value`` moved by ``by``: the results keep their age."""
    if isinstance(value, dict):
        return {key: shifted(item, by) for key, item in value.items()}
    if isinstance(value, list):
        return [shifted(item, by) for item in value]
    if isinstance(value, str) and _DATETIME.fullmatch(value):
        return (datetime.fromisoformat(value) + by).isoformat()
    return value


def visit_request(n: int, when: datetime, doctor: tuple[str, str | None]) -> dict[str, Any]:
    request: dict[str, Any] = copy.deepcopy(json.loads(REQUEST.read_text(encoding="utf-8")))
    request["prefetch"]["labResults"] = shifted(request["prefetch"]["labResults"], when - ORDERED)
    user, department = doctor
    request["hookInstance"] = f"d1577c69-dfbe-44ad-ba6d-{n:012d}"
    request["context"]["userId"] = user
    for entry in request["context"]["draftOrders"]["entry"]:
        order = entry["resource"]
        order["authoredOn"] = when.isoformat()
        order["requester"] = {"reference": user}
        order["requisition"]["value"] = f"O-2025-{n:06d}"
    if department is not None:
        request["prefetch"]["encounter"]["serviceType"] = {"text": department}
    return request


def feedback(card: dict[str, Any], plan: str, at: datetime) -> dict[str, Any]:
    item: dict[str, Any] = {"card": card["uuid"], "outcomeTimestamp": at.isoformat()}
    if plan == "accepted":
        item["outcome"] = "accepted"
        item["acceptedSuggestions"] = [{"id": s["uuid"]} for s in card.get("suggestions", [])]
        return item
    item["outcome"] = "overridden"
    offered = {r["code"]: r for r in card.get("overrideReasons", [])}
    if plan in offered:
        item["overrideReason"] = {"reason": offered[plan]}
    elif plan == "-":  # no coded reason, only the clinician's words (stored as given)
        item["overrideReason"] = {"userComment": "外院肝功能为门诊快检，要求本院复查"}
    elif plan != "dismissed":
        raise SystemExit(f"the card does not offer {plan}: {sorted(offered)}")
    return item


def main(target: Path) -> int:
    if target.exists():
        print(f"{target} exists: give a new file", file=sys.stderr)
        return 2
    return asyncio.run(fill(target))


async def fill(target: Path) -> int:
    now = [datetime(2025, 1, 1, tzinfo=UTC)]
    store = SQLiteFeedbackStore(target, clock=lambda: now[0])
    app = create_app(
        Engine.from_path(ROOT / "rules" / "demo"),
        feedback_store=store,
        auth=INSECURE_NO_AUTH,
        institution=INSTITUTION,
    )
    issued = answered = 0
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://labrecog") as client:
            for n, (local, doctor, glu, lft, summary) in enumerate(VISITS, start=1):
                when = datetime.fromisoformat(local).replace(tzinfo=SHANGHAI)
                now[0] = when
                response = await client.post(
                    f"/cds-services/{SELECT}", json=visit_request(n, when, doctor)
                )
                response.raise_for_status()
                cards = response.json()["cards"]
                issued += len(cards)
                by_kind = {_kind(card): card for card in cards}
                at = when + timedelta(seconds=40)
                now[0] = at
                items = [
                    feedback(by_kind[kind], plan, at)
                    for kind, plan in (("GLU", glu), ("LFT", lft), ("summary", summary))
                    if plan is not None
                ]
                if items:
                    stored = await client.post(
                        f"/cds-services/{SELECT}/feedback", json={"feedback": items}
                    )
                    stored.raise_for_status()
                    answered += stored.json()["stored"]
    finally:
        store.close()
    print(f"{target}: {len(VISITS)} visits, {issued} cards issued, {answered} feedback items")
    return 0


def _kind(card: dict[str, Any]) -> str:
    """GLU (the waive card, with a suggestion), LFT (the partial card) or the summary."""
    if card["source"]["topic"]["code"] != "lab-result-recognition":
        return "summary"
    return "GLU" if "suggestions" in card else "LFT"


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(Path(sys.argv[1])))
