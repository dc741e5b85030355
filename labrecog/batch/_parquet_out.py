"""Decisions as Parquet rows: one row per decision item, one row per error record.

Warehouses query items (a waiver rate by test, a saving by laboratory), so an item is a
row. An error record is ONE row with status ``error``, as in the CSV format, so that
"every input line yields exactly one record" stays countable: distinct (source, line).
Money stays the contract's decimal text (``"5.00"``, ``"500"`` for JPY): a fixed-scale
decimal column would write every currency with the same number of digits.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Final

import orjson
import pyarrow as pa

from labrecog.batch.records import internal_error_record

__all__ = ["FORMAT_KEY", "FORMAT_VALUE", "decision_schema", "decision_table", "records_of"]

#: File metadata naming what the file holds; ``report`` recognises decisions by it.
FORMAT_KEY: Final = b"labrecog.format"
FORMAT_VALUE: Final = b"decisions/1"

_TEXT = pa.string()
_WAIVED = pa.list_(pa.struct([("code", _TEXT), ("result_id", _TEXT), ("institution", _TEXT)]))
_REASON_KEYS: Final = ("code", "message", "result_id", "test", "flag", "source")
_REASONS = pa.list_(pa.struct([(key, _TEXT) for key in _REASON_KEYS]))
_ERROR = pa.struct([("code", _TEXT), ("message", _TEXT), ("path", _TEXT)])

#: (name, type, nullable, description): the exported schema, in column order.
COLUMNS: Final[tuple[tuple[str, Any, bool, str], ...]] = (
    ("line", pa.int64(), False, "the input line (row) the record answers, counted from 1"),
    ("source", _TEXT, True, "'results' for an error about a line of the --results file "
     "(joined mode; line counts in that file), else null"),
    ("order_id", _TEXT, True, "the case's order_id (null in an error record when unreadable)"),
    ("patient_id", _TEXT, True, "the case's patient.id"),
    ("ruleset_id", _TEXT, True, "the deciding rule set's id"),
    ("ruleset_version", _TEXT, True, "the deciding rule set's version"),
    ("ruleset_digest", _TEXT, True, "the deciding rule set's digest (sha256:...)"),
    ("currency", _TEXT, True, "ISO 4217 code of every saving"),
    ("order_saving", _TEXT, True, "the decision's total saving, decimal text"),
    ("item", pa.int32(), True, "the item's position in the decision, from 0; null for an "
     "error record"),
    ("code", _TEXT, True, "the ordered code as written in the case"),
    ("status", _TEXT, False, "waive, partial, retest; error for an error record"),
    ("saving", _TEXT, True, "the item's saving, decimal text with the currency's digits"),
    ("result_id", _TEXT, True, "a waived single test: the prior result it rests on"),
    ("institution", _TEXT, True, "a waived single test: the institution of that result"),
    ("max_age", _TEXT, True, "a waived single test: the maximum age it was judged against"),
    ("max_age_source", _TEXT, True, "a waived single test: where that maximum age comes from"),
    ("waived", _WAIVED, True, "a waive or partial panel: the components not to test"),
    ("retest", pa.list_(_TEXT), True, "a partial panel: the component codes still to test"),
    ("reasons", _REASONS, True, "why (docs/reasons.md); null for an error record"),
    ("ext", _TEXT, True, "the decision's ext as JSON text"),
    ("item_ext", _TEXT, True, "the item's ext as JSON text"),
    ("error", _ERROR, True, "an error record's error: code, message, path; else null"),
)  # fmt: skip


def decision_schema() -> Any:
    """The schema, with each column's description in its field metadata."""
    fields = [
        pa.field(name, kind, nullable=nullable, metadata={b"description": about.encode()})
        for name, kind, nullable, about in COLUMNS
    ]
    return pa.schema(fields, metadata={FORMAT_KEY: FORMAT_VALUE})


def decision_table(records: Iterable[tuple[int, dict[str, Any]]]) -> Any:
    """One row per item, one per error record; a record that does not fit the schema
    becomes an ``internal_error`` row (one bad record must not stop a batch)."""
    schema = decision_schema()
    pairs = list(records)
    try:
        return pa.Table.from_pylist([r for p in pairs for r in _rows(*p)], schema=schema)
    except _UNFIT:
        pass  # find the record that does not fit: only then, one table per record
    rows: list[dict[str, Any]] = []
    for line, record in pairs:
        try:
            mine = _rows(line, record)
            pa.Table.from_pylist(mine, schema=schema)
        except _UNFIT as exc:
            mine = _rows(line, internal_error_record(line, exc))
        rows.extend(mine)
    return pa.Table.from_pylist(rows, schema=schema)


_UNFIT = (TypeError, ValueError, KeyError, AttributeError, pa.ArrowException)


def _json_text(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode("utf-8")


def _rows(line: int, record: dict[str, Any]) -> list[dict[str, Any]]:
    if "error" in record:
        return [
            {"line": line, "source": record.get("source"), "order_id": record.get("order_id"),
             "status": "error", "error": record["error"]}
        ]  # fmt: skip
    ruleset = record["ruleset"]
    if not record["items"]:
        raise ValueError("a decision without items has no row")  # never made by the engine
    base = {
        "line": line, "order_id": record["order_id"], "patient_id": record["patient_id"],
        "ruleset_id": ruleset["id"], "ruleset_version": ruleset["version"],
        "ruleset_digest": ruleset["digest"], "currency": record["currency"],
        "order_saving": record["saving"], "ext": _json_text(record.get("ext")),
    }  # fmt: skip
    return [
        {**base, "item": i, "code": item["code"], "status": item["status"],
         "saving": item["saving"], "result_id": item.get("result_id"),
         "institution": item.get("institution"), "max_age": item.get("max_age"),
         "max_age_source": item.get("source"), "waived": item.get("waived"),
         "retest": item.get("retest"), "reasons": item["reasons"],
         "item_ext": _json_text(item.get("ext"))}
        for i, item in enumerate(record["items"])
    ]  # fmt: skip


def records_of(rows: Iterable[dict[str, Any]]) -> Iterator[tuple[int | None, Any]]:
    """The records again, from rows in file order: a decision's rows are consecutive,
    starting at item 0. A row that is not one of ours is yielded as itself, with its row
    number when it has no line (the caller counts it unreadable)."""
    current: dict[str, Any] | None = None
    line: int | None = None
    for number, row in enumerate(rows, 1):
        if not isinstance(row.get("line"), int) or row.get("status") is None:
            if current is not None:
                yield line, current
                current = None
            yield number, row  # by its row number: it has no line
            continue
        if row["status"] == "error" or row.get("item") in (None, 0):
            if current is not None:
                yield line, current
                current = None
            if row["status"] == "error":
                yield row["line"], _error(row)
                continue
            line, current = row["line"], _decision(row)
        elif current is None or row["line"] != line:
            yield row["line"], row  # an item without its decision's first row
            continue
        current["items"].append(_item(row))
        _to_order(current, current["items"][-1])
    if current is not None:
        yield line, current


def _error(row: dict[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = {"line": row["line"]}
    if row.get("source") is not None:
        record["source"] = row["source"]
    record["order_id"] = row.get("order_id")
    record["error"] = row.get("error")
    return record


def _decision(row: dict[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = {
        "order_id": row.get("order_id"),
        "patient_id": row.get("patient_id"),
        "ruleset": {
            "id": row.get("ruleset_id"),
            "version": row.get("ruleset_version"),
            "digest": row.get("ruleset_digest"),
        },
        "currency": row.get("currency"),
        "saving": row.get("order_saving"),
        "to_order": [],
        "items": [],
    }
    if row.get("ext") is not None:
        record["ext"] = orjson.loads(row["ext"])
    return record


def _item(row: dict[str, Any]) -> dict[str, Any]:
    """Keys in the order of docs/decision.md, absent ones left out as in the JSON."""
    item: dict[str, Any] = {"code": row["code"], "status": row["status"], "saving": row["saving"]}
    for key, column in (("result_id", "result_id"), ("institution", "institution"),
                        ("max_age", "max_age"), ("source", "max_age_source"),
                        ("waived", "waived"), ("retest", "retest")):  # fmt: skip
        if row.get(column) is not None:
            value = row[column]
            item[key] = [_present(v) for v in value] if key == "waived" else value
    item["reasons"] = [_present(reason) for reason in row.get("reasons") or []]
    if row.get("item_ext") is not None:
        item["ext"] = orjson.loads(row["item_ext"])
    return item


def _present(struct: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in struct.items() if value is not None}


def _to_order(record: dict[str, Any], item: dict[str, Any]) -> None:
    """What must still be tested (docs/reasons.md): derived, as the engine derives it."""
    if item["status"] == "retest":
        record["to_order"].append(item["code"])
    elif item["status"] == "partial":
        record["to_order"].extend(item.get("retest") or [])
