"""``labrecog explain``: the readable table, the JSON, and the exit codes of docs/cli.md."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from labrecog import Engine
from labrecog.cli import main
from labrecog.cli.common import load_engine

from .builders import DEMO, ROOT, case, prior

CASES = ROOT / "examples" / "cases.jsonl"
LINES = CASES.read_text(encoding="utf-8").splitlines()
BAD_LINES = {23, 25, 26}  # cut off, mixed-up patient, NaN: see examples/README.md

# ``labrecog.cli.explain`` the attribute is the click command; the module is needed here.
explain_module = importlib.import_module("labrecog.cli.explain")
_ENGINES: dict[tuple[str, str | None], Engine] = {}


@pytest.fixture(autouse=True)
def _cached_engines(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Compile the demo rules once per language: each invocation would otherwise take ~0.6 s.

    A miss goes through the real ``load_engine``, so a bad rule set still exits 2.
    """

    def cached(path: str, lang: str | None = None) -> Engine:
        key = (str(Path(path).resolve()), lang)
        if key not in _ENGINES:
            _ENGINES[key] = load_engine(path, lang)
        return _ENGINES[key]

    monkeypatch.setattr(explain_module, "load_engine", cached)
    yield


def run(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, ["explain", *args], input=stdin)


def run_line(n: int, *extra: str) -> Result:
    return run(str(CASES), "--line", str(n), "--rules", str(DEMO), *extra)


def after(text: str, marker: str) -> str:
    """The output from ``marker`` on: reasons are printed after the result they are about."""
    assert marker in text, f"{marker!r} not in output:\n{text}"
    return text[text.index(marker) :]


# -- the table ------------------------------------------------------------------------------


def test_chinese_story_shows_glucose_waived_with_its_result() -> None:
    result = run_line(1, "--lang", "zh")
    assert result.exit_code == 0, result.output
    out = result.stdout
    glucose = after(out, "GLU  葡萄糖")
    assert "waive" in glucose.split("\n", 3)[2]
    assert "R-88" in glucose
    assert "临夏市人民医院" in glucose
    assert "开单前 4天1小时20分钟" in glucose
    # header: order, patient, ordering institution, rule set short digest
    assert "O-2025-000123" in out
    assert "P-001 · 男，63岁" in out
    assert "兰州大学第二医院 (LZU2)" in out
    assert "demo 2025.1 · sha256:" in out
    # the HbA1c is rejected as too old, with the Chinese message and its source
    assert "too_old: 采集于开单前 72天" in out
    assert "合计节省：5.00 CNY" in out


def test_english_is_the_rule_sets_language_by_default() -> None:
    out = run_line(1).stdout
    assert "GLU  Glucose" in out
    assert "Total saving: 5.00 CNY" in out
    assert "葡萄糖" not in out


def test_retest_lists_every_rejected_result_with_its_reasons() -> None:
    result = run_line(12)  # too old, collected after the order, reported after it
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "retest" in out
    for result_id, code in (
        ("R-301", "too_old"),
        ("R-302", "future_result"),
        ("R-303", "future_result"),
    ):
        assert code in after(out, f"{result_id} ·")
    assert "1h after the order" in after(out, "R-302 ·")
    assert "[source: assumed]" in after(out, "R-301 ·")


def test_one_result_with_several_reasons_is_described_once() -> None:
    out = run_line(19).stdout
    potassium = after(out, "K  Potassium")
    assert potassium.count("R-513 ·") == 1
    rest = after(potassium, "R-513 ·")
    assert "mark_missing" in rest
    assert "quality_not_assured" in rest


def test_an_ambiguous_result_is_rejected_for_ambiguity_alone() -> None:
    out = run_line(17).stdout
    rest = after(after(out, "K  Potassium"), "R-422 ·")
    assert "identity_conflict" in rest
    assert "reference_range_incompatible" not in rest.split("R-4", 1)[0]


def test_waived_item_names_the_superseded_candidate() -> None:
    out = run_line(7).stdout
    assert "R-242" in after(out, "Prior used")
    assert "superseded" in after(out, "R-241 ·")


def test_panel_shows_each_component() -> None:
    result = run_line(9)  # LFT partial: bilirubin's reference range differs
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "partial" in out
    assert "re-test: TBIL" in out
    for component, result_id in (("ALT", "R-26-ALT"), ("AST", "R-26-AST"), ("ALB", "R-26-ALB")):
        assert f"waived  {result_id}" in after(out, f"{component} ")
    tbil = after(out, "TBIL Total bilirubin")
    assert tbil.split("\n", 1)[0].rstrip().endswith("re-test")
    assert "reference_range_incompatible" in after(tbil, "R-26-TBIL")
    assert "Total saving: 54.00 CNY" in out


def test_panel_not_split_names_what_could_have_been_used() -> None:
    out = run_line(11).stdout
    assert "partial_not_allowed" in after(out, "R-281 ·")
    assert "result_status" in after(out, "R-282 ·")


def test_reasons_without_a_result_and_item_flags() -> None:
    out = run_line(22).stdout
    assert "Flags" in out and "emergency (emergency or resuscitation)" in out
    assert "patient_request" in after(out, "Item flags")
    assert "exception (patient_request)" in out


def test_unknown_code_and_alias() -> None:
    out = run_line(27, "--lang", "zh").stdout
    assert "unknown_test" in after(out, "HSCRP")
    assert "GLUC  葡萄糖  (= GLU)" in out


@pytest.mark.parametrize("n", [n for n in range(1, len(LINES) + 1) if n not in BAD_LINES])
def test_every_example_case_renders(n: int) -> None:
    result = run_line(n, "--lang", "zh" if n % 2 else "en")
    assert result.exit_code == 0, result.output
    assert "\x1b[" not in result.stdout  # not a terminal: no colour codes


def test_stdin_and_long_unbroken_text() -> None:
    long_name = "临夏回族自治州人民医院检验科" * 40
    data = case(
        prior(institution={"id": "LXRM", "name": long_name, "region": "621226", "level": 2}),
        prior(id="R-2", unit="[IU]/L"),
    )
    result = run("-", "--rules", str(DEMO), "--lang", "zh", stdin=json.dumps(data))
    assert result.exit_code == 0, result.output
    assert "[IU]/L" in result.stdout  # square brackets are text, not rich markup
    assert max(len(line) for line in result.stdout.splitlines()) <= 200


# -- --json ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "lang"), [(1, "zh"), (9, "en"), (17, None), (22, "zh")])
def test_json_is_the_engines_decision(n: int, lang: str | None) -> None:
    extra = ("--lang", lang) if lang else ()
    result = run_line(n, "--json", *extra)
    assert result.exit_code == 0, result.output
    engine = Engine.from_path(DEMO, lang="zh" if lang == "zh" else "en" if lang else None)
    expected: dict[str, Any] = engine.evaluate(json.loads(LINES[n - 1])).model_dump(mode="json")
    assert json.loads(result.stdout) == expected
    assert result.stdout.startswith("{\n  ")  # pretty
    assert "\\u" not in result.stdout  # UTF-8, not ASCII-escaped
    if lang == "zh":
        assert "采集于开单前" in result.stdout or "需重新检查" in result.stdout


def test_single_json_file(tmp_path: Path) -> None:
    path = tmp_path / "case.json"
    path.write_text(json.dumps(case(prior()), ensure_ascii=False, indent=2), encoding="utf-8")
    result = run(str(path), "--rules", str(DEMO), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["items"][0]["status"] == "waive"


# -- exit codes -----------------------------------------------------------------------------


def test_invalid_case_exits_2_naming_the_path() -> None:
    result = run_line(25)  # prior_results[1] belongs to another patient
    assert result.exit_code == 2
    assert "prior_results[1].patient_id: prior result belongs to patient P-903" in result.stderr
    assert result.stdout == ""


def test_invalid_fields_are_each_reported(tmp_path: Path) -> None:
    data = case(prior(value="6.4"), bogus=1)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    result = run(str(path), "--rules", str(DEMO))
    assert result.exit_code == 2
    assert "prior_results[0].value:" in result.stderr
    assert "bogus: unknown field" in result.stderr


def test_unknown_flag_is_an_invalid_case(tmp_path: Path) -> None:
    data = case(prior(), context={"setting": "outpatient", "flags": ["emergncy"]})
    result = run("-", "--rules", str(DEMO), stdin=json.dumps(data))
    assert result.exit_code == 2
    assert "context.flags[0]: unknown flag 'emergncy'" in result.stderr


def test_not_json_exits_2() -> None:
    result = run_line(23)  # cut off mid-record
    assert result.exit_code == 2
    assert "not valid JSON" in result.stderr


def test_jsonl_without_line_suggests_line() -> None:
    result = run(str(CASES), "--rules", str(DEMO))
    assert result.exit_code == 2
    assert "--line" in result.stderr


def test_line_beyond_the_end_exits_2() -> None:
    result = run_line(len(LINES) + 1)
    assert result.exit_code == 2
    assert f"--line {len(LINES) + 1} is beyond the end" in result.stderr
    assert f"has {len(LINES)} line(s)" in result.stderr


def test_line_zero_is_a_usage_error() -> None:
    assert run_line(0).exit_code == 2


def test_bad_rule_set_exits_2(tmp_path: Path) -> None:
    rules = tmp_path / "bad.yaml"
    rules.write_text("id: broken\nversion: 1\ntests: [{code: GLU, pricee: '5.00'}]\n")
    result = run(str(CASES), "--line", "1", "--rules", str(rules))
    assert result.exit_code == 2
    assert "bad.yaml:" in result.stderr
    assert "is invalid" in result.stderr


def test_missing_rule_set_exits_2(tmp_path: Path) -> None:
    result = run(str(CASES), "--line", "1", "--rules", str(tmp_path / "nowhere"))
    assert result.exit_code == 2


def test_empty_line_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_text(LINES[0] + "\n\n" + LINES[1] + "\n", encoding="utf-8")
    result = run(str(path), "--line", "2", "--rules", str(DEMO))
    assert result.exit_code == 2
    assert "line 2 is empty" in result.stderr
    assert run(str(path), "--line", "3", "--rules", str(DEMO)).exit_code == 0


@pytest.mark.parametrize(
    ("expires", "lang", "shown"),
    [
        (
            "2025-03-02T18:00:00+08:00",
            None,
            "granted · for visit E-9 · until 2025-03-02 18:00+08:00",
        ),
        ("2025-03-02T18:00:00+08:00", "zh", "已授权 · 限就诊 E-9 · 有效至 2025-03-02 18:00+08:00"),
        (
            "2025-03-01T00:00:00+08:00",
            None,
            "not valid for this order: the patient's authorisation",
        ),
    ],
)
def test_the_header_says_whether_the_authorisation_holds_for_this_order(
    tmp_path: Path, expires: str, lang: str | None, shown: str
) -> None:
    # Granted but expired is not "granted": the header says why it does not hold.
    data = json.loads(LINES[0])
    data["authorization"] = {
        "granted": True,
        "code": "8731-XY",
        "encounter": "E-9",
        "expires_at": expires,
    }
    data["context"]["encounter"] = "E-9"
    path = tmp_path / "case.jsonl"
    path.write_text(json.dumps(data, ensure_ascii=False) + "\n", encoding="utf-8")
    args = ["explain", str(path), "--rules", str(DEMO), *(["--lang", lang] if lang else [])]
    out = CliRunner().invoke(main, args, env={"COLUMNS": "200"}).output
    header = next(
        line for line in out.splitlines() if "Authorisation" in line or "患者授权" in line
    )
    assert shown in header
    assert "8731-XY" not in out  # the dynamic code is never shown
