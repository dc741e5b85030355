"""Interchange (issue 18): what leaves labrecog is safe to open, and what comes in is read
the same way by every command.

CSV cells a spreadsheet would run as a formula are neutralised; ``explain`` and
``evaluate`` read the same files (gzip, a BOM on line 1); ``report`` says when it counts
an order twice.
"""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from labrecog.batch.formats import encoder
from labrecog.cli import main
from tests.builders import DEMO, case, demo_engine, prior

RULES = str(DEMO)


def csv_rows(records: list[dict[str, object]]) -> list[dict[str, str]]:
    text = encoder("csv")(enumerate(records, start=1)).decode("utf-8")
    header = (
        "line,order_id,patient_id,code,status,result_id,institution,saving,currency,reasons,error\n"
    )
    return list(csv.DictReader(io.StringIO(header + text, newline="")))


@pytest.mark.parametrize(
    "hostile", ['=HYPERLINK("http://x","y")', "@SUM(A1:A9)", "+1+2", "-2+3", "\t=1", "\r=1"]
)
def test_a_csv_cell_that_would_be_a_formula_is_neutralised(hostile: str) -> None:
    data = case(prior(patient_id=hostile), order_id=hostile, patient={"id": hostile})
    decision = demo_engine().evaluate(data).model_dump(mode="json")
    (row,) = csv_rows([decision])
    assert row["order_id"] == "'" + hostile
    assert row["patient_id"] == "'" + hostile
    assert row["saving"] == decision["items"][0]["saving"]  # numbers are left as they are


def test_an_error_row_message_is_neutralised_too() -> None:
    record = {"line": 1, "order_id": "=1+1", "error": {"code": "invalid_input",
              "message": "-bad", "path": ""}}  # fmt: skip
    (row,) = csv_rows([record])
    assert (row["order_id"], row["error"]) == ("'=1+1", "'-bad")


def test_ordinary_cells_are_unchanged() -> None:
    decision = demo_engine().evaluate(case(prior())).model_dump(mode="json")
    (row,) = csv_rows([decision])
    assert row["order_id"] == decision["order_id"] and not row["order_id"].startswith("'")


def test_report_warns_on_repeated_order_ids(tmp_path: Path) -> None:
    engine = demo_engine()
    lines = [
        orjson.dumps(engine.evaluate(case(prior(), order_id=f"O-{i}")).model_dump(mode="json"))
        for i in range(3)
    ]
    doubled = tmp_path / "doubled.jsonl"
    doubled.write_bytes(b"\n".join(lines + lines[:2]) + b"\n")
    result = CliRunner().invoke(main, ["report", str(doubled), "--json"])
    assert result.exit_code == 0, result.output
    assert "2 record(s) repeat an order id" in result.stderr
    assert '"decisions": 5' in result.stdout  # still counted: the warning says so

    single = tmp_path / "once.jsonl"
    single.write_bytes(b"\n".join(lines) + b"\n")
    result = CliRunner().invoke(main, ["report", str(single), "--json"])
    assert "repeat" not in result.stderr


def test_explain_reads_the_gzip_batches_evaluate_reads(tmp_path: Path) -> None:
    rows = [orjson.dumps(case(prior(), order_id=f"O-{i}")) for i in range(3)]
    packed = tmp_path / "cases.jsonl.gz"
    packed.write_bytes(gzip.compress(b"\n".join(rows) + b"\n"))
    result = CliRunner().invoke(
        main, ["explain", str(packed), "--rules", RULES, "--line", "2", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["order_id"] == "O-1"


def test_explain_reads_a_shipped_gzip_example() -> None:
    shipped = DEMO.parent.parent / "examples" / "cn-reference.jsonl.gz"
    rules = str(DEMO.parent / "cn-reference")
    result = CliRunner().invoke(main, ["explain", str(shipped), "--rules", rules, "--line", "1"])
    assert result.exit_code in (0, 2), result.output
    assert "not valid JSON" not in result.stderr


def test_explain_drops_a_bom_on_line_one_only(tmp_path: Path) -> None:
    bom = b"\xef\xbb\xbf"
    rows = [orjson.dumps(case(prior(), order_id=f"O-{i}")) for i in range(2)]
    path = tmp_path / "cases.jsonl"
    path.write_bytes(bom + rows[0] + b"\n" + bom + rows[1] + b"\n")
    first = CliRunner().invoke(main, ["explain", str(path), "--rules", RULES, "--line", "1"])
    assert first.exit_code == 0, first.output
    second = CliRunner().invoke(main, ["explain", str(path), "--rules", RULES, "--line", "2"])
    assert second.exit_code == 2  # a BOM inside the file is a broken line, as in evaluate


def test_explain_refuses_an_over_long_line_without_reading_it(tmp_path: Path) -> None:
    from labrecog.batch.lines import DEFAULT_MAX_LINE_BYTES

    path = tmp_path / "cases.jsonl"
    with open(path, "wb") as handle:
        handle.write(b'{"x":"')
        handle.truncate(DEFAULT_MAX_LINE_BYTES + 10)  # sparse, no disk used
    result = CliRunner().invoke(main, ["explain", str(path), "--rules", RULES, "--line", "1"])
    assert result.exit_code == 2
    assert f"longer than {DEFAULT_MAX_LINE_BYTES} bytes" in result.stderr
