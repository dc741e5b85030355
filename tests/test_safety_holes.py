"""Regression tests for the fail-closed and data-safety holes of issue 12.

1. a text result whose unit does not parse (or is not the test's) was still used;
2. one file of a folder rule set loaded as an empty catalogue under the set's id;
3. output files were created 0600 whatever the umask;
4. ``evaluate … | head`` printed ``[Errno 32] Broken pipe`` and exited 2, and ``report``
   on a file with no decision exited 0 with an all-zero report;
5. ``currency: RMB`` was accepted.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from labrecog import Engine, RulesetError
from labrecog.batch.io import atomic_output
from labrecog.cli import main
from labrecog.load import load_ruleset
from tests.builders import DELETE, DEMO, ROOT, case, item, prior

RULES_DIR = ROOT / "rules"
SHIPPED = ("demo", "cn-reference", "uk-mri", "us-retest")


def hbsag(**overrides: Any) -> dict[str, Any]:
    """A qualitative HBsAg result of rules/demo: text, no value, no unit."""
    base: dict[str, Any] = {
        "code": "HBSAG",
        "loinc": "5196-1",
        "value": DELETE,
        "unit": DELETE,
        "reference_range": DELETE,
        "value_text": "negative",
    }
    return prior(**{**base, **overrides})


def reasons_on(entry: dict[str, Any], result_id: str) -> set[str]:
    return {r["code"] for r in entry["reasons"] if r.get("result_id") == result_id}


# --------------------------------------------------------------------------- 1. text + unit


@pytest.mark.parametrize("unit", ["furlong/fortnight", "mg/dL/", "[foo]", "MG/DX"])
def test_a_text_result_whose_unit_does_not_parse_is_not_used(unit: str) -> None:
    entry = item(case(hbsag(unit=unit), tests=["HBSAG"]), "HBSAG")
    assert entry["status"] == "retest"
    assert reasons_on(entry, "R-1") == {"unit_unknown"}


def test_the_refusal_names_the_unit_in_both_languages() -> None:
    data = case(hbsag(unit="furlong/fortnight"), tests=["HBSAG"])
    (reason,) = item(data, "HBSAG")["reasons"]
    assert "furlong/fortnight" in reason["message"]
    zh = Engine.from_path(DEMO, lang="zh")
    (reason,) = item(data, "HBSAG", zh)["reasons"]
    assert reason["code"] == "unit_unknown" and "furlong/fortnight" in reason["message"]


@pytest.mark.parametrize("unit", [None, "[IU]/mL", "IU/mL", "{s_co_ratio}", "1"])
def test_a_text_result_with_a_valid_unit_or_none_is_still_used(unit: str | None) -> None:
    """A test that declares no unit reads the text; a unit that parses says nothing more."""
    entry = item(case(hbsag(unit=unit if unit is not None else DELETE), tests=["HBSAG"]), "HBSAG")
    assert entry["status"] == "waive", entry["reasons"]


def test_a_newer_text_result_with_a_bad_unit_keeps_the_older_one_back() -> None:
    """Like a numeric result whose unit does not convert: it cannot be compared, so the
    older result is not relied on (the waiver would not rest on the latest picture)."""
    older = hbsag(id="R-1")
    newer = hbsag(
        id="R-2",
        unit="furlong/fortnight",
        collected_at="2025-03-01T08:00:00+08:00",
        reported_at="2025-03-01T11:00:00+08:00",
    )
    entry = item(case(older, newer, tests=["HBSAG"]), "HBSAG")
    assert entry["status"] == "retest"
    assert reasons_on(entry, "R-2") == {"unit_unknown"}
    assert reasons_on(entry, "R-1") == {"newer_result_conflicts"}


QUALITATIVE_WITH_UNIT = """\
id: qual-unit
version: "1"
currency: CNY
timezone: Asia/Shanghai
defaults: {max_age: 14d, reference_range_required: false}
recognition: {regions: ["*"], quality_assessment: not_required, require_authorization: false,
              unlisted_institutions: use_claims}
tests:
  - code: HBSAG
    loinc: [5196-1]
    scale: qualitative
    unit: "[IU]/mL"
    values: {normal: [negative], abnormal: [positive]}
    price: "10.00"
"""


@pytest.fixture(scope="module")
def qual_unit(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    path = tmp_path_factory.mktemp("qual") / "rules.yaml"
    path.write_text(QUALITATIVE_WITH_UNIT, encoding="utf-8")
    return Engine.from_path(path)


@pytest.mark.parametrize(
    ("unit", "status", "reasons"),
    [
        (None, "waive", set()),
        ("[IU]/mL", "waive", set()),
        ("m[IU]/mL", "waive", set()),  # the same arbitrary unit, another prefix
        ("mmol/L", "retest", {"unit_incompatible"}),  # another kind of quantity
        ("furlong/fortnight", "retest", {"unit_unknown"}),
    ],
)
def test_a_qualitative_test_that_declares_a_unit_takes_only_its_family(
    qual_unit: Engine, unit: str | None, status: str, reasons: set[str]
) -> None:
    data = case(hbsag(unit=unit if unit is not None else DELETE), tests=["HBSAG"])
    entry = item(data, "HBSAG", qual_unit)
    assert entry["status"] == status
    assert reasons_on(entry, "R-1") == reasons


def test_a_qualitative_tests_declared_unit_is_checked_at_load(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(QUALITATIVE_WITH_UNIT.replace('"[IU]/mL"', "furlong/fortnight"), "utf-8")
    with pytest.raises(RulesetError) as info:
        load_and_compile(path)
    (problem,) = info.value.problems
    assert (problem.line, problem.col) == (12, 11)
    assert "furlong/fortnight" in problem.message


def load_and_compile(path: Path) -> Engine:
    return Engine.from_path(path)


# --------------------------------------------------------------------------- 2. one file


def _fragments() -> list[Path]:
    return sorted(p for name in SHIPPED for p in (RULES_DIR / name).glob("*.yaml"))


@pytest.mark.parametrize("path", _fragments(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_one_file_of_a_folder_rule_set_is_refused(path: Path) -> None:
    with pytest.raises(RulesetError) as info:
        load_ruleset(path)
    messages = [str(p) for p in info.value.problems]
    assert any("one file of the rule set in" in m for m in messages), messages
    first = info.value.problems[0]
    assert first.file.endswith(f"{path.parent.name}/{path.name}")
    assert (first.line, first.col) == (1, 1)


def test_validate_and_evaluate_refuse_one_file_of_a_folder_set(tmp_path: Path) -> None:
    runner = CliRunner()
    checked = runner.invoke(main, ["validate", str(DEMO / "ruleset.yaml")])
    assert checked.exit_code == 1, checked.output
    assert "ok:" not in checked.output
    assert "ruleset.yaml:1:1: " in checked.output
    cases = tmp_path / "cases.jsonl"
    cases.write_bytes(orjson.dumps(case(prior())) + b"\n")
    ran = runner.invoke(main, ["evaluate", str(cases), "--rules", str(DEMO / "ruleset.yaml")])
    assert ran.exit_code == 2
    assert "unknown_test" not in ran.output


EMPTY = """\
id: empty
version: "1"
currency: CNY
"""


def test_an_empty_catalogue_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(EMPTY, encoding="utf-8")
    with pytest.raises(RulesetError) as info:
        load_ruleset(path)
    (problem,) = info.value.problems
    assert (problem.file.endswith("rules.yaml"), problem.line, problem.col) == (True, 1, 1)
    assert "no tests" in problem.message


def test_an_explicitly_empty_test_list_is_refused_where_it_is(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(EMPTY + "tests: []\n", encoding="utf-8")
    with pytest.raises(RulesetError) as info:
        load_ruleset(path)
    (problem,) = info.value.problems
    assert (problem.line, problem.col) == (4, 8)
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 1
    assert f"{problem}" in result.output


def test_a_single_file_rule_set_beside_other_whole_rule_sets_loads(tmp_path: Path) -> None:
    """Only fragments (files without an id) make a file part of a folder rule set."""
    whole = (DEMO / "ruleset.yaml").read_text("utf-8")
    for part in ("catalogue", "conditions", "institutions"):
        whole += "\n" + (DEMO / f"{part}.yaml").read_text("utf-8")
    (tmp_path / "a.yaml").write_text(whole, "utf-8")
    (tmp_path / "b.yaml").write_text(whole.replace("id: demo", "id: other"), "utf-8")
    (tmp_path / "notes.yaml").write_text("owner: lab office\n", "utf-8")  # not a rule file
    loaded = load_ruleset(tmp_path / "a.yaml")
    assert loaded.rules.id == "demo"
    # the same content, one file or four: the same digest
    assert loaded.digest == load_ruleset(DEMO).digest


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_rule_sets_still_load_and_list_exactly_their_files(name: str) -> None:
    loaded = load_ruleset(RULES_DIR / name)
    assert [Path(f).name for f in loaded.files] == sorted(
        p.name for p in (RULES_DIR / name).glob("*.yaml")
    )
    assert loaded.rules.tests


# --------------------------------------------------------------------------- 3. umask


@pytest.fixture
def umask() -> Iterator[Any]:
    old = os.umask(0o022)
    try:
        yield os.umask
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_output_follows_the_umask(
    tmp_path: Path, umask: Any, mask: int, expected: int
) -> None:
    umask(mask)
    target = tmp_path / "out" / "file.jsonl"
    with atomic_output(str(target)) as sink:
        sink.write(b"x\n")
    assert mode(target) == expected
    assert target.read_bytes() == b"x\n"
    assert not list(target.parent.glob("*.partial"))


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o077, 0o600)])
def test_every_file_the_cli_writes_follows_the_umask(
    tmp_path: Path, umask: Any, mask: int, expected: int
) -> None:
    umask(mask)
    cases = tmp_path / "cases.jsonl"
    cases.write_bytes(orjson.dumps(case(prior())) + b"\n")
    out, summary, page = tmp_path / "d.jsonl", tmp_path / "s.json", tmp_path / "r.html"
    runner = CliRunner()
    ran = runner.invoke(
        main,
        ["evaluate", str(cases), "--rules", str(DEMO), "-q", "-o", str(out),
         "--summary-json", str(summary)],
    )  # fmt: skip
    assert ran.exit_code == 0, ran.output
    reported = runner.invoke(main, ["report", str(out), "--html", str(page)])
    assert reported.exit_code == 0, reported.output
    assert [mode(p) for p in (out, summary, page)] == [expected] * 3


def test_a_rewritten_output_takes_the_umask_not_a_private_mode(tmp_path: Path, umask: Any) -> None:
    umask(0o022)
    target = tmp_path / "d.jsonl"
    for _ in range(2):
        with atomic_output(str(target)) as sink:
            sink.write(b"{}\n")
        assert mode(target) == 0o644


# --------------------------------------------------------------------------- 4. pipes, report


def _many_cases(path: Path, n: int) -> None:
    """Enough decisions to overflow any pipe buffer, so the early close is always felt."""
    with path.open("wb") as sink:
        for i in range(n):
            sink.write(orjson.dumps(case(prior(id=f"R-{i}"), order_id=f"O-{i}")) + b"\n")


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_evaluate_into_a_pipe_closed_early_exits_quietly(tmp_path: Path, jobs: str) -> None:
    cases = tmp_path / "cases.jsonl"
    _many_cases(cases, 600)  # ~600 KB of decisions against a 64 KB pipe
    proc = subprocess.Popen(
        [sys.executable, "-m", "labrecog", "evaluate", str(cases), "--rules", str(DEMO),
         "--jobs", jobs],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    assert first.startswith(b'{"order_id":"O-0"')
    proc.stdout.close()  # what `head -1` does
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 141
    assert b"Errno" not in err and b"Traceback" not in err and b"Broken pipe" not in err
    assert err == b"", err


@pytest.mark.parametrize(
    "args",
    [["report", "{decisions}"], ["report", "{decisions}", "--json"], ["schema", "rules"]],
)
def test_other_commands_into_a_closed_pipe_exit_quietly(tmp_path: Path, args: list[str]) -> None:
    decisions = tmp_path / "decisions.jsonl"
    one = case(prior())
    line = orjson.dumps(Engine.from_path(DEMO).evaluate(one).model_dump(mode="json"))
    with decisions.open("wb") as sink:
        for i in range(400):  # many distinct tests and labs: long tables
            sink.write(line.replace(b'"GLU"', f'"T{i}"'.encode()) + b"\n")
    argv = [a.format(decisions=decisions) for a in args]
    proc = subprocess.Popen(
        [sys.executable, "-m", "labrecog", *argv, *(["--top", "400"] if "report" in argv else [])],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(1)
    proc.stdout.close()
    err = proc.stderr.read()
    code = proc.wait(timeout=60)
    assert b"Errno" not in err and b"Traceback" not in err and b"Exception" not in err, err
    assert code in (0, 141)  # 0 only if everything fitted in the pipe before it closed


@pytest.mark.parametrize("content", [b"", b"\n\n", b"CASES"])
def test_report_on_a_file_with_no_decision_exits_1(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.jsonl"
    if content == b"CASES":  # a file of cases given by mistake
        content = b"".join(orjson.dumps(case(prior(), order_id=f"O-{i}")) + b"\n" for i in range(3))
    path.write_bytes(content)
    page = tmp_path / "r.html"
    for extra in ([], ["--json"], ["--html", str(page)]):
        result = CliRunner().invoke(main, ["report", str(path), *extra])
        assert result.exit_code == 1, (extra, result.output)
        assert result.stdout == ""
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith(f"labrecog report: no decision in {path}")
        assert not page.exists()


def test_report_on_error_records_only_still_reports(tmp_path: Path) -> None:
    path = tmp_path / "errors.jsonl"
    record = {"line": 1, "order_id": None, "error": {"code": "invalid_input", "message": "x"}}
    path.write_bytes(orjson.dumps(record) + b"\n")
    result = CliRunner().invoke(main, ["report", str(path), "--json"])
    assert result.exit_code == 0
    assert orjson.loads(result.stdout)["totals"]["cases"] == 1


# --------------------------------------------------------------------------- 5. currency

CURRENCY_RULES = """\
id: money
version: "1"
currency: {currency}
tests:
  - code: GLU
    unit: mmol/L
    price: "5.00"
defaults: {{reference_range_required: false}}
"""


@pytest.mark.parametrize(
    ("given", "hint"),
    [
        ("RMB", "CNY"),
        ("YUAN", "CNY"),
        ("rmb", "CNY"),
        ("cny", "CNY"),
        ("UKP", "GBP"),
        ("STG", "GBP"),
        ("NIS", "ILS"),
        ("EURO", "EUR"),
        ("NTD", "TWD"),
        ("XYZ", None),
    ],
)
def test_currency_must_be_an_iso_4217_code(tmp_path: Path, given: str, hint: str | None) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(CURRENCY_RULES.format(currency=given), encoding="utf-8")
    with pytest.raises(RulesetError) as info:
        load_ruleset(path)
    (problem,) = info.value.problems
    assert (problem.line, problem.col) == (3, 11)
    assert f"'{given}' is not an ISO 4217 currency code" in problem.message
    if hint is None:
        assert "did you mean" not in problem.message
    else:
        assert problem.message.endswith(f"(did you mean {hint}?)")


@pytest.mark.parametrize("code", ["CNY", "USD", "GBP", "EUR", "JPY", "HKD", "KWD", "CHF"])
def test_iso_currencies_load(tmp_path: Path, code: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(CURRENCY_RULES.format(currency=code), encoding="utf-8")
    assert load_ruleset(path).rules.currency == code


def test_a_currency_that_is_not_text_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(CURRENCY_RULES.format(currency="156"), encoding="utf-8")
    with pytest.raises(RulesetError) as info:
        load_ruleset(path)
    (problem,) = info.value.problems
    assert (problem.line, problem.col) == (3, 11)


def test_currency_in_validate_output(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(CURRENCY_RULES.format(currency="RMB"), encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 1
    assert "rules.yaml:3:11: currency: 'RMB' is not an ISO 4217 currency code" in result.output
