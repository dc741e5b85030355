"""Tests for labrecog.load._yaml_source: safe loading and source positions of rule files."""

from __future__ import annotations

import datetime as dt
import math
import pickle
import time

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labrecog.load import _yaml_source as yaml_source
from labrecog.load._yaml_source import Position, SourceMap, YamlProblem, load_yaml

F = "rules/demo.yaml"

DOC = """\
name: demo
tests:
  - code: GLU
    range: [3.9, 6.1]
  - code: K
    notes:
      - "fasting"
valid_from: 2025-01-01
"""


def pos(line: int, col: int) -> Position:
    return Position(F, line, col)


def problem(source: str | bytes) -> YamlProblem:
    with pytest.raises(YamlProblem) as info:
        load_yaml(source, F)
    return info.value


# --- values and positions -------------------------------------------------------------------


def test_values_are_plain_python() -> None:
    value, _ = load_yaml(DOC, F)
    assert value == {
        "name": "demo",
        "tests": [
            {"code": "GLU", "range": [3.9, 6.1]},
            {"code": "K", "notes": ["fasting"]},
        ],
        "valid_from": dt.date(2025, 1, 1),
    }


def test_value_positions_of_nested_document() -> None:
    _, sm = load_yaml(DOC, F)
    assert sm.value(()) == pos(1, 1)
    assert sm.value(("name",)) == pos(1, 7)
    assert sm.value(("tests",)) == pos(3, 3)
    assert sm.value(("tests", 0)) == pos(3, 5)
    assert sm.value(("tests", 0, "code")) == pos(3, 11)
    assert sm.value(("tests", 0, "range")) == pos(4, 12)
    assert sm.value(("tests", 0, "range", 1)) == pos(4, 18)
    assert sm.value(("tests", 1, "code")) == pos(5, 11)
    assert sm.value(("tests", 1, "notes")) == pos(7, 7)
    assert sm.value(("tests", 1, "notes", 0)) == pos(7, 9)
    assert sm.value(("valid_from",)) == pos(8, 13)
    assert sm.value(("tests", 2)) is None


def test_key_positions_of_nested_document() -> None:
    _, sm = load_yaml(DOC, F)
    assert sm.key(("name",)) == pos(1, 1)
    assert sm.key(("tests",)) == pos(2, 1)
    assert sm.key(("tests", 0, "code")) == pos(3, 5)
    assert sm.key(("tests", 0, "range")) == pos(4, 5)
    assert sm.key(("tests", 1, "notes")) == pos(6, 5)
    assert sm.key(("tests", 0)) is None  # list items have no key
    assert sm.key(()) is None


def test_position_str_and_problem_str() -> None:
    assert str(pos(3, 7)) == f"{F}:3:7"
    err = YamlProblem(pos(3, 7), "boom")
    assert str(err) == f"{F}:3:7: boom"
    assert (err.position, err.message) == (pos(3, 7), "boom")
    again = pickle.loads(pickle.dumps(err))
    assert (again.position, again.message, str(again)) == (err.position, err.message, str(err))


def test_nearest_falls_back_to_longest_known_prefix() -> None:
    _, sm = load_yaml(DOC, F)
    assert sm.nearest(("tests", 0, "code")) == pos(3, 11)
    assert sm.nearest(("tests", 0, "missing_field")) == pos(3, 5)
    assert sm.nearest(("tests", 7, "code")) == pos(3, 3)
    assert sm.nearest(("nope", "deeper")) == pos(1, 1)
    assert SourceMap(pos(1, 1)).nearest(("x",)) == pos(1, 1)


def test_scalar_types() -> None:
    src = (
        "i: 1\nf: 1.5\nb: true\nn: ~\nn2: null\ne:\ns: text\nq: '1'\n"
        "d: 2025-01-01\nts: 2025-01-01T08:30:00Z\nnan: .nan\ninf: -.inf\neq: =\n"
    )
    value, _ = load_yaml(src, F)
    assert isinstance(value, dict)
    assert value["i"] == 1 and type(value["i"]) is int
    assert value["f"] == 1.5 and value["b"] is True
    assert value["n"] is None and value["n2"] is None and value["e"] is None
    assert value["s"] == "text" and value["q"] == "1"
    assert value["d"] == dt.date(2025, 1, 1)
    assert value["ts"] == dt.datetime(2025, 1, 1, 8, 30, tzinfo=dt.UTC)
    assert math.isnan(value["nan"]) and value["inf"] == -math.inf
    assert value["eq"] == "="


def test_explicit_core_tags_are_allowed() -> None:
    value, _ = load_yaml("a: !!str 12\nb: !!float 1\nc: !!int '7'\nd: !!map {x: !!seq [1]}\n", F)
    assert value == {"a": "12", "b": 1.0, "c": 7, "d": {"x": [1]}}


@pytest.mark.parametrize("source", ["", "# only a comment\n", "---\n", "---\n...\n"])
def test_empty_document_is_none(source: str) -> None:
    value, sm = load_yaml(source, F)
    assert value is None
    assert sm.value(()) is not None
    assert sm.nearest(("anything",)).file == F


def test_top_level_list() -> None:
    value, sm = load_yaml("- a\n- {b: 2}\n", F)
    assert value == ["a", {"b": 2}]
    assert sm.value((1, "b")) == pos(2, 7)
    assert sm.key((1, "b")) == pos(2, 4)


# --- SourceMap combinators -------------------------------------------------------------------


def test_prefixed() -> None:
    _, sm = load_yaml("code: GLU\nrange: [1, 2]\n", "extra.yaml")
    moved = sm.prefixed(("tests", 12))
    assert moved.value(("tests", 12, "code")) == Position("extra.yaml", 1, 7)
    assert moved.key(("tests", 12, "range")) == Position("extra.yaml", 2, 1)
    assert moved.value(("tests", 12)) == Position("extra.yaml", 1, 1)
    assert moved.value(("code",)) is None
    assert sm.value(("code",)) == Position("extra.yaml", 1, 7)  # original unchanged


def test_merge_is_union_and_other_wins() -> None:
    _, a = load_yaml("x: 1\ny: 2\n", "a.yaml")
    _, b = load_yaml("\ny: 3\nz: 4\n", "b.yaml")
    merged = a.merge(b)
    assert merged.value(("x",)) == Position("a.yaml", 1, 4)
    assert merged.value(("y",)) == Position("b.yaml", 2, 4)
    assert merged.key(("y",)) == Position("b.yaml", 2, 1)
    assert merged.value(("z",)) == Position("b.yaml", 3, 4)
    assert a.value(("z",)) is None  # original unchanged
    _, tests = load_yaml("code: K\n", "t.yaml")
    combined = a.merge(tests.prefixed(("tests", 0)))
    assert combined.nearest(("tests", 0, "code")) == Position("t.yaml", 1, 7)
    assert combined.nearest(("tests", 5)) == Position("a.yaml", 1, 1)


def test_shifted_reindexes_only_that_list() -> None:
    _, sm = load_yaml("tests:\n  - code: A\n  - code: B\nother:\n  - 1\n", F)
    moved = sm.shifted("tests", 3)
    assert moved.value(("tests", 3, "code")) == pos(2, 11)
    assert moved.key(("tests", 4, "code")) == pos(3, 5)
    assert moved.value(("tests", 4)) == pos(3, 5)
    assert moved.value(("tests", 0)) is None
    assert moved.value(("tests",)) == pos(2, 3)
    assert moved.value(("other", 0)) == pos(5, 5)
    assert sm.value(("tests", 0, "code")) == pos(2, 11)  # original unchanged


# --- rejections --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "tag"),
    [
        ("x: !!python/object/apply:os.system ['echo pwned']\n", "!!python/object/apply:os.system"),
        ("x: !!python/name:os.system\n", "!!python/name:os.system"),
        ("x: !!python/object:__main__.Foo {}\n", "!!python/object:__main__.Foo"),
        ("x: !custom 1\n", "!custom"),
        ("x: !!binary aGVsbG8=\n", "!!binary"),
        ("x: !!set {a, b}\n", "!!set"),
        ("x: !!omap [a: 1]\n", "!!omap"),
        ("x: !<tag:example.com,2000:thing> 1\n", "tag:example.com,2000:thing"),
    ],
)
def test_disallowed_tags(source: str, tag: str) -> None:
    err = problem(source)
    assert err.message == f"tag {tag} is not allowed in rule files"
    assert err.position == pos(1, 4)


def test_core_tag_on_wrong_node_kind() -> None:
    err = problem("a:\n  b: !!str [1, 2]\n")
    assert err.position == pos(2, 6)
    assert "!!str" in err.message and "sequence" in err.message


def test_explicit_tag_with_unreadable_value() -> None:
    err = problem("a: !!int abc\n")
    assert err.position == pos(1, 4)
    assert "'abc'" in err.message


def test_invalid_date_reports_value_position() -> None:
    err = problem("valid_from: 2025-02-30\n")
    assert err.position == pos(1, 13)
    assert "2025-02-30" in err.message


def test_anchor_and_alias_rejected() -> None:
    err = problem("base: &b {x: 1}\nother: *b\n")
    assert err.position == pos(1, 7)
    assert err.message == "YAML anchors and aliases are not allowed in rule files (found anchor &b)"


def test_unused_anchor_rejected() -> None:
    err = problem("a:\n  - &only 1\n")
    assert err.position == pos(2, 5)
    assert "found anchor &only" in err.message


def test_undefined_alias_rejected() -> None:
    err = problem("a: *nowhere\n")
    assert err.position == pos(1, 4)
    assert "found alias *nowhere" in err.message


def test_alias_bomb_fails_fast() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]")
    started = time.perf_counter()
    err = problem("\n".join(lines) + "\n")
    assert time.perf_counter() - started < 0.5
    assert "anchors and aliases are not allowed" in err.message
    assert err.position == pos(1, 4)


def test_merge_key_rejected() -> None:
    err = problem("a:\n  <<: {x: 1}\n  y: 2\n")
    assert err.position == pos(2, 3)
    assert "merge keys" in err.message


def test_merge_key_with_alias_rejected() -> None:
    err = problem("base: &b {x: 1}\nchild:\n  <<: *b\n")
    assert "anchors and aliases are not allowed" in err.message


def test_quoted_merge_key_is_a_plain_string() -> None:
    value, _ = load_yaml("'<<': 1\nv: <<\n", F)
    assert value == {"<<": 1, "v": "<<"}


def test_duplicate_key() -> None:
    err = problem("tests:\n  - code: A\n    unit: mmol/L\n    code: B\n")
    assert err.position == pos(4, 5)
    assert "duplicate key 'code'" in err.message
    assert "line 2" in err.message


def test_same_key_in_different_mappings_is_fine() -> None:
    value, _ = load_yaml("- code: A\n- code: B\n", F)
    assert value == [{"code": "A"}, {"code": "B"}]


@pytest.mark.parametrize(
    ("source", "col", "words"),
    [
        ("yes: 1\n", 1, ["'yes'", "boolean", "quote the key"]),
        ("a:\n  1: x\n", 3, ["'1'", "integer", "quote the key"]),
        ("~: x\n", 1, ["null", "quote the key"]),
        ("2025-01-01: x\n", 1, ["date", "quote the key"]),
        ("1.5: x\n", 1, ["number"]),
    ],
)
def test_non_string_scalar_keys(source: str, col: int, words: list[str]) -> None:
    err = problem(source)
    assert err.position == pos(source.count("\n"), col)
    for word in words:
        assert word in err.message


@pytest.mark.parametrize(
    ("source", "kind"), [("? [a, b]\n: 1\n", "sequence"), ("{{a: 1}: 2}", "mapping")]
)
def test_collection_keys(source: str, kind: str) -> None:
    err = problem(source)
    assert f"not a {kind}" in err.message


def test_quoted_yes_key_is_fine() -> None:
    value, _ = load_yaml("'yes': 1\n\"no\": 2\n", F)
    assert value == {"yes": 1, "no": 2}


def test_multiple_documents() -> None:
    err = problem("a: 1\n---\nb: 2\n")
    assert err.position == pos(2, 1)
    assert "one YAML document" in err.message


def test_bad_utf8() -> None:
    err = problem("name: caf\u00e9\n".encode("latin-1"))
    assert err.position == pos(1, 1)
    assert err.message == "file is not valid UTF-8 (byte offset 9)"


def test_utf8_bytes_and_bom_accepted() -> None:
    source = "name: Glukóza\nunit: µmol/L\n".encode()
    assert load_yaml(source, F)[0] == {"name": "Glukóza", "unit": "µmol/L"}
    value, sm = load_yaml(b"\xef\xbb\xbf" + source, F)
    assert value == {"name": "Glukóza", "unit": "µmol/L"}
    assert sm.value(("name",)) == pos(1, 7)
    assert sm.key(("name",)) == pos(1, 1)
    assert load_yaml("\ufeffa: 1\n", F)[0] == {"a": 1}


def test_tab_indentation_error_has_position() -> None:
    err = problem("tests:\n\t- code: A\n")
    assert err.position == pos(2, 1)
    assert "'\\t'" in err.message and "tabs" in err.message


def test_scanner_error_position() -> None:
    err = problem("a: 1\nb: 'unclosed\n")
    assert err.position == pos(3, 1)
    assert "quoted scalar" in err.message and "line 2, column 4" in err.message


def test_bad_indentation_position() -> None:
    err = problem("tests:\n  - code: A\n   unit: x\n")
    assert err.position.line == 3
    assert err.message


def test_control_character_position() -> None:
    err = problem("a: 1\nb: x\x07y\n")
    assert err.position == pos(2, 5)
    assert "U+0007" in err.message


def test_non_yaml_error_in_scanner_becomes_problem() -> None:
    err = problem('a: "\\U0011FFFF"\n')
    assert err.position.line == 1


def test_size_limit() -> None:
    big = b"#" * (yaml_source.MAX_BYTES + 1)
    err = problem(big)
    assert "larger than" in err.message
    err = problem(big.decode())
    assert "larger than" in err.message


def test_node_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    assert yaml_source.MAX_NODES == 200_000
    monkeypatch.setattr(yaml_source, "MAX_NODES", 10)
    assert load_yaml("[" + ", ".join(["0"] * 9) + "]", F)[0] == [0] * 9
    err = problem("[" + ", ".join(["0"] * 10) + "]")
    assert "more than 10 YAML nodes" in err.message


def test_depth_limit() -> None:
    depth = yaml_source.MAX_DEPTH
    assert load_yaml("[" * depth + "]" * depth, F)[0] is not None
    err = problem("[" * (depth + 1) + "]" * (depth + 1))
    assert "nested" in err.message
    err = problem("[" * 10_000)
    assert "nested" in err.message


# --- properties --------------------------------------------------------------------------------

_FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_TOKENS = st.sampled_from(
    [
        "a", "b", "yes", "1", "1.5", "~", ":", ": ", "- ", "-", " ", "  ", "\n", "\t", "[", "]",
        "{", "}", ",", "&x ", "*x", "!!str ", "!!python/name:os.system ", "!t ", "<<: ", "? ",
        "'", '"', "#", "---\n", "...\n", "|\n", ">\n", "%YAML 1.1\n", "\\", "\x00", "\ufeff",
        "2025-02-30", "\r", "\u2028", "=",
    ]
)  # fmt: skip


def _check_loaded(value: object) -> None:
    allowed = (str, int, float, bool, dt.date, dt.datetime, type(None))
    if isinstance(value, dict):
        for key, item in value.items():
            assert isinstance(key, str)
            _check_loaded(item)
    elif isinstance(value, list):
        for item in value:
            _check_loaded(item)
    else:
        assert isinstance(value, allowed)


def _only_problem_or_plain(source: str | bytes) -> None:
    try:
        value, sm = load_yaml(source, F)
    except YamlProblem as err:
        assert err.position.file == F
        assert err.position.line >= 1 and err.position.col >= 1
        assert str(err).startswith(f"{err.position}: ")
    else:
        _check_loaded(value)
        assert isinstance(sm, SourceMap)


@_FUZZ
@given(st.text())
def test_random_text_only_yaml_problem(source: str) -> None:
    _only_problem_or_plain(source)


@_FUZZ
@given(st.binary())
def test_random_bytes_only_yaml_problem(source: bytes) -> None:
    _only_problem_or_plain(source)


@_FUZZ
@given(st.lists(_TOKENS, max_size=40).map("".join))
def test_yaml_like_text_only_yaml_problem(source: str) -> None:
    _only_problem_or_plain(source)
    _only_problem_or_plain(source.encode("utf-8"))


# PyYAML's emitter writes NEL/LS/PS unescaped with allow_unicode=True and its own loader then
# folds them, so yaml.safe_load does not round-trip them either; that is not this module's bug.
_TEXT = st.text(st.characters(exclude_characters="\x85\u2028\u2029", exclude_categories=["Cs"]))
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False)
    | _TEXT
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=20,
)


@_FUZZ
@given(st.dictionaries(_TEXT, _JSON, max_size=5), st.booleans(), st.booleans())
def test_safe_dump_round_trip(data: dict[str, object], flow: bool, unicode: bool) -> None:
    dumped = yaml.safe_dump(data, allow_unicode=unicode, default_flow_style=flow)
    value, sm = load_yaml(dumped, F)
    assert value == data
    for key in data:
        assert sm.key((key,)) is not None
        assert sm.value((key,)) is not None
