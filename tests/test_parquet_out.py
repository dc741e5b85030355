"""Decisions written to Parquet: one row per item, one per error record, read back whole."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from labrecog.batch import parquet
from labrecog.batch.parquet import (
    DecisionWriter,
    decision_records,
    decision_schema,
    decision_table,
    write_decisions,
)
from labrecog.cli import main
from tests.builders import DEMO, ROOT, case, prior

EXAMPLES = ROOT / "examples"
CASES = str(EXAMPLES / "cases.jsonl")


def run(args: list[str]) -> tuple[int, bytes, str]:
    result = CliRunner().invoke(main, args)
    return result.exit_code, result.stdout_bytes, result.stderr


def jsonl_records(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(x) for x in path.read_bytes().splitlines()]


def numbered(records: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """(line, record): an error record names its line, a decision is the next line."""
    out, line = [], 0
    for record in records:
        line = record["line"] if "error" in record and "source" not in record else line + 1
        out.append((record["line"] if "source" in record else line, record))
    return out


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """examples/cases.jsonl evaluated once to JSONL and once to Parquet (two workers)."""
    folder = tmp_path_factory.mktemp("both")
    jsonl, pq_out = folder / "decisions.jsonl", folder / "decisions.parquet"
    assert run(["evaluate", CASES, "--rules", str(DEMO), "-q", "-o", str(jsonl)])[0] == 1
    code, _, err = run(
        ["evaluate", CASES, "--rules", str(DEMO), "-q", "-o", str(pq_out), "-j", "2"]
    )
    assert code == 1, err
    return jsonl, pq_out


def test_one_row_per_item_and_one_per_error_record(both: tuple[Path, Path]) -> None:
    jsonl, pq_out = both
    records = jsonl_records(jsonl)
    table = pq.read_table(pq_out)
    items = sum(len(r["items"]) for r in records if "items" in r)
    errors = sum("error" in r for r in records)
    assert errors == 3
    assert table.num_rows == items + errors
    assert len(set(table.column("line").to_pylist())) == len(records) == 27
    statuses = table.column("status").to_pylist()
    assert statuses.count("error") == errors
    assert table.schema.equals(decision_schema())
    assert table.schema.metadata[b"labrecog.format"] == b"decisions/1"
    assert table.schema.field("reasons").metadata[b"description"].startswith(b"why")


def test_the_records_come_back_exactly_as_the_jsonl(both: tuple[Path, Path]) -> None:
    """Every decision (to_order derived, absent fields absent, ext) and error record."""
    jsonl, pq_out = both
    back = list(decision_records(str(pq_out)))
    assert [record for _, record in back] == jsonl_records(jsonl)
    assert [line for line, _ in back] == list(range(1, 28))


def test_report_over_parquet_is_report_over_jsonl(both: tuple[Path, Path]) -> None:
    jsonl, pq_out = both
    want = run(["report", str(jsonl), "--json"])
    got = run(["report", str(pq_out), "--json"])
    assert got[0] == want[0] == 0, got[2]
    assert orjson.loads(got[1]) == orjson.loads(want[1])
    assert orjson.loads(got[1])["totals"]["errors"] == 3
    tables = run(["report", str(pq_out), "--rules", str(DEMO)])
    assert tables[1] == run(["report", str(jsonl), "--rules", str(DEMO)])[1]


def test_joined_mode_results_errors_keep_their_source(tmp_path: Path) -> None:
    results = tmp_path / "results.jsonl"
    results.write_bytes(
        (EXAMPLES / "joined" / "results.jsonl").read_bytes() + b'{"id": 1}\nnot json\n'
    )
    base = ["evaluate", "--orders", str(EXAMPLES / "joined" / "orders.jsonl"),
            "--results", str(results), "--rules", str(DEMO), "-q"]  # fmt: skip
    jsonl, pq_out = tmp_path / "d.jsonl", tmp_path / "d.parquet"
    assert run([*base, "-o", str(jsonl)])[0] == 1
    assert run([*base, "-o", str(pq_out)])[0] == 1
    want = jsonl_records(jsonl)
    assert [r.get("source") for r in want[:2]] == ["results", "results"]
    assert [record for _, record in decision_records(str(pq_out))] == want
    assert orjson.loads(run(["report", str(pq_out), "--json"])[1]) == orjson.loads(
        run(["report", str(jsonl), "--json"])[1]
    )


def test_the_format_follows_the_output_name_unless_given(tmp_path: Path) -> None:
    named = tmp_path / "d.parquet"
    assert run(["evaluate", CASES, "--rules", str(DEMO), "-q", "-o", str(named)])[0] == 1
    assert named.read_bytes()[:4] == b"PAR1"
    forced = tmp_path / "d2.parquet"
    args = ["evaluate", CASES, "--rules", str(DEMO), "-q", "--format", "jsonl", "-o", str(forced)]
    assert run(args)[0] == 1
    assert forced.read_bytes()[:1] == b"{"
    other = tmp_path / "decisions.out"
    args = ["evaluate", CASES, "--rules", str(DEMO), "-q", "--format", "parquet", "-o", str(other)]
    assert run(args)[0] == 1
    assert pq.read_table(other).num_rows == pq.read_table(named).num_rows
    spelled = tmp_path / "decisions.bin"  # --output-format: the same option's other name
    args = ["evaluate", CASES, "--rules", str(DEMO), "-q", "--output-format", "parquet"]
    assert run([*args, "-o", str(spelled)])[0] == 1
    assert spelled.read_bytes() == other.read_bytes()
    code, out, err = run(["evaluate", CASES, "--rules", str(DEMO), "--format", "parquet"])
    assert code == 2 and out == b""
    assert "give -o FILE.parquet" in err


def test_a_failure_mid_write_leaves_no_decisions_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two chunks (256 lines each) with a row group per chunk: the second one fails."""
    cases = tmp_path / "cases.jsonl"
    cases.write_bytes(b"".join(orjson.dumps(case(prior(), order_id=f"O-{i}")) + b"\n"
                               for i in range(300)))  # fmt: skip
    real = DecisionWriter.write_table
    calls: list[int] = []

    def failing(self: DecisionWriter, table: Any) -> None:
        calls.append(table.num_rows)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        self._limit = 1  # a row group per chunk: the first is on disk when the second fails
        real(self, table)

    monkeypatch.setattr(DecisionWriter, "write_table", failing)
    out = tmp_path / "decisions.parquet"
    code, _, err = run(["evaluate", str(cases), "--rules", str(DEMO), "-q", "-o", str(out)])
    assert code == 2, err
    assert "No space left on device" in err
    assert calls == [256, 44]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cases.jsonl"]


def test_an_unwritable_record_is_one_internal_error_row() -> None:
    good = orjson.loads(orjson.dumps(_decision()))
    bad = {**good, "items": [{**good["items"][0], "reasons": "not a list"}]}
    table = decision_table([(1, good), (2, bad), (3, good)])
    assert table.column("line").to_pylist() == [1, 2, 3]
    row = table.slice(1, 1).to_pylist()[0]
    assert row["status"] == "error"
    assert row["error"]["code"] == "internal_error"


def _decision() -> dict[str, Any]:
    from tests.builders import demo_engine

    return demo_engine().evaluate(case(prior())).model_dump(mode="json")


def test_the_writer_writes_a_row_group_per_filled_chunk(tmp_path: Path) -> None:
    record = orjson.loads(orjson.dumps(_decision()))
    chunks = [[(i * 10 + j, record) for j in range(10)] for i in range(5)]
    path = tmp_path / "d.parquet"
    assert write_decisions(str(path), [chunks[0], decision_table(chunks[1]), *chunks[2:]],
                           row_group_rows=20) == 50  # fmt: skip
    meta = pq.ParquetFile(path).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [20, 20, 10]
    assert pq.read_table(path).column("line").to_pylist() == [i for i in range(50)]


def test_schema_parquet_prints_the_written_schema_with_descriptions() -> None:
    code, out, _ = run(["schema", "parquet"])
    assert code == 0
    printed = orjson.loads(out)
    schema = decision_schema()
    assert [f["name"] for f in printed["fields"]] == schema.names
    assert [f["type"] for f in printed["fields"]] == [str(t) for t in schema.types]
    assert all(f["description"] for f in printed["fields"])
    for field in printed["fields"]:
        assert schema.field(field["name"]).metadata[b"description"].decode() == field["description"]
    assert printed["metadata"] == {"labrecog.format": "decisions/1"}


def test_report_counts_a_file_of_cases_as_unreadable(tmp_path: Path) -> None:
    cases = tmp_path / "cases.parquet"
    pq.write_table(pa.Table.from_pylist([case(prior()), case(prior(), order_id="O-2")]), cases)
    code, _, err = run(["report", str(cases)])
    assert code == 1
    assert "2 unreadable line(s)" in err
    assert "is it a file of cases?" in err


def test_report_of_a_broken_parquet_file_exits_2(tmp_path: Path) -> None:
    broken = tmp_path / "d.parquet"
    broken.write_bytes(b"PAR1" + b"\0" * 64 + b"PAR1")
    code, _, err = run(["report", str(broken)])
    assert code == 2
    assert f"cannot read {broken}" in err


def test_encode_chunk_is_an_arrow_stream_of_the_rows() -> None:
    """What a --jobs worker sends back (the `both` fixture runs -j 2 end to end)."""
    record = orjson.loads(orjson.dumps(_decision()))
    payload = parquet.encode_chunk([(7, record)])
    assert isinstance(payload, bytes)
    with pa.ipc.open_stream(payload) as reader:
        assert reader.read_all().column("line").to_pylist() == [7]
