"""The benchmarks run and print their rows (issue 21). Never timed: a figure is not checked,
only that the scripts still work against the code, on a handful of cases."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"


def run(*args: str, cwd: Path) -> str:
    """The script in a session of its own: past the time limit, it and everything it
    started (Dask workers, ``labrecog evaluate`` children) are killed. subprocess.run's
    own timeout kills the script only, then waits for pipes its children still hold."""
    proc = subprocess.Popen([sys.executable, *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    try:
        out, err = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"{args[0]} still running after 240 s\n{err[-3000:]}") from None
    assert proc.returncode == 0, err[-3000:]
    return out


def test_engine_bench_prints_the_rows_against_the_parse_floor(tmp_path: Path) -> None:
    figures = tmp_path / "figures.json"
    out = run(
        str(BENCH / "bench_engine.py"),
        *("--cases", "20", "--repeat", "2", "--legacy", "--json", str(figures)),
        cwd=tmp_path,
    )
    for row in (
        "(p) orjson.loads: the floor",
        "(s) loads_strict",
        "(d) bytes -> Decision (evaluate_json)",
        "(o) bytes -> output line (CLI chunk)",
        "(a) orjson.loads + validate_case",
        "(b) orjson.loads + evaluate(dict)",
        "(c) (b) + model_dump + orjson.dumps",
        "(m) (d) through the models only",
        "(v) loads_strict + fast validation",
        "(r) the Decision's objects alone",
        "with no check run, (v) + (r) is",
        "fast validation path: 20 of 20 cases",
        "ratio bytes -> Decision    / orjson.loads:",
        "ratio bytes -> output line / orjson.loads:",
        "(target <= 3.5:",
        "20 cases decided",
    ):
        assert row in out, out
    data = orjson.loads(figures.read_bytes())
    assert set(data["ratios"]) == {
        *("strict", "api", "cli", "validate", "evaluate", "cli_dict", "models", "fast", "objects")
    }
    assert len(data["timings"]["parse"]["seconds"]) == 2


def test_engine_bench_reads_a_batch_file_with_its_target(tmp_path: Path) -> None:
    lines = gzip.decompress((ROOT / "examples" / "uk-mri.jsonl.gz").read_bytes()).splitlines()
    batch = tmp_path / "twenty.jsonl.gz"
    batch.write_bytes(gzip.compress(b"\n".join(lines[:20]) + b"\n"))
    out = run(
        str(BENCH / "bench_engine.py"),
        *("--cases", str(batch), "--rules", str(ROOT / "rules" / "uk-mri"), "--repeat", "1"),
        cwd=tmp_path,
    )
    assert "20 cases from twenty.jsonl.gz" in out, out
    assert "(target <= 6.0:" in out, out


def test_cli_bench_prints_ratios_jobs_and_memory(tmp_path: Path) -> None:
    out = run(
        str(BENCH / "bench_cli.py"),
        *("--cases", "20", "--memory-small", "10", "--memory-large", "20"),
        cwd=tmp_path,
    )
    for row in (
        "default             20",
        "cn-reference        20",
        "uk-mri              20",
        "us-retest           20",
        "evaluate / parse-only, default:",
        "--jobs 2 speed-up vs --jobs 1:",
        "peak memory, 10 cases, --jobs 1:",
        "peak memory 20 / 10 cases:",
    ):
        assert row in out, out


def test_identity_names_the_first_differing_line(tmp_path: Path) -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import identity
    finally:
        sys.path.remove(str(BENCH))
    old, new = tmp_path / "old", tmp_path / "new"
    old.write_bytes(b'{"a":1}\n{"b":"waive"}\n')
    new.write_bytes(b'{"a":1}\n{"b":"retest"}\n')
    assert identity.sha(old) != identity.sha(new)
    assert identity.first_difference(old, new).startswith("line 2, byte 6:")
    new.write_bytes(b'{"a":1}\n')
    assert identity.first_difference(old, new) == "line 2: old has 2 lines, new 1"


def test_dask_bench_prints_the_four_figures(tmp_path: Path) -> None:
    """Seven LocalClusters on 20 cases: the script, its byte-identity checks against
    --jobs 2 and its table still work (issue 20)."""
    out = run(
        str(BENCH / "bench_dask.py"),
        *("--cases", "20", "--memory-small", "10", "--repeat", "1"),
        cwd=tmp_path,
    )
    for row in (
        "(j)  --jobs 2",
        "(c2) --dask local --workers 2",
        "(d2) dask local, 2 workers",
        "1. throughput, --dask local --workers 2 / --jobs 2:",
        "2. peak memory per worker",
        "3. dask overhead per partition:",
        "4. scaling 1 -> 2 workers:",
        '"shipped_rules_bytes"',
    ):
        assert row in out, out
