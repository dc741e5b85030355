"""Bounded resources and bad values (issue 18): a hostile value is an error naming where it is.

Durations too long for a timedelta, instants at the edge of the calendar, a 2 GB file in a
rule folder, over-long lines and over-large cases, integers no double can hold: each is a
RulesetError with file:line:col or an ``invalid_input`` record, never a traceback, an
``internal_error`` or a silently changed value.
"""

from __future__ import annotations

import json
import re
import tracemalloc
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import TypeAdapter

from labrecog import Engine, RulesetError
from tests.builders import case, demo_engine, prior
from tests.test_ruleset_errors import BASE, write


@pytest.mark.parametrize(
    "duration", ["999999999999d", "99999999999999999999w", "1" + "0" * 400 + "h", "36526d"]
)
def test_a_huge_duration_is_a_ruleset_error_with_its_position(
    tmp_path: Path, duration: str
) -> None:
    text = BASE.replace("max_age: 30d", f"max_age: {{value: {duration}}}")
    path = write(tmp_path, text)
    with pytest.raises(RulesetError) as info:
        Engine.from_path(path)
    (problem,) = info.value.problems
    line_no = text.splitlines().index(f"  chemistry: {{max_age: {{value: {duration}}}}}") + 1
    assert problem.line == line_no and problem.file.endswith("rules.yaml")
    assert "100 years" in problem.message


def test_a_hundred_years_is_still_a_duration(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace("max_age: 30d", "max_age: 36525d"))
    assert Engine.from_path(path).rules.tests


@pytest.mark.parametrize(
    "when",
    [
        "9999-12-31T23:59:59-12:00",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59+00:00",
        "1899-12-31T23:59:59+00:00",
        "1900-01-01T01:00:00+02:00",  # 1899-12-31T23:00Z: the offset takes it out
        "8999-12-31T23:00:00-02:00",  # 9000-01-01T01:00Z
    ],
)
@pytest.mark.parametrize("field", ["ordered_at", "collected_at"])
def test_an_instant_at_the_calendar_edge_is_invalid_input_naming_the_field(
    when: str, field: str
) -> None:
    from labrecog.batch.records import evaluate_line

    data = case(prior(collected_at=when)) if field == "collected_at" else case(ordered_at=when)
    record = evaluate_line(demo_engine(), 1, orjson.dumps(data))
    assert record["error"]["code"] == "invalid_input", record
    assert field in record["error"]["path"]
    assert "1900" in record["error"]["message"]


@pytest.mark.parametrize(
    "when", ["1899-12-31T23:00:00-02:00", "1900-01-01T00:00:00+00:00", "8999-12-31T23:00:00+02:00"]
)
def test_an_instant_just_inside_the_range_is_read(when: str) -> None:
    # The range is in UTC: a local year outside it may still name an instant inside.
    from labrecog.model import Timestamp

    TypeAdapter(Timestamp).validate_python(when)


def test_a_two_gigabyte_rule_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(BASE, encoding="utf-8")
    with open(tmp_path / "huge.yaml", "wb") as handle:
        handle.truncate(2 << 30)  # sparse: no disk used, instant
    tracemalloc.start()
    try:
        with pytest.raises(RulesetError) as info:
            Engine.from_path(tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert any(re.search(r"larger than \d+ bytes", p.message) for p in info.value.problems)
    assert peak < 64 << 20, f"peak {peak} bytes"


# --- integers no double holds (ext is carried to the output, so exactness matters) ---------


def test_a_64_bit_integer_in_ext_comes_back_exact() -> None:
    from labrecog.batch.records import evaluate_line

    for big in (2**63, 2**64 - 1, -(2**63)):
        raw = orjson.dumps(case(prior(), ext={"his_key": big}))
        record = evaluate_line(demo_engine(), 1, raw)
        assert record["ext"]["his_key"] == big and isinstance(record["ext"]["his_key"], int)
        assert f'"his_key":{big}'.encode() in orjson.dumps(record)


@pytest.mark.parametrize("big", ["100000000000000000000000000000", "-9223372036854775809"])
def test_an_integer_beyond_64_bits_is_refused_naming_its_path(big: str) -> None:
    from labrecog.batch.records import evaluate_line

    raw = orjson.dumps(case(prior(), ext={"his_key": 0})).replace(
        b'"his_key":0', b'"his_key":' + big.encode()
    )
    record = evaluate_line(demo_engine(), 1, raw)
    assert record["error"]["code"] == "invalid_input", record
    assert record["error"]["path"] == "ext.his_key"
    assert "64-bit" in record["error"]["message"]


def test_long_digit_runs_inside_strings_are_not_numbers() -> None:
    from labrecog.batch.records import evaluate_line

    raw = orjson.dumps(case(prior(), ext={"note": "1" * 40}))
    record = evaluate_line(demo_engine(), 1, raw)
    assert record["ext"] == {"note": "1" * 40}


# --- line size and case size ----------------------------------------------------------------


def test_an_over_long_line_is_an_error_record_and_never_held_whole() -> None:
    import io

    from labrecog.batch.lines import capped_lines
    from labrecog.batch.records import evaluate_line

    good = orjson.dumps(case(prior()))
    huge = b'{"x":"' + b"a" * (4 << 20) + b'"}'
    stream = io.BytesIO(good + b"\n" + huge + b"\n" + good + b"\n")
    tracemalloc.start()
    try:
        got = list(capped_lines(stream, max_bytes=1 << 20))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [n for n, _ in got] == [1, 2, 3]
    assert got[0][1] == good + b"\n" and got[2][1] == good + b"\n"
    assert peak < 3 << 20, f"peak {peak} bytes"
    record = evaluate_line(demo_engine(), 2, got[1][1])
    assert record["error"]["code"] == "invalid_input"
    assert "longer than 1048576 bytes" in record["error"]["message"]


def test_a_line_of_exactly_the_limit_is_read() -> None:
    import io

    from labrecog.batch.lines import capped_lines

    body = b"x" * 100
    got = list(capped_lines(io.BytesIO(body + b"\n" + body), max_bytes=100))
    assert got == [(1, body + b"\n"), (2, body)]


def test_a_bom_on_line_one_is_dropped_and_nowhere_else() -> None:
    import io

    from labrecog.batch.lines import capped_lines

    bom = b"\xef\xbb\xbf"
    got = list(capped_lines(io.BytesIO(bom + b"{}\n" + bom + b"{}\n")))
    assert got == [(1, b"{}\n"), (2, bom + b"{}\n")]


def test_tests_times_priors_beyond_the_limit_is_an_error_record() -> None:
    from labrecog.batch.records import CaseLimits, evaluate_line

    priors = [prior(id=f"R-{i}") for i in range(30)]
    raw = orjson.dumps(case(*priors, tests=("GLU", "K", "HBA1C")))
    record = evaluate_line(demo_engine(), 7, raw, CaseLimits(max_pairs=89))
    assert record["error"]["code"] == "invalid_input"
    assert record["line"] == 7
    assert "3 tests × 30 prior results = 90" in record["error"]["message"]
    assert "89" in record["error"]["message"]
    ok = evaluate_line(demo_engine(), 7, raw, CaseLimits(max_pairs=90))
    assert "error" not in ok, ok


# --------------------------------------------------------------------------- evaluate's limits


def _evaluate_cli(tmp_path: Path, data: bytes, *options: str) -> list[dict[str, Any]]:
    from click.testing import CliRunner

    from labrecog.cli import main
    from tests.builders import DEMO

    src = tmp_path / "in.jsonl"
    src.write_bytes(data)
    out = tmp_path / "out.jsonl"
    args = ["evaluate", str(src), "--rules", str(DEMO), "-o", str(out), "-q", *options]
    CliRunner().invoke(main, args)
    return [json.loads(line) for line in out.read_bytes().splitlines()]


def test_evaluate_turns_a_line_over_its_limit_into_one_error_record(tmp_path: Path) -> None:
    from tests.builders import ROOT

    lines = (ROOT / "examples" / "cases.jsonl").read_bytes().splitlines(keepends=True)[:3]
    long_line = max(lines, key=len)
    records = _evaluate_cli(tmp_path, b"".join(lines), "--max-line-bytes", str(len(long_line) - 2))
    assert len(records) == 3  # one record per line, the long one included
    bad = [r for r in records if "error" in r]
    assert bad and all("longer than" in r["error"]["message"] for r in bad)


def test_evaluate_refuses_a_case_over_its_pair_limit(tmp_path: Path) -> None:
    from tests.builders import ROOT

    first = (ROOT / "examples" / "cases.jsonl").read_bytes().splitlines(keepends=True)[0]
    (record,) = _evaluate_cli(tmp_path, first, "--max-case-pairs", "1")
    assert record["error"]["code"] == "invalid_input"
    (record,) = _evaluate_cli(tmp_path, first)
    assert "items" in record


def test_evaluate_accepts_a_byte_order_mark_on_line_one(tmp_path: Path) -> None:
    from tests.builders import ROOT

    first = (ROOT / "examples" / "cases.jsonl").read_bytes().splitlines(keepends=True)[0]
    (record,) = _evaluate_cli(tmp_path, b"\xef\xbb\xbf" + first)
    assert "items" in record
