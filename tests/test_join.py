"""Joined mode (orders + results files) decides exactly as self-contained cases do.

The reference is always the self-contained case evaluated by ``evaluate_line``, the same
function the batch runner uses; the joined case must produce the same record, for both
stores, whatever the order of the results file and however the priors are split between
the order line and the results file.
"""

from __future__ import annotations

import gc
import gzip
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labrecog.batch.join import ResultIndex, joined_lines
from labrecog.batch.records import evaluate_line
from tests.builders import ROOT, case, demo_engine, prior

ENGINE = demo_engine()
TZ = ENGINE.rules.timezone
KINDS: tuple[Literal["memory", "sqlite"], ...] = ("memory", "sqlite")


def _examples() -> list[dict[str, Any]]:
    """The example batch's cases whose priors all belong to their patient (one does not)."""
    out = []
    for raw in (ROOT / "examples" / "cases.jsonl").read_bytes().splitlines():
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        pid = data["patient"]["id"]
        if all(p["patient_id"] == pid for p in data.get("prior_results", [])):
            out.append(data)
    return out


CASES = _examples()


def no_errors(record: dict[str, Any]) -> None:
    raise AssertionError(f"unexpected error record {record}")


def numbered(lines: Iterable[bytes]) -> list[tuple[int, bytes]]:
    return list(enumerate(lines, start=1))


def jl(data: Any) -> bytes:
    return orjson.dumps(data) + b"\n"


def split(
    cases: list[dict[str, Any]], inline: list[int] | None = None
) -> tuple[list[bytes], list[bytes]]:
    """Orders keep their first ``inline[i]`` priors; the rest go to the results file."""
    orders: list[bytes] = []
    results: list[bytes] = []
    for i, data in enumerate(cases):
        priors = data.get("prior_results", [])
        keep = inline[i] if inline else 0
        order = {k: v for k, v in data.items() if k != "prior_results"}
        if keep:
            order["prior_results"] = priors[:keep]
        orders.append(jl(order))
        results.extend(jl(p) for p in priors[keep:])
    return orders, results


def evaluate(lines: Iterable[tuple[int, bytes]]) -> list[dict[str, Any]]:
    return [evaluate_line(ENGINE, n, raw) for n, raw in lines]


def run_joined(
    orders: list[bytes],
    results: list[bytes],
    kind: Literal["memory", "sqlite"] = "memory",
    invalid: Literal["refuse", "skip"] = "refuse",
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(error records of the results file, one record per order line)."""
    errors: list[dict[str, Any]] = []
    with ResultIndex.build(
        numbered(results), timezone=TZ, on_error=errors.append, index=kind
    ) as idx:
        records = evaluate(joined_lines(numbered(orders), idx, invalid=invalid))
    return errors, records


REFERENCE = evaluate(numbered(jl(c) for c in CASES))


@pytest.mark.parametrize("kind", KINDS)
def test_joined_equals_self_contained(kind: Literal["memory", "sqlite"]) -> None:
    orders, results = split(CASES)
    errors, records = run_joined(orders, results, kind)
    assert errors == []
    assert records == REFERENCE
    assert any(r.get("items") and r["items"][0]["status"] == "waive" for r in records)


@settings(max_examples=20, deadline=None)
@given(data=st.data(), kind=st.sampled_from(KINDS))
def test_any_split_and_any_results_order_decides_the_same(
    data: st.DataObject, kind: Literal["memory", "sqlite"]
) -> None:
    inline = [
        data.draw(st.integers(0, len(c.get("prior_results", []))), label=f"inline[{i}]")
        for i, c in enumerate(CASES)
    ]
    orders, results = split(CASES, inline)
    shuffled = data.draw(st.permutations(results), label="results order")
    errors, records = run_joined(orders, shuffled, kind)
    assert errors == []
    assert records == REFERENCE


@pytest.mark.parametrize("kind", KINDS)
def test_results_attached_in_line_order_after_the_orders_own(
    kind: Literal["memory", "sqlite"],
) -> None:
    own = prior(id="R-own")
    order = jl(case(own))
    results = [jl(prior(id="R-3")), jl(prior(id="R-x", patient_id="P-2")), jl(prior(id="R-1"))]
    idx = ResultIndex.build(numbered(results), timezone=TZ, on_error=no_errors, index=kind)
    with idx:
        [(line, joined)] = list(joined_lines([(7, order)], idx))
    assert line == 7
    assert [p["id"] for p in orjson.loads(joined)["prior_results"]] == ["R-own", "R-3", "R-1"]


BAD_RESULTS: list[tuple[bytes, str, str]] = [
    (b'{"id": "R-9", ', "", "not valid JSON"),
    (b"\xff\xfe not utf-8\n", "", "UTF-8"),
    (b"\n", "", "empty line"),
    (b"[1, 2]\n", "", "JSON object"),
    (jl(prior(id="R-b1", value="6.4")), "value", "number"),
    (jl(prior(id="R-b2", collected_at="2025-02-27")), "collected_at", "date and time"),
    (jl({k: v for k, v in prior(id="R-b3").items() if k != "collected_at"}), "collected_at", ""),
    (jl(prior(id="R-b4", reported_at="2025-02-26T08:00:00+08:00")), "reported_at", "before"),
    (jl(prior(id="R-b5", colour="red")), "colour", "unknown field"),
    (jl(prior(id="R-b6", code=None, loinc=None)), "", "code or a loinc"),
]


@pytest.mark.parametrize(("raw", "path", "message"), BAD_RESULTS)
@pytest.mark.parametrize("kind", KINDS)
def test_invalid_results_line_is_an_error_record(
    kind: Literal["memory", "sqlite"], raw: bytes, path: str, message: str
) -> None:
    results = [jl(prior(id="R-ok1")), raw, jl(prior(id="R-ok2"))]
    errors, _ = run_joined([], results, kind)
    assert errors == [
        {
            "line": 2,
            "source": "results",
            "order_id": None,
            "error": {
                "code": "invalid_input",
                "message": errors[0]["error"]["message"],
                "path": path,
            },
        }
    ]
    assert message in errors[0]["error"]["message"]


@pytest.mark.parametrize("kind", KINDS)
def test_skip_still_joins_the_valid_results_of_the_same_patient(
    kind: Literal["memory", "sqlite"],
) -> None:
    results = [jl(prior(id="R-old", collected_at="2025-02-26T08:00:00+08:00"))]
    results += [raw for raw, _, _ in BAD_RESULTS] + [jl(prior(id="R-new"))]
    errors, records = run_joined([jl(case())], results, kind, invalid="skip")
    assert [e["line"] for e in errors] == list(range(2, 2 + len(BAD_RESULTS)))
    item = records[0]["items"][0]
    assert item["status"] == "waive" and item["result_id"] == "R-new"
    assert records[0]["items"] == evaluate_line(
        ENGINE, 1, jl(case(prior(id="R-old", collected_at="2025-02-26T08:00:00+08:00"),
                          prior(id="R-new")))
    )["items"]  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
def test_refuse_makes_the_patients_orders_errors_like_self_contained(
    kind: Literal["memory", "sqlite"],
) -> None:
    bad = prior(id="R-bad", collected_at="2025-02-27")
    results = [jl(prior(id="R-1")), jl(bad), jl(prior(id="R-2", patient_id="P-2"))]
    orders = [jl(case()), jl(case(order_id="O-2", patient__id="P-2"))]
    errors, records = run_joined(orders, results, kind)
    assert [(e["line"], e["error"]["path"]) for e in errors] == [(2, "collected_at")]
    assert records[0] == evaluate_line(ENGINE, 1, jl(case(prior(id="R-1"), bad)))
    assert records[0]["error"]["path"] == "prior_results[1].collected_at"
    assert records[0]["order_id"] == "O-1"
    assert records[1]["items"][0]["status"] == "waive"  # another patient is not affected


def test_naive_results_timestamps_need_the_rule_set_zone() -> None:
    naive = jl(prior(collected_at="2025-02-27T08:00:00", reported_at=None))
    errors: list[dict[str, Any]] = []
    ResultIndex.build([(1, naive)], timezone=None, on_error=errors.append).close()
    assert errors[0]["error"]["path"] == "collected_at"
    with ResultIndex.build([(1, naive)], timezone=TZ, on_error=no_errors) as idx:
        assert idx.rows == 1 and idx.errors == 0


@pytest.mark.parametrize("kind", KINDS)
def test_results_without_orders_are_ignored_and_orders_without_results_decide(
    kind: Literal["memory", "sqlite"],
) -> None:
    results = [jl(prior(id="R-9", patient_id="P-nobody-ordered"))]
    errors, records = run_joined([jl(case())], results, kind)
    assert errors == []
    assert records == [evaluate_line(ENGINE, 1, jl(case()))]
    assert records[0]["items"][0]["status"] == "retest"
    assert {r["code"] for r in records[0]["items"][0]["reasons"]} == {"no_prior"}


def test_two_orders_of_one_patient_both_get_the_results() -> None:
    orders = [jl(case()), jl(case(order_id="O-2"))]
    _, records = run_joined(orders, [jl(prior())])
    assert [r["items"][0]["status"] for r in records] == ["waive", "waive"]


def test_a_duplicated_results_line_refuses_the_order() -> None:
    # The same result id twice for one patient is a data-integrity fault, as in a case.
    _, records = run_joined([jl(case())], [jl(prior()), jl(prior())])
    assert records[0]["error"]["path"] == "prior_results[1].id"


BAD_ORDERS: list[bytes] = [
    b'{"order_id": "O-9", ',
    b"\xff\xfe not utf-8\n",
    b"\n",
    b"[1, 2]\n",
    b'"P-1"\n',
    jl({k: v for k, v in case().items() if k != "patient"}),
    jl(case(patient__id=17)),
    jl(case(patient="P-1")),
    jl(case(prior_results=None)),
    jl(case(prior_results={"id": "R-1"})),
]


@pytest.mark.parametrize("kind", KINDS)
def test_broken_orders_pass_through_unchanged(kind: Literal["memory", "sqlite"]) -> None:
    orders = numbered(BAD_ORDERS)
    with ResultIndex.build([(1, jl(prior()))], timezone=TZ, on_error=no_errors, index=kind) as i:
        joined = list(joined_lines(orders, i))
    assert joined == orders
    records = evaluate(joined)
    assert records == evaluate(orders)
    assert all("error" in r for r in records)
    assert [r["line"] for r in records] == list(range(1, len(BAD_ORDERS) + 1))


def test_an_order_too_deep_for_orjson_is_still_joined() -> None:
    # orjson writes at most 254 levels but reads 1024; the stdlib takes over in between.
    deep = b'{"a":' * 254 + b"1" + b"}" * 254
    order = orjson.dumps(case(prior(id="R-own")))[:-1] + b',"ext":' + deep + b"}"
    with pytest.raises(orjson.JSONEncodeError):
        orjson.dumps(orjson.loads(order))
    fresher = prior(id="R-joined", collected_at="2025-02-28T08:00:00+08:00", reported_at=None)
    _, records = run_joined([order], [jl(fresher)])
    assert records[0]["error"]["path"] == "ext"  # joined, then refused: ext is too deep
    with ResultIndex.build([(1, jl(fresher))], timezone=TZ, on_error=no_errors) as idx:
        [(_, joined)] = joined_lines([(1, order)], idx)
    assert [p["id"] for p in orjson.loads(joined)["prior_results"]] == ["R-own", "R-joined"]


def test_gzip_results_from_path(tmp_path: Path) -> None:
    orders, results = split(CASES)
    path = tmp_path / "results.jsonl.gz"
    path.write_bytes(gzip.compress(b"".join(results)))
    with ResultIndex.from_path(str(path), timezone=TZ, on_error=no_errors) as idx:
        assert idx.kind == "sqlite"  # a compressed file has no useful size: never "memory"
        assert idx.rows == len(results)
        assert evaluate(joined_lines(numbered(orders), idx)) == REFERENCE


def test_auto_chooses_by_size(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_bytes(jl(prior()))
    with ResultIndex.from_path(str(path), timezone=TZ, on_error=no_errors) as idx:
        assert idx.kind == "memory" and idx.directory is None
    kw: dict[str, Any] = {"timezone": TZ, "on_error": no_errors, "tmp_dir": tmp_path / "t"}
    (tmp_path / "t").mkdir()
    with ResultIndex.from_path(str(path), memory_limit=10, **kw) as idx:
        assert idx.kind == "sqlite"
    with ResultIndex.from_path(str(path), index="sqlite", **kw) as idx:
        assert idx.kind == "sqlite"


def _sqlite(tmp_path: Path, on_error: Any) -> ResultIndex:
    lines = [(1, jl(prior())), (2, b"oops")]
    return ResultIndex.build(
        lines, timezone=TZ, on_error=on_error, index="sqlite", tmp_dir=tmp_path
    )


def test_temporary_directory_removed_on_close(tmp_path: Path) -> None:
    idx = _sqlite(tmp_path, on_error=lambda r: None)
    assert idx.directory is not None and idx.directory.parent == tmp_path
    assert (idx.directory / "results.sqlite").exists()
    idx.close()
    idx.close()  # idempotent
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="closed"):
        idx.results("P-1")


def test_temporary_directory_removed_after_an_exception(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), _sqlite(tmp_path, on_error=lambda r: None) as idx:
        assert idx.results("P-1")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_temporary_directory_removed_when_building_fails(tmp_path: Path) -> None:
    def explode(record: dict[str, Any]) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        _sqlite(tmp_path, on_error=explode)
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_is_an_os_error_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = sqlite3.connect

    def tiny(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        db: sqlite3.Connection = real(*args, **kwargs)
        db.execute("PRAGMA max_page_count = 4")  # "database or disk is full" soon
        return db

    monkeypatch.setattr(sqlite3, "connect", tiny)
    lines = numbered(jl(prior(id=f"R-{i}")) for i in range(20_000))
    with pytest.raises(OSError, match="full"):
        ResultIndex.build(lines, timezone=TZ, on_error=no_errors, index="sqlite", tmp_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_temporary_directory_removed_when_forgotten(tmp_path: Path) -> None:
    idx = _sqlite(tmp_path, on_error=lambda r: None)
    del idx
    gc.collect()
    assert list(tmp_path.iterdir()) == []


def test_sqlite_lookups_from_several_threads(tmp_path: Path) -> None:
    lines = numbered(jl(prior(id=f"R-{i}", patient_id=f"P-{i % 7}")) for i in range(700))
    idx = ResultIndex.build(lines, timezone=TZ, on_error=no_errors, index="sqlite")
    counts: list[int] = []

    def look() -> None:
        for _ in range(50):
            counts.extend(len(idx.results(f"P-{k}")) for k in range(7))

    with idx:
        threads = [threading.Thread(target=look) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert counts == [100] * (4 * 50 * 7)
