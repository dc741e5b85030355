"""Chinese end to end (issue 11, part D): Chinese aliases matched exactly after NFKC and
trimming, never by substring or look-alike; 男/女/M/F; ``--lang zh`` in report, test,
input errors, durations and source tags; a UTF-8 BOM for Excel on request.
"""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from labrecog import Engine, InputError, RulesetError
from labrecog.cli import main
from labrecog.model import Case
from labrecog.words import duration_text, format_duration, say
from tests.builders import DELETE, DEMO, ROOT, case, prior

CN = ROOT / "rules" / "cn-reference"

_CN_ENGINE: Engine | None = None


def cn() -> Engine:
    global _CN_ENGINE
    if _CN_ENGINE is None:
        _CN_ENGINE = Engine.from_path(CN)
    return _CN_ENGINE


def reasons_of(engine: Engine, code: str) -> set[str]:
    """The reason codes of one ordered code, in a case with no prior results."""
    decision = engine.evaluate(case(tests=[code]))
    (item,) = decision.items
    assert item.code == code  # the item keeps the code as ordered
    return {r.code for r in item.reasons}


# --------------------------------------------------------------------------- aliases


@pytest.mark.parametrize(
    "ordered",
    [
        "糖化血红蛋白",  # a Chinese alias
        "  糖化血红蛋白 ",  # leading and trailing whitespace is trimmed
        "\u3000糖化血红蛋白\u3000",  # ideographic spaces too (NFKC: U+3000 is a space)
        "ＨＢＡ１Ｃ",  # full-width letters and digits: NFKC-equal to HBA1C
        "ＧＨＢ",  # and to the alias GHB
        "HBA1C",
    ],
)
def test_chinese_and_full_width_codes_name_the_test(ordered: str) -> None:
    assert cn().rules.order_codes.get(ordered) == "HBA1C"
    assert cn().rules.resolve_result_code(ordered) == ("HBA1C",)
    assert reasons_of(cn(), ordered) == {"no_prior"}


def test_blood_glucose_alias_names_glu() -> None:
    assert cn().rules.order_codes.get("血糖") == "GLU"
    assert cn().rules.resolve_result_code("血糖") == ("GLU",)


@pytest.mark.parametrize(
    "ordered",
    [
        "HBА1C",  # Cyrillic А (U+0410): NFKC keeps it, so it is another code
        "НВА1С",  # all Cyrillic look-alikes
        "HBA1C\u200b",  # zero-width space
        "糖化\u200d血红蛋白",  # zero-width joiner inside
        "\ufeff糖化血红蛋白",  # a byte-order mark in front
        "糖化\u200c血红蛋白",  # zero-width non-joiner
        "糖化血红蛋白检测",  # never a substring match ...
        "糖化",  # ... either way
        "血",
        "hba1c",  # case is significant, as for every code
        "糖化 血红蛋白",  # inner whitespace is significant
    ],
)
def test_look_alikes_invisible_characters_and_substrings_match_nothing(ordered: str) -> None:
    assert cn().rules.order_codes.get(ordered) is None
    assert cn().rules.resolve_result_code(ordered) == ()
    assert reasons_of(cn(), ordered) == {"unknown_test"}


def test_a_prior_under_a_chinese_local_code_is_used(tmp_path: Path) -> None:
    """A result coded with the hospital's Chinese name is the test's result: waived, also
    when the order spells the code in full-width letters."""
    target = tmp_path / "demo"
    shutil.copytree(DEMO, target, ignore=shutil.ignore_patterns("tests"))
    catalogue = target / "catalogue.yaml"
    text = catalogue.read_text("utf-8")
    assert "aliases: [FBG, GLUC]" in text
    catalogue.write_text(
        text.replace("aliases: [FBG, GLUC]", "aliases: [FBG, GLUC, 血糖]"), "utf-8"
    )
    engine = Engine.from_path(target)
    decision = engine.evaluate(case(prior(code="血糖", loinc=DELETE), tests=["ＧＬＵ"]))
    assert decision.items[0].status == "waive", decision.items[0].reasons
    assert decision.items[0].code == "ＧＬＵ"


MINI = """\
id: mini
version: "1"
recognition: {{quality_assessment: not_required, require_authorization: false}}
tests:
  - code: GLU
    aliases: [{glu}]
    unit: mmol/L
    reference_range: {{low: 3.9, high: 6.1}}
    price: "5.00"
  - code: HBA1C
    aliases: [{hba1c}]
    unit: "%"
    reference_range: {{low: 4.0, high: 6.0}}
    price: "60.00"
"""


def _load(tmp_path: Path, glu: str, hba1c: str) -> tuple[Path, list[str]]:
    path = tmp_path / "rules.yaml"
    path.write_text(MINI.format(glu=glu, hba1c=hba1c), encoding="utf-8")
    try:
        Engine.from_path(path)
    except RulesetError as exc:
        return path, [str(p) for p in exc.problems]
    return path, []


def test_aliases_equal_after_nfkc_are_a_load_error_naming_both_places(tmp_path: Path) -> None:
    path, problems = _load(tmp_path, '"血糖"', '"ＦＢＧ", "血糖 "')
    assert len(problems) == 1, problems
    (problem,) = problems
    # the second claim is the located one; the message names the first by file:line:col
    assert problem.startswith(f"{path}:11:")
    assert f"({path}:6:" in problem
    assert "'血糖 '" in problem and "GLU" in problem

    path, problems = _load(tmp_path, "FBG", '"ＦＢＧ"')
    (problem,) = problems
    assert problem.startswith(f"{path}:11:")
    assert "'ＦＢＧ'" in problem and "'FBG'" in problem and f"({path}:6:" in problem
    assert "NFKC" in problem


@pytest.mark.parametrize(
    ("alias", "why"),
    [
        ('"HB\u200bA1C"', "U+200B"),
        ('"\ufeffGHB"', "U+FEFF"),
        ('"糖化\u200d血红蛋白"', "U+200D"),
        ('"   "', "blank"),
    ],
)
def test_an_alias_with_invisible_characters_does_not_load(
    tmp_path: Path, alias: str, why: str
) -> None:
    path, problems = _load(tmp_path, "FBG", alias)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}:11:")
    assert why in problems[0]


def test_cyrillic_look_alike_alias_is_another_code(tmp_path: Path) -> None:
    """NFKC does not fold Cyrillic into Latin: two aliases that look alike both load, and
    each names only its own test."""
    path, problems = _load(tmp_path, "GHB", '"GНB"')  # Cyrillic Н
    assert problems == []
    rules = Engine.from_path(path).rules
    assert rules.order_codes.get("GHB") == "GLU"
    assert rules.order_codes.get("GНB") == "HBA1C"


_CYRILLIC = {"A": "А", "B": "В", "C": "С", "E": "Е", "H": "Н", "K": "К", "M": "М", "O": "О",
             "P": "Р", "T": "Т", "X": "Х", "a": "а", "c": "с", "e": "е", "o": "о", "p": "р",
             "x": "х", "y": "у"}  # fmt: skip
_INVISIBLE = ["\u200b", "\u200c", "\u200d", "\ufeff", "\u2060"]
_NAMES = sorted(cn().rules.order_codes.items())


@st.composite
def _disguised(draw: st.DrawFn) -> tuple[str, str, str]:
    name, owner = draw(st.sampled_from(_NAMES))
    swappable = [i for i, ch in enumerate(name) if ch in _CYRILLIC]
    if swappable and draw(st.booleans()):
        i = draw(st.sampled_from(swappable))
        return name, owner, name[:i] + _CYRILLIC[name[i]] + name[i + 1 :]
    i = draw(st.integers(0, len(name)))
    return name, owner, name[:i] + draw(st.sampled_from(_INVISIBLE)) + name[i:]


@settings(max_examples=300, deadline=None)
@given(_disguised())
def test_a_disguised_code_never_names_a_different_test(found: tuple[str, str, str]) -> None:
    _name, owner, disguised = found
    rules = cn().rules
    assert rules.order_codes.get(disguised) in (None, owner)
    assert set(rules.resolve_result_code(disguised)) <= {owner}
    # invisible characters make a code match nothing at all
    if any(ch in disguised for ch in _INVISIBLE):
        assert rules.order_codes.get(disguised) is None


# --------------------------------------------------------------------------- sex


@pytest.mark.parametrize(
    ("given", "sex"),
    [("男", "male"), ("女", "female"), ("M", "male"), ("F", "female"), ("m", "male"),
     ("f", "female"), ("male", "male"), ("female", "female"), ("unknown", "unknown")],
)  # fmt: skip
def test_sex_spellings(given: str, sex: str) -> None:
    valid = Engine.from_path(DEMO).validate_case(case(patient__sex=given))
    assert valid.patient.sex == sex


@pytest.mark.parametrize("given", ["X", "男性", "Male", " M", 1])
def test_other_sex_spellings_are_input_errors(given: object) -> None:
    with pytest.raises(InputError) as info:
        Engine.from_path(DEMO).validate_case(case(patient__sex=given))
    assert info.value.path == "patient.sex"


def test_case_schema_lists_the_sex_spellings() -> None:
    schema = json.dumps(Case.model_json_schema(), ensure_ascii=False)
    assert '"男"' in schema and '"F"' in schema and '"unknown"' in schema


# --------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("delta", "en", "zh"),
    [
        (timedelta(hours=72), "3d", "3天"),
        (timedelta(days=4, hours=1), "4d 1h", "4天1小时"),
        (timedelta(hours=5, minutes=30), "5h 30min", "5小时30分钟"),
        (timedelta(days=7, seconds=1), "7d 1s", "7天1秒"),
        (timedelta(0), "0s", "0秒"),
        (-timedelta(hours=2), "-2h", "-2小时"),
    ],
)
def test_durations_in_both_languages(delta: timedelta, en: str, zh: str) -> None:
    for made in (duration_text(delta), format_duration(delta)):
        assert made == en and str(made) == en and f"{made}" == en
        assert f"{made:zh}" == zh
        assert orjson.dumps(made) == orjson.dumps(en)


def test_too_old_in_chinese_says_days_and_hours() -> None:
    engine = Engine.from_path(DEMO)
    old = prior(collected_at="2025-02-22T08:30:00+08:00")  # 8d 1h before the order
    en = engine.evaluate(case(old), lang="en").items[0].reasons
    zh = engine.evaluate(case(old), lang="zh").items[0].reasons
    assert [r.code for r in zh] == ["too_old"]
    assert "8d 1h" in en[0].message and "7d" in en[0].message
    assert "开单前 8天1小时" in zh[0].message and "7天" in zh[0].message
    # the decision records the limit language-neutrally, whatever the language
    waived = engine.evaluate(case(prior()), lang="zh").model_dump(mode="json")
    assert waived["items"][0]["max_age"] == "7d"


# --------------------------------------------------------------------------- source tags


@pytest.mark.parametrize(
    ("source", "zh"),
    [
        ("assumed — set locally (conservative default)", "假定，本地设定 (conservative default)"),
        ("assumed", "假定"),
        ("labrecog built-in default", "labrecog 内置默认值"),
        ("WS/T 404.1-2012", "WS/T 404.1-2012"),
    ],
)
def test_source_tags_in_chinese(source: str, zh: str) -> None:
    assert say("explain", "source", "zh", source=source) == f"〔依据：{zh}〕"
    assert say("explain", "source", "en", source=source) == f"[source: {source}]"


def test_explain_in_chinese_shows_the_source_tag_in_chinese(tmp_path: Path) -> None:
    src = tmp_path / "case.json"
    old = prior(collected_at="2025-02-22T08:30:00+08:00")
    src.write_bytes(orjson.dumps(case(old)))
    result = CliRunner().invoke(main, ["explain", str(src), "--rules", str(DEMO), "--lang", "zh"])
    assert result.exit_code == 0, result.output
    assert "〔依据：假定〕" in result.output
    assert "8天1小时" in result.output


# --------------------------------------------------------------------------- report


def _decisions(tmp_path: Path) -> Path:
    ref = {"id": "cn-reference", "version": "2025.1", "digest": "sha256:" + "a" * 64}
    items = [
        {"code": "HBA1C", "status": "waive", "saving": "60.00", "result_id": "R-1",
         "institution": "BJ1", "reasons": []},
        {"code": "血糖", "status": "retest", "saving": "0.00",
         "reasons": [{"code": "too_old", "message": "…"}]},
    ]  # fmt: skip
    record = {"order_id": "O-1", "patient_id": "P-1", "ruleset": ref, "currency": "CNY",
              "saving": "60.00", "items": items}  # fmt: skip
    path = tmp_path / "decisions.jsonl"
    path.write_bytes(orjson.dumps(record) + b"\n")
    return path


def test_report_in_chinese_shows_test_names_beside_codes(tmp_path: Path) -> None:
    path = _decisions(tmp_path)
    args = ["report", str(path), "--rules", str(CN), "--lang", "zh"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "HBA1C 糖化血红蛋白A1c" in result.output
    assert "血糖 葡萄糖" in result.output  # an alias as ordered, named by its test
    assert "按项目" in result.output and "合计" in result.output
    english = CliRunner().invoke(main, ["report", str(path)]).output
    assert "糖化血红蛋白A1c" not in english and "By test" in english


def test_report_html_in_chinese(tmp_path: Path) -> None:
    path = _decisions(tmp_path)
    page = tmp_path / "report.html"
    args = ["report", str(path), "--rules", str(CN), "--lang", "zh", "--html", str(page)]
    assert CliRunner().invoke(main, args).exit_code == 0
    html = page.read_text("utf-8")
    assert '<html lang="zh">' in html
    assert "HBA1C 糖化血红蛋白A1c" in html
    assert "按项目" in html
    english = tmp_path / "en.html"
    CliRunner().invoke(main, ["report", str(path), "--html", str(english)])
    assert '<html lang="en">' in english.read_text("utf-8")


# --------------------------------------------------------------------------- labrecog test


def test_rule_set_tests_in_chinese(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    shutil.copytree(DEMO, target)
    (target / "tests" / "zz_wrong.yaml").write_text(
        "- name: wrong\n"
        "  case: {order: [GLU], priors: [{code: GLU, age: 8d}]}\n"
        "  expect:\n"
        "    GLU: {status: waive}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["test", str(target), "-k", "wrong", "--lang", "zh"])
    assert result.exit_code == 1
    first = result.output.splitlines()[0]
    assert "测试 wrong：GLU：期望状态 waive，实际 retest" in first
    assert "8天" in first  # the reasons are given in Chinese too
    assert result.output.splitlines()[-1] == "0 项通过，1 项失败"

    result = CliRunner().invoke(main, ["test", str(DEMO), "--coverage", "--lang", "zh"])
    assert result.exit_code == 0
    assert "覆盖率：" in result.output and "目录项目" in result.output


# --------------------------------------------------------------------------- input errors


def _evaluate_lines(tmp_path: Path, lines: list[Any], *extra: str) -> list[dict[str, Any]]:
    src = tmp_path / "cases.jsonl"
    src.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))
    result = CliRunner().invoke(main, ["evaluate", str(src), "--rules", str(DEMO), "-q", *extra])
    return [json.loads(x) for x in result.stdout_bytes.splitlines()]


def test_input_errors_in_chinese_keep_code_and_path(tmp_path: Path) -> None:
    bad = [
        {k: v for k, v in case(prior()).items() if k != "order_id"},
        case(prior(), patient__sex="X"),
        case(prior(value="6.4")),
    ]
    en = _evaluate_lines(tmp_path, bad, "--lang", "en")
    zh = _evaluate_lines(tmp_path, bad, "--lang", "zh")
    for e, z in zip(en, zh, strict=True):
        assert z["error"]["code"] == e["error"]["code"] == "invalid_input"
        assert z["error"]["path"] == e["error"]["path"]
        assert z["line"] == e["line"]
    assert en[0]["error"]["message"] == "order_id: required field is missing"
    assert zh[0]["error"]["message"] == "order_id：缺少必填字段"
    assert zh[1]["error"]["path"] == "patient.sex"
    assert zh[1]["error"]["message"] == (
        "patient.sex：性别应为 male、female 或 unknown（也接受 男、女、M、F、m、f）"
    )
    assert zh[2]["error"]["message"] == "prior_results[0].value：应为数值"


# --------------------------------------------------------------------------- CSV BOM


def test_csv_bom_only_on_request(tmp_path: Path) -> None:
    src = tmp_path / "cases.jsonl"
    src.write_bytes(orjson.dumps(case(prior())) + b"\n")
    base = ["evaluate", str(src), "--rules", str(DEMO), "-q", "--format", "csv"]
    plain = CliRunner().invoke(main, base).stdout_bytes
    assert plain.startswith(b"line,order_id,")
    with_bom = CliRunner().invoke(main, [*base, "--csv-bom"]).stdout_bytes
    assert with_bom == b"\xef\xbb\xbf" + plain
    out = tmp_path / "out.csv"
    assert CliRunner().invoke(main, [*base, "--csv-bom", "-o", str(out)]).exit_code == 0
    assert out.read_bytes() == b"\xef\xbb\xbf" + plain
    assert out.read_text("utf-8-sig").startswith("line,order_id,")


def test_csv_bom_needs_csv(tmp_path: Path) -> None:
    src = tmp_path / "cases.jsonl"
    src.write_bytes(orjson.dumps(case(prior())) + b"\n")
    result = CliRunner().invoke(main, ["evaluate", str(src), "--rules", str(DEMO), "--csv-bom"])
    assert result.exit_code == 2
    assert "--csv-bom" in result.output


_BAD_CASES: list[tuple[str, Any]] = [
    ("missing", {k: v for k, v in case(prior()).items() if k != "ordered_at"}),
    ("extra", case(prior(), colour="red")),
    ("string", case(prior(), order_id=7)),
    ("boolean", case(prior(shared="yes"))),
    ("choice", case(prior(status="done"))),
    ("le", case(prior(), institution__level=4)),
    ("too_short", case(tests=[])),
    ("pattern", case(prior(loinc="2345"))),
    ("timestamp", case(prior(), ordered_at=1740879000)),
    ("date", case(prior(), patient__birth_date=19610514)),
    ("birth", case(prior(), patient__birth_date="2030-01-01")),
    ("patient", case(prior(patient_id="P-2"))),
    ("result_id", case(prior(), prior(code="K"))),
    ("identity", case(prior(code=DELETE, loinc=DELETE))),
    ("value", case(prior(value_text="positive"))),
    ("range", case(prior(reference_range={"low": 7, "high": 3}))),
    ("flag", case(prior(), context__flags=["emergncy"])),
    ("json", "{not json"),
]


@pytest.mark.parametrize(("kind", "bad"), _BAD_CASES, ids=[k for k, _ in _BAD_CASES])
def test_every_common_input_error_has_chinese_words(tmp_path: Path, kind: str, bad: Any) -> None:
    """Each kind of problem a case commonly has is worded in Chinese: the INPUT templates
    still match what pydantic, the case model and the engine say in English."""
    src = tmp_path / "cases.jsonl"
    src.write_bytes(bad.encode() + b"\n" if isinstance(bad, str) else orjson.dumps(bad) + b"\n")
    out = {}
    for lang in ("en", "zh"):
        args = ["evaluate", str(src), "--rules", str(DEMO), "-q", "--lang", lang]
        (out[lang],) = [
            json.loads(x) for x in CliRunner().invoke(main, args).stdout_bytes.splitlines()
        ]
    en, zh = out["en"]["error"], out["zh"]["error"]
    assert (zh["code"], zh["path"]) == (en["code"], en["path"])
    assert zh["message"] != en["message"], en["message"]
    if kind != "json":  # the JSON parser's own detail stays as it says it
        assert "should" not in zh["message"] and "expected" not in zh["message"]


@pytest.mark.parametrize(
    ("english", "chinese"),
    [
        (
            "case too large: 500 tests × 100000 prior results = 50000000, more than the limit "
            "of 1000000; split the order",
            "病例过大：500 个项目 × 100000 条既往结果 = 50000000，超过上限 1000000；请拆分医嘱",
        ),
        (
            "line is longer than 1024 bytes (the input line size limit)",
            "该行超过 1024 字节（输入行长度上限）",
        ),
        (
            "integer 123456789012345678901 is beyond 64-bit range and would lose digits: "
            "write it as a string",
            "整数 123456789012345678901 超出 64 位范围，会丢失精度：请写成字符串",
        ),
        (
            "timestamp must lie between 1900-01-01 and 8999-12-31 (UTC)",
            "时间须在 1900-01-01 与 8999-12-31（UTC）之间",
        ),
    ],
)
def test_the_batch_limits_speak_chinese(english: str, chinese: str) -> None:
    from labrecog.words import input_text

    assert input_text(english, "zh") == chinese
    assert input_text(english, "en") == english
