"""``labrecog test --update``: actual outcomes go to a new, reviewable, runnable file."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from click.testing import CliRunner

from labrecog.authoring.runner import find_test_files, load_tests, run_tests
from labrecog.cli import main
from labrecog.engine import Engine
from tests.test_cli_test_report import run

DEMO = Path(__file__).resolve().parent.parent / "rules" / "demo"

WRONG = (
    "- name: wrong on purpose\n"
    "  case: {order: [GLU, GLU], priors: [{code: GLU, age: 8d}]}\n"
    "  expect: {GLU: {status: waive}}\n"
)


def test_update_writes_actual_next_to_each_file_and_leaves_tests_alone(copy: Path) -> None:
    before = {p.name: p.read_bytes() for p in (copy / "tests").iterdir()}
    code, out = run(str(copy), "--update")
    assert code == 0, out
    for name, content in before.items():
        assert (copy / "tests" / name).read_bytes() == content
        actual = copy / "tests" / name.replace(".yaml", ".actual.yaml")
        assert actual.is_file()
        assert f"wrote {actual}" in out
    # The generated files are not run as tests: the count is unchanged.
    plain = CliRunner().invoke(main, ["test", str(DEMO)]).output.strip().splitlines()[-1]
    code, out = run(str(copy))
    assert code == 0
    assert out.strip().splitlines()[-1] == plain
    assert find_test_files(copy) == sorted((copy / "tests") / n for n in before)


def test_actual_records_the_real_outcome_of_a_failing_test(copy: Path) -> None:
    (copy / "tests" / "zz.yaml").write_text(WRONG, "utf-8")
    code, out = run(str(copy), "-k", "wrong on purpose", "--update")
    assert code == 1, out
    data = yaml.safe_load((copy / "tests" / "zz.actual.yaml").read_text("utf-8"))
    assert data == [
        {
            "name": "wrong on purpose",
            "case": {"order": ["GLU", "GLU"], "priors": [{"code": "GLU", "age": "8d"}]},
            "expect": {
                "GLU": {
                    "status": "retest",
                    "reasons": ["too_old"],
                    "result_id": None,
                    "saving": "0.00",
                },
                "GLU#2": {
                    "status": "retest",
                    "reasons": ["too_old"],
                    "result_id": None,
                    "saving": "0.00",
                },
            },
        }
    ]
    # -k selects what is written: only the file holding the selected test.
    assert not (copy / "tests" / "checks.actual.yaml").exists()


def test_generated_files_load_and_pass_as_test_files(copy: Path, tmp_path: Path) -> None:
    (copy / "tests" / "zz.yaml").write_text(WRONG, "utf-8")
    assert run(str(copy), "--update")[0] == 1
    adopted = tmp_path / "adopted"
    shutil.copytree(copy, adopted, ignore=shutil.ignore_patterns("tests"))
    (adopted / "tests").mkdir()
    for actual in (copy / "tests").glob("*.actual.yaml"):
        shutil.copy(actual, adopted / "tests" / actual.name.replace(".actual", ""))
    engine = Engine.from_path(adopted)
    tests = load_tests(engine, find_test_files(adopted))
    result = run_tests(engine, tests)
    assert not result.failures, [str(f) for f in result.failures]
    assert result.passed == len(tests) > 80
    # Every expectation is complete: status, exact reasons, result used and saving.
    for test in tests:
        for exp in test.expect:
            assert exp.status is not None and exp.reasons is not None
            assert exp.check_result_id and exp.saving is not None


def test_update_overwrites_its_own_file_but_not_a_hand_written_one(copy: Path) -> None:
    target = copy / "tests" / "panels.actual.yaml"
    assert run(str(copy), "-k", "LIPID", "--update")[0] == 0
    first = target.read_text("utf-8")
    assert run(str(copy), "-k", "LFT", "--update")[0] == 0
    assert target.read_text("utf-8") != first  # regenerated
    target.write_text("- name: mine\n", "utf-8")
    code, out = run(str(copy), "--update")
    assert code == 2
    assert "exists and was not written by --update" in out
    assert target.read_text("utf-8") == "- name: mine\n"
    assert not (copy / "tests" / "checks.actual.yaml").exists()  # nothing written at all
