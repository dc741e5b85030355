"""``to_order``: the order-level list of what must still be tested, beside the items.

One entry per ordered line that stays, in the order of the lines: the ordered code of a
``retest`` item (as ordered: an alias stays the alias, an unknown code stays as written),
the components a ``partial`` panel lists under ``retest``; nothing for a ``waive``.
"""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from labrecog import Engine
from labrecog.cli import main
from labrecog.testing.strategies import cases
from tests.builders import DEMO, case, decide, demo_engine, prior
from tests.test_panels_savings import LFT, component


def test_a_retest_item_is_to_order_and_a_waived_one_is_not() -> None:
    old = prior(id="R-9", code="HBA1C", loinc="4548-4", value=6.8, unit="%")
    old["collected_at"] = "2024-12-20T09:30:00+08:00"
    old["reference_range"] = {"low": 4.0, "high": 6.0, "unit": "%"}
    decision = decide(case(prior(), old, tests=["HBA1C", "GLU"]))
    assert [i["status"] for i in decision["items"]] == ["retest", "waive"]
    assert decision["to_order"] == ["HBA1C"]


def test_the_key_sits_between_the_saving_and_the_items() -> None:
    keys = list(decide(case(prior())))
    assert keys.index("saving") + 1 == keys.index("to_order") == keys.index("items") - 1


def test_everything_recognised_means_an_empty_list_not_a_missing_key() -> None:
    decision = decide(case(prior(), *(component(c) for c in LFT), tests=["GLU", "LFT"]))
    assert [i["status"] for i in decision["items"]] == ["waive", "waive"]
    assert decision["to_order"] == []


def test_nothing_recognised_lists_every_ordered_code() -> None:
    decision = decide(case(tests=["LFT", "GLU", "TSH"]))
    assert decision["to_order"] == ["LFT", "GLU", "TSH"]


def test_a_partial_panel_lists_the_components_still_to_test() -> None:
    decision = decide(case(component("ALT"), component("AST"), tests=["LFT", "HBA1C"]))
    lft, hba1c = decision["items"]
    assert hba1c["status"] == "retest"
    assert lft["status"] == "partial" and lft["retest"] == ["TBIL", "ALB"]
    assert decision["to_order"] == ["TBIL", "ALB", "HBA1C"]


def test_a_panel_retested_whole_is_ordered_as_the_panel() -> None:
    # LIPID does not allow partial recognition: the panel stays, not its components.
    decision = decide(case(component("TC"), tests=["LIPID"]))
    assert decision["items"][0]["status"] == "retest"
    assert decision["to_order"] == ["LIPID"]


def test_duplicate_orders_stay_one_entry_per_line() -> None:
    # Two glucose lines, nothing to recognise: both stay, as both items say retest.
    assert decide(case(tests=["GLU", "FBG"]))["to_order"] == ["GLU", "FBG"]
    # Recognised twice: the second line is a duplicate_order waive, nothing to order.
    assert decide(case(prior(), tests=["GLU", "GLU"]))["to_order"] == []


def test_aliases_and_unknown_codes_are_kept_as_ordered() -> None:
    decision = decide(case(tests=["GLUC", "NOT-A-TEST"]))
    assert [i["code"] for i in decision["items"]] == ["GLUC", "NOT-A-TEST"]
    assert decision["to_order"] == ["GLUC", "NOT-A-TEST"]


def test_the_python_model_holds_a_tuple() -> None:
    decision = demo_engine().evaluate(case(tests=["GLU"]))
    assert decision.to_order == ("GLU",)


def test_the_decision_schema_requires_it() -> None:
    schema = demo_engine().evaluate(case()).model_json_schema()
    assert "to_order" in schema["required"]
    assert schema["properties"]["to_order"]["items"] == {"type": "string"}


# --------------------------------------------------------------------------- property

_ENGINE = Engine.from_path(DEMO)
_RULES = _ENGINE.rules
_EXTRA = st.sampled_from(["GLU", "FBG", "GLUC", "LFT", "ALT", "NOT-A-TEST"])


def _expected(items: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for entry in items:
        if entry["status"] == "retest":
            out.append(entry["code"])
        elif entry["status"] == "partial":
            out.extend(entry["retest"])
    return out


@settings(max_examples=200, deadline=None)
@given(base=cases(_ENGINE), extra=st.lists(_EXTRA, max_size=3), data=st.data())
def test_to_order_is_exactly_what_the_items_leave_to_test(
    base: dict[str, Any], extra: list[str], data: st.DataObject
) -> None:
    """Whatever the case: to_order is the non-waived items' codes (a partial panel's
    remaining components), in order; each entry is an ordered code or a component of an
    ordered panel; a waived line contributes nothing."""
    tests = [*base["tests"], *({"code": c} for c in extra)]
    base["tests"] = data.draw(st.permutations(tests))
    decision = _ENGINE.evaluate(base).model_dump(mode="json")
    to_order = decision["to_order"]
    assert to_order == _expected(decision["items"])
    ordered = [t["code"] for t in base["tests"]]
    components = {
        c for code in ordered if _RULES.order_codes.get(code) in _RULES.panels
        for c in _RULES.panels[_RULES.order_codes[code]].components
    }  # fmt: skip
    assert set(to_order) <= set(ordered) | components
    if all(i["status"] == "waive" for i in decision["items"]):
        assert to_order == []


# --------------------------------------------------------------------------- explain


def _explain(*args: str, stdin: str | None = None) -> str:
    result = CliRunner().invoke(main, ["explain", *args], input=stdin)
    assert result.exit_code == 0, result.output
    return result.stdout


def _explain_case(data: dict[str, Any], *args: str) -> str:
    return _explain("-", "--rules", str(DEMO), *args, stdin=json.dumps(data))


def test_explain_ends_with_what_is_still_to_order_by_name_and_code() -> None:
    data = case(component("ALT"), component("AST"), tests=["HBA1C", "LFT", "GLUC", "NOT-A-TEST"])
    out = _explain_case(data, "--lang", "en")
    last = " ".join(out[out.index("Still to order:") :].split())  # wrapped at 100 columns
    assert last == (
        "Still to order: Haemoglobin A1c (HBA1C), Total bilirubin (TBIL), Albumin (ALB), "
        "Glucose (GLUC), NOT-A-TEST"
    )
    assert out.index("Total saving:") < out.index("Still to order:")


def test_explain_in_chinese() -> None:
    out = _explain_case(case(prior(), tests=["HBA1C", "GLU"]), "--lang", "zh")
    assert out.rstrip("\n").splitlines()[-1] == "仅需检查：糖化血红蛋白A1c（HBA1C）"


def test_explain_says_when_nothing_is_left_to_order() -> None:
    en = _explain_case(case(prior()), "--lang", "en").rstrip("\n").splitlines()[-1]
    zh = _explain_case(case(prior()), "--lang", "zh").rstrip("\n").splitlines()[-1]
    assert en == "Still to order: nothing, every ordered test is recognised"
    assert zh == "仅需检查：无，所开检查均可互认"


def test_explain_json_carries_to_order() -> None:
    out = _explain_case(case(tests=["GLU"]), "--json")
    assert json.loads(out)["to_order"] == ["GLU"]
