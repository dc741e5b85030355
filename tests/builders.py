"""Compact case builders: a test states only what matters, defaults give a waivable case.

The defaults describe a prior that passes every check of ``rules/demo`` for GLU, so a
test that changes one field and sees ``retest`` has isolated that field's check.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from labrecog import Engine

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "rules" / "demo"
ORDERED_AT = "2025-03-02T09:30:00+08:00"

_ENGINE: Engine | None = None


def demo_engine() -> Engine:
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = Engine.from_path(DEMO)
    return _ENGINE


def prior(**overrides: Any) -> dict[str, Any]:
    """A GLU result from a level-2 Gansu lab, 3 days old, marked 本省HR: waivable."""
    base: dict[str, Any] = {
        "id": "R-1",
        "patient_id": "P-1",
        "code": "GLU",
        "loinc": "2345-7",
        "specimen": "serum",
        "value": 5.2,
        "unit": "mmol/L",
        "reference_range": {"low": 3.9, "high": 6.1, "unit": "mmol/L"},
        "collected_at": "2025-02-27T08:00:00+08:00",
        "reported_at": "2025-02-27T11:00:00+08:00",
        "institution": {"id": "LXRM", "region": "621226", "level": 2},
        "mark": "本省HR",
        "status": "final",
        "shared": True,
    }
    return _apply(base, overrides)


def case(*priors: dict[str, Any], tests: Any = ("GLU",), **overrides: Any) -> dict[str, Any]:
    """An outpatient order at LZU2 (Lanzhou, level 3) by an adult man who authorised sharing."""
    base: dict[str, Any] = {
        "order_id": "O-1",
        "ordered_at": ORDERED_AT,
        "patient": {"id": "P-1", "sex": "male", "birth_date": "1961-05-14"},
        "institution": {"id": "LZU2", "region": "620102", "level": 3},
        "context": {"setting": "outpatient", "flags": []},
        "authorization": {"granted": True},
        "tests": [t if isinstance(t, dict) else {"code": t} for t in tests],
        "prior_results": list(priors),
    }
    return _apply(base, overrides)


def _apply(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``a__b=1`` sets base["a"]["b"]; a value of ``DELETE`` removes the key."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        parts = key.split("__")
        target = out
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        if value is DELETE:
            target.pop(parts[-1], None)
        else:
            target[parts[-1]] = value
    return out


class _Delete:
    def __repr__(self) -> str:
        return "DELETE"


DELETE: Any = _Delete()


def decide(data: dict[str, Any], engine: Engine | None = None) -> dict[str, Any]:
    """Evaluate and return the decision as JSON-ready data."""
    return (engine or demo_engine()).evaluate(data).model_dump(mode="json")


def item(data: dict[str, Any], code: str = "GLU", engine: Engine | None = None) -> dict[str, Any]:
    """The decision item for one ordered code."""
    for entry in decide(data, engine)["items"]:
        if entry["code"] == code:
            return dict(entry)
    raise AssertionError(f"no item {code}")


def reason_codes(entry: dict[str, Any]) -> set[str]:
    return {r["code"] for r in entry["reasons"]}
