"""``labrecog diff``: counts checked against an independent evaluation of both rule sets,
the JSON shape, the sample's two explanations, and exit codes (docs/cli.md; docs/diff.md)."""

from __future__ import annotations

import gzip
import json
import shutil
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from labrecog.batch.compare import RuleDiff
from labrecog.batch.records import evaluate_line
from labrecog.cli import main
from labrecog.engine import Engine

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "rules" / "demo"
CASES = ROOT / "examples" / "cases.jsonl"

GLU_CHANGES = (
    ("    max_age: {value: 7d, source: assumed}\n", "    max_age: {value: 3d, source: assumed}\n"),
    ('    price: "5.00"\n', '    price: "6.00"\n'),
)


@pytest.fixture(scope="module")
def new_rules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """rules/demo with GLU's max_age 7d → 3d and its price 5.00 → 6.00."""
    target = tmp_path_factory.mktemp("rules") / "demo-next"
    shutil.copytree(DEMO, target)
    catalogue = target / "catalogue.yaml"
    text = catalogue.read_text(encoding="utf-8")
    start = text.index("  - code: GLU\n")
    end = text.index("  - code:", start + 1)
    block = text[start:end]
    for before, after in GLU_CHANGES:
        assert block.count(before) == 1
        block = block.replace(before, after)
    catalogue.write_text(text[:start] + block + text[end:], encoding="utf-8")
    ruleset = target / "ruleset.yaml"
    ruleset.write_text(
        ruleset.read_text(encoding="utf-8").replace('"2025.1"', '"2025.2"'), encoding="utf-8"
    )
    return target


def _records(rules: Path) -> list[dict[str, Any]]:
    engine = Engine.from_path(str(rules))
    with CASES.open("rb") as stream:
        return [evaluate_line(engine, n, raw) for n, raw in enumerate(stream, start=1)]


def _total(records: list[dict[str, Any]]) -> Decimal:
    return sum((Decimal(r["saving"]) for r in records if "error" not in r), Decimal(0))


def _diff_json(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["diff", *args, "--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@pytest.fixture(scope="module")
def expected(new_rules: Path) -> dict[str, Any]:
    """What should change, found by evaluating both rule sets here, without RuleDiff."""
    old, new = _records(DEMO), _records(new_rules)
    transitions: Counter[tuple[str, str, str]] = Counter()
    saving_only = 0
    for a, b in zip(old, new, strict=True):
        if "error" in a or "error" in b:
            continue
        for x, y in zip(a["items"], b["items"], strict=True):
            if x["status"] != y["status"]:
                transitions[(x["code"], x["status"], y["status"])] += 1
            elif x["saving"] != y["saving"]:
                saving_only += 1
    return {
        "transitions": transitions,
        "saving_only": saving_only,
        "delta": _total(new) - _total(old),
        "errors": sum("error" in r for r in old),
    }


def test_glu_flips_match_an_independent_evaluation(
    new_rules: Path, expected: dict[str, Any]
) -> None:
    data = _diff_json("--old", str(DEMO), "--new", str(new_rules), str(CASES))
    flips = expected["transitions"][("GLU", "waive", "retest")]
    assert flips >= 1  # the example really exercises the change
    assert set(expected["transitions"]) == {("GLU", "waive", "retest")}
    assert data["cases"] == 27
    assert data["items_status_changed"] == flips
    assert data["changes"] == [{"test": "GLU", "old": "waive", "new": "retest", "items": flips}]
    assert data["by_test"] == [{"test": "GLU", "items": flips}]
    assert data["by_status"] == [{"old": "waive", "new": "retest", "items": flips}]
    assert data["items_saving_changed"] == expected["saving_only"] > 0  # the price change
    assert data["errors"]["both"] == expected["errors"] == 3
    assert data["errors"]["became_error"] == data["errors"]["stopped_error"] == 0


def test_saving_delta_is_the_difference_of_the_two_totals(
    new_rules: Path, expected: dict[str, Any]
) -> None:
    data = _diff_json("--old", str(DEMO), "--new", str(new_rules), str(CASES))
    saving = data["saving"]
    assert Decimal(saving["delta"]["CNY"]) == expected["delta"]
    assert Decimal(saving["new"]["CNY"]) - Decimal(saving["old"]["CNY"]) == expected["delta"]
    assert Decimal(saving["old"]["CNY"]) == _total(_records(DEMO))
    assert data["currency_differs"] is False


def test_json_shape_and_rule_set_identity(new_rules: Path) -> None:
    data = _diff_json("--old", str(DEMO), "--new", str(new_rules), str(CASES))
    assert list(data) == [
        "old_ruleset",
        "new_ruleset",
        "currency_differs",
        "cases",
        "changed_cases",
        "items_compared",
        "items_status_changed",
        "items_saving_changed",
        "by_test",
        "by_status",
        "changes",
        "saving",
        "errors",
        "sample",
    ]
    old_engine, new_engine = Engine.from_path(str(DEMO)), Engine.from_path(str(new_rules))
    assert data["old_ruleset"] == {
        "id": "demo",
        "version": "2025.1",
        "digest": old_engine.rules.digest,
        "currency": "CNY",
    }
    assert data["new_ruleset"]["version"] == "2025.2"
    assert data["new_ruleset"]["digest"] == new_engine.rules.digest != old_engine.rules.digest
    assert set(data["saving"]) == {"old", "new", "delta"}


def test_sample_has_both_explanations_and_is_bounded(new_rules: Path) -> None:
    data = _diff_json("--old", str(DEMO), "--new", str(new_rules), str(CASES), "--sample", "2")
    assert len(data["sample"]) == min(2, data["changed_cases"])
    flipped = [
        item
        for case in data["sample"]
        for item in case["items"]
        if (item["old"]["status"], item["new"]["status"]) == ("waive", "retest")
    ]
    assert flipped, data["sample"]
    item = flipped[0]
    assert item["code"] == "GLU"
    assert item["old"]["saving"] == "5.00" and item["new"]["saving"] == "0.00"
    assert item["old"]["reasons"] == []
    too_old = [r for r in item["new"]["reasons"] if r["code"] == "too_old"]
    assert too_old and "3d" in too_old[0]["message"]
    full = _diff_json("--old", str(DEMO), "--new", str(new_rules), str(CASES))
    assert len(full["sample"]) == min(5, full["changed_cases"])
    none = _diff_json("--old", str(DEMO), "--new", str(new_rules), str(CASES), "--sample", "0")
    assert none["sample"] == [] and none["changed_cases"] == full["changed_cases"]


def test_identical_rule_sets_change_nothing(tmp_path: Path) -> None:
    copy = tmp_path / "same"
    shutil.copytree(DEMO, copy)
    data = _diff_json("--old", str(DEMO), "--new", str(copy), str(CASES))
    assert data["changed_cases"] == data["items_status_changed"] == 0
    assert data["items_saving_changed"] == 0
    assert data["changes"] == data["sample"] == []
    assert data["saving"]["delta"] == {"CNY": "0.00"}
    assert data["old_ruleset"]["digest"] == data["new_ruleset"]["digest"]


def test_terminal_output_names_the_change(new_rules: Path) -> None:
    result = CliRunner().invoke(
        main, ["diff", "--old", str(DEMO), "--new", str(new_rules), str(CASES)]
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "\x1b[" not in out  # no colour off a terminal
    for text in ("2025.1", "2025.2", "waive → retest", "GLU", "too_old", "Total saving"):
        assert text in out
    assert max(len(line) for line in out.splitlines()) >= 100


def test_stdin_and_gzip(new_rules: Path) -> None:
    raw = CASES.read_bytes()
    plain = _diff_json("--old", str(DEMO), "--new", str(new_rules), str(CASES))
    result = CliRunner().invoke(
        main,
        ["diff", "--old", str(DEMO), "--new", str(new_rules), "-", "--json"],
        input=gzip.compress(raw),
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == plain


def test_bad_rule_set_exits_2(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(DEMO, broken)
    (broken / "catalogue.yaml").write_text("tests: [\n", encoding="utf-8")
    result = CliRunner().invoke(
        main, ["diff", "--old", str(DEMO), "--new", str(broken), str(CASES)]
    )
    assert result.exit_code == 2
    assert "invalid" in result.stderr


def test_unreadable_input_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "cases.jsonl.gz"
    bad.write_bytes(gzip.compress(b'{"a": 1}\n' * 50)[:30])  # truncated gzip
    result = CliRunner().invoke(main, ["diff", "--old", str(DEMO), "--new", str(DEMO), str(bad)])
    assert result.exit_code == 2
    assert "cannot read" in result.stderr


def test_error_flips_are_counted_both_ways() -> None:
    ok = {"order_id": "O-1", "currency": "CNY", "saving": "5.00", "items": []}
    err = {"line": 1, "order_id": "O-1", "error": {"code": "invalid_input", "message": "x"}}
    diff = RuleDiff(sample_size=1)
    diff.add(1, ok, err)
    diff.add(2, err, ok)
    data = diff.as_dict()
    assert data["errors"]["became_error"] == data["errors"]["stopped_error"] == 1
    assert data["errors"]["became_error_lines"] == [1]
    assert data["errors"]["stopped_error_lines"] == [2]
    assert data["changed_cases"] == 2 and len(data["sample"]) == 1
    assert data["saving"]["delta"] == {"CNY": "0.00"}


def test_status_changes_displace_saving_only_cases_in_a_full_sample() -> None:
    def record(status: str, saving: str) -> dict[str, Any]:
        item = {"code": "GLU", "status": status, "saving": saving, "reasons": []}
        return {"order_id": "O", "currency": "CNY", "saving": saving, "items": [item]}

    diff = RuleDiff(sample_size=2)
    diff.add(1, record("waive", "5.00"), record("waive", "6.00"))
    diff.add(2, record("waive", "5.00"), record("waive", "6.00"))
    diff.add(3, record("waive", "5.00"), record("retest", "0.00"))
    diff.add(4, record("waive", "5.00"), record("waive", "6.00"))
    data = diff.as_dict()
    assert [case["line"] for case in data["sample"]] == [1, 3]
    assert "minor" not in data["sample"][0]
    assert data["changed_cases"] == 4 and data["items_saving_changed"] == 3
