"""Panels (waive / partial / retest) and money: exact savings strings and their invariants.

Demo prices: LFT 60.00 = ALT 8.00 + AST 8.00 + TBIL 6.00 + ALB 5.00 (partial allowed);
LIPID 20.00 = TC 6.00 + TRIG 6.00 (partial not allowed); GLU 5.00.
"""

from __future__ import annotations

import itertools
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from labrecog import Engine
from tests.builders import case, decide, demo_engine, prior, reason_codes

LFT = ("ALT", "AST", "TBIL", "ALB")
PRICES = {"ALT": "8.00", "AST": "8.00", "TBIL": "6.00", "ALB": "5.00", "TC": "6.00", "TRIG": "6.00"}


def component(code: str, **overrides: Any) -> dict[str, Any]:
    """A waivable prior of one demo component, with result id ``R-<code>``."""
    spec: dict[str, dict[str, Any]] = {
        "ALT": {"loinc": "1742-6", "value": 30.0, "unit": "U/L", "low": 9, "high": 50},
        "AST": {"loinc": "1920-8", "value": 25.0, "unit": "U/L", "low": 15, "high": 40},
        "TBIL": {"loinc": "1975-2", "value": 12.0, "unit": "umol/L", "high": 26.0},
        "ALB": {"loinc": "1751-7", "value": 45.0, "unit": "g/L", "low": 40, "high": 55},
        "TC": {"loinc": "2093-3", "value": 4.0, "unit": "mmol/L", "high": 5.2},
        "TRIG": {"loinc": "2571-8", "value": 1.0, "unit": "mmol/L", "high": 1.7},
    }[code]
    rr = {k: spec[k] for k in ("low", "high") if k in spec}
    rr["unit"] = spec["unit"]
    base = {
        "id": f"R-{code}",
        "code": code,
        "loinc": spec["loinc"],
        "value": spec["value"],
        "unit": spec["unit"],
        "reference_range": rr,
    }
    return prior(**{**base, **overrides})


def order_price(engine: Engine, code: str) -> Decimal:
    rules = engine.rules
    target = rules.order_codes.get(code)
    if target is None:
        return Decimal(0)
    if target in rules.panels:
        return rules.panels[target].price
    return rules.tests[target].price


def check_money(decision: dict[str, Any], engine: Engine, digits: int = 2) -> None:
    """Invariants of every decision: formatting, sum, and no saving beyond what was ordered."""
    pattern = r"\d+" if digits == 0 else rf"\d+\.\d{{{digits}}}"
    assert re.fullmatch(pattern, decision["saving"]), decision["saving"]
    total = Decimal(0)
    ordered = Decimal(0)
    for entry in decision["items"]:
        assert re.fullmatch(pattern, entry["saving"]), entry
        saving = Decimal(entry["saving"])
        price = order_price(engine, entry["code"])
        assert Decimal(0) <= saving <= price, entry
        if entry["status"] == "retest":
            assert saving == 0, entry
        total += saving
        ordered += price
    assert Decimal(decision["saving"]) == total
    assert total <= ordered


def run(data: dict[str, Any], engine: Engine | None = None, digits: int = 2) -> dict[str, Any]:
    engine = engine or demo_engine()
    decision = decide(data, engine)
    check_money(decision, engine, digits)
    return decision


# --------------------------------------------------------------------------- panels


def test_lft_all_waived() -> None:
    decision = run(case(*(component(c) for c in LFT), tests=["LFT"]))
    assert decision["saving"] == "60.00"
    (lft,) = decision["items"]
    assert lft["code"] == "LFT"
    assert lft["status"] == "waive"
    assert lft["saving"] == "60.00"
    assert lft["waived"] == [{"code": c, "result_id": f"R-{c}", "institution": "LXRM"} for c in LFT]
    assert "retest" not in lft
    assert "result_id" not in lft
    assert lft["reasons"] == []


@pytest.mark.parametrize(
    ("waived", "saving"),
    [
        (("ALT", "AST", "TBIL"), "55.00"),  # 60 - 5
        (("ALT", "AST"), "49.00"),  # 60 - 6 - 5
        (("ALT",), "41.00"),  # 60 - 8 - 6 - 5
        (("ALB",), "38.00"),  # 60 - 8 - 8 - 6
        (("AST", "ALB"), "46.00"),  # 60 - 8 - 6
    ],
)
def test_lft_partial(waived: tuple[str, ...], saving: str) -> None:
    decision = run(case(*(component(c) for c in waived), tests=["LFT"]))
    (lft,) = decision["items"]
    assert lft["status"] == "partial"
    assert lft["saving"] == saving
    assert decision["saving"] == saving
    remaining = [c for c in LFT if c not in waived]
    assert lft["retest"] == remaining
    assert lft["waived"] == [
        {"code": c, "result_id": f"R-{c}", "institution": "LXRM"} for c in LFT if c in waived
    ]
    # Each missing component explains itself, tagged with the component code.
    assert {(r["code"], r["test"]) for r in lft["reasons"]} == {("no_prior", c) for c in remaining}


def test_lft_partial_with_a_rejected_component() -> None:
    priors = [component(c) for c in LFT if c != "ALT"] + [component("ALT", value=80.0)]
    (lft,) = run(case(*priors, tests=["LFT"]))["items"]
    assert lft["status"] == "partial"
    assert lft["retest"] == ["ALT"]
    assert lft["saving"] == "52.00"
    (reason,) = lft["reasons"]
    assert (reason["code"], reason["test"], reason["result_id"]) == (
        "abnormal_value",
        "ALT",
        "R-ALT",
    )


def test_lft_nothing_waived() -> None:
    decision = run(case(tests=["LFT"]))
    (lft,) = decision["items"]
    assert lft["status"] == "retest"
    assert lft["saving"] == "0.00"
    assert "waived" not in lft
    assert "retest" not in lft
    assert decision["saving"] == "0.00"


def test_exception_on_a_panel_line_applies_to_every_component() -> None:
    priors = (component(c) for c in LFT)
    data = case(*priors, tests=[{"code": "LFT", "flags": ["condition_changed"]}])
    (lft,) = run(data)["items"]
    assert lft["status"] == "retest"
    assert lft["saving"] == "0.00"
    assert [(r["code"], r["test"], r["flag"]) for r in lft["reasons"]] == [
        ("exception", c, "condition_changed") for c in LFT
    ]


def test_lipid_partial_not_allowed() -> None:
    decision = run(case(component("TC"), tests=["LIPID"]))
    (lipid,) = decision["items"]
    assert lipid["status"] == "retest"
    assert lipid["saving"] == "0.00"
    assert "waived" not in lipid
    assert "retest" not in lipid
    assert [(r["code"], r["test"], r.get("result_id")) for r in lipid["reasons"]] == [
        ("no_prior", "TRIG", None),
        ("partial_not_allowed", "TC", "R-TC"),
    ]


def test_lipid_all_waived() -> None:
    decision = run(case(component("TC"), component("TRIG"), tests=["LIPID"]))
    (lipid,) = decision["items"]
    assert lipid["status"] == "waive"
    assert lipid["saving"] == "20.00"
    assert lipid["waived"] == [
        {"code": "TC", "result_id": "R-TC", "institution": "LXRM"},
        {"code": "TRIG", "result_id": "R-TRIG", "institution": "LXRM"},
    ]


# --------------------------------------------------------------------------- duplicates


def test_same_test_twice_is_saved_once() -> None:
    decision = run(case(prior(), tests=["GLU", "GLU"]))
    first, second = decision["items"]
    assert (first["status"], first["saving"], first["result_id"]) == ("waive", "5.00", "R-1")
    assert first["reasons"] == []
    assert (second["status"], second["saving"], second["result_id"]) == ("waive", "0.00", "R-1")
    (dup,) = second["reasons"]
    assert dup["code"] == "duplicate_order"
    assert dup["test"] == "GLU"
    assert "result_id" not in dup
    assert decision["saving"] == "5.00"


def test_alias_counts_as_the_same_test() -> None:
    decision = run(case(prior(), tests=["GLU", "FBG"]))
    assert [(i["code"], i["saving"]) for i in decision["items"]] == [
        ("GLU", "5.00"),
        ("FBG", "0.00"),
    ]
    assert reason_codes(decision["items"][1]) == {"duplicate_order"}
    assert decision["saving"] == "5.00"


def test_duplicate_of_a_retested_line_is_not_a_duplicate_saving() -> None:
    # The emergency line is re-tested; the other line is the only one that saves.
    tests = [{"code": "GLU", "flags": ["emergency"]}, "GLU"]
    decision = run(case(prior(), tests=tests))
    first, second = decision["items"]
    assert (first["status"], first["saving"]) == ("retest", "0.00")
    assert (second["status"], second["saving"]) == ("waive", "5.00")
    assert second["reasons"] == []


@pytest.mark.parametrize("tests", [["ALT", "LFT"], ["LFT", "ALT"]], ids=["alt_first", "lft_first"])
def test_test_alone_and_in_panel_is_saved_once(tests: list[str]) -> None:
    decision = run(case(*(component(c) for c in LFT), tests=tests))
    items = {i["code"]: i for i in decision["items"]}
    assert [i["code"] for i in decision["items"]] == tests  # order of lines is kept
    assert items["ALT"]["saving"] == "8.00"
    assert items["LFT"]["status"] == "waive"
    assert items["LFT"]["saving"] == "52.00"
    dup = [r for r in items["LFT"]["reasons"] if r["code"] == "duplicate_order"]
    assert [r["test"] for r in dup] == ["ALT"]
    assert decision["saving"] == "60.00"


def test_test_alone_and_in_partial_panel() -> None:
    decision = run(case(component("ALT"), component("AST"), tests=["ALT", "LFT"]))
    alt, lft = decision["items"]
    assert alt["saving"] == "8.00"
    assert lft["status"] == "partial"
    assert lft["saving"] == "41.00"  # 60 - (6 + 5) - 8
    assert decision["saving"] == "49.00"  # what LFT alone would save


def test_every_component_alone_and_the_panel() -> None:
    decision = run(case(*(component(c) for c in LFT), tests=[*LFT, "LFT"]))
    assert [i["saving"] for i in decision["items"]] == ["8.00", "8.00", "6.00", "5.00", "33.00"]
    assert decision["saving"] == "60.00"


def test_panel_twice_is_saved_once() -> None:
    decision = run(case(*(component(c) for c in LFT), tests=["LFT", "LFT"]))
    first, second = decision["items"]
    assert (first["status"], first["saving"]) == ("waive", "60.00")
    assert (second["status"], second["saving"]) == ("waive", "0.00")
    assert [(r["code"], r["test"]) for r in second["reasons"]] == [("duplicate_order", "LFT")]
    assert decision["saving"] == "60.00"


def test_unknown_line_saves_nothing() -> None:
    decision = run(case(prior(), tests=["GLU", "NOPE"]))
    assert [(i["code"], i["status"], i["saving"]) for i in decision["items"]] == [
        ("GLU", "waive", "5.00"),
        ("NOPE", "retest", "0.00"),
    ]
    assert decision["currency"] == "CNY"


SINGLE_LINES = [(), ("ALT",), ("ALT", "TBIL"), ("GLU",), ("GLU", "GLU")]


@pytest.mark.parametrize("singles", SINGLE_LINES, ids=lambda s: "+".join(s) or "none")
def test_money_invariants_over_every_subset(singles: tuple[str, ...]) -> None:
    # run() checks the sum, the format and that no line saves more than it costs.
    for size in range(len(LFT) + 1):
        for subset in itertools.combinations(LFT, size):
            priors = [component(c) for c in subset] + [prior(id="R-GLU")]
            for tests in ([*singles, "LFT"], ["LFT", *singles], [*singles, "LFT", "LFT"]):
                decision = run(case(*priors, tests=tests))
                lft = next(i for i in decision["items"] if i["code"] == "LFT")
                expected = {0: "retest", len(LFT): "waive"}.get(len(subset), "partial")
                assert lft["status"] == expected


# --------------------------------------------------------------------------- own rule sets


def money_rules(tmp_path: Path, currency: str, prices: dict[str, str]) -> Engine:
    """A rule set with three tests in g/L and three panels, recognition reduced to the data."""
    tests = "".join(
        f"""
  - code: {code}
    unit: g/L
    specimen: [serum]
    reference_range: {{low: 1, high: 2}}
    price: "{prices[code]}"
"""
        for code in ("A", "B", "C", "D")
    )
    text = f"""\
id: money
version: "1"
currency: {currency}
recognition:
  regions: ["*"]
  quality_assessment: not_required
  require_authorization: false
tests:{tests}
panels:
  - code: P
    components: [A, B, C]
    price: "{prices["P"]}"
  - code: OUTER
    components: [P, D]
    price: "{prices["OUTER"]}"
"""
    path = tmp_path / f"{currency}.yaml"
    path.write_text(text, encoding="utf-8")
    return Engine.from_path(path)


def simple(code: str) -> dict[str, Any]:
    return prior(
        id=f"R-{code}",
        code=code,
        loinc=None,
        value=1.5,
        unit="g/L",
        reference_range={"low": 1, "high": 2, "unit": "g/L"},
    )


CNY = {"A": "8.00", "B": "8.00", "C": "6.00", "D": "1.00", "P": "10.00", "OUTER": "10.50"}


def test_partial_saving_never_below_zero(tmp_path: Path) -> None:
    engine = money_rules(tmp_path, "CNY", CNY)
    decision = run(case(simple("C"), tests=["P"]), engine)
    (panel,) = decision["items"]
    assert panel["status"] == "partial"
    assert panel["retest"] == ["A", "B"]
    assert panel["saving"] == "0.00"  # 10 - (8 + 8) is negative
    assert decision["saving"] == "0.00"


def test_nested_panel_is_flattened(tmp_path: Path) -> None:
    engine = money_rules(tmp_path, "CNY", CNY)
    priors = [simple(c) for c in "ABCD"]
    decision = run(case(*priors, tests=["OUTER"]), engine)
    (outer,) = decision["items"]
    assert outer["status"] == "waive"
    assert [w["code"] for w in outer["waived"]] == ["A", "B", "C", "D"]
    assert outer["saving"] == "10.50"


@pytest.mark.parametrize(
    ("currency", "prices", "expected"),
    [
        (
            "JPY",
            {"A": "800", "B": "800", "C": "600", "D": "100", "P": "1000", "OUTER": "1050"},
            "800",
        ),
        (
            "KWD",
            {"A": "1.250", "B": "1", "C": "1", "D": "1", "P": "2", "OUTER": "3"},
            "1.250",
        ),
        ("CNY", {**CNY, "A": "8"}, "8.00"),
    ],
)
def test_currency_minor_digits(
    tmp_path: Path, currency: str, prices: dict[str, str], expected: str
) -> None:
    engine = money_rules(tmp_path, currency, prices)
    digits = {"JPY": 0, "KWD": 3}.get(currency, 2)
    decision = run(case(simple("A"), tests=["A", "B"]), engine, digits)
    assert decision["currency"] == currency
    zero = "0" if digits == 0 else "0." + "0" * digits
    assert [i["saving"] for i in decision["items"]] == [expected, zero]
    assert decision["saving"] == expected
