"""``labrecog lint``: each code has a rule set that triggers it and one that does not.

The fixtures are the demo rule set with one file changed, so each shows the one thing
its code is about; the shipped rule sets are linted in ``make test`` (Makefile).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from labrecog.cli import main
from labrecog.lint import Finding, lint_path, witness_applies

DEMO = Path(__file__).resolve().parent.parent / "rules" / "demo"


def demo_with(tmp_path: Path, **files: str) -> Path:
    """A copy of the demo rule set with ``name=text`` files replaced (``name.yaml``)."""
    target = tmp_path / "rules"
    shutil.copytree(DEMO, target)
    for name, text in files.items():
        (target / f"{name}.yaml").write_text(text, encoding="utf-8")
    return target


def codes(findings: list[Finding], code: str) -> list[Finding]:
    return [f for f in findings if f.code == code]


CONDITIONS_CLEAN = """
conditions:
  - id: inpatient-electrolytes
    when: {setting: inpatient}
    categories: [electrolytes]
    set: {max_age: 24h}
  - id: icu-potassium          # narrower and later: a refinement, not an overlap
    when: {setting: inpatient, flags: [on_insulin]}
    tests: [K]
    set: {max_age: 12h}
  - id: outpatient-glucose     # disjoint from the inpatient ones
    when: {setting: outpatient}
    tests: [GLU]
    set: {max_age: 2d}
"""

# Two conditions that both apply to an inpatient on insulin, with different windows for GLU
OVERLAPPING = """
conditions:
  - id: inpatient-glucose
    when: {setting: inpatient}
    tests: [GLU]
    set: {max_age: 2d}
  - id: insulin
    when: {flags: [on_insulin]}
    tests: [GLU]
    set: {max_age: 3d}
"""


# --------------------------------------------------------------------------- C001


def test_c001_a_condition_whose_flags_contradict_never_applies(tmp_path: Path) -> None:
    rules = demo_with(tmp_path, conditions="""
conditions:
  - id: impossible
    when: {flags: {all: [on_insulin], none: [on_insulin]}}
    tests: [GLU]
    set: {max_age: 1d}
  - id: newborn-band
    when: {age: {max: 0}}
    set: {exception: paediatric}
""")  # fmt: skip
    found = codes(lint_path(rules), "C001")
    assert [(f.subject, f.line) for f in found] == [(("impossible",), 3), (("newborn-band",), 7)]
    assert "`flags` clause admits no case" in found[0].message
    assert "`age` clause" in found[1].message
    assert found[0].file.endswith("conditions.yaml")


def test_c001_not_reported_for_satisfiable_conditions(tmp_path: Path) -> None:
    assert codes(lint_path(demo_with(tmp_path, conditions=CONDITIONS_CLEAN)), "C001") == []


# --------------------------------------------------------------------------- C002


def test_c002_a_condition_overridden_whenever_it_applies(tmp_path: Path) -> None:
    rules = demo_with(tmp_path, conditions="""
conditions:
  - id: insulin-inpatient
    when: {setting: inpatient, flags: [on_insulin]}
    tests: [GLU]
    set: {max_age: 2d}
  - id: all-inpatient-chemistry
    when: {setting: [inpatient, emergency]}
    categories: [chemistry]
    set: {max_age: 1d}
""")  # fmt: skip
    [found] = codes(lint_path(rules), "C002")
    assert found.subject == ("insulin-inpatient", "all-inpatient-chemistry")
    assert found.line == 3
    assert "never has an effect" in found.message and "max_age" in found.message
    assert found.witness is not None
    assert found.witness["setting"] == "inpatient" and found.witness["flags"] == ["on_insulin"]


def test_c002_not_reported_when_the_earlier_sets_a_key_the_later_does_not(
    tmp_path: Path,
) -> None:
    rules = demo_with(tmp_path, conditions="""
conditions:
  - id: insulin-inpatient
    when: {setting: inpatient, flags: [on_insulin]}
    tests: [GLU]
    set: {max_age: 2d, abnormal_prior: reject}
  - id: all-inpatient-chemistry
    when: {setting: inpatient}
    categories: [chemistry]
    set: {max_age: 1d}
""")  # fmt: skip
    assert codes(lint_path(rules), "C002") == []


# --------------------------------------------------------------------------- C003


def test_c003_partial_overlap_with_different_windows_has_a_witness(tmp_path: Path) -> None:
    # the overlapping pair, the later condition also covering HbA1c
    later = "tests: [GLU]\n    set: {max_age: 3d}"
    wider = OVERLAPPING.replace(later, later.replace("[GLU]", "[GLU, HBA1C]"))
    assert wider != OVERLAPPING
    rules = demo_with(tmp_path, conditions=wider)
    [found] = codes(lint_path(rules), "C003")
    assert found.subject == ("inpatient-glucose", "insulin")
    assert found.line == 7  # reported at the later condition
    assert "max_age (2d → 3d)" in found.message and "GLU" in found.message
    assert found.witness is not None
    assert found.witness["setting"] == "inpatient" and found.witness["flags"] == ["on_insulin"]
    assert found.witness["order"] == ["GLU"]


def test_c003_not_reported_for_refinements_disjoint_cases_or_equal_answers(
    tmp_path: Path,
) -> None:
    found = lint_path(demo_with(tmp_path, conditions=CONDITIONS_CLEAN))
    assert codes(found, "C003") == [] and codes(found, "C002") == []
    same_answer = OVERLAPPING.replace("max_age: 3d", "max_age: 2d")
    same = demo_with(tmp_path / "b", conditions=same_answer)
    assert codes(lint_path(same), "C003") == []


# --------------------------------------------------------------------------- P002 … P007


def test_p002_an_exception_no_condition_or_test_uses(tmp_path: Path) -> None:
    rules = demo_with(tmp_path)
    text = (rules / "ruleset.yaml").read_text(encoding="utf-8")
    text = text.replace("flags:\n", "  unused_exc: {zh: 未用, en: never used}\n\nflags:\n", 1)
    text = text.replace("  on_insulin:", "  never_set: {zh: 未用, en: never set}\n  on_insulin:")
    (rules / "ruleset.yaml").write_text(text, encoding="utf-8")
    found = codes(lint_path(rules), "P002")
    assert sorted(f.subject for f in found) == [("never_set",), ("unused_exc",)]
    assert codes(lint_path(DEMO), "P002") == []


def test_p003_p005_a_test_without_price_or_loinc(tmp_path: Path) -> None:
    rules = demo_with(tmp_path)
    text = (rules / "catalogue.yaml").read_text(encoding="utf-8")
    text = text.replace('    price: "5.00"\n', '    price: "0.00"\n', 1)
    text = text.replace("    loinc: [2345-7, 14749-6]\n", "", 1)
    (rules / "catalogue.yaml").write_text(text, encoding="utf-8")
    found = lint_path(rules)
    assert [f.subject for f in codes(found, "P003")] == [("GLU",)]
    assert [f.subject for f in codes(found, "P005")] == [("GLU",)]
    clean = lint_path(DEMO)
    assert codes(clean, "P003") == [] and ("GLU",) not in [f.subject for f in codes(clean, "P005")]


def test_p004_a_panel_with_a_component_never_recognised(tmp_path: Path) -> None:
    rules = demo_with(tmp_path, zz_panel="""
panels:
  - code: SEPSIS
    name: {zh: 脓毒症, en: Sepsis screen}
    components: [PCT, K]
    price: "90.00"
""")  # fmt: skip
    found = codes(lint_path(rules), "P004")
    assert [f.subject for f in found] == [("SEPSIS", "PCT")]
    assert codes(lint_path(DEMO), "P004") == []


def test_p006_lists_every_assumed_value_with_its_count(tmp_path: Path) -> None:
    found = codes(lint_path(DEMO), "P006")
    assert len(found) >= 5
    total = len(found)
    assert all("is assumed (assumed" in f.message for f in found)
    assert any(f.subject == ("defaults.max_age",) for f in found)
    rules = demo_with(tmp_path)
    text = (rules / "ruleset.yaml").read_text(encoding="utf-8")
    text = text.replace("source: assumed demo default", "source: local committee 2025-01")
    (rules / "ruleset.yaml").write_text(text, encoding="utf-8")
    assert len(codes(lint_path(rules), "P006")) == total - 1


def test_p007_codes_of_two_tests_that_differ_only_in_case_or_separators(tmp_path: Path) -> None:
    rules = demo_with(tmp_path)
    text = (rules / "catalogue.yaml").read_text(encoding="utf-8")
    text = text.replace("    aliases: [FBG, GLUC]\n", "    aliases: [FBG, GLUC, k]\n", 1)
    (rules / "catalogue.yaml").write_text(text, encoding="utf-8")
    found = codes(lint_path(rules), "P007")
    assert len(found) == 1 and set(found[0].subject[:2]) == {"GLU", "K"}
    assert codes(lint_path(DEMO), "P007") == []


# --------------------------------------------------------------------------- the command


def test_cli_text_json_sarif_select_ignore_and_exit_codes(tmp_path: Path) -> None:
    rules = demo_with(tmp_path, conditions=OVERLAPPING)
    runner = CliRunner()
    text = runner.invoke(main, ["lint", str(rules), "--select", "C"])
    assert text.exit_code == 1, text.output
    assert f"{rules}/conditions.yaml:7:5: warning C003: " in text.output
    assert "witness: {" in text.output
    info_only = runner.invoke(main, ["lint", str(rules), "--select", "P006"])
    assert info_only.exit_code == 0, info_only.output  # info does not fail by default
    strict = runner.invoke(main, ["lint", str(rules), "--select", "P006", "--fail-on", "info"])
    assert strict.exit_code == 1
    ignored = runner.invoke(main, ["lint", str(rules), "--ignore", "C003,P00"])
    assert ignored.exit_code == 0 and "C003" not in ignored.output
    doc = json.loads(runner.invoke(main, ["lint", str(rules), "--format", "json"]).output)
    assert doc["ruleset"]["id"] == "demo"
    assert [f["code"] for f in doc["findings"] if f["code"].startswith("C")] == ["C003"]
    sarif = json.loads(runner.invoke(main, ["lint", str(rules), "--format", "sarif"]).output)
    run = sarif["runs"][0]
    assert sarif["version"] == "2.1.0"
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} >= {"C001", "C003", "P006"}
    c003 = next(r for r in run["results"] if r["ruleId"] == "C003")
    region = c003["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (7, 5)
    assert c003["level"] == "warning"


def test_cli_an_unknown_code_and_a_broken_rule_set_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["lint", str(DEMO), "--select", "X9"]).exit_code == 2
    broken = demo_with(tmp_path, conditions="conditions: [{id: x}]\n")
    result = runner.invoke(main, ["lint", str(broken)])
    assert result.exit_code == 2
    assert "conditions.yaml:1" in result.output


@pytest.mark.parametrize("name", ["demo", "cn-reference", "uk-mri", "us-retest"])
def test_every_witness_of_a_shipped_rule_set_is_checked_by_evaluating_it(name: str) -> None:
    # lint_path raises InternalError when a witness does not make its conditions apply
    found = lint_path(DEMO.parent / name)
    assert all(f.witness is None or f.witness.get("order") for f in found)


# --------------------------------------------------------------------------- P001


def test_p001_windows_longer_than_the_declared_caps(tmp_path: Path) -> None:
    rules = demo_with(tmp_path, zz_policy="""
policy:
  max_age_cap:
    "*": {value: 30d, source: provincial limit (test)}
    electrolytes: {value: 3d, source: provincial limit for electrolytes (test)}
""")  # fmt: skip
    found = codes(lint_path(rules), "P001")
    by_place = {f.subject[:-1]: f for f in found}
    # HBA1C's own 60d breaks the 30d cap; the electrolytes' 7d breaks their 3d cap;
    # the inpatient-electrolytes condition's 24h is within it
    assert ("tests", "1", "max_age") in by_place
    assert "HBA1C" in by_place[("tests", "1", "max_age")].message
    electrolytes = by_place[("categories", "electrolytes", "max_age")]
    assert "K, NA" in electrolytes.message and "3d" in electrolytes.message
    assert not any(f.subject[0] == "conditions" for f in found)
    assert codes(lint_path(DEMO), "P001") == []  # no caps declared: nothing to check


def test_p001_caps_and_ignores_change_no_digest_and_unknown_categories_do_not_load(
    tmp_path: Path,
) -> None:
    from labrecog import Engine, RulesetError

    rules = demo_with(tmp_path, zz_policy="""
policy:
  max_age_cap: {"*": {value: 30d, source: test}}
lint:
  ignore: {P006: values marked assumed are listed in the README for local setting}
""")  # fmt: skip
    assert Engine.from_path(rules).ruleset.digest == Engine.from_path(DEMO).ruleset.digest
    bad = demo_with(tmp_path / "b", zz_policy="""
policy:
  max_age_cap: {electrolites: {value: 3d, source: test}}
""")  # fmt: skip
    with pytest.raises(RulesetError, match=r"unknown category 'electrolites'.*electrolytes"):
        Engine.from_path(bad)


def test_diff_lint_shows_the_findings_a_change_adds_and_removes(tmp_path: Path) -> None:
    old = demo_with(tmp_path / "old", conditions=CONDITIONS_CLEAN)
    new = demo_with(
        tmp_path / "new",
        conditions=CONDITIONS_CLEAN.replace(
            "  - id: outpatient-glucose     # disjoint from the inpatient ones\n"
            "    when: {setting: outpatient}",
            "  - id: outpatient-glucose\n    when: {flags: [on_insulin]}",
        ).replace(
            "tests: [GLU]\n    set: {max_age: 2d}", "tests: [GLU, K]\n    set: {max_age: 2d}"
        ),
    )
    cases = Path(__file__).resolve().parent.parent / "examples" / "cases.jsonl"
    runner = CliRunner()
    args = ["diff", "--old", str(old), "--new", str(new), str(cases), "--lint"]
    doc = json.loads(runner.invoke(main, [*args, "--json"]).output)
    added = doc["lint"]["added"]
    # the new condition takes over the ICU one (C002) and overlaps the inpatient one (C003)
    assert [(f["code"], f["subject"]) for f in added] == [
        ("C002", ["icu-potassium", "outpatient-glucose"]),
        ("C003", ["inpatient-electrolytes", "outpatient-glucose"]),
    ]
    assert doc["lint"]["removed"] == []
    text = runner.invoke(main, args)
    assert text.exit_code == 0, text.output
    assert "Lint: 2 added, 0 removed" in text.output and "warning C003: " in text.output
    back = json.loads(runner.invoke(main, ["diff", "--old", str(new), "--new", str(old),
                                           str(cases), "--lint", "--json"]).output)  # fmt: skip
    assert [f["code"] for f in back["lint"]["removed"]] == ["C002", "C003"]


def test_a_rule_set_ignores_one_finding_by_its_subject_with_a_reason(tmp_path: Path) -> None:
    conditions = OVERLAPPING
    why = (
        "lint:\n  ignore:\n"
        "    'C003 inpatient-glucose insulin': insulin dosing governs, on purpose\n"
    )
    rules = demo_with(tmp_path, conditions=conditions, zz_lint=why)
    runner = CliRunner()
    result = runner.invoke(main, ["lint", str(rules), "-q"])
    assert result.exit_code == 0, result.output
    assert "1 left out" in result.output and "C003" not in result.output
    other = demo_with(tmp_path / "b", conditions=conditions,
                      zz_lint=why.replace("inpatient-glucose insulin", "a b"))  # fmt: skip
    assert runner.invoke(main, ["lint", str(other), "-q"]).exit_code == 1  # another subject
    short = demo_with(tmp_path / "c", conditions=conditions, zz_lint=why.replace(
        "insulin dosing governs, on purpose", "ok"))  # fmt: skip
    refused = runner.invoke(main, ["lint", str(short)])
    assert refused.exit_code == 2 and "zz_lint.yaml:3" in refused.output  # no real reason
    unknown = demo_with(
        tmp_path / "d", zz_lint="lint:\n  ignore: {X001: this code does not exist}\n"
    )
    result = runner.invoke(main, ["lint", str(unknown)])
    assert result.exit_code == 2 and "no lint code starts with 'X001'" in result.output


def test_the_shipped_rule_sets_are_lint_clean_with_their_justified_ignores() -> None:
    runner = CliRunner()
    for name in ("demo", "cn-reference", "uk-mri", "us-retest"):
        result = runner.invoke(main, ["lint", str(DEMO.parent / name), "-q"])
        assert result.exit_code == 0, (name, result.output)
        assert result.output.startswith("no findings"), result.output


def test_cn_reference_caps_catch_a_local_edit_that_lengthens_a_hubei_period(
    tmp_path: Path,
) -> None:
    rules = tmp_path / "cn"
    shutil.copytree(DEMO.parent / "cn-reference", rules)
    text = (rules / "ruleset.yaml").read_text(encoding="utf-8")
    edited = text.replace(
        'max_age: {value: 7d, source: "Hubei list (鄂卫通〔2023〕56号): K, Na, Cl, Ca, Mg 7 d"}',
        "max_age: {value: 14d, source: local committee}",
        1,
    )
    assert edited != text
    (rules / "ruleset.yaml").write_text(edited, encoding="utf-8")
    [found] = codes(lint_path(rules), "P001")
    assert "category 'electrolytes' sets max_age 14d" in found.message
    assert "cap 7d of category 'electrolytes'" in found.message


def test_a_witness_that_does_not_reach_its_conditions_is_refused_not_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check behind every witness can fail: a wrong witness is an internal error."""
    from labrecog import Engine
    from labrecog._errors import InternalError
    from labrecog.lint import _conditions

    rules = demo_with(tmp_path, conditions=OVERLAPPING)
    engine = Engine.from_path(rules)
    good = {"setting": "inpatient", "flags": ["on_insulin"], "order": ["GLU"]}
    assert witness_applies(engine, good, ("inpatient-glucose", "insulin"))
    outpatient = {**good, "setting": "outpatient"}
    assert not witness_applies(engine, outpatient, ("inpatient-glucose", "insulin"))
    real = _conditions.overlap

    def wrong(*args: object, **kwargs: object) -> object:
        pair = real(*args, **kwargs)  # type: ignore[arg-type]
        if pair is not None:
            pair.witness["setting"] = "outpatient"
        return pair

    monkeypatch.setattr(_conditions, "overlap", wrong)
    with pytest.raises(InternalError, match="C003"):
        lint_path(rules)
