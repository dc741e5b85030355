"""A condition's forced re-test survives a flag whose own scope does not cover the test.

Regression: a condition ``set: {exception: X}`` was dropped whenever flag X was also given,
on the assumption that the flag would block the test itself; but a flag limited to some
tests (``tests: [GLU]``) blocks only those, so giving the flag turned the condition's
re-test of every other test into a waiver.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

from labrecog import Engine, InputError

ROOT = Path(__file__).resolve().parent.parent


def _child_case(engine: Engine) -> dict[str, Any]:
    """An example case with a waived test other than GLU, made a five-year-old."""
    for line in (ROOT / "examples" / "cases.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            case = json.loads(line)
            decision = engine.evaluate(case)
        except (ValueError, InputError):
            continue
        if case["patient"].get("birth_date") and any(
            i.status == "waive" and i.code != "GLU" for i in decision.items
        ):
            case["patient"]["birth_date"] = f"{int(case['ordered_at'][:4]) - 5}-01-01"
            return case
    raise AssertionError("no example case waives a test other than GLU")


def test_a_narrow_exception_flag_does_not_lift_the_condition_re_test(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules" / "demo", rules)
    ruleset = rules / "ruleset.yaml"
    text = ruleset.read_text(encoding="utf-8")
    wide = "paediatric: {zh: 儿童患者, en: paediatric patient}"
    assert wide in text
    ruleset.write_text(
        text.replace(wide, "paediatric: {zh: 儿童患者, en: paediatric patient, tests: [GLU]}"),
        encoding="utf-8",
    )
    adult_rules = Engine.from_path(ROOT / "rules" / "demo")
    engine = Engine.from_path(rules)
    child = _child_case(adult_rules)

    without_flag = engine.evaluate(child)
    flagged = copy.deepcopy(child)
    flagged.setdefault("context", {})
    flagged["context"]["flags"] = [*flagged["context"].get("flags", []), "paediatric"]
    with_flag = engine.evaluate(flagged)

    # The children condition re-tests everything, with or without the flag.
    for decision in (without_flag, with_flag):
        assert decision.items
        for item in decision.items:
            assert item.status == "retest", (item.code, item.status)
            assert "exception" in {r.code for r in item.reasons}, item.code
