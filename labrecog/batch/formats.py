"""Output formats for batch records: JSONL for programs, CSV for spreadsheets, FHIR
(one GuidanceResponse or OperationOutcome per line) for FHIR-native callers, Parquet
(one row per item, batch.parquet) for warehouses."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from typing import Any, Literal

import orjson

from labrecog.batch.records import internal_error_record

__all__ = ["CSV_COLUMNS", "UTF8_BOM", "Format", "csv_header", "encoder"]

Format = Literal["jsonl", "csv", "fhir", "parquet"]

CSV_COLUMNS = (
    "line",
    "order_id",
    "patient_id",
    "code",
    "status",
    "result_id",
    "institution",
    "saving",
    "currency",
    "reasons",
    "error",
)


def _jsonl(records: Iterable[tuple[int, dict[str, Any]]]) -> bytes:
    out = []
    for line, record in records:
        try:
            out.append(orjson.dumps(record) + b"\n")
        except (TypeError, ValueError) as exc:  # one unwritable record must not stop a batch
            out.append(orjson.dumps(internal_error_record(line, exc)) + b"\n")
    return b"".join(out)


#: A cell starting with one of these is run as a formula by Excel, LibreOffice and Sheets
#: (OWASP "CSV injection"): ``=HYPERLINK(...)`` in an order id would be a live link.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _text(value: object) -> str:
    """A text cell a spreadsheet shows as text: a leading ``'`` before a formula start.
    Only text cells (ids, codes, messages) pass here; ``line`` and ``saving`` are labrecog's
    own numbers and are written unchanged."""
    cell = "" if value is None else str(value)
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def _csv(records: Iterable[tuple[int, dict[str, Any]]]) -> bytes:
    """One row per decision item; an error record is one row with status ``error``."""
    buffer = io.StringIO()
    plain = csv.writer(buffer, lineterminator="\n")
    # QUOTE_MINIMAL quotes only the line terminator's characters: a cell holding a bare CR
    # would end the row in most readers, so a row with one is written fully quoted.
    quoted = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)

    def writerow(row: list[object]) -> None:
        has_cr = any(isinstance(cell, str) and "\r" in cell for cell in row)
        (quoted if has_cr else plain).writerow(row)

    for line, record in records:
        if "error" in record:
            error = record["error"]
            path, message = error.get("path") or "", str(error.get("message", ""))
            # An input error's message names each problem's path already (in its language's
            # punctuation): the path is added only to a message that does not start with it.
            where = f"{path}: " if path and not message.startswith(path) else ""
            writerow(
                [line, _text(record.get("order_id")), "", "", "error", "", "", "", "", "",
                 _text(f"{where}{message}")]
            )  # fmt: skip
            continue
        for item in record["items"]:
            reasons = ";".join(sorted({r["code"] for r in item["reasons"]}))
            writerow(
                [line, *map(_text, (record["order_id"], record["patient_id"], item["code"],
                 item["status"], item.get("result_id", ""), item.get("institution", ""))),
                 item["saving"], _text(record["currency"]), _text(reasons), ""]
            )  # fmt: skip
    return buffer.getvalue().encode("utf-8")


def _fhir(records: Iterable[tuple[int, dict[str, Any]]]) -> bytes:
    """The records are FHIR resources already; an unwritable one becomes an OperationOutcome."""
    from labrecog.fhir._write import operation_outcome

    out = []
    for line, resource in records:
        try:
            out.append(orjson.dumps(resource) + b"\n")
        except (TypeError, ValueError) as exc:
            outcome = operation_outcome(internal_error_record(line, exc), line)
            out.append(orjson.dumps(outcome) + b"\n")
    return b"".join(out)


#: The UTF-8 byte-order mark: Excel on Chinese Windows reads a CSV file without it in the
#: ANSI code page (GBK), so 临夏市人民医院 comes out garbled; with it, as UTF-8.
UTF8_BOM = b"\xef\xbb\xbf"


def csv_header(*, bom: bool = False) -> bytes:
    """The header row; ``bom``: preceded by the UTF-8 byte-order mark, for Excel."""
    return (UTF8_BOM if bom else b"") + (",".join(CSV_COLUMNS) + "\n").encode("utf-8")


def encoder(fmt: Format) -> Callable[[Iterable[tuple[int, dict[str, Any]]]], bytes]:
    if fmt == "parquet":  # an Arrow IPC chunk for batch.parquet.DecisionWriter (pyarrow lazily)
        from labrecog.batch.parquet import encode_chunk

        return encode_chunk
    if fmt == "fhir":
        return _fhir
    return _csv if fmt == "csv" else _jsonl
