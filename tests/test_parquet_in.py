"""Cases and results read from Parquet decide exactly as their JSONL (docs/parquet.md)."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from labrecog.batch.parquet import (
    is_parquet,
    parquet_lines,
    parquet_result_lines,
    row_groups,
)
from labrecog.cli import main
from tests.builders import DEMO, ROOT, case, prior

EXAMPLES = ROOT / "examples"


def run(args: list[str]) -> tuple[int, bytes, str]:
    result = CliRunner().invoke(main, args)
    return result.exit_code, result.stdout_bytes, result.stderr


def records(out: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(x) for x in out.splitlines()]


def parsable(raws: Iterable[bytes]) -> list[bytes]:
    """The lines a Parquet file can hold: JSON objects (broken lines have no row)."""
    out = []
    for raw in raws:
        try:
            if isinstance(orjson.loads(raw), dict):
                out.append(raw.rstrip(b"\n") + b"\n")
        except orjson.JSONDecodeError:
            continue
    return out


def table_of(rows: list[dict[str, Any]]) -> pa.Table:
    """Columns for every key of every row (``Table.from_pylist`` takes the first row's)."""
    return pa.Table.from_struct_array(pa.array(rows))


def to_parquet(lines: list[bytes], path: Path, group: int = 7) -> Path:
    pq.write_table(table_of([orjson.loads(x) for x in lines]), path, row_group_size=group)
    return path


def same_as_jsonl(tmp_path: Path, lines: list[bytes], rules: Path, *extra: str) -> None:
    jsonl = tmp_path / "cases.jsonl"
    jsonl.write_bytes(b"".join(lines))
    parquet = to_parquet(lines, tmp_path / "cases.parquet")
    want = run(["evaluate", str(jsonl), "--rules", str(rules), "-q", *extra])
    got = run(["evaluate", str(parquet), "--rules", str(rules), "-q", *extra])
    assert got[0] == want[0], got[2]
    assert records(got[1]) == records(want[1])
    assert len(records(got[1])) == len(lines)


def test_examples_cases_decide_as_their_jsonl(tmp_path: Path) -> None:
    lines = parsable((EXAMPLES / "cases.jsonl").read_bytes().splitlines())
    assert len(lines) > 20
    same_as_jsonl(tmp_path, lines, DEMO)


def test_cn_reference_slice_decides_as_its_jsonl_on_two_workers(tmp_path: Path) -> None:
    with gzip.open(EXAMPLES / "cn-reference.jsonl.gz") as raw:
        lines = parsable(raw.read().splitlines()[:300])
    same_as_jsonl(tmp_path, lines, ROOT / "rules" / "cn-reference", "--jobs", "2")


def _typed(rows: list[dict[str, Any]], zone: str | None) -> pa.Table:
    """The case with typed columns: timestamps, a date, decimals, small ints."""
    stamp = pa.timestamp("us", tz=zone)
    ns = pa.timestamp("ns", tz=zone)
    inst = pa.struct([("id", pa.string()), ("region", pa.string()), ("level", pa.int8())])
    result = pa.struct([
        ("id", pa.string()), ("patient_id", pa.string()), ("code", pa.string()),
        ("loinc", pa.string()), ("specimen", pa.string()), ("value", pa.decimal128(6, 2)),
        ("unit", pa.string()),
        ("reference_range", pa.struct([("low", pa.float32()), ("high", pa.float32()),
                                       ("unit", pa.string())])),
        ("collected_at", ns), ("reported_at", pa.timestamp("ms", tz=zone)),
        ("institution", inst), ("mark", pa.string()), ("status", pa.string()),
        ("shared", pa.bool_()),
    ])  # fmt: skip
    schema = pa.schema([
        ("order_id", pa.string()), ("ordered_at", stamp),
        ("patient", pa.struct([("id", pa.string()), ("sex", pa.string()),
                               ("birth_date", pa.date32())])),
        ("institution", inst),
        ("context", pa.struct([("setting", pa.string()), ("flags", pa.list_(pa.string()))])),
        ("authorization", pa.struct([("granted", pa.bool_())])),
        ("tests", pa.list_(pa.struct([("code", pa.string())]))),
        ("prior_results", pa.list_(result)),
    ])  # fmt: skip
    return pa.Table.from_pylist(rows, schema=schema)


def _typed_rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(JSON cases, the same as Python values for typed columns)."""
    from datetime import date, datetime, timedelta, timezone

    cst = timezone(timedelta(hours=8))
    texts, values = [], []
    for i, (days, value) in enumerate([(3, "5.20"), (9, "5.20"), (2, "6.40"), (1, "6.10")]):
        collected = datetime(2025, 3, 2, 8, 0, tzinfo=cst) - timedelta(days=days)
        text_case = case(
            prior(value=float(value), collected_at=collected.isoformat(),
                  reported_at=(collected + timedelta(hours=3)).isoformat(),
                  reference_range={"low": 3.9, "high": 6.1, "unit": "mmol/L"}),
            order_id=f"O-{i}", tests=["GLU", "K"],
        )  # fmt: skip
        texts.append(text_case)
        typed = orjson.loads(orjson.dumps(text_case))
        typed["ordered_at"] = datetime(2025, 3, 2, 9, 30, tzinfo=cst)
        typed["patient"]["birth_date"] = date(1961, 5, 14)
        typed["institution"]["level"] = 3
        result = typed["prior_results"][0]
        result["value"] = Decimal(value)
        result["collected_at"] = collected
        result["reported_at"] = collected + timedelta(hours=3)
        values.append(typed)
    return texts, values


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "+08:00", "UTC"])
def test_typed_columns_decide_as_their_json_text(tmp_path: Path, zone: str) -> None:
    """Timestamps in any zone (the same instants), a date, a decimal value, float32 limits
    (6.1 stays 6.1: a value of 6.10 is within range), an int8 level."""
    texts, values = _typed_rows()
    jsonl = tmp_path / "cases.jsonl"
    jsonl.write_bytes(b"".join(orjson.dumps(c) + b"\n" for c in texts))
    parquet = tmp_path / "typed.parquet"
    pq.write_table(_typed(values, zone), parquet)
    want = run(["evaluate", str(jsonl), "--rules", str(DEMO), "-q"])
    got = run(["evaluate", str(parquet), "--rules", str(DEMO), "-q"])
    assert got[0] == want[0] == 0, got[2]
    assert records(got[1]) == records(want[1])
    statuses = [r["items"][0]["status"] for r in records(got[1])]
    assert statuses == ["waive", "retest", "waive", "waive"]  # 9 days old: too old


def test_a_typed_row_is_iso_text_with_the_offset_of_its_zone(tmp_path: Path) -> None:
    _, values = _typed_rows()
    parquet = tmp_path / "typed.parquet"
    pq.write_table(_typed(values[:1], "Asia/Shanghai"), parquet)
    [(row, raw)] = list(parquet_lines(str(parquet)))
    data = orjson.loads(raw)
    assert row == 1
    assert data["ordered_at"] == "2025-03-02T09:30:00+08:00"
    assert data["patient"]["birth_date"] == "1961-05-14"
    assert data["prior_results"][0]["value"] == 5.2
    assert data["prior_results"][0]["reference_range"]["high"] == 6.1  # not 6.099999904...
    assert data["institution"]["level"] == 3


def _no_timezone(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    shutil.copytree(DEMO, rules)
    text = (rules / "ruleset.yaml").read_text(encoding="utf-8")
    assert "timezone: Asia/Shanghai\n" in text
    (rules / "ruleset.yaml").write_text(text.replace("timezone: Asia/Shanghai\n", ""), "utf-8")
    return rules


def test_a_naive_timestamp_column_is_refused_per_row_as_naive_text_is(tmp_path: Path) -> None:
    """Without a rule-set timezone every row is an error record naming ordered_at; with
    one (demo: Asia/Shanghai) the local times decide as the same naive JSON text does."""
    texts, values = _typed_rows()
    for value in values:  # the wall-clock times of +08:00, no zone
        value["ordered_at"] = value["ordered_at"].replace(tzinfo=None)
        for key in ("collected_at", "reported_at"):
            result = value["prior_results"][0]
            result[key] = result[key].replace(tzinfo=None)
    naive = tmp_path / "naive.parquet"
    pq.write_table(_typed(values, None), naive)
    assert orjson.loads(next(parquet_lines(str(naive)))[1])["ordered_at"] == "2025-03-02T09:30:00"
    code, out, _ = run(["evaluate", str(naive), "--rules", str(_no_timezone(tmp_path)), "-q"])
    assert code == 1
    got = records(out)
    assert [r["line"] for r in got] == [1, 2, 3, 4]
    assert {r["error"]["path"] for r in got} == {"ordered_at"}
    assert "no UTC offset" in got[0]["error"]["message"]
    for text in texts:  # naive text, the same local wall-clock times
        text["ordered_at"] = "2025-03-02T09:30:00"
        for key in ("collected_at", "reported_at"):
            result = text["prior_results"][0]
            result[key] = result[key].removesuffix("+08:00")
    jsonl = tmp_path / "naive.jsonl"
    jsonl.write_bytes(b"".join(orjson.dumps(c) + b"\n" for c in texts))
    want = run(["evaluate", str(jsonl), "--rules", str(DEMO), "-q"])
    got_demo = run(["evaluate", str(naive), "--rules", str(DEMO), "-q"])
    assert got_demo[0] == want[0] == 0
    assert records(got_demo[1]) == records(want[1])


def _values_table(values: list[Any], kind: pa.DataType) -> pa.Table:
    """One case per value, that value as the first prior result's value, typed ``kind``."""
    rows = [case(prior(), order_id=f"O-{i}") for i in range(len(values))]
    table = table_of(rows)
    results = table.column("prior_results").combine_chunks()
    struct = results.flatten()
    names = [struct.type.field(i).name for i in range(struct.type.num_fields)]
    fields = [pa.array(values, kind) if n == "value" else struct.field(n) for n in names]
    rebuilt = pa.ListArray.from_arrays(
        results.offsets, pa.StructArray.from_arrays(fields, names=names)
    )
    return table.set_column(table.schema.get_field_index("prior_results"), "prior_results",
                            rebuilt)  # fmt: skip


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_nan_and_infinity_are_error_records_naming_row_and_column(
    tmp_path: Path, jobs: str
) -> None:
    parquet = tmp_path / "nan.parquet"
    values = [5.2, float("nan"), 5.3, float("-inf")]
    pq.write_table(_values_table(values, pa.float64()), parquet)
    code, out, _ = run(["evaluate", str(parquet), "--rules", str(DEMO), "-q", "-j", jobs])
    got = records(out)
    assert code == 1
    assert [("error" in r) for r in got] == [False, True, False, True]
    assert got[0]["items"][0]["status"] == "waive"
    for record, line, what in ((got[1], 2, "nan"), (got[3], 4, "-inf")):
        assert record["line"] == line
        assert record["order_id"] == f"O-{line - 1}"
        assert record["error"]["code"] == "invalid_input"
        assert record["error"]["path"] == "prior_results[0].value"
        assert what in record["error"]["message"]


def test_a_wrongly_typed_value_is_refused_by_validation_naming_its_row(tmp_path: Path) -> None:
    """A text column where the contract wants a number: "6.4" is refused as in JSON, and
    a null (absent value) decides."""
    parquet = tmp_path / "text.parquet"
    pq.write_table(_values_table([None, "5.2", None], pa.string()), parquet)
    code, out, _ = run(["evaluate", str(parquet), "--rules", str(DEMO), "-q"])
    got = records(out)
    assert code == 1
    assert "error" not in got[0] and "error" not in got[2]
    assert got[1]["line"] == 2
    assert got[1]["error"]["path"] == "prior_results[0].value"


def test_values_json_cannot_hold_are_refused_never_guessed(tmp_path: Path) -> None:
    from labrecog.batch._parquet_values import convert

    cases = [
        (pa.array([b"ok", b"\xff"], pa.binary()), ["ok", None], {1: ("", "not UTF-8")}),
        (pa.array([1, None], pa.duration("s")), [None, None], {0: ("", "duration")}),
        (pa.array([[("a", 1)], [(1, 2)]][:1], pa.map_(pa.string(), pa.int64())), [{"a": 1}], {}),
        (pa.array([1], pa.date64()).cast(pa.date64()), ["1970-01-01"], {}),
        (pa.array(["x", None, "x"]).dictionary_encode(), ["x", None, "x"], {}),
        (pa.array([1_000_000_001], pa.timestamp("ns", tz="+08:00")),
         ["1970-01-01T08:00:01.000000001+08:00"], {}),
        (pa.array([[1.5, float("inf")]], pa.list_(pa.float32())), [[1.5, None]],
         {0: ("[1]", "inf")}),
        (pa.array([1], pa.timestamp("s", tz="Mars/Olympus")), [None], {0: ("", "time zone")}),
    ]  # fmt: skip
    for arr, want, problems in cases:
        values, found = convert(arr)
        assert values == want, arr.type
        assert found.keys() == problems.keys(), arr.type
        for i, (path, words) in problems.items():
            assert found[i][0] == path and words in found[i][1], (arr.type, found[i])


def test_row_groups_partition_the_file_exactly(tmp_path: Path) -> None:
    lines = parsable((EXAMPLES / "cases.jsonl").read_bytes().splitlines())
    parquet = to_parquet(lines, tmp_path / "cases.parquet", group=4)
    groups = row_groups(str(parquet))
    assert [start for start, _ in groups] == list(range(1, len(lines) + 1, 4))
    assert sum(rows for _, rows in groups) == len(lines)
    whole = list(parquet_lines(str(parquet)))
    pieces = [pair for g in range(len(groups)) for pair in parquet_lines(str(parquet), [g])]
    assert pieces == whole
    assert [row for row, _ in whole] == list(range(1, len(lines) + 1))
    assert list(parquet_lines(str(parquet), [2])) == whole[8:12]


def test_parquet_is_known_by_its_bytes_never_its_name(tmp_path: Path) -> None:
    jsonl_named_parquet = tmp_path / "cases.parquet"
    jsonl_named_parquet.write_bytes(orjson.dumps(case(prior())) + b"\n")
    parquet_named_jsonl = to_parquet([orjson.dumps(case(prior()))], tmp_path / "cases.jsonl")
    assert not is_parquet(str(jsonl_named_parquet))
    assert is_parquet(str(parquet_named_jsonl))
    assert not is_parquet("-")
    for path in (jsonl_named_parquet, parquet_named_jsonl):
        code, out, err = run(["evaluate", str(path), "--rules", str(DEMO), "-q"])
        assert code == 0, err
        assert records(out)[0]["items"][0]["status"] == "waive"


def test_a_truncated_parquet_file_is_a_clear_error(tmp_path: Path) -> None:
    whole = to_parquet([orjson.dumps(case(prior()))], tmp_path / "whole.parquet").read_bytes()
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(whole[: len(whole) // 2])
    code, out, err = run(["evaluate", str(cut), "--rules", str(DEMO), "-q"])
    assert code == 2
    assert out == b""
    assert "truncated Parquet file" in err


def _joined_parquet(tmp_path: Path) -> tuple[Path, Path]:
    orders = to_parquet((EXAMPLES / "joined" / "orders.jsonl").read_bytes().splitlines(),
                        tmp_path / "orders.parquet")  # fmt: skip
    results = to_parquet((EXAMPLES / "joined" / "results.jsonl").read_bytes().splitlines(),
                         tmp_path / "results.parquet")  # fmt: skip
    return orders, results


def test_joined_mode_reads_parquet_orders_and_results(tmp_path: Path) -> None:
    orders, results = _joined_parquet(tmp_path)
    jsonl_orders = str(EXAMPLES / "joined" / "orders.jsonl")
    jsonl_results = str(EXAMPLES / "joined" / "results.jsonl")
    base = ["evaluate", "--rules", str(DEMO), "-q"]
    want = run([*base, "--orders", jsonl_orders, "--results", jsonl_results])
    for pair in ((orders, results), (jsonl_orders, results), (orders, jsonl_results)):
        got = run([*base, "--orders", str(pair[0]), "--results", str(pair[1])])
        assert got[0] == want[0], got[2]
        assert records(got[1]) == records(want[1])
    for kind in ("memory", "sqlite"):
        got = run([*base, "--orders", str(orders), "--results", str(results), "--index", kind])
        assert records(got[1]) == records(want[1])


def test_an_unreadable_results_row_refuses_its_patients_orders(tmp_path: Path) -> None:
    """A results row JSON cannot hold is a results error record naming the row, and its
    patient's orders are refused (never decided without it); other patients decide."""
    orders = tmp_path / "orders.jsonl"
    first = case(order_id="O-1", prior_results=[])
    other = case(order_id="O-2", patient__id="P-2", prior_results=[])
    orders.write_bytes(b"".join(orjson.dumps(c) + b"\n" for c in (first, other)))
    table = table_of([prior(id="R-1"), prior(id="R-2", patient_id="P-2")])
    index = table.schema.get_field_index("value")
    table = table.set_column(index, "value", pa.array([float("nan"), 5.2]))
    results = tmp_path / "results.parquet"
    pq.write_table(table, results)
    code, out, _ = run(["evaluate", "--orders", str(orders), "--results", str(results),
                        "--rules", str(DEMO), "-q"])  # fmt: skip
    got = records(out)
    assert code == 1
    assert got[0]["source"] == "results" and got[0]["line"] == 1
    assert got[0]["error"]["path"] == "value" and "nan" in got[0]["error"]["message"]
    assert got[1]["order_id"] == "O-1" and got[1]["error"]["code"] == "invalid_input"
    assert got[2]["order_id"] == "O-2" and got[2]["items"][0]["status"] == "waive"
    assert len(got) == 3
    lines = list(parquet_result_lines(str(results)))
    assert [row for row, _ in lines] == [1, 2]


_WITHOUT_PYARROW = """
import sys
sys.modules["pyarrow"] = None
sys.modules["pyarrow.parquet"] = None
import labrecog
from labrecog.cli import main
sys.argv = ["labrecog", *sys.argv[1:]]
main()
"""


def _bare(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _WITHOUT_PYARROW, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_without_pyarrow_jsonl_works_and_parquet_says_what_to_install(tmp_path: Path) -> None:
    jsonl = tmp_path / "cases.jsonl"
    jsonl.write_bytes(orjson.dumps(case(prior())) + b"\n")
    parquet = to_parquet([orjson.dumps(case(prior()))], tmp_path / "cases.parquet")
    plain = _bare("evaluate", str(jsonl), "--rules", str(DEMO), "-q")
    assert plain.returncode == 0, plain.stderr
    assert orjson.loads(plain.stdout)["items"][0]["status"] == "waive"
    for args in (
        ["evaluate", str(parquet), "--rules", str(DEMO), "-q"],
        ["evaluate", str(jsonl), "--rules", str(DEMO), "-q", "-o", str(tmp_path / "d.parquet")],
        ["schema", "parquet"],
        ["report", str(parquet)],
    ):
        bare = _bare(*args)
        assert bare.returncode == 2, (args, bare.stderr)
        assert "pip install 'labrecog[parquet]'" in bare.stderr
        assert "Traceback" not in bare.stderr
    assert not (tmp_path / "d.parquet").exists()


def test_a_row_json_cannot_hold_is_worded_in_chinese(tmp_path: Path) -> None:
    """--lang zh words the Parquet value messages too, never half translated."""
    parquet = tmp_path / "nan.parquet"
    pq.write_table(_values_table([5.2, float("nan")], pa.float64()), parquet)
    code, out, _ = run(["evaluate", str(parquet), "--rules", str(DEMO), "-q", "--lang", "zh"])
    error = records(out)[1]["error"]
    assert code == 1 and error["path"] == "prior_results[0].value"
    assert error["message"] == "prior_results[0].value：nan 不是 JSON 能表示的数字（NaN 或无穷大）"
