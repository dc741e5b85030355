"""CSV output: an error row's ``error`` cell names the field path once, not twice."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from labrecog.batch.formats import encoder
from labrecog.cli import main

RULES = str(Path(__file__).resolve().parent.parent / "rules" / "demo")

CASE = {
    "order_id": "O-1",
    "ordered_at": "2025-03-02T09:30:00+08:00",
    "patient": {"id": "P", "sex": "male", "birth_date": "1960-01-01"},
    "institution": {"id": "X", "level": 3},
    "context": {"setting": "outpatient", "flags": []},
    "authorization": {"granted": True},
    "tests": [{"code": "GLU"}],
    "prior_results": [
        {
            "id": "R1",
            "patient_id": "P",
            "code": "GLU",
            "x": 1,
            "collected_at": "2025-03-01T09:00:00+08:00",
            "institution": {"id": "X"},
            "status": "final",
            "value": 5,
            "unit": "mmol/L",
        }
    ],
}


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("en", "prior_results[0].x: unknown field (extensions belong under 'ext')"),
        ("zh", "prior_results[0].x：未知字段（扩展内容请放在 'ext' 下）"),
    ],
)
def test_error_cell_names_the_path_once(tmp_path: Path, lang: str, expected: str) -> None:
    src = tmp_path / "cases.jsonl"
    src.write_bytes(orjson.dumps(CASE) + b"\n")
    args = ["evaluate", str(src), "--rules", RULES, "--format", "csv", "-q", "--lang", lang]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["error"] for row in rows] == [expected]


def test_a_message_without_its_path_still_gets_it() -> None:
    """A record whose message does not start with its path (a reader's own wording)."""
    record = {"order_id": None, "error": {"code": "x", "message": "bad", "path": "a.b"}}
    rows = list(csv.reader(io.StringIO(encoder("csv")([(3, record)]).decode("utf-8"))))
    assert rows[0][-1] == "a.b: bad"
