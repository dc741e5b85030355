"""Batch evaluation on a LocalCluster of 2 worker processes (labrecog/dask/_run.py).

One cluster for the module (starting one takes about a second). Every run is compared
with what ``labrecog evaluate`` writes for the same input in one process: the parts, read
in order, must be those bytes, and the manifest must count every line.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import dask
import orjson
import pytest

from labrecog._errors import InputError
from labrecog.batch.io import numbered_lines, open_input
from labrecog.batch.records import evaluate_line
from labrecog.batch.runner import run_lines
from labrecog.compile import compile_rules
from labrecog.dask import (
    MANIFEST,
    FolderError,
    PartOptions,
    evaluate_bag,
    evaluate_files,
    open_client,
    plan_parts,
)
from labrecog.engine import Engine
from labrecog.load import load_ruleset
from tests import _dask_faults
from tests._dask_faults import Fail, KillOnce, drain

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "cases.jsonl"
CN = ROOT / "examples" / "cn-reference.jsonl.gz"
BLOCK = 8 * 1024  # small blocks: many partitions from small inputs

cloudpickle.register_pickle_by_value(_dask_faults)


@pytest.fixture(scope="module")
def shared() -> Iterator[Any]:
    logging.getLogger("distributed").setLevel(logging.CRITICAL)
    with open_client("local", 2) as made:
        yield made


@pytest.fixture
def client(shared: Any) -> Any:
    """The module's cluster with both workers back: a test that killed one leaves its
    nanny restarting it."""
    shared.wait_for_workers(2, timeout=60)
    return shared


def single_process(path: Path, rules: str) -> bytes:
    """What ``labrecog evaluate PATH --rules RULES`` writes (jsonl, one process)."""
    loaded = load_ruleset(rules)
    engine = Engine(compile_rules(loaded))
    with open_input(str(path)) as stream:
        chunks = run_lines(numbered_lines(stream), engine=engine, rules=rules, lang=None,
                           fmt="jsonl", jobs=1, loaded=loaded)  # fmt: skip
        return b"".join(c.payload for c in chunks)


def parts_in_order(out: Path) -> bytes:
    manifest = orjson.loads((out / MANIFEST).read_bytes())
    return b"".join((out / name).read_bytes() for f in manifest["inputs"] for name in f["parts"])


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The cn-reference batch's first 400 cases, plain and gzip-compressed."""
    folder = tmp_path_factory.mktemp("inputs")
    with gzip.open(CN, "rb") as raw:
        lines = [next(raw) for _ in range(400)]
    plain = folder / "cn.jsonl"
    plain.write_bytes(b"".join(lines[:250]))
    zipped = folder / "cn-more.jsonl.gz"
    zipped.write_bytes(gzip.compress(b"".join(lines[250:])))
    return {"plain": plain, "gzip": zipped}


def run(client: Any, out: Path, paths: list[Path], rules: str = "rules/cn-reference",
        **kw: Any) -> Any:  # fmt: skip
    hook = kw.pop("hook", None)
    options = PartOptions(str(out), hook=hook)
    loaded = load_ruleset(str(ROOT / rules))
    return evaluate_files(client, [str(p) for p in paths], loaded, options, block_bytes=BLOCK,
                          **kw)  # fmt: skip


def test_parts_in_order_are_the_one_process_output(
    client: Any, inputs: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = run(client, out, [inputs["plain"], inputs["gzip"], DEMO], rules="rules/cn-reference")
    expected = b"".join(
        single_process(p, str(ROOT / "rules/cn-reference"))
        for p in (inputs["plain"], inputs["gzip"], DEMO)
    )
    assert parts_in_order(out) == expected
    manifest = result.manifest
    assert manifest["complete"] is True
    assert [(f["lines"], f["records"]) for f in manifest["inputs"]] == [
        (250, 250), (150, 150), (27, 27)
    ]  # fmt: skip
    assert manifest["lines"] == manifest["records"] == 427
    assert manifest["errors"] == expected.count(b'"error":') > 0  # demo lines are not cn cases
    assert manifest["partitions"] > 10  # the plain file was cut into many blocks
    assert manifest["dask"]["workers"] == 2
    assert manifest["dask"]["shipped_rules_bytes"] > 0
    assert 1 <= manifest["dask"]["engine_compiles"] <= 2  # once per worker process
    assert result.summary.cases == 427
    assert not list(out.glob(".*.tmp"))


def test_a_folder_in_use_is_refused_unless_resumed(
    client: Any, inputs: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FolderError, match="not empty; give --resume"):
        run(client, out, [inputs["plain"]])
    with pytest.raises(FolderError, match="not a labrecog run"):
        run(client, out, [inputs["plain"]], resume=True)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_resume_redoes_only_missing_parts_and_refuses_another_run(
    client: Any, inputs: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run(client, out, [inputs["plain"]])
    clean = parts_in_order(out)
    # an interrupted run: no manifest, one part never renamed, one part's bytes damaged
    (out / MANIFEST).unlink()
    (out / "part-00000-00002.jsonl").unlink()
    (out / "part-00000-00004.jsonl").write_bytes(b"truncated")
    result = run(client, out, [inputs["plain"]], resume=True)
    parts = result.manifest["partitions"]
    assert result.skipped == parts - 2
    assert parts_in_order(out) == clean
    again = run(client, out, [inputs["plain"]], resume=True)  # finished: nothing to do
    assert again.skipped == parts and again.manifest == result.manifest
    (out / "part-00000-00001.jsonl").write_bytes(b"edited after the run")
    mended = run(client, out, [inputs["plain"]], resume=True)  # a finished run checked too
    assert mended.skipped == parts - 1 and parts_in_order(out) == clean
    with pytest.raises(FolderError, match=r"holds another run .*rules"):
        run(client, out, [inputs["plain"]], rules="rules/demo", resume=True)


def test_resume_redoes_a_part_done_for_another_byte_range(
    client: Any, inputs: dict[str, Path], tmp_path: Path
) -> None:
    """A part's name says which block, not which bytes: a run left by a version that cut
    the file otherwise (same name, same digest), or stats naming another file, must not
    pass as this run's part."""
    out = tmp_path / "out"
    run(client, out, [inputs["plain"]])
    clean = parts_in_order(out)
    (out / MANIFEST).unlink()
    done = out / ".part-00000-00003.done"
    stats = orjson.loads(done.read_bytes())
    stats["range"] = [stats["range"][0], stats["range"][1] + 1]  # another cut, same name
    done.write_bytes(orjson.dumps(stats))
    old = out / ".part-00000-00005.done"  # stats without a range: an older labrecog's
    old.write_bytes(orjson.dumps({k: v for k, v in orjson.loads(old.read_bytes()).items()
                                  if k != "range"}))  # fmt: skip
    # stats naming another part's file, with that file's digest: not this part's bytes
    other = orjson.loads((out / ".part-00000-00008.done").read_bytes())
    moved = out / ".part-00000-00007.done"
    stats = orjson.loads(moved.read_bytes())
    moved.write_bytes(orjson.dumps({**stats, "file": other["file"], "sha256": other["sha256"]}))
    result = run(client, out, [inputs["plain"]], resume=True)
    assert result.skipped == result.manifest["partitions"] - 3
    assert parts_in_order(out) == clean


@pytest.mark.parametrize("stage", ["start", "written"])
def test_a_killed_worker_changes_nothing(
    client: Any, inputs: dict[str, Path], tmp_path: Path, stage: str
) -> None:
    clean_out = tmp_path / "clean"
    run(client, clean_out, [inputs["plain"]])
    markers = tmp_path / "markers"
    markers.mkdir()
    out = tmp_path / "killed"
    result = run(client, out, [inputs["plain"]], hook=KillOnce(str(markers), stage, block=3))
    assert (markers / f"part-00000-00003-{stage}").exists()  # the worker was killed
    assert parts_in_order(out) == parts_in_order(clean_out)
    killed = {k: v for k, v in result.manifest.items() if k != "dask"}
    clean = {k: v for k, v in orjson.loads((clean_out / MANIFEST).read_bytes()).items()
             if k != "dask"}  # fmt: skip
    assert killed == clean
    assert not list(out.glob(".*.tmp"))  # the killed writer's temporary file is gone


def test_a_part_that_kills_every_worker_leaves_the_run_unfinished(
    inputs: dict[str, Path], tmp_path: Path
) -> None:
    """On a cluster of its own: the scheduler reads allowed-failures when it starts (set
    on the shared one, it had no effect: that cluster's workers were killed four times a
    run). Another part queued on the killed worker may fail with it: Dask counts every
    task the worker held, so the poison part is looked for among the failures."""
    markers = tmp_path / "markers"
    markers.mkdir()
    out = tmp_path / "out"
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        open_client("local", 2) as own,
    ):
        assert own.cluster.scheduler.allowed_failures == 0
        result = run(own, out, [inputs["plain"]],
                     hook=KillOnce(str(markers), "start", block=1, always=True))  # fmt: skip
    assert any(f.startswith("part-00000-00001: KilledWorker") for f in result.failures)
    assert not (out / MANIFEST).exists()
    assert (out / "part-00000-00000.jsonl").exists()  # the others were kept for --resume
    assert result.summary.cases < 250


def _tasks_on(dask_scheduler: Any = None) -> int:
    return len(dask_scheduler.tasks)


def test_a_run_leaves_no_task_on_the_scheduler(client: Any, inputs: dict[str, Path],
                                               tmp_path: Path) -> None:  # fmt: skip
    """A finished run, and one with a failed part, release every key at once: an erred
    run's tasks stayed, and with them in the task groups the next run's parts were no
    longer queued as root tasks but all handed to the workers up front (so a worker
    killed took dozens of innocent parts with it)."""
    run(client, tmp_path / "clean", [inputs["plain"]])
    assert client.run_on_scheduler(_tasks_on) == 0
    hook = Fail("start", block=2)  # a bug in one part: raised, its worker alive
    failed = run(client, tmp_path / "failed", [inputs["plain"]], hook=hook)
    assert failed.failures and "part-00000-00002" in failed.failures[0]
    assert client.run_on_scheduler(_tasks_on) == 0


def test_a_cluster_left_without_workers_ends_the_run_instead_of_waiting(
    inputs: dict[str, Path], tmp_path: Path
) -> None:
    """Repeated kills can leave a LocalCluster with no worker (a nanny whose new worker
    dies while starting gives up); the run waited for ever (CI hung 85 minutes). Its
    partitions now fail after the no-workers timeout: no manifest, each one named."""
    out = tmp_path / "out"
    with (
        dask.config.set({"distributed.scheduler.no-workers-timeout": "1s"}),
        open_client("local", 1) as own,
    ):
        assert own.cluster.scheduler.no_workers_timeout == 1  # the user's value is kept
        drain(own)
        result = run(own, out, [inputs["plain"]])
    assert len(result.failures) == len(plan_parts([str(inputs["plain"])], BLOCK))
    assert all("NoWorkerError" in f for f in result.failures)
    assert not (out / MANIFEST).exists()


def test_the_local_cluster_gives_up_after_a_minute_without_workers() -> None:
    with open_client("local", 1) as own:
        assert own.cluster.scheduler.no_workers_timeout == 60


def test_evaluate_bag_gives_the_records_of_evaluate(client: Any) -> None:
    import dask.bag as db

    lines = DEMO.read_bytes().splitlines()
    texts = [line.decode("utf-8", "replace") for line in lines]
    bag = db.from_sequence([*texts, orjson.loads(lines[0]), "not json"], npartitions=3)
    got = evaluate_bag(bag, ROOT / "rules/demo").compute()
    engine = Engine(compile_rules(load_ruleset(str(ROOT / "rules/demo"))))
    for text, record in zip(texts, got, strict=False):
        try:
            expected = engine.evaluate_json(text).model_dump(mode="json")
        except InputError as exc:
            assert record["error"]["code"] == exc.code and record["line"] is None
        else:
            assert record == expected
    assert len(got) == len(texts) + 2
    assert got[-2] == got[0]  # a dict decides as its JSON text
    assert got[-1]["error"]["code"] == "invalid_input" and got[-1]["line"] is None


def test_evaluate_bag_holds_a_dict_to_the_case_size_limit_as_its_text(client: Any) -> None:
    """max_case_pairs refuses a case given as a dict exactly as one given as JSON text."""
    import dask.bag as db

    line = DEMO.read_bytes().splitlines()[0]
    bag = db.from_sequence([line, orjson.loads(line)], npartitions=2)
    as_text, as_dict = evaluate_bag(bag, ROOT / "rules/demo", max_case_pairs=1).compute()
    assert as_text["error"]["message"].startswith("prior_results: case too large")
    assert as_dict == as_text


# --- joined mode: orders and results apart, joined by patient through a shuffle --------


def _split_cn(folder: Path, n: int) -> tuple[Path, Path]:
    """The first ``n`` cn-reference cases as orders without priors and a results file (in
    reverse case order, so a patient's results are far from its orders), plus careless
    lines: an order that is not JSON, a result that is invalid but names its patient, a
    result that names nobody."""
    with gzip.open(CN, "rb") as raw:
        cases = [orjson.loads(next(raw)) for _ in range(n)]
    orders = [orjson.dumps({k: v for k, v in c.items() if k != "prior_results"}) for c in cases]
    orders.insert(5, b"{not json")
    results = [orjson.dumps(p) for c in reversed(cases) for p in c.get("prior_results", [])]
    named = cases[7]["patient"]["id"]
    results.insert(3, orjson.dumps({"patient_id": named, "id": "bad", "value": "x"}))
    results.insert(9, b'{"id": "nobody"}')
    (folder / "orders.jsonl").write_bytes(b"\n".join(orders) + b"\n")
    (folder / "results.jsonl").write_bytes(b"\n".join(results) + b"\n")
    return folder / "orders.jsonl", folder / "results.jsonl"


def test_joined_on_dask_gives_the_records_of_joined_mode(client: Any, tmp_path: Path) -> None:
    from labrecog.batch.join import ResultIndex, joined_lines
    from labrecog.batch.records import evaluate_line
    from labrecog.dask import evaluate_joined

    orders, results = _split_cn(tmp_path, 120)
    loaded = load_ruleset(str(ROOT / "rules/cn-reference"))
    engine = Engine(compile_rules(loaded))
    errors: list[dict[str, Any]] = []
    with open_input(str(results)) as stream, ResultIndex.build(
        numbered_lines(stream), timezone=engine.rules.timezone, on_error=errors.append,
        lang=engine.lang,
    ) as index, open_input(str(orders)) as order_stream:  # fmt: skip
        single = [evaluate_line(engine, n, raw)
                  for n, raw in joined_lines(numbered_lines(order_stream), index)]  # fmt: skip
    out = tmp_path / "out"
    result = evaluate_joined(client, [str(orders)], [str(results)], loaded,
                             PartOptions(str(out)), block_bytes=65536, buckets=5)  # fmt: skip
    assert not result.failures
    manifest = result.manifest
    assert manifest["complete"] is True and manifest["partitions"] > 3
    got = [orjson.loads(line) for name in manifest["parts"]
           for line in (out / name).read_bytes().splitlines()]  # fmt: skip
    key = orjson.dumps
    assert sorted(map(key, got)) == sorted(map(key, single))
    errs = [orjson.loads(line) for f in manifest["inputs"] if f["role"] == "results"
            for name in f["parts"] for line in (out / name).read_bytes().splitlines()]  # fmt: skip
    assert sorted(map(key, errs)) == sorted(map(key, errors)) and len(errs) == 2
    assert [(f["role"], f["lines"], f["records"]) for f in manifest["inputs"]] == [
        ("orders", 121, 121), ("results", results.read_bytes().count(b"\n"), 2)
    ]  # fmt: skip
    # the invalid result named its patient: that patient's order is refused, as in one process
    assert sum("error" in r for r in got) == sum("error" in r for r in single) >= 2


def test_joined_on_a_cluster_without_workers_ends_naming_each_failure(tmp_path: Path) -> None:
    """Joined mode ends too, and words its failures as plain runs do (the error's type
    first: it gave the message alone), no manifest, nothing left on the scheduler."""
    from labrecog.dask import evaluate_joined

    orders, results = _split_cn(tmp_path, 20)
    out = tmp_path / "out"
    with (
        dask.config.set({"distributed.scheduler.no-workers-timeout": "1s"}),
        open_client("local", 1) as own,
    ):
        drain(own)
        result = evaluate_joined(own, [str(orders)], [str(results)],
                                 load_ruleset(str(ROOT / "rules/cn-reference")),
                                 PartOptions(str(out)), buckets=2)  # fmt: skip
        assert own.run_on_scheduler(_tasks_on) == 0
    assert result.failures and all(": NoWorkerError: " in f for f in result.failures)
    assert not (out / MANIFEST).exists()


def test_evaluate_dataframe_gives_the_rows_of_the_parquet_output(client: Any) -> None:
    import dask.dataframe as dd
    import pandas as pd

    from labrecog.batch.parquet import decision_table
    from labrecog.dask import evaluate_dataframe

    texts = DEMO.read_text(encoding="utf-8", errors="replace").splitlines()
    ddf = dd.from_pandas(pd.DataFrame({"case": texts}), npartitions=3)
    got = evaluate_dataframe(ddf, ROOT / "rules/demo").compute()
    engine = Engine(compile_rules(load_ruleset(str(ROOT / "rules/demo"))))
    with open_input(str(DEMO)) as stream:
        records = [(n, evaluate_line(engine, n, raw)) for n, raw in numbered_lines(stream)]
    expected = decision_table(records).to_pandas()
    assert len(got) == len(expected) > len(texts)  # one row per item, one per error
    # the same rows; errors agree on line and code (a line read as text may word it apart)
    cols = ["line", "order_id", "code", "status", "saving", "result_id"]
    assert got[cols].fillna("").values.tolist() == expected[cols].fillna("").values.tolist()
    errors = got[got.status == "error"]
    assert errors["line"].tolist() == expected[expected.status == "error"]["line"].tolist()
