"""``labrecog report``: exact counts on a hand-written file, the JSON and HTML outputs, and
the aggregator's invariants (docs/cli.md, exit codes; docs/report.md)."""

from __future__ import annotations

import copy
import gzip
import json
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from labrecog.batch.aggregate import UNREADABLE_SAMPLES, Aggregate
from labrecog.cli import main

ROOT = Path(__file__).resolve().parent.parent

RS1 = {"id": "demo", "version": "2025.1", "digest": "sha256:" + "a" * 64}
RS2 = {"id": "demo", "version": "2025.2", "digest": "sha256:" + "b" * 64}


def _item(code: str, status: str, saving: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "status": status, "saving": saving, "reasons": [], **extra}


def _reason(code: str, **extra: str) -> dict[str, str]:
    return {"code": code, "message": f"{code} …", **extra}


D1 = {
    "order_id": "O-1",
    "patient_id": "P-1",
    "ruleset": RS1,
    "currency": "CNY",
    "saving": "65.00",
    "items": [
        _item(
            "GLU",
            "waive",
            "5.00",
            result_id="R-1",
            institution="LABA",
            reasons=[_reason("superseded", result_id="R-0")],
        ),
        _item(
            "LFT",
            "waive",
            "60.00",
            waived=[
                {"code": "ALT", "result_id": "R-2", "institution": "LABA"},
                {"code": "AST", "result_id": "R-3", "institution": "LABB"},
                {"code": "TBIL", "result_id": "R-4", "institution": "LABB"},
                {"code": "ALB", "result_id": "R-5", "institution": "LABA"},
            ],
        ),
        _item(
            "K",
            "retest",
            "0.00",
            reasons=[
                _reason("too_old", result_id="R-6"),
                _reason("too_old", result_id="R-7"),
                _reason("critical_value", result_id="R-7"),
            ],
        ),
    ],
}
ERROR = {
    "line": 2,
    "order_id": None,
    "error": {"code": "invalid_input", "message": "not valid JSON", "path": ""},
}
D2 = {
    "order_id": "O-2",
    "patient_id": "P-2",
    "ruleset": RS2,
    "currency": "USD",
    "saving": "12.50",
    "items": [
        _item("GLU", "waive", "4.50", result_id="R-9", institution="LABB"),
        _item(
            "LFT",
            "partial",
            "8.00",
            waived=[{"code": "ALT", "result_id": "R-10", "institution": "LABC"}],
            retest=["AST", "TBIL", "ALB"],
            reasons=[
                _reason("too_old", result_id="R-11", test="AST"),
                _reason("no_prior", test="TBIL"),
                _reason("no_prior", test="ALB"),
            ],
        ),
        _item("K", "retest", "0.00", reasons=[_reason("no_prior")]),
    ],
}
D3 = {
    "order_id": "O-3",
    "patient_id": "P-3",
    "ruleset": RS1,
    "currency": "CNY",
    "saving": "0.00",
    "items": [_item("GLU", "retest", "0.00", reasons=[_reason("exception", flag="emergency")])],
}


def _lines() -> list[str]:
    return [
        json.dumps(D1, ensure_ascii=False),
        json.dumps(ERROR),
        '{"order_id": "O-broken", "items": [',  # line 3: not JSON
        json.dumps(D2),
        "[1, 2, 3]",  # line 5: JSON, but not a record
        "",  # line 6: blank, not counted at all
        json.dumps(D3),
    ]


SAMPLE = "\n".join(_lines()) + "\n"

EXPECTED_TOTALS = {
    "cases": 4,
    "decisions": 3,
    "errors": 1,
    "unreadable": 2,
    "items": 7,
    "waive": 3,
    "partial": 1,
    "retest": 3,
    "waive_rate": "0.4286",
    "partial_rate": "0.1429",
    "retest_rate": "0.4286",
    "saving": {"CNY": "65.00", "USD": "12.50"},
    "saving_mismatches": 0,
}
EXPECTED_BY_TEST = [
    {
        "code": "GLU",
        "count": 3,
        "waive": 2,
        "partial": 0,
        "retest": 1,
        "waive_rate": "0.6667",
        "saving": {"CNY": "5.00", "USD": "4.50"},
    },
    {
        "code": "K",
        "count": 2,
        "waive": 0,
        "partial": 0,
        "retest": 2,
        "waive_rate": "0.0000",
        "saving": {"CNY": "0.00", "USD": "0.00"},
    },
    {
        "code": "LFT",
        "count": 2,
        "waive": 1,
        "partial": 1,
        "retest": 0,
        "waive_rate": "0.5000",
        "saving": {"CNY": "60.00", "USD": "8.00"},
    },
]
EXPECTED_BY_INSTITUTION = [
    {
        "institution": "LABA",
        "waived_tests": 3,
        "single_tests": 1,
        "panel_components": 2,
        "saving": {"CNY": "5.00"},
    },
    {
        "institution": "LABB",
        "waived_tests": 3,
        "single_tests": 1,
        "panel_components": 2,
        "saving": {"USD": "4.50"},
    },
    {
        "institution": "LABC",
        "waived_tests": 1,
        "single_tests": 0,
        "panel_components": 1,
        "saving": {},
    },
]
EXPECTED_BY_REASON = [
    {"code": "no_prior", "items": 2, "reasons": 3},
    {"code": "too_old", "items": 2, "reasons": 3},
    {"code": "critical_value", "items": 1, "reasons": 1},
    {"code": "exception", "items": 1, "reasons": 1},
    {"code": "superseded", "items": 1, "reasons": 1},
]
EXPECTED_BY_RULESET = [
    {
        **RS1,
        "decisions": 2,
        "items": 4,
        "waive": 2,
        "waive_rate": "0.5000",
        "saving": {"CNY": "65.00"},
    },
    {
        **RS2,
        "decisions": 1,
        "items": 3,
        "waive": 1,
        "waive_rate": "0.3333",
        "saving": {"USD": "12.50"},
    },
]


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "decisions.jsonl"
    path.write_text(SAMPLE, encoding="utf-8")
    return path


def _run(*args: str, input: bytes | None = None) -> Any:
    return CliRunner().invoke(main, ["report", *args], input=input, catch_exceptions=False)


def _json(*args: str, input: bytes | None = None) -> dict[str, Any]:
    result = _run(*args, "--json", input=input)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


# --- exact counts -------------------------------------------------------------------------


def test_json_exact_counts(sample: Path) -> None:
    data = _json(str(sample))
    assert list(data) == [
        "totals",
        "error_codes",
        "unreadable_lines",
        "by_test",
        "by_institution",
        "unattributed_saving",
        "by_reason",
        "by_ruleset",
    ]
    assert data["totals"] == EXPECTED_TOTALS
    assert data["error_codes"] == {"invalid_input": 1}
    assert [u["line"] for u in data["unreadable_lines"]] == [3, 5]
    assert data["by_test"] == EXPECTED_BY_TEST
    assert data["by_institution"] == EXPECTED_BY_INSTITUTION
    assert data["unattributed_saving"] == {"CNY": "60.00", "USD": "8.00"}
    assert data["by_reason"] == EXPECTED_BY_REASON
    assert data["by_ruleset"] == EXPECTED_BY_RULESET


def test_unreadable_lines_named_on_stderr(sample: Path) -> None:
    result = _run(str(sample), "--json")
    assert result.exit_code == 0
    assert "2 unreadable line(s)" in result.stderr
    assert "line 3: not valid JSON" in result.stderr
    assert "line 5: not a JSON object" in result.stderr
    assert json.loads(result.stdout)["totals"]["unreadable"] == 2  # stdout stays pure JSON


def test_tables_on_stdout(sample: Path) -> None:
    result = _run(str(sample))
    assert result.exit_code == 0, result.output
    out = result.stdout
    for title in ("Totals", "By test", "By performing institution", "By reason", "By rule set"):
        assert title in out
    assert "65.00 CNY; 12.50 USD" in out  # two currencies, side by side, never summed
    assert "77.50" not in out
    assert "single tests only" in out  # the attribution caveat is in the caption
    assert "sha256:aaaaaaaaaaaa" in out
    assert "\x1b[" not in out  # no colour codes when piped


def test_top_limits_rows(sample: Path) -> None:
    out = _run(str(sample), "--top", "1").stdout
    assert "… and 2 more rows" in out  # by test: GLU shown, K and LFT not
    assert "LFT" not in out.split("By test")[1].split("By performing")[0]
    assert _run(str(sample), "--top", "0").exit_code == 2


def test_stdin_and_gzip(sample: Path, tmp_path: Path) -> None:
    expected = _json(str(sample))
    assert _json("-", input=SAMPLE.encode()) == expected
    gz = tmp_path / "decisions.jsonl.gz"
    gz.write_bytes(gzip.compress(SAMPLE.encode()))
    assert _json(str(gz)) == expected
    renamed = tmp_path / "no-suffix"  # recognised by magic bytes, not by the name
    renamed.write_bytes(gz.read_bytes())
    assert _json(str(renamed)) == expected


def test_missing_or_unreadable_file_exits_2(tmp_path: Path) -> None:
    result = _run(str(tmp_path / "nope.jsonl"))
    assert result.exit_code == 2
    assert "cannot read" in result.stderr
    truncated = tmp_path / "cut.gz"
    truncated.write_bytes(gzip.compress(SAMPLE.encode())[:-12])
    assert _run(str(truncated)).exit_code == 2


def test_empty_file(tmp_path: Path) -> None:
    """Nothing to report is exit 1, not an all-zero report (issue 12; test_safety_holes.py)."""
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    for extra in ([], ["--json"], ["--html", str(tmp_path / "e.html")]):
        result = _run(str(path), *extra)
        assert result.exit_code == 1
        assert result.stdout == ""
    assert not (tmp_path / "e.html").exists()


# --- HTML ---------------------------------------------------------------------------------

_VOID = {"meta", "br", "img", "hr", "input", "link", "col", "wbr", "source"}


class _Checker(HTMLParser):
    """Tags must nest and close: enough to catch broken escaping or a forgotten end tag."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.tags: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _check_html(page: str) -> _Checker:
    checker = _Checker()
    checker.feed(page)
    checker.close()
    assert checker.problems == []
    assert checker.stack == []
    return checker


def test_html_page(sample: Path, tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.html"
    result = _run(str(sample), "--html", str(target))
    assert result.exit_code == 0, result.output
    assert "By test" in result.stdout  # tables still printed
    page = target.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in page
    assert page.count("<svg") == 4  # waiver rate, saving CNY, saving USD, reasons
    assert "<script" not in page.lower()
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page
    checker = _check_html(page)
    assert {"table", "svg", "rect", "style"} <= checker.tags
    assert "single tests only" in "".join(checker.text)
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]  # no .partial left


def test_html_to_stdout_replaces_tables(sample: Path) -> None:
    result = _run(str(sample), "--html", "-")
    assert result.exit_code == 0
    assert result.stdout.startswith("<!DOCTYPE html>")
    _check_html(result.stdout)


def test_html_escapes_hostile_text(tmp_path: Path) -> None:
    evil = copy.deepcopy(D1)
    evil["items"][0]["code"] = "<script>alert(1)</script>"
    evil["items"][0]["institution"] = '"><img src=x onerror=alert(1)>'
    evil["items"][1]["waived"][0]["institution"] = "临夏州人民医院"
    evil["items"][2]["reasons"][0]["code"] = "</svg><script>x</script>"
    evil["ruleset"] = {**RS1, "id": "[bold red]rules[/]\x1b[2J"}
    path = tmp_path / "evil.jsonl"
    path.write_text(json.dumps(evil, ensure_ascii=False) + "\n", encoding="utf-8")
    page_path = tmp_path / "evil.html"
    result = _run(str(path), "--html", str(page_path))
    assert result.exit_code == 0, result.output
    page = page_path.read_text(encoding="utf-8")
    assert "<script" not in page.lower()
    assert "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "临夏州人民医院" in page
    _check_html(page)
    # The terminal gets the same text literally: no rich markup, no escape sequences.
    assert "[bold red]rules[/]\\x1b[2J" in result.stdout
    assert "\x1b" not in result.stdout
    assert "<script>alert(1)</script>" in result.stdout


def test_unwritable_html_exits_2(sample: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = _run(str(sample), "--html", str(blocker / "report.html"))
    assert result.exit_code == 2
    assert "cannot write" in result.stderr


# --- the aggregator -----------------------------------------------------------------------


def test_aggregator_direct() -> None:
    agg = Aggregate()
    for record in (D1, ERROR, D2, D3):
        assert agg.add(copy.deepcopy(record))
    data = agg.as_dict()
    assert data["totals"] == {**EXPECTED_TOTALS, "unreadable": 0}
    assert data["by_test"] == EXPECTED_BY_TEST


@pytest.mark.parametrize(
    "breakage",
    [
        lambda d: d["items"][2].update(status="skipped"),
        lambda d: d["items"][2].update(saving="NaN"),
        lambda d: d["items"][2].update(saving="-1.00"),
        lambda d: d["items"][2].update(saving=0),
        lambda d: d["items"][2]["reasons"].append("too_old"),
        lambda d: d["items"][1]["waived"].append({"code": 3}),
        lambda d: d.update(saving="1e3"),
        lambda d: d.update(currency=None),
        lambda d: d.update(ruleset="demo"),
        lambda d: d.update(items={}),
        lambda d: d.pop("items"),
        lambda d: d.update(error="bad"),
    ],
)
def test_malformed_record_counts_nothing_but_itself(breakage: Any) -> None:
    record = copy.deepcopy(D1)
    breakage(record)
    agg = Aggregate()
    assert not agg.add(record, line=9)
    data = agg.as_dict()
    assert data["totals"]["unreadable"] == 1
    assert data["totals"]["items"] == 0
    assert data["totals"]["cases"] == 0
    assert data["by_test"] == data["by_institution"] == data["by_reason"] == []
    assert data["unreadable_lines"][0]["line"] == 9


def test_unreadable_samples_are_bounded() -> None:
    agg = Aggregate()
    for line in range(1, 1001):
        agg.add("not a record", line)
    assert agg.unreadable == 1000
    assert [s["line"] for s in agg.as_dict()["unreadable_lines"]] == list(
        range(1, UNREADABLE_SAMPLES + 1)
    )


def test_saving_mismatch_is_counted_not_hidden() -> None:
    record = copy.deepcopy(D1)
    record["saving"] = "70.00"
    agg = Aggregate()
    agg.add(record)
    totals = agg.as_dict()["totals"]
    assert totals["saving"] == {"CNY": "70.00"}  # the decision's own total is reported
    assert totals["saving_mismatches"] == 1


def test_retest_panel_relies_on_no_lab() -> None:
    record = copy.deepcopy(D3)
    record["items"] = [
        _item(
            "LFT", "retest", "0.00", waived=[{"code": "ALT", "result_id": "R", "institution": "X"}]
        )
    ]
    agg = Aggregate()
    agg.add(record)
    assert agg.as_dict()["by_institution"] == []


_money = st.decimals(min_value=0, max_value=10_000, places=2, allow_nan=False).map(str)
_codes = st.sampled_from(["GLU", "K", "LFT", "LIPID", "TSH", "血糖"])
_labs = st.sampled_from(["LABA", "LABB", "临夏", None])
_component = st.fixed_dictionaries(
    {"code": _codes, "result_id": st.just("R"), "institution": _labs}
)
_decision_item = st.builds(
    lambda code, status, saving, inst, waived, reasons: {
        "code": code,
        "status": status,
        "saving": saving,
        "institution": inst,
        "waived": waived,
        "reasons": [{"code": r, "message": ""} for r in reasons],
    },
    _codes,
    st.sampled_from(["waive", "partial", "retest"]),
    _money,
    _labs,
    st.one_of(st.none(), st.lists(_component, max_size=4)),
    st.lists(st.sampled_from(["too_old", "no_prior", "exception"]), max_size=4),
)


@st.composite
def _decisions(draw: st.DrawFn) -> dict[str, Any]:
    items = draw(st.lists(_decision_item, max_size=6))
    return {
        "order_id": "O",
        "patient_id": "P",
        "ruleset": draw(st.sampled_from([RS1, RS2])),
        "currency": draw(st.sampled_from(["CNY", "USD"])),
        "saving": str(sum((Decimal(i["saving"]) for i in items), Decimal("0.00"))),
        "items": items,
    }


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(_decisions(), st.just(ERROR)), max_size=12))
def test_by_test_counts_sum_to_items(records: list[dict[str, Any]]) -> None:
    agg = Aggregate()
    for record in records:
        assert agg.add(record)
    data = agg.as_dict()
    totals = data["totals"]
    assert sum(r["count"] for r in data["by_test"]) == totals["items"]
    for status in ("waive", "partial", "retest"):
        assert sum(r[status] for r in data["by_test"]) == totals[status]
    assert totals["waive"] + totals["partial"] + totals["retest"] == totals["items"]
    assert totals["cases"] == len(records)
    assert totals["saving_mismatches"] == 0
    for currency, amount in totals["saving"].items():
        by_test = sum(Decimal(r["saving"].get(currency, "0")) for r in data["by_test"])
        by_rs = sum(Decimal(r["saving"].get(currency, "0")) for r in data["by_ruleset"])
        # Attributed (single tests) + unattributed (panels) never exceeds the total.
        by_lab = sum(Decimal(r["saving"].get(currency, "0")) for r in data["by_institution"])
        unattributed = Decimal(data["unattributed_saving"].get(currency, "0"))
        assert by_test == by_rs == Decimal(amount)
        assert by_lab + unattributed <= Decimal(amount)
    for row in data["by_reason"]:
        assert row["items"] <= row["reasons"]


# --- the shipped example --------------------------------------------------------------------


def test_examples_decisions_agree_with_evaluate_summary(tmp_path: Path) -> None:
    """The report of ``make demo``'s output matches what evaluate counted while writing it."""
    decisions = tmp_path / "decisions.jsonl"
    summary_path = tmp_path / "summary.json"
    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "evaluate",
            str(ROOT / "examples" / "cases.jsonl"),
            "--rules",
            str(ROOT / "rules" / "demo"),
            "-o",
            str(decisions),
            "--summary-json",
            str(summary_path),
            "-q",
        ],
    )
    assert result.exit_code in (0, 1), result.output
    summary = json.loads(summary_path.read_text())
    data = _json(str(decisions))
    totals = data["totals"]
    for key in ("cases", "decisions", "errors", "items", "waive", "partial", "retest"):
        assert totals[key] == summary[key], key
    assert totals["unreadable"] == 0
    assert totals["saving"] == {summary["currency"]: summary["saving"]}
    assert totals["saving_mismatches"] == 0
    by_reason = {r["code"]: r["reasons"] for r in data["by_reason"]}
    for code, n in summary["top_reasons"].items():
        assert by_reason[code] == n
    assert sum(r["count"] for r in data["by_test"]) == totals["items"]
    attributed = sum(Decimal(r["saving"].get("CNY", "0")) for r in data["by_institution"])
    unattributed = Decimal(data["unattributed_saving"].get("CNY", "0"))
    assert attributed + unattributed == Decimal(summary["saving"])
    page = tmp_path / "report.html"
    assert _run(str(decisions), "--html", str(page)).exit_code == 0
    _check_html(page.read_text(encoding="utf-8"))
