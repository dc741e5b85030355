"""Fault injection for batch processes: killed parents, killed workers, edited rules, TMPDIR.

Each test really kills processes or edits files under a running batch, and waits by
polling with generous deadlines, never by sleeping a fixed time.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from labrecog._errors import RulesetError
from labrecog.batch import runner
from labrecog.batch._scratch import PREFIX, STALE_SECONDS, sweep
from labrecog.batch.join import ResultIndex
from labrecog.batch.runner import Chunk, run_lines
from labrecog.compile import compile_rules
from labrecog.engine import Engine
from labrecog.load import load_ruleset
from tests.builders import DEMO, ROOT, case, prior

LINUX = sys.platform.startswith("linux")
needs_proc = pytest.mark.skipif(not LINUX, reason="finds worker processes through /proc")
ENGINE = Engine.from_path(DEMO)


def cases(n: int) -> list[tuple[int, bytes]]:
    """n numbered case lines whose decisions differ, so a lost or moved line would show."""
    out = []
    for i in range(n):
        at = f"2025-02-{28 - (1 + i % 12):02d}T08:00:00+08:00"
        data = case(prior(id=f"R-{i}", collected_at=at, value=4.0 + (i % 7) * 0.3),
                    order_id=f"O-{i}", tests=["GLU", "K"] if i % 3 else ["GLU"])  # fmt: skip
        out.append((i + 1, orjson.dumps(data) + b"\n"))
    return out


def payload(chunks: Iterator[Chunk] | list[Chunk]) -> bytes:
    return b"".join(chunk.payload for chunk in chunks)


def run(lines: list[tuple[int, bytes]], jobs: int, **kw: Any) -> Iterator[Chunk]:
    kw.setdefault("engine", ENGINE)
    kw.setdefault("rules", str(DEMO))
    return run_lines(lines, lang=None, fmt="jsonl", jobs=jobs, **kw)


def wait_until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):  # the task ended meanwhile
            found.update(int(x) for x in (task / "children").read_text().split())
    return found


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "labrecog.cli", "evaluate", *args, "--rules", str(DEMO), "-q"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


@needs_proc
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_workers_exit_when_the_parent_dies(tmp_path: Path, sig: signal.Signals) -> None:
    src = tmp_path / "big.jsonl"
    src.write_bytes(b"".join(raw for _, raw in cases(300)) * 40)
    proc = cli(str(src), "--jobs", "2", "-o", str(tmp_path / "out.jsonl"))
    try:
        wait_until(lambda: len(children(proc.pid)) >= 2, "two workers")
        workers = children(proc.pid)
    finally:
        proc.send_signal(sig)
        proc.wait(timeout=30)
    wait_until(lambda: not any(running(w) for w in workers), "the workers to exit", 20)


def test_workers_use_the_rules_the_parent_loaded(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(DEMO, rules)
    loaded = load_ruleset(rules)
    engine = Engine(compile_rules(loaded))
    lines = cases(600)
    expected = payload(run(lines, 1, engine=engine, rules=str(rules)))
    catalogue = rules / "catalogue.yaml"
    edited = catalogue.read_text().replace("max_age: {value: 7d", "max_age: {value: 2d", 1)
    catalogue.write_text(edited)
    assert payload(run(lines, 1, engine=Engine.from_path(rules))) != expected  # it matters
    got = payload(run(lines, 2, engine=engine, rules=str(rules), loaded=loaded))
    assert got == expected
    assert engine.rules.digest.encode() in got.splitlines()[0]
    # Without the parent's snapshot, a folder changed since loading is refused, never mixed.
    with pytest.raises(RulesetError, match="changed on disk"):
        list(run(lines, 2, engine=engine, rules=str(rules)))


def test_a_killed_worker_is_replaced_and_its_lines_are_retried() -> None:
    lines = cases(20 * runner.CHUNK_LINES)
    expected = payload(run(lines, 1))
    chunks = run(lines, 2)
    first = next(chunks)  # the pool is running, most of the input not yet read
    workers = multiprocessing.active_children()
    assert workers
    os.kill(workers[0].pid or 0, signal.SIGKILL)
    rest = list(chunks)
    assert payload([first, *rest]) == expected
    assert sum(c.summary.lost for c in rest) == 0


def test_a_worker_answers_in_one_small_message_its_records_in_a_spool_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker killed while sending a chunk's records (hundreds of kilobytes) through the
    result pipe left ProcessPoolExecutor reading the rest for ever: the test above hung
    about once in six. The answer is now a file name and counts, sent in one write."""
    import pickle

    lines = cases(runner.CHUNK_LINES)
    inline = runner._evaluate(ENGINE, "jsonl", lines)
    assert len(inline.payload) > 65536  # more than a pipe holds: sent in several writes
    monkeypatch.setattr(runner, "_worker_engine", ENGINE)  # as _init_worker sets them
    monkeypatch.setattr(runner, "_worker_spool", str(tmp_path))
    answer = runner._work(lines)
    assert len(pickle.dumps(answer)) < 4096  # PIPE_BUF: one atomic write
    assert answer.payload == b"" and answer.spooled is not None
    assert runner._unspool(answer).payload == inline.payload
    assert not list(tmp_path.iterdir())  # read back once, then removed
    # no room for the spool (here: no folder): the records go through the pipe as before
    monkeypatch.setattr(runner, "_worker_spool", str(tmp_path / "gone"))
    assert runner._work(lines).payload == inline.payload


def test_a_jobs_run_leaves_no_spool_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    lines = cases(3 * runner.CHUNK_LINES)
    assert payload(run(lines, 2)) == payload(run(lines, 1))
    assert not list(tmp_path.iterdir())


_REAL_WORK = runner._work
_DEADLY_LINE = 1000


def _dies_on_a_line(batch: list[tuple[int, bytes]]) -> Chunk:
    """Stands in for runner._work in forked workers: dies on one line, every time."""
    if any(line_no == _DEADLY_LINE for line_no, _ in batch):
        os._exit(1)
    return _REAL_WORK(batch)


@pytest.mark.skipif(
    multiprocessing.get_start_method() != "fork", reason="patches the forked workers' code"
)
def test_a_chunk_whose_worker_dies_twice_becomes_internal_error_records(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lines = cases(8 * runner.CHUNK_LINES)
    expected = [orjson.loads(x) for x in payload(run(lines, 1)).splitlines()]
    monkeypatch.setattr(runner, "_work", _dies_on_a_line)
    chunks = list(run(lines, 2))
    got = [orjson.loads(x) for x in payload(chunks).splitlines()]
    assert len(got) == len(lines) == sum(c.lines for c in chunks)
    assert [r.get("line", i + 1) for i, r in enumerate(got)] == list(range(1, len(lines) + 1))
    size = runner.CHUNK_LINES
    start = (_DEADLY_LINE - 1) // size * size  # the deadly line's chunk, 0-based
    lost = got[start : start + size]
    assert all(r["error"]["code"] == "internal_error" for r in lost)
    assert all("\n" not in r["error"]["message"] and r["order_id"] is None for r in lost)
    assert got[:start] + got[start + size :] == expected[:start] + expected[start + size :]
    assert sum(c.summary.lost for c in chunks) == size
    assert sum(c.summary.errors for c in chunks) == size


def _joined_inputs(tmp_path: Path) -> tuple[Path, Path]:
    orders = tmp_path / "orders.jsonl"
    results = tmp_path / "results.jsonl"
    order = case()
    order.pop("prior_results", None)
    orders.write_bytes(b"".join(orjson.dumps({**order, "order_id": f"O-{i}"}) + b"\n"
                                for i in range(20_000)))  # fmt: skip
    results.write_bytes(b"".join(orjson.dumps(prior(id=f"R-{i}")) + b"\n" for i in range(20)))
    return orders, results


@needs_proc
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_joined_run_leaves_no_scratch_folder(tmp_path: Path, sig: signal.Signals) -> None:
    orders, results = _joined_inputs(tmp_path)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp)}
    args = ["--orders", str(orders), "--results", str(results), "--index", "sqlite"]
    proc = cli(*args, "-o", str(tmp_path / "out.jsonl"), env=env)
    try:
        wait_until(lambda: any(tmp.glob(PREFIX + "*")), "the scratch folder")
    finally:
        proc.send_signal(sig)
        proc.wait(timeout=30)
    left = list(tmp.glob(PREFIX + "*"))
    if sig == signal.SIGTERM:
        assert left == []
        return
    # kill -9 leaves it; the next run sweeps it once it has been idle long enough.
    assert [p.name.split("-")[2] for p in left] == [str(proc.pid)]
    ResultIndex.build([], timezone=None, on_error=print, index="sqlite", tmp_dir=tmp).close()
    assert list(tmp.glob(PREFIX + "*")) == left  # fresh: perhaps another namespace's
    old = time.time() - STALE_SECONDS - 60
    for path in [left[0], *left[0].iterdir()]:
        os.utime(path, (old, old))
    ResultIndex.build([], timezone=None, on_error=print, index="sqlite", tmp_dir=tmp).close()
    assert list(tmp.glob(PREFIX + "*")) == []


def test_sweep_keeps_live_and_unknown_folders(tmp_path: Path) -> None:
    mine = tmp_path / f"{PREFIX}{os.getppid()}-abc"  # a live process
    legacy = tmp_path / f"{PREFIX}xyz"  # no pid: whose it is is unknown
    for path in (mine, legacy):
        path.mkdir()
    assert sweep(tmp_path, now=time.time() + 10 * STALE_SECONDS) == []
