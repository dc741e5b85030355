"""Rule-set robustness (docs/design.md, principle 5): a corrupted rule file either still loads or is
refused with RulesetError, located at file:line:col — never any other exception, never code
execution, never a hang on YAML tricks."""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from labrecog import Decision, Engine, InputError, RulesetError
from tests.builders import DEMO, case, prior

DEMO_FILES = tuple(sorted(p.name for p in DEMO.glob("*.yaml")))
PAYLOAD = '!!python/object/apply:os.system ["echo hi"]'
YAML_PUNCTUATION = ":-[]{}\t\"'#&*!|>%@`,? \n"
# a value after "key:" or "- key:" on one line, e.g. `    max_age: 7d`
VALUE_LINE = re.compile(r"^(\s*(?:- )?[^\s:#][^:#\n]*:)[ \t]+(\S.*)$", re.M)
SCALARS = (
    "",
    "~",
    "null",
    "yes",
    "no",
    "on",
    "1e999",
    ".nan",
    "-.inf",
    "-1",
    "0",
    "2025-13-01",
    "0x1F",
    "'unterminated",
    '"\\xZZ"',
    "[",
    "{a: 1}",
    "[1, 2]",
    "12mo",
    "7 days",
    "U+FFFF\uffff",
    "\x00",
)

# Line breaks as PyYAML counts them (so a problem's line can be checked against the file).
_BREAKS = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


def _lines(data: bytes) -> int:
    return len(_BREAKS.split(data.decode("utf-8", errors="replace")))


@st.composite
def corrupted(draw: st.DrawFn) -> tuple[str, bytes, str]:
    """(file name, corrupted content, what was done) for one demo rule file."""
    name = draw(st.sampled_from(DEMO_FILES), label="file")
    raw = (DEMO / name).read_bytes()
    text = raw.decode("utf-8")
    lines = text.splitlines(keepends=True)
    kind = draw(
        st.sampled_from(
            [
                "delete",
                "insert",
                "insert_punctuation",
                "duplicate_line",
                "swap_lines",
                "python_tag",
                "replace_value",
                "truncate",
                "bytes",
            ]
        ),
        label="kind",
    )
    if kind == "delete":
        start = draw(st.integers(min_value=0, max_value=len(text)))
        end = draw(st.integers(min_value=start, max_value=min(len(text), start + 60)))
        out = (text[:start] + text[end:]).encode()
    elif kind in ("insert", "insert_punctuation"):
        at = draw(st.integers(min_value=0, max_value=len(text)))
        alphabet = st.sampled_from(YAML_PUNCTUATION) if kind == "insert_punctuation" else None
        piece = draw(
            st.text(alphabet=alphabet, min_size=1, max_size=8)
            if alphabet is not None
            else st.text(min_size=1, max_size=8)
        )
        out = (text[:at] + piece + text[at:]).encode("utf-8", errors="surrogatepass")
    elif kind == "duplicate_line":
        i = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        out = "".join([*lines[: i + 1], lines[i], *lines[i + 1 :]]).encode()
    elif kind == "swap_lines":
        i = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        j = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        swapped = list(lines)
        swapped[i], swapped[j] = swapped[j], swapped[i]
        out = "".join(swapped).encode()
    elif kind in ("python_tag", "replace_value"):
        spots = list(VALUE_LINE.finditer(text))
        spot = draw(st.sampled_from(spots))
        value = PAYLOAD if kind == "python_tag" else draw(st.sampled_from(SCALARS))
        out = (text[: spot.start(2)] + value + text[spot.end(2) :]).encode(
            "utf-8", errors="surrogatepass"
        )
    elif kind == "truncate":
        out = raw[: draw(st.integers(min_value=0, max_value=len(raw) - 1))]
    else:  # random bytes, invalid UTF-8 included, inserted or overwriting
        at = draw(st.integers(min_value=0, max_value=len(raw)))
        junk = draw(st.binary(min_size=1, max_size=8))
        overwrite = draw(st.booleans())
        out = raw[:at] + junk + raw[at + (len(junk) if overwrite else 0) :]
    return name, out, kind


def _check_problems(exc: RulesetError, folder: Path) -> None:
    assert exc.problems, "a RulesetError must list at least one problem"
    for problem in exc.problems:
        where = Path(problem.file)
        if not where.is_absolute():
            where = Path.cwd() / where
        assert where.is_file(), f"problem names a file that does not exist: {problem}"
        assert where.resolve().parent == folder.resolve(), f"file outside the folder: {problem}"
        assert problem.line >= 1 and problem.col >= 1, str(problem)
        assert problem.line <= _lines(where.read_bytes()), f"line past the end: {problem}"
        assert problem.message.strip(), str(problem)


@settings(max_examples=200, deadline=None)
@given(corruption=corrupted())
def test_corrupted_rules_load_or_raise_ruleset_error(corruption: tuple[str, bytes, str]) -> None:
    name, content, kind = corruption
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "rules"
        shutil.copytree(DEMO, folder)
        (folder / name).write_bytes(content)
        try:
            engine = Engine.from_path(folder)
        except RulesetError as exc:
            event(f"{kind}: refused")
            _check_problems(exc, folder)
            return
        event(f"{kind}: loaded")
        # A rule set that loads must also decide (or refuse the input), nothing else.
        try:
            decision = engine.evaluate(case(prior(), tests=["GLU", "LFT", "LIPID", "NOPE"]))
        except InputError:
            return
        assert isinstance(decision, Decision)


# --------------------------------------------------------------------------- prices

PRICE_LINE = re.compile(r'^(\s*price: )"[0-9.]+"[ \t]*$', re.M)
CROSS_CHECK = case(
    prior(),
    prior(
        id="R-2",
        code="CREA",
        loinc="2160-0",
        value=80.0,
        unit="umol/L",
        reference_range={"low": 57.0, "high": 111.0, "unit": "umol/L"},
    ),
    tests=["GLU", "CREA", "LFT", "LIPID"],
)


@st.composite
def price_texts(draw: st.DrawFn) -> str:
    """A price as a rule author might write it, plausible or not, quoted or bare."""
    digits = st.text(alphabet="0123456789", min_size=1, max_size=40)
    amount = draw(
        st.one_of(
            st.decimals(allow_nan=False, allow_infinity=False, places=2).map(str),
            st.builds(lambda a, b: f"{a}.{b}", digits, digits),
            st.builds(
                lambda m, e: f"{m}e{e}",
                st.integers(min_value=0, max_value=99),
                st.integers(min_value=-40, max_value=1000),
            ),
            st.sampled_from(["NaN", "sNaN", "Infinity", "-0.00", "1_000.00", " 5.00 ", "5.001"]),
        )
    )
    return draw(st.sampled_from([f'"{amount}"', amount]))


@settings(max_examples=100, deadline=None, report_multiple_bugs=False)
# Falsifying examples (every price line of catalogue.yaml set to the text):
#   price: "1e26"  -> Engine.from_path raises decimal.InvalidOperation (compiler.py:185);
#   price: "99999999999999999999999999.00" loads, then evaluate() of GLU + CREA with two
#   waivable priors raises decimal.InvalidOperation (order.py:50).
@example(price='"1e26"')
@example(price='"99999999999999999999999999.00"')
@given(price=price_texts())
def test_any_price_text_loads_or_raises_ruleset_error(price: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "rules"
        shutil.copytree(DEMO, folder)
        catalogue = folder / "catalogue.yaml"
        text = catalogue.read_text(encoding="utf-8")
        catalogue.write_text(PRICE_LINE.sub(lambda m: m.group(1) + price, text), encoding="utf-8")
        try:
            engine = Engine.from_path(folder)
        except RulesetError as exc:
            _check_problems(exc, folder)
            return
        try:
            decision = engine.evaluate(CROSS_CHECK)
        except InputError:
            return
        assert isinstance(decision, Decision)


# --------------------------------------------------------------------------- YAML tricks


def _alias_bomb(levels: int = 9, width: int = 9) -> str:
    rows = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        refs = ", ".join(f"*a{i - 1}" for _ in range(width))
        rows.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(rows) + "\n"


def _folder(tmp_path: Path, name: str, text: str, *, with_demo: bool) -> Path:
    folder = tmp_path / "rules"
    if with_demo:
        shutil.copytree(DEMO, folder)
    else:
        folder.mkdir()
    (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.mark.parametrize("with_demo", [False, True], ids=["alone", "in_demo"])
def test_alias_bomb_is_refused_quickly(tmp_path: Path, with_demo: bool) -> None:
    folder = _folder(tmp_path, "bomb.yaml", _alias_bomb(), with_demo=with_demo)
    started = time.perf_counter()
    with pytest.raises(RulesetError) as caught:
        Engine.from_path(folder)
    assert time.perf_counter() - started < 1.0
    bomb = [p for p in caught.value.problems if Path(p.file).name == "bomb.yaml"]
    assert bomb and bomb[0].line == 1, caught.value.problems  # the first anchor is on line 1


def _marker_payloads(marker: Path) -> list[tuple[str, int]]:
    """(rule-file text, line of the payload) for several object-constructing tags."""
    m = str(marker)
    return [
        (f'id: demo\nversion: !!python/object/apply:os.system ["touch {m}"]\n', 2),
        (f'id: demo\nversion: "1"\nx: !!python/object/apply:subprocess.call [[touch, {m}]]\n', 3),
        (f"!!python/object/apply:os.system\nargs: ['touch {m}']\n", 1),
        (f'id: demo\nversion: "1"\ntests:\n  - !!python/object/new:os.system ["touch {m}"]\n', 4),
        ("id: demo\nversion: \"1\"\nname: {en: !!python/name:os.system ''}\n", 3),
        (
            'id: demo\nversion: "1"\n'
            f"description: !!python/object/apply:builtins.exec [\"open('{m}', 'w')\"]\n",
            3,
        ),
        ("? !!python/name:os.system\n: 1\n", 1),
    ]


@pytest.mark.parametrize("index", range(7))
@pytest.mark.parametrize("with_demo", [False, True], ids=["alone", "in_demo"])
def test_python_tags_are_refused_without_running_code(
    tmp_path: Path, index: int, with_demo: bool
) -> None:
    marker = tmp_path / "marker"
    text, line = _marker_payloads(marker)[index]
    folder = _folder(tmp_path, "zz_payload.yaml", text, with_demo=with_demo)
    started = time.perf_counter()
    with pytest.raises(RulesetError) as caught:
        Engine.from_path(folder)
    assert time.perf_counter() - started < 1.0
    assert not marker.exists(), "a YAML tag ran code"
    mine = [p for p in caught.value.problems if Path(p.file).name == "zz_payload.yaml"]
    assert mine, caught.value.problems
    assert mine[0].line == line and mine[0].col >= 1, mine
    assert "python" in mine[0].message, mine


def test_payload_in_corruption_strategy_runs_nothing(tmp_path: Path) -> None:
    """The corruption strategy's payload, on the catalogue's first value line: refused at
    that line, and the command it names never runs."""
    text = (DEMO / "catalogue.yaml").read_text(encoding="utf-8")
    spot = VALUE_LINE.search(text)
    assert spot is not None
    marker = tmp_path / "ran"
    payload = f'!!python/object/apply:os.system ["touch {marker}"]'
    line = text.count("\n", 0, spot.start(2)) + 1
    folder = _folder(
        tmp_path,
        "catalogue.yaml",
        text[: spot.start(2)] + payload + text[spot.end(2) :],
        with_demo=True,
    )
    with pytest.raises(RulesetError) as caught:
        Engine.from_path(folder)
    assert not marker.exists()
    lines = {p.line for p in caught.value.problems if Path(p.file).name == "catalogue.yaml"}
    assert line in lines, caught.value.problems
