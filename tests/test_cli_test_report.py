"""``labrecog test``: every problem of every test file at once, ``-v``, JSON and JUnit reports."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from labrecog.cli import main

DEMO = Path(__file__).resolve().parent.parent / "rules" / "demo"

# One passing and one failing test: the suite every report format is shown on.
WRONG_EXPECTATION = (
    "- name: ok\n"
    "  case: {order: [GLU], priors: [{code: GLU}]}\n"
    "  expect: {GLU: {status: waive}}\n"
    "- name: wrong\n"
    "  case: {order: [GLU], priors: [{code: GLU, age: 8d}]}\n"
    "  expect:\n"
    "    GLU: {status: waive}\n"
)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["test", *args])
    return result.exit_code, result.output


@pytest.fixture
def broken(copy: Path) -> Path:
    """Three problems in two files: two bad tests in one, a refused case in another."""
    (copy / "tests" / "bad1.yaml").write_text(
        "- name: a\n"
        "  case: {ordr: [GLU]}\n"
        "  expect: {GLU: {status: waive}}\n"
        "- name: fine\n"
        "  case: {order: [GLU]}\n"
        "  expect: {GLU: {status: retest}}\n"
        "- name: b\n"
        "  case: {order: [GLU]}\n"
        "  expect: {GLU: {stauts: waive}}\n",
        encoding="utf-8",
    )
    (copy / "tests" / "bad2.yaml").write_text(
        "- name: typo\n"
        "  case: {order: [GLU], flags: [emergncy]}\n"
        "  expect: {GLU: {status: retest}}\n",
        encoding="utf-8",
    )
    return copy


def test_every_problem_of_every_test_file_is_reported(broken: Path) -> None:
    code, out = run(str(broken))
    assert code == 2, out
    lines = out.strip().splitlines()
    bad1, bad2 = broken / "tests" / "bad1.yaml", broken / "tests" / "bad2.yaml"
    assert lines[0].startswith(f"{bad1}:2:10: unknown key 'ordr'"), lines
    assert lines[1].startswith(f"{bad1}:9:18: unknown key 'stauts'"), lines
    assert lines[2].startswith(f"{bad2}:2:9: test typo: invalid case:"), lines
    assert lines[-1] == "3 problem(s) in test files"
    assert len(lines) == 4


def test_a_yaml_syntax_error_and_a_bad_test_in_other_files_are_both_reported(copy: Path) -> None:
    (copy / "tests" / "a.yaml").write_text("- name: a\n  case: {order: [GLU]\n", encoding="utf-8")
    (copy / "tests" / "b.yaml").write_text("{not: a list}\n", encoding="utf-8")
    code, out = run(str(copy))
    assert code == 2
    lines = out.strip().splitlines()
    assert lines[0].startswith(f"{copy / 'tests' / 'a.yaml'}:3:1:")
    assert lines[1].startswith(f"{copy / 'tests' / 'b.yaml'}:1:1: a test file is a list")
    assert lines[-1] == "2 problem(s) in test files"


def test_verbose_lists_every_test_with_its_outcome(copy: Path) -> None:
    path = copy / "tests" / "zz_wrong.yaml"
    path.write_text(WRONG_EXPECTATION, encoding="utf-8")
    code, out = run(str(copy), "-v", "-k", "o")
    assert code == 1
    lines = out.strip().splitlines()
    assert f"{path}:1: ok PASSED" in lines
    assert f"{path}:4: wrong FAILED" in lines
    listed = [line for line in lines if line.endswith((" PASSED", " FAILED"))]
    passed, failed = (int(w) for w in lines[-1].replace(",", "").split()[::2])
    assert len(listed) == passed + failed
    # the failure's detail still follows the listing
    assert lines.index(f"{path}:4: wrong FAILED") < next(
        i for i, line in enumerate(lines) if line.startswith(f"{path}:7: test wrong:")
    )


def test_verbose_in_chinese(copy: Path) -> None:
    path = copy / "tests" / "zz_wrong.yaml"
    path.write_text(WRONG_EXPECTATION, encoding="utf-8")
    _, out = run(str(copy), "-v", "-k", "wrong", "--lang", "zh")
    assert f"{path}:4: wrong 失败" in out.splitlines()


def test_json_report(copy: Path) -> None:
    path = copy / "tests" / "zz_wrong.yaml"
    path.write_text(WRONG_EXPECTATION, encoding="utf-8")
    code, out = run(str(copy), "--format", "json", "--coverage")
    assert code == 1
    doc = json.loads(out)
    assert doc["ruleset"]["id"] == "demo"
    totals = doc["totals"]
    assert totals["failed"] == 1
    assert totals["errors"] == 0
    assert totals["tests"] == totals["passed"] + 1 > 50
    assert doc["errors"] == []
    wrong = [t for t in doc["tests"] if t["name"] == "wrong"]
    assert wrong == [
        {
            "file": str(path),
            "line": 4,
            "name": "wrong",
            "outcome": "failed",
            "message": wrong[0]["message"],
        }
    ]
    assert wrong[0]["message"].startswith(f"{path}:7: test wrong: GLU: expected status waive")
    ok = next(t for t in doc["tests"] if t["name"] == "ok")
    assert ok == {"file": str(path), "line": 1, "name": "ok", "outcome": "passed"}
    assert doc["coverage"]["overall"] == 100.0
    assert doc["coverage"]["kinds"]["tests"]["missing"] == []
    assert "duration" not in out and "time" not in out


def test_json_report_is_deterministic() -> None:
    first = run(str(DEMO), "--format", "json", "--coverage")
    second = run(str(DEMO), "--format", "json", "--coverage")
    assert first == second
    assert first[0] == 0


def test_json_report_carries_invalid_test_files(broken: Path) -> None:
    code, out = run(str(broken), "--format", "json")
    assert code == 2
    doc = json.loads(out)
    assert doc["totals"]["errors"] == 3
    first = doc["errors"][0]
    assert first["file"] == str(broken / "tests" / "bad1.yaml")
    assert (first["line"], first["col"]) == (2, 10)
    assert "ordr" in first["message"]


def test_junit_report(copy: Path) -> None:
    path = copy / "tests" / "zz_wrong.yaml"
    path.write_text(WRONG_EXPECTATION, encoding="utf-8")
    code, out = run(str(copy), "--format", "junit")
    assert code == 1
    root = ET.fromstring(out)
    assert root.tag == "testsuites"
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert str(path) in suites
    suite = suites[str(path)]
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "1", "0")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["ok"].find("failure") is None
    failure = cases["wrong"].find("failure")
    assert failure is not None
    assert "expected status waive, got retest" in (failure.get("message") or "")
    assert cases["wrong"].get("file") == str(path)
    assert cases["wrong"].get("line") == "4"
    assert int(root.get("tests") or 0) == sum(int(s.get("tests") or 0) for s in suites.values())
    assert root.get("failures") == "1"
    assert "time" not in out


def test_junit_report_carries_invalid_test_files_as_errors(broken: Path) -> None:
    code, out = run(str(broken), "--format", "junit")
    assert code == 2
    root = ET.fromstring(out)
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    bad1 = suites[str(broken / "tests" / "bad1.yaml")]
    assert bad1.get("errors") == "2"
    errors = [e.get("message") or "" for e in bad1.iter("error")]
    assert any("ordr" in m for m in errors) and any("stauts" in m for m in errors)
    assert root.get("errors") == "3"


def test_report_to_file(copy: Path, tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.xml"
    code, out = run(str(copy), "--format", "junit", "-o", str(target))
    assert code == 0
    assert out == ""
    assert ET.parse(target).getroot().tag == "testsuites"


@pytest.mark.parametrize("victim", ["ruleset.yaml", "tests/catalogue.yaml", "new.yaml"])
def test_report_never_written_over_the_rule_set(copy: Path, victim: str) -> None:
    target = copy / victim
    before = target.read_bytes() if target.exists() else None
    code, out = run(str(copy), "--format", "json", "-o", str(target))
    assert code == 2
    assert "-o" in out
    assert (target.read_bytes() if target.exists() else None) == before


def test_output_file_needs_a_machine_format(copy: Path, tmp_path: Path) -> None:
    code, out = run(str(copy), "-o", str(tmp_path / "r.txt"))
    assert code == 2
    assert "--format json or junit" in out


def test_update_says_what_it_wrote_before_the_count_or_beside_a_report(copy: Path) -> None:
    result = CliRunner().invoke(main, ["test", str(copy), "-k", "LIPID", "--update"])
    lines = result.output.strip().splitlines()
    assert lines[-2:] == [f"wrote {copy / 'tests' / 'panels.actual.yaml'}", "2 passed, 0 failed"]
    result = CliRunner().invoke(
        main, ["test", str(copy), "-k", "LIPID", "--update", "--format", "json"]
    )
    assert json.loads(result.stdout)["totals"]["passed"] == 2
    assert result.stderr.strip() == f"wrote {copy / 'tests' / 'panels.actual.yaml'}"
