"""A rule set that does not validate does not load, and says where and why: file:line:col.

Every rule set here is written to ``tmp_path``; positions are computed from the text, so a
test states *which token* the problem must point at.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from labrecog import Engine, RulesetError, RulesetProblem

BASE = """\
id: mini
version: "1"
currency: CNY
timezone: Asia/Shanghai
recognition:
  regions: ["*"]
  quality_assessment: not_required
  require_authorization: false
exceptions:
  emergency: {zh: 急诊, en: emergency}
flags:
  on_insulin: {zh: 胰岛素治疗, en: on insulin}
categories:
  chemistry: {max_age: 30d}
tests:
  - code: GLU
    category: chemistry
    unit: mmol/L
    molar_mass: 180.16 g/mol
    loinc: [2345-7]
    specimen: [serum]
    reference_range: {low: 3.9, high: 6.1}
    price: "5.00"
  - code: K
    unit: mmol/L
    loinc: [2823-3]
    reference_range: {low: 3.5, high: 5.3}
    price: "4.00"
"""


def write(tmp_path: Path, text: str, name: str = "rules.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path) -> list[RulesetProblem]:
    with pytest.raises(RulesetError) as info:
        Engine.from_path(path)
    found = info.value.problems
    assert found, "a RulesetError must carry at least one problem"
    return found


def at(text: str, needle: str, occurrence: int = 1) -> tuple[int, int]:
    """1-based (line, col) of the n-th occurrence of ``needle`` in ``text``."""
    index = -1
    for _ in range(occurrence):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    col = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, col


def only(tmp_path: Path, text: str) -> RulesetProblem:
    path = write(tmp_path, text)
    (problem,) = problems_of(path)
    assert problem.file == str(path)
    return problem


def test_base_rule_set_loads(tmp_path: Path) -> None:
    engine = Engine.from_path(write(tmp_path, BASE))
    assert engine.ruleset.id == "mini"
    assert engine.ruleset.digest.startswith("sha256:")


# --------------------------------------------------------------------------- schema errors


def test_unknown_key_with_did_you_mean(tmp_path: Path) -> None:
    text = BASE + "    max_agee: 7d\n"
    problem = only(tmp_path, text)
    assert (problem.line, problem.col) == at(text, "max_agee")
    assert problem.message == "unknown key 'max_agee' in tests.1 (did you mean 'max_age'?)"


def test_unknown_top_level_key(tmp_path: Path) -> None:
    text = BASE + "recogniton: {}\n"
    problem = only(tmp_path, text)
    assert (problem.line, problem.col) == at(text, "recogniton")
    assert "did you mean 'recognition'?" in problem.message


@pytest.mark.parametrize("duration", ["3mo", "3 months", "1y"])
def test_months_and_years_are_refused(tmp_path: Path, duration: str) -> None:
    text = BASE + f"    max_age: {duration}\n"
    problem = only(tmp_path, text)
    assert (problem.line, problem.col) == at(text, duration)
    assert f"bad duration '{duration}'" in problem.message
    assert "months" in problem.message


def test_bad_duration_in_sourced_form(tmp_path: Path) -> None:
    text = BASE + "    max_age: {value: 3mo, source: somewhere}\n"
    problem = only(tmp_path, text)
    assert problem.line == at(text, "3mo")[0]
    assert "months" in problem.message


@pytest.mark.parametrize("duration", ["0d", "-1d", "7", "7 days"])
def test_other_bad_durations(tmp_path: Path, duration: str) -> None:
    text = BASE + f"    max_age: {duration}\n"
    problem = only(tmp_path, text)
    assert problem.line == at(text, "max_age: " + duration)[0]
    assert "duration" in problem.message


def test_negative_price(tmp_path: Path) -> None:
    text = BASE.replace('price: "4.00"', 'price: "-4.00"')
    problem = only(tmp_path, text)
    assert (problem.line, problem.col) == at(text, '"-4.00"')
    assert "a price cannot be negative" in problem.message


def test_unquoted_float_price(tmp_path: Path) -> None:
    text = BASE.replace('price: "4.00"', "price: 4.1")
    problem = only(tmp_path, text)
    assert (problem.line, problem.col) == at(text, "4.1")
    assert "quoted decimal strings" in problem.message


def test_price_with_too_many_decimals(tmp_path: Path) -> None:
    text = BASE.replace('price: "4.00"', 'price: "4.001"')
    problem = only(tmp_path, text)
    assert (problem.line, problem.col) == at(text, '"4.001"')
    assert problem.message == "price 4.001 has more decimals than the currency allows"


def test_price_decimals_follow_the_currency(tmp_path: Path) -> None:
    # "5.00" yen is exactly 5 yen; "4.50" yen cannot be charged.
    text = BASE.replace("currency: CNY", "currency: JPY").replace('"4.00"', '"4.50"')
    problem = only(tmp_path, text)
    assert (problem.line, problem.col) == at(text, '"4.50"')
    assert problem.message == "price 4.50 has more decimals than the currency allows"


def test_missing_required_keys(tmp_path: Path) -> None:
    text = BASE.replace('id: mini\nversion: "1"\n', "")
    found = problems_of(write(tmp_path, text))
    assert sorted(p.message for p in found) == [
        "id: required key is missing",
        "version: required key is missing",
    ]


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    text = BASE + "    unit: mmol/L\n"
    problem = only(tmp_path, text)
    assert (problem.line, problem.col) == at(text, "unit: mmol/L", 3)
    assert "duplicate key 'unit'" in problem.message


# --------------------------------------------------------------------------- semantic errors


def test_unknown_panel_component_with_did_you_mean(tmp_path: Path) -> None:
    text = BASE + 'panels:\n  - code: P\n    components: [GLU, KK]\n    price: "9.00"\n'
    problem = only(tmp_path, text)
    assert (problem.line, problem.col) == at(text, "KK")
    assert problem.message == "unknown component 'KK' (did you mean 'K'?)"


def test_panel_cycle(tmp_path: Path) -> None:
    text = BASE + (
        "panels:\n"
        '  - code: A\n    components: [B]\n    price: "1.00"\n'
        '  - code: B\n    components: [A]\n    price: "1.00"\n'
    )
    found = problems_of(write(tmp_path, text))
    assert [(p.line, p.col, p.message) for p in found] == [
        (*at(text, "[B]"), "panel A contains itself"),
        (*at(text, "[A]"), "panel B contains itself"),
    ]


def test_panel_containing_itself_directly(tmp_path: Path) -> None:
    text = BASE + 'panels:\n  - code: A\n    components: [GLU, A]\n    price: "1.00"\n'
    problem = only(tmp_path, text)
    assert problem.message == "panel A contains itself"


def test_duplicate_test_code(tmp_path: Path) -> None:
    text = BASE + (
        "  - code: GLU\n    unit: mmol/L\n    reference_range: {low: 1, high: 2}\n"
        '    price: "1.00"\n'
    )
    path = write(tmp_path, text)
    (problem,) = problems_of(path)
    first_line, first_col = at(text, "GLU")
    assert (problem.line, problem.col) == at(text, "GLU", 2)
    assert problem.message == (
        f"code or alias 'GLU' is already used by GLU ({path}:{first_line}:{first_col})"
    )


def test_alias_colliding_with_another_code(tmp_path: Path) -> None:
    text = BASE + "    aliases: [GLU]\n"
    problem = only(tmp_path, text)
    assert (problem.line, problem.col) == at(text, "GLU]")
    assert "code or alias 'GLU' is already used by GLU" in problem.message


def test_panel_code_colliding_with_a_test_alias(tmp_path: Path) -> None:
    text = (
        BASE
        + "    aliases: [KAL]\n"
        + ('panels:\n  - code: KAL\n    components: [GLU]\n    price: "1.00"\n')
    )
    problem = only(tmp_path, text)
    assert (problem.line, problem.col) == at(text, "KAL", 2)
    assert "'KAL' is already used by K" in problem.message


def test_duplicate_loinc(tmp_path: Path) -> None:
    text = BASE.replace("loinc: [2823-3]", "loinc: [2823-3, 2345-7]")
    problem = only(tmp_path, text)
    assert (problem.line, problem.col) == at(text, "2345-7", 2)
    assert problem.message == "LOINC 2345-7 is already mapped to GLU"


def test_unit_that_does_not_parse(tmp_path: Path) -> None:
    text = BASE.replace(
        "    unit: mmol/L\n    loinc: [2823-3]", "    unit: furlong/fortnight\n    loinc: [2823-3]"
    )
    found = problems_of(write(tmp_path, text))
    assert {(p.line, p.col) for p in found} == {at(text, "furlong/fortnight")}
    assert all("not valid UCUM" in p.message and p.message.startswith("K: ") for p in found)


def test_unit_that_does_not_parse_is_reported_once(tmp_path: Path) -> None:
    text = BASE.replace(
        "    unit: mmol/L\n    loinc: [2823-3]", "    unit: furlong/fortnight\n    loinc: [2823-3]"
    )
    problem = only(tmp_path, text)  # exactly one problem, not one per conversion tried
    assert (problem.line, problem.col) == at(text, "furlong/fortnight")
    assert "furlong/fortnight" in problem.message


def test_accepted_unit_of_wrong_dimension(tmp_path: Path) -> None:
    text = BASE + "    units: [mmol/L, U/L]\n"
    problem = only(tmp_path, text)
    assert (problem.line, problem.col) == at(text, "U/L")
    assert problem.message.startswith("K: unit U/L: ")
    assert "the dimensions differ" in problem.message


def test_mass_unit_without_molar_mass(tmp_path: Path) -> None:
    text = BASE + "    units: [mg/dL]\n"
    problem = only(tmp_path, text)
    assert (problem.line, problem.col) == at(text, "mg/dL")
    assert "needs the analyte's molar mass" in problem.message


def test_mass_unit_with_molar_mass_loads(tmp_path: Path) -> None:
    text = BASE + "    molar_mass: 39.10 g/mol\n    units: [mmol/L, mg/dL]\n"
    engine = Engine.from_path(write(tmp_path, text))
    test = engine.rules.tests["K"]  # BASE ends with the K entry the text extends
    conv = test.convert("mg/dL")
    assert not isinstance(conv, Exception)
    assert conv.factor == pytest.approx(10 / 39.10, rel=1e-9)  # mg/dL -> mmol/L for K


def test_arbitrary_unit_never_accepted_for_another(tmp_path: Path) -> None:
    text = BASE + "    units: [mEq/L]\n"
    problem = only(tmp_path, text)
    assert (problem.line, problem.col) == at(text, "mEq/L")
    assert "never converted" in problem.message


def test_bad_regex_in_code_patterns(tmp_path: Path) -> None:
    text = BASE + "    code_patterns: ['K[', 'K-[0-9]+']\n"
    problem = only(tmp_path, text)
    assert (problem.line, problem.col) == at(text, "'K['")
    assert problem.message.startswith("bad regular expression: ")


def test_unknown_category(tmp_path: Path) -> None:
    text = BASE + "    category: chemstry\n"
    problem = only(tmp_path, text)
    assert (problem.line, problem.col) == at(text, "chemstry")
    assert problem.message == "unknown category 'chemstry' (did you mean 'chemistry'?)"


CONDITION = """\
conditions:
  - id: c1
    when: {flags: {any: [on_insulinn]}}
    tests: [GLUC]
    categories: [chemistri]
    set: {exception: emergncy}
"""


def test_condition_references(tmp_path: Path) -> None:
    text = BASE + CONDITION
    found = problems_of(write(tmp_path, text))
    assert [(p.line, p.col, p.message) for p in found] == [
        (*at(text, "on_insulinn"), "unknown flag 'on_insulinn' (did you mean 'on_insulin'?)"),
        (*at(text, "GLUC"), "unknown test 'GLUC' (did you mean 'GLU'?)"),
        (*at(text, "chemistri"), "unknown category 'chemistri' (did you mean 'chemistry'?)"),
        (*at(text, "emergncy"), "unknown exception 'emergncy' (did you mean 'emergency'?)"),
    ]


def test_exception_restricted_to_unknown_test(tmp_path: Path) -> None:
    text = BASE.replace(
        "emergency: {zh: 急诊, en: emergency}", "emergency: {zh: 急诊, en: emergency, tests: [KK]}"
    )
    problem = only(tmp_path, text)
    assert (problem.line, problem.col) == at(text, "KK")
    assert problem.message == "unknown test 'KK' (did you mean 'K'?)"


def test_unknown_timezone(tmp_path: Path) -> None:
    text = BASE.replace("Asia/Shanghai", "Mars/Olympus")
    problem = only(tmp_path, text)
    assert (problem.line, problem.col) == at(text, "Mars/Olympus")
    assert problem.message == "unknown time zone 'Mars/Olympus'"


@pytest.mark.parametrize("zone", ["Asia", "America/", "../../etc/passwd"])
def test_a_timezone_naming_a_folder_of_the_zone_database_is_a_problem_not_a_crash(
    tmp_path: Path, zone: str
) -> None:
    # ZoneInfo("Asia") raises IsADirectoryError, not ZoneInfoNotFoundError (found by
    # hypothesis in test_rule_corruption.py)
    text = BASE.replace("Asia/Shanghai", zone)
    problem = only(tmp_path, text)
    assert problem.message == f"unknown time zone '{zone}'"


# --------------------------------------------------------------------------- YAML safety


@pytest.mark.parametrize(
    "tag",
    ["!!python/object:os.system", "!!python/object/apply:os.system", "!custom"],
)
def test_object_tags_are_refused(tmp_path: Path, tag: str) -> None:
    text = BASE + f"description: {tag} [ls]\n"
    problem = only(tmp_path, text)
    assert (problem.line, problem.col) == at(text, tag)
    assert problem.message == f"tag {tag} is not allowed in rule files"


def test_yaml_anchor_and_alias_are_refused(tmp_path: Path) -> None:
    text = BASE + "defaults: &d {max_age: 7d}\ndescription: *d\n"
    problem = only(tmp_path, text)
    assert problem.line == at(text, "&d")[0]
    assert "anchors and aliases are not allowed" in problem.message


def test_merge_key_is_refused(tmp_path: Path) -> None:
    text = BASE + "defaults:\n  <<: {max_age: 7d}\n"
    problem = only(tmp_path, text)
    assert problem.line == at(text, "<<")[0]
    assert "merge keys" in problem.message


def test_rule_file_that_is_a_list(tmp_path: Path) -> None:
    problem = only(tmp_path, "- id: x\n- version: 1\n")
    assert (problem.line, problem.col) == (1, 1)
    assert problem.message == "a rule file must be a mapping of keys to values"


def test_yaml_syntax_error(tmp_path: Path) -> None:
    text = BASE + "  - code: [unclosed\n"
    problem = only(tmp_path, text)
    assert problem.line >= at(text, "[unclosed")[0]


# --------------------------------------------------------------------------- folders


def test_two_files_both_setting_id(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    a = write(folder, BASE, "a.yaml")
    b = write(folder, "# second file\nid: other\n", "b.yaml")
    (problem,) = problems_of(folder)
    assert (problem.file, problem.line, problem.col) == (str(b), 2, 1)
    assert problem.message == f"'id' is set in more than one file (first at {a}:1:1)"


def test_folder_files_merge(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    head, tests = BASE.split("tests:\n")
    write(folder, head, "a.yaml")
    write(folder, "tests:\n" + tests, "b.yaml")
    engine = Engine.from_path(folder)
    assert sorted(engine.rules.tests) == ["GLU", "K"]
    assert engine.rules.files == (str(folder / "a.yaml"), str(folder / "b.yaml"))


def test_problem_in_second_file_points_into_it(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    head, tests = BASE.split("tests:\n")
    write(folder, head, "a.yaml")
    second = "tests:\n" + tests.replace('price: "4.00"', 'price: "-4.00"')
    b = write(folder, second, "b.yaml")
    (problem,) = problems_of(folder)
    assert (problem.file, problem.line, problem.col) == (str(b), *at(second, '"-4.00"'))


def test_empty_folder(tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a rule file")
    (problem,) = problems_of(folder)
    assert (problem.file, problem.line, problem.col) == (str(folder), 1, 1)
    assert problem.message == "no *.yaml rule files"


def test_nonexistent_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    (problem,) = problems_of(missing)
    assert (problem.file, problem.line, problem.col) == (str(missing), 1, 1)
    assert problem.message == "no such file or folder"


def test_comment_only_file_is_missing_everything(tmp_path: Path) -> None:
    found = problems_of(write(tmp_path, "# nothing yet\n"))
    assert {p.message for p in found} == {
        "id: required key is missing",
        "version: required key is missing",
    }


# --------------------------------------------------------------------------- all at once


def test_three_schema_errors_at_once(tmp_path: Path) -> None:
    text = (
        BASE.replace('price: "4.00"', 'price: "-4.00"')
        + "    max_agee: 7d\n"
        + ("defaults: {max_age: 3mo}\n")
    )
    found = problems_of(write(tmp_path, text))
    assert [p.line for p in found] == sorted(
        [at(text, '"-4.00"')[0], at(text, "max_agee")[0], at(text, "3mo")[0]]
    )
    messages = " | ".join(p.message for p in found)
    assert "negative" in messages and "max_agee" in messages and "months" in messages


def test_three_semantic_errors_at_once(tmp_path: Path) -> None:
    text = BASE.replace("loinc: [2823-3]", "loinc: [2345-7]") + (
        "    category: chemstry\n    code_patterns: ['K[']\n"
    )
    found = problems_of(write(tmp_path, text))
    assert [p.line for p in found] == [
        at(text, "2345-7", 2)[0],
        at(text, "chemstry")[0],
        at(text, "'K['")[0],
    ]
    assert found[0].message == "LOINC 2345-7 is already mapped to GLU"
    assert found[1].message == "unknown category 'chemstry' (did you mean 'chemistry'?)"
    assert found[2].message.startswith("bad regular expression: ")


def test_schema_errors_first_then_semantic_errors(tmp_path: Path) -> None:
    # Documented in docs/rules.md: semantic checks need a schema-valid rule set, so a file
    # with both kinds reports every schema problem first, then the semantic ones.
    text = BASE.replace('price: "4.00"', 'price: "-4.00"') + (
        "    max_agee: 7d\n    units: [U/L]\n"
    )
    found = problems_of(write(tmp_path, text))
    assert len(found) == 2
    assert all("U/L" not in p.message for p in found)
    fixed = text.replace('price: "-4.00"', 'price: "4.00"').replace("    max_agee: 7d\n", "")
    found = problems_of(write(tmp_path, fixed))
    assert len(found) == 1
    assert "U/L" in found[0].message


def test_problems_are_sorted_and_formatted(tmp_path: Path) -> None:
    text = BASE + CONDITION
    path = write(tmp_path, text)
    with pytest.raises(RulesetError) as info:
        Engine.from_path(path)
    found = info.value.problems
    assert found == sorted(found, key=lambda p: (p.file, p.line, p.col, p.message))
    for problem in found:
        assert str(problem) == f"{path}:{problem.line}:{problem.col}: {problem.message}"
        assert re.fullmatch(r".+:\d+:\d+: .+", str(problem))
    assert str(info.value) == "\n".join(str(p) for p in found)


# --------------------------------------------------------------------------- digest


def digest(tmp_path: Path, text: str, name: str) -> str:
    return Engine.from_path(write(tmp_path, text, name)).ruleset.digest


def test_digest_ignores_comments_whitespace_and_key_order(tmp_path: Path) -> None:
    original = digest(tmp_path, BASE, "a.yaml")
    reordered = "# a comment that changes nothing\n" + BASE.replace(
        'id: mini\nversion: "1"\n', "version: '1'   # quoted differently\nid:   mini\n"
    ).replace("{low: 3.9, high: 6.1}", "{high: 6.1,   low: 3.9}").replace(
        '    price: "4.00"\n', '    price: "4.00"\n\n\n'
    )
    assert reordered != BASE
    assert digest(tmp_path, reordered, "b.yaml") == original
    block = BASE.replace(
        "reference_range: {low: 3.9, high: 6.1}",
        "reference_range:\n      high: 6.1\n      low: 3.9",
    )
    assert digest(tmp_path, block, "c.yaml") == original


def test_digest_ignores_file_split(tmp_path: Path) -> None:
    original = digest(tmp_path, BASE, "one.yaml")
    folder = tmp_path / "split"
    folder.mkdir()
    head, tests = BASE.split("tests:\n")
    write(folder, "tests:\n" + tests, "a.yaml")
    write(folder, head, "b.yaml")
    assert Engine.from_path(folder).ruleset.digest == original


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("high: 6.1", "high: 6.2"),
        ('price: "4.00"', 'price: "4.50"'),
        ("max_age: 30d", "max_age: 31d"),
        ('version: "1"', 'version: "2"'),
        ("  - code: K\n", "  - code: K\n    source: committee\n"),
    ],
)
def test_digest_changes_when_a_value_changes(tmp_path: Path, old: str, new: str) -> None:
    assert old in BASE
    assert digest(tmp_path, BASE, "a.yaml") != digest(tmp_path, BASE.replace(old, new), "b.yaml")


def test_digest_is_stable_across_loads(tmp_path: Path) -> None:
    path = write(tmp_path, BASE)
    assert Engine.from_path(path).ruleset.digest == Engine.from_path(path).ruleset.digest
