"""``labrecog evaluate`` through its real entry point: nothing lost, order kept, exit codes."""

from __future__ import annotations

import csv
import gzip
import io
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from labrecog.cli import main
from tests.builders import DEMO, ROOT, case, prior

RULES = str(DEMO)


def line(data: Any) -> bytes:
    return orjson.dumps(data) + b"\n"


def varied(n: int) -> bytes:
    """n distinct cases whose decisions differ, so a reordering would show."""
    out = []
    for i in range(n):
        days = 1 + i % 12
        out.append(
            line(
                case(
                    prior(id=f"R-{i}", collected_at=f"2025-02-{28 - days:02d}T08:00:00+08:00",
                          value=4.0 + (i % 7) * 0.3),
                    order_id=f"O-{i}",
                    tests=["GLU", "K"] if i % 3 else ["GLU"],
                )
            )
        )  # fmt: skip
    return b"".join(out)


def run(args: list[str], data: bytes | None = None) -> tuple[int, bytes, str]:
    result = CliRunner().invoke(main, args, input=data)
    return result.exit_code, result.stdout_bytes, result.stderr


def records(out: bytes) -> list[dict[str, Any]]:
    return [json.loads(x) for x in out.splitlines()]


def test_all_good_exits_0_and_writes_one_decision_per_line(tmp_path: Path) -> None:
    src = tmp_path / "cases.jsonl"
    src.write_bytes(line(case(prior())) + line(case(prior(), order_id="O-2")))
    code, out, err = run(["evaluate", str(src), "--rules", RULES])
    assert code == 0
    got = records(out)
    assert [r["order_id"] for r in got] == ["O-1", "O-2"]
    assert got[0]["items"][0]["status"] == "waive"
    assert "cases 2" in err and "errors 0" in err


DEEP: dict[str, Any] = {}
_level = DEEP
for _ in range(40):  # deeper than ext may be: the decision must still be writable as JSON
    _level["a"] = {}
    _level = _level["a"]

BAD_LINES: list[tuple[bytes, str, str]] = [
    (b'{"order_id": "O-9", ', "", "not valid JSON"),
    (b"\xff\xfe not utf-8\n", "", "UTF-8"),
    (b"\n", "", "empty line"),
    (b"   \n", "", "empty line"),
    (b"[1, 2]\n", "", "JSON object"),
    (line(case(prior(value="6.4"))), "prior_results[0].value", "number"),
    (line(case(prior(patient_id="P-2"))), "prior_results[0].patient_id", "P-2"),
    (line(case(prior(), ordered_at="2025-03-02")), "ordered_at", "date and time"),
    (b'{"order_id": "O-1", "value": NaN}\n', "", "not valid JSON"),
    (line(case(prior(), context__flags=["emergncy"])), "context.flags[0]", "emergency"),
    (line(case(prior(), ext=DEEP)), "ext", "32 levels"),
]


@pytest.mark.parametrize(("bad", "path", "words"), BAD_LINES)
def test_each_bad_line_becomes_one_error_record(
    tmp_path: Path, bad: bytes, path: str, words: str
) -> None:
    src = tmp_path / "cases.jsonl"
    good = line(case(prior()))
    src.write_bytes(good + (bad if bad.endswith(b"\n") else bad + b"\n") + good)
    code, out, _ = run(["evaluate", str(src), "--rules", RULES])
    assert code == 1
    got = records(out)
    assert len(got) == 3
    assert "items" in got[0] and "items" in got[2]
    error = got[1]
    assert error["line"] == 2
    assert error["error"]["code"] == "invalid_input"
    assert error["error"]["path"] == path
    assert words in error["error"]["message"]


def test_naive_timestamp_needs_a_rule_set_timezone(tmp_path: Path) -> None:
    text = (
        (DEMO / "ruleset.yaml").read_text(encoding="utf-8").replace("timezone: Asia/Shanghai\n", "")
    )
    folder = tmp_path / "rules"
    folder.mkdir()
    for part in DEMO.glob("*.yaml"):
        (folder / part.name).write_text(
            text if part.name == "ruleset.yaml" else part.read_text(encoding="utf-8"),
            encoding="utf-8",
        )
    naive = line(case(prior(), ordered_at="2025-03-02T09:30:00"))
    src = tmp_path / "cases.jsonl"
    src.write_bytes(naive)
    code, out, _ = run(["evaluate", str(src), "--rules", str(folder)])
    assert code == 1
    assert records(out)[0]["error"]["path"] == "ordered_at"
    code, out, _ = run(["evaluate", str(src), "--rules", RULES])
    assert code == 0  # the demo rule set declares Asia/Shanghai


def test_stdin_and_gzip(tmp_path: Path) -> None:
    data = varied(20)
    code, plain, _ = run(["evaluate", "-", "--rules", RULES, "-q"], data)
    assert code == 0
    gz = tmp_path / "cases.jsonl.gz"
    gz.write_bytes(gzip.compress(data))
    code, zipped, _ = run(["evaluate", str(gz), "--rules", RULES, "-q"])
    assert code == 0
    assert zipped == plain
    odd_name = tmp_path / "cases.txt"  # gzip is recognised by content, not by name
    odd_name.write_bytes(gzip.compress(data))
    assert run(["evaluate", str(odd_name), "--rules", RULES, "-q"])[1] == plain
    code, from_stdin_gz, _ = run(["evaluate", "-", "--rules", RULES, "-q"], gzip.compress(data))
    assert from_stdin_gz == plain


def test_jobs_2_keeps_input_order_and_output_bytes(tmp_path: Path) -> None:
    src = tmp_path / "cases.jsonl"
    src.write_bytes(varied(700) + b"broken\n" + varied(3))  # several chunks, one error
    one = tmp_path / "one.jsonl"
    two = tmp_path / "two.jsonl"
    assert run(["evaluate", str(src), "--rules", RULES, "-o", str(one), "-q"])[0] == 1
    assert run(["evaluate", str(src), "--rules", RULES, "-o", str(two), "-q", "-j", "2"])[0] == 1
    assert one.read_bytes() == two.read_bytes()
    got = records(two.read_bytes())
    assert len(got) == 704
    assert got[700]["line"] == 701
    assert [r["order_id"] for r in got[:700]] == [f"O-{i}" for i in range(700)]


def test_csv_has_one_row_per_item_and_error_rows(tmp_path: Path) -> None:
    src = tmp_path / "cases.jsonl"
    src.write_bytes(line(case(prior(), tests=["GLU", "LFT"])) + b"{oops\n")
    code, out, _ = run(["evaluate", str(src), "--rules", RULES, "--format", "csv", "-q"])
    assert code == 1
    rows = list(csv.DictReader(io.StringIO(out.decode("utf-8"))))
    assert [(r["line"], r["code"], r["status"]) for r in rows] == [
        ("1", "GLU", "waive"),
        ("1", "LFT", "retest"),
        ("2", "", "error"),
    ]
    assert rows[0]["result_id"] == "R-1" and rows[0]["saving"] == "5.00"
    assert rows[1]["reasons"] == "no_prior"
    assert "not valid JSON" in rows[2]["error"]


def test_summary_json(tmp_path: Path) -> None:
    src = tmp_path / "cases.jsonl"
    src.write_bytes(line(case(prior())) + b"\n")
    summary = tmp_path / "summary.json"
    code, _, _ = run(["evaluate", str(src), "--rules", RULES, "-q", "--summary-json", str(summary)])
    assert code == 1
    data = json.loads(summary.read_text())
    assert data["cases"] == 2 and data["errors"] == 1 and data["waive"] == 1
    assert data["saving"] == "5.00" and data["currency"] == "CNY"


def test_bad_rule_set_exits_2(tmp_path: Path) -> None:
    broken = tmp_path / "rules.yaml"
    broken.write_text("id: x\nversion: '1'\ntests:\n  - code: GLU\n    pricee: 1\n")
    src = tmp_path / "cases.jsonl"
    src.write_bytes(line(case(prior())))
    code, out, err = run(["evaluate", str(src), "--rules", str(broken)])
    assert code == 2
    assert out == b""
    assert "rules.yaml:5:5: unknown key 'pricee'" in err


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run(["evaluate", "--rules", RULES])[0] == 2
    assert run(["evaluate", "x.jsonl", "--orders", "o.jsonl", "--rules", RULES])[0] == 2
    missing = tmp_path / "nope.jsonl"
    code, _, err = run(["evaluate", str(missing), "--rules", RULES, "-q"])
    assert code == 2 and "nope.jsonl" in err


def test_output_file_appears_only_when_complete(tmp_path: Path) -> None:
    """Kill a run mid-way: no file with the target's name may exist."""
    src = tmp_path / "cases.jsonl"
    src.write_bytes(varied(300) * 40)  # 12,000 cases: several seconds of work
    target = tmp_path / "out" / "decisions.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "labrecog.cli", "evaluate", str(src), "--rules", RULES,
         "-o", str(target), "-q"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        partial = (
            list(target.parent.glob(".decisions.jsonl.*.partial")) if target.parent.exists() else []
        )
        if partial and partial[0].stat().st_size > 0:
            break
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("the run never started writing")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert not target.exists()
    # an orderly interrupt also removes the partial file
    proc = subprocess.Popen(
        [sys.executable, "-m", "labrecog.cli", "evaluate", str(src), "--rules", RULES,
         "-o", str(target), "-q"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    before = set(target.parent.glob("*.partial"))
    while time.monotonic() < deadline + 30:
        now = set(target.parent.glob(".decisions.jsonl.*.partial")) - before
        if now and next(iter(now)).stat().st_size > 0:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert not target.exists()
    assert set(target.parent.glob("*.partial")) == before
    assert b"interrupted" in err
