"""``labrecog evaluate --format fhir``: NDJSON Bundles in, one FHIR resource out per line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from labrecog.cli import main
from tests.builders import DEMO
from tests.test_fhir_builders import coding, find, observation, service_request, waivable

R4B = pytest.importorskip("fhir.resources.R4B")
from fhir.resources.R4B.guidanceresponse import GuidanceResponse  # noqa: E402
from fhir.resources.R4B.operationoutcome import OperationOutcome  # noqa: E402

RULES = str(DEMO)


def run(args: list[str], data: bytes | None = None) -> tuple[int, bytes, str]:
    result = CliRunner().invoke(main, args, input=data)
    return result.exit_code, result.stdout_bytes, result.stderr


def lines(out: bytes) -> list[dict[str, Any]]:
    return [json.loads(x) for x in out.splitlines()]


def ndjson(*bundles: Any) -> bytes:
    return b"".join((b if isinstance(b, bytes) else orjson.dumps(b)) + b"\n" for b in bundles)


def three() -> bytes:
    """A waivable bundle, one holding another patient's result, a line cut short. (A bad
    collection time no longer refuses a bundle, issue 11: only that result is lost.)"""
    bad = waivable(obs=observation(subject={"reference": "Patient/P-2"}), id="b-2")
    find(bad, "ServiceRequest")["requisition"]["value"] = "O-2"
    good = waivable(service_request("sr-2", [coding("HBA1C")]), id="b-3")
    find(good, "ServiceRequest", "sr-1")["requisition"]["value"] = "O-3"
    find(good, "ServiceRequest", "sr-2")["requisition"]["value"] = "O-3"
    return ndjson(waivable(), bad, b'{"resourceType": "Bundle", "type": "coll', good)


def test_format_fhir_writes_one_resource_per_line_and_exits_1_on_a_bad_line(
    tmp_path: Path,
) -> None:
    src = tmp_path / "bundles.ndjson"
    src.write_bytes(three())
    code, out, err = run(["evaluate", str(src), "--rules", RULES, "--format", "fhir"])
    assert code == 1
    got = lines(out)
    assert [r["resourceType"] for r in got] == [
        "GuidanceResponse",
        "OperationOutcome",
        "OperationOutcome",
        "GuidanceResponse",
    ]
    for r in got:
        (
            GuidanceResponse if r["resourceType"] == "GuidanceResponse" else OperationOutcome
        ).model_validate(r)
    bad = got[1]
    assert bad["extension"][0]["valueInteger"] == 2
    assert bad["issue"][0]["expression"] == ["Bundle.entry[7].resource.subject"]
    assert bad["issue"][0]["diagnostics"].startswith("line 2: ")
    assert {
        "url": "https://labrecog.dev/fhir/StructureDefinition/order-id",
        "valueString": "O-2",
    } in bad["extension"]
    assert got[2]["extension"][0]["valueInteger"] == 3
    assert "not valid JSON" in got[2]["issue"][0]["details"]["text"]
    assert got[3]["requestIdentifier"]["value"] == "O-3"
    assert "cases 4  decisions 2  errors 2" in err


def test_input_format_fhir_writes_labrecog_records(tmp_path: Path) -> None:
    src = tmp_path / "bundles.ndjson"
    src.write_bytes(three())
    code, out, _ = run(["evaluate", str(src), "--rules", RULES, "--input-format", "fhir", "-q"])
    assert code == 1
    got = lines(out)
    assert got[0]["items"][0]["status"] == "waive"
    assert got[0]["items"][0]["ext"] == {"request": "ServiceRequest/sr-1"}
    assert got[1]["line"] == 2
    assert got[1]["order_id"] == "O-2"
    assert got[1]["error"]["path"] == "entry[7].resource.subject"
    assert got[2]["line"] == 3
    code, out, _ = run(
        ["evaluate", str(src), "--rules", RULES, "--input-format", "fhir", "--format", "csv", "-q"]
    )
    assert code == 1
    rows = out.decode().splitlines()
    assert rows[0].startswith("line,order_id")
    assert rows[2].startswith("2,O-2,,,error,")


def test_jobs_2_gives_the_same_bytes(tmp_path: Path) -> None:
    src = tmp_path / "bundles.ndjson"
    src.write_bytes(three() * 3)
    args = ["evaluate", str(src), "--rules", RULES, "--format", "fhir", "-q"]
    _, one, _ = run(args)
    code, two, _ = run([*args, "--jobs", "2"])
    assert code == 1
    assert one == two
    assert len(two.splitlines()) == 12


def test_stdin_and_output_file(tmp_path: Path) -> None:
    target = tmp_path / "out" / "answers.ndjson"
    code, out, _ = run(
        ["evaluate", "-", "--rules", RULES, "--format", "fhir", "-o", str(target), "-q"],
        ndjson(waivable()),
    )
    assert code == 0
    assert out == b""
    (gr,) = lines(target.read_bytes())
    assert gr["resourceType"] == "GuidanceResponse"


def test_strict_fhir_refuses_what_the_reader_tolerates(tmp_path: Path) -> None:
    # FHIR wants an offset on a dateTime with a time; the reader, like the Case model,
    # accepts a naive one when the rule set declares its timezone. --strict-fhir does not.
    naive = waivable(obs=observation(effectiveDateTime="2025-02-27T08:00:00"))
    src = tmp_path / "naive.ndjson"
    src.write_bytes(ndjson(naive))
    code, out, _ = run(["evaluate", str(src), "--rules", RULES, "--format", "fhir", "-q"])
    assert code == 0
    (gr,) = lines(out)
    assert gr["resourceType"] == "GuidanceResponse"
    code, out, _ = run(
        ["evaluate", str(src), "--rules", RULES, "--format", "fhir", "--strict-fhir", "-q"]
    )
    assert code == 1
    (oo,) = lines(out)
    assert oo["issue"][0]["expression"] == ["Bundle.entry[7].resource.effectiveDateTime"]
    assert "not valid FHIR R4" in oo["issue"][0]["details"]["text"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--format", "fhir", "--input-format", "jsonl"], "drop --input-format jsonl"),
        (["--strict-fhir"], "--strict-fhir needs FHIR input"),
        (["--format", "csv", "--strict-fhir"], "--strict-fhir needs FHIR input"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, extra: list[str], message: str) -> None:
    src = tmp_path / "bundles.ndjson"
    src.write_bytes(ndjson(waivable()))
    code, _, err = run(["evaluate", str(src), "--rules", RULES, *extra])
    assert code == 2
    # The command's own message, not click's for an unknown option or a bad value.
    assert message in err, err


def test_joined_mode_does_not_read_fhir(tmp_path: Path) -> None:
    src = tmp_path / "x.jsonl"
    src.write_bytes(b"")
    code, _, err = run(
        [
            "evaluate",
            "--orders",
            str(src),
            "--results",
            str(src),
            "--rules",
            RULES,
            "--format",
            "fhir",
        ]
    )
    assert code == 2
    assert "one Bundle per line" in err


def test_empty_line_is_an_operation_outcome(tmp_path: Path) -> None:
    src = tmp_path / "bundles.ndjson"
    src.write_bytes(ndjson(waivable()) + b"\n" + ndjson(waivable()))
    code, out, _ = run(["evaluate", str(src), "--rules", RULES, "--format", "fhir", "-q"])
    assert code == 1
    got = lines(out)
    assert [r["resourceType"] for r in got] == [
        "GuidanceResponse",
        "OperationOutcome",
        "GuidanceResponse",
    ]
    assert got[1]["issue"][0]["details"]["text"] == "empty line"
