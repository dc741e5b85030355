"""``labrecog test``: the demo's own tests pass, failures and invalid files are located."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from labrecog.cli import main
from tests.test_cli_test_report import WRONG_EXPECTATION

DEMO = Path(__file__).resolve().parent.parent / "rules" / "demo"


def run(*args: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(main, ["test", *args])
    return result.exit_code, result.output.strip().splitlines()


def test_demo_tests_pass() -> None:
    code, lines = run(str(DEMO))
    assert code == 0, lines
    assert lines[-1].endswith(" passed, 0 failed")
    assert int(lines[-1].split()[0]) > 50


def test_wrong_expectation_fails_with_location_and_difference(copy: Path) -> None:
    path = copy / "tests" / "zz_wrong.yaml"
    path.write_text(WRONG_EXPECTATION, encoding="utf-8")
    code, lines = run(str(copy), "-k", "wrong")
    assert code == 1
    assert lines[0].startswith(f"{path}:7: test wrong: GLU: expected status waive, got retest")
    assert "too_old R-1:" in lines[0]
    assert lines[-1] == "0 passed, 1 failed"


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("- name: a\n  case: {order: [GLU]\n", ":3:1:", "expected ','"),
        (
            "- name: a\n  case: {order: [GLU]}\n  expect: {GLU: {stauts: waive}}\n",
            ":3:18:",
            "stauts",
        ),
        ("- name: a\n  case: {ordr: [GLU]}\n  expect: {GLU: {status: waive}}\n", ":2:10:", "ordr"),
        (
            "- name: a\n  case: {order: [GLU], priors: [{code: GLU, age: 8m}]}\n"
            "  expect: {GLU: {status: waive}}\n",
            ":2:50:",
            "duration",
        ),
    ],
)
def test_invalid_test_file_exits_2_with_position(
    copy: Path, text: str, where: str, message: str
) -> None:
    path = copy / "tests" / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    code, lines = run(str(copy))
    assert code == 2
    assert lines[0].startswith(f"{path}{where}"), lines
    assert message in lines[0]


def test_invalid_rule_set_exits_2(copy: Path) -> None:
    (copy / "catalogue.yaml").write_text("tests: [{code: GLU}]\n", encoding="utf-8")
    code, _ = run(str(copy))
    assert code == 2


def test_k_selects_by_name() -> None:
    code, lines = run(str(DEMO), "-k", "exception ")
    assert code == 0
    assert lines[-1] == "8 passed, 0 failed"


def test_coverage_complete_on_demo() -> None:
    code, lines = run(str(DEMO), "--coverage", "--fail-under", "100")
    assert code == 0, lines
    assert any(line.split()[:2] == ["overall", "100.0%"] for line in lines)


def test_coverage_below_threshold_fails(copy: Path) -> None:
    path = copy / "tests" / "exceptions.yaml"
    text = path.read_text(encoding="utf-8")
    start = text.index("- name: exception forensic_appraisal")
    end = text.index("- name:", start + 1)
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    code, lines = run(str(copy), "--coverage", "--fail-under", "100")
    assert code == 1
    assert any("not exercised: forensic_appraisal" in line for line in lines)
    assert lines[-1].endswith(" passed, 0 failed")


def test_case_the_engine_refuses_exits_2(copy: Path) -> None:
    path = copy / "tests" / "bad.yaml"
    path.write_text(
        "- name: typo\n"
        "  case: {order: [GLU], flags: [emergncy]}\n"
        "  expect: {GLU: {status: retest}}\n",
        encoding="utf-8",
    )
    code, lines = run(str(copy))
    assert code == 2
    assert lines[0].startswith(f"{path}:2:9: test typo: invalid case:")
    assert "did you mean 'emergency'" in lines[0]
