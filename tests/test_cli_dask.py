"""``labrecog evaluate INPUTS... --dask local`` (labrecog/cli/_dask.py): the options, the
folder, the exit codes. The runs themselves are tested in tests/test_dask_run.py; here a
few start a LocalCluster of 2 workers through the command, as an operator would."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result

from labrecog.batch.parquet import decision_records
from labrecog.cli import main
from tests._dask_faults import drain

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "cases.jsonl"
CN = ROOT / "examples" / "cn-reference.jsonl.gz"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["evaluate", *args], catch_exceptions=False)


def no_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    """Starting a cluster fails the test: the command must refuse before it."""
    import labrecog.dask

    def refuse(*args: object) -> None:
        raise AssertionError("a cluster was started for a command that is refused")

    monkeypatch.setattr(labrecog.dask, "open_client", refuse)


def one_process(*args: str) -> bytes:
    return run(*args, "-q").stdout_bytes


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["a", "b"], "several CASES files need --dask"),
        (["--dask", "local", "C"], "give -o OUT_DIR/"),
        (["--dask", "local", "-o", "o", "--jobs", "2", "a"], "--jobs is not for --dask"),
        (["--dask", "local", "-o", "o", "nothing-*.jsonl"], "matches no file"),
        (["--dask", "local", "-o", "o", "-"], "workers cannot read stdin"),
        (["--dask", "tcp://h:1", "--workers", "2", "-o", "o", "C"], "--workers sizes"),
        (["--workers", "2", "C"], "--workers and --resume are for --dask"),
        (["--dask", "local", "-o", "o", "C", "C"], "is given twice"),
        (["--dask", "local", "-o", "o", "--format", "fhir", "C"], "not fhir"),
    ],
)
def test_usage_errors_exit_2_before_any_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    no_cluster(monkeypatch)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "C").write_bytes(DEMO.read_bytes())
    result = run(*args, "--rules", str(ROOT / "rules/demo"))
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_a_folder_in_use_is_refused_before_the_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_cluster(monkeypatch)
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("x")
    result = run(str(DEMO), "--dask", "local", "--rules", str(ROOT / "rules/demo"), "-o",
                 str(out))  # fmt: skip
    assert result.exit_code == 2
    assert "is not empty; give --resume" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]


def test_globbed_inputs_on_a_local_cluster(tmp_path: Path) -> None:
    """Exit 1 (the demo batch holds bad lines on purpose), parts equal to one process."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_bytes(DEMO.read_bytes())
    (tmp_path / "in" / "b.jsonl.gz").write_bytes(gzip.compress(DEMO.read_bytes()))
    out = tmp_path / "out"
    rules = str(ROOT / "rules/demo")
    result = run(str(tmp_path / "in" / "*.jsonl*"), "--dask", "local", "--workers", "2",
                 "--rules", rules, "-o", str(out), "--block-mb", "1")  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "parts 2  lines 54  records 54" in result.output
    manifest = orjson.loads((out / "_manifest.json").read_bytes())
    joined = b"".join((out / n).read_bytes() for f in manifest["inputs"] for n in f["parts"])
    assert joined == one_process(str(DEMO), "--rules", rules) * 2
    again = run(str(tmp_path / "in" / "*.jsonl*"), "--dask", "local", "--workers", "2",
                "--rules", rules, "-o", str(out), "--block-mb", "1", "--resume")  # fmt: skip
    assert again.exit_code == 1 and "2 already done" in again.output


def test_parquet_parts_and_joined_mode_through_the_command(tmp_path: Path) -> None:
    rules = str(ROOT / "rules/cn-reference")
    with gzip.open(CN, "rb") as raw:
        cases = [orjson.loads(next(raw)) for _ in range(60)]
    orders = tmp_path / "orders.jsonl"
    orders.write_bytes(b"".join(
        orjson.dumps({k: v for k, v in c.items() if k != "prior_results"}) + b"\n" for c in cases
    ))  # fmt: skip
    results = tmp_path / "results.jsonl"
    results.write_bytes(b"".join(
        orjson.dumps(p) + b"\n" for c in cases for p in c.get("prior_results", [])
    ))  # fmt: skip
    out = tmp_path / "out"
    result = run("--orders", str(orders), "--results", str(results), "--dask", "local",
                 "--workers", "2", "--rules", rules, "-o", str(out), "--format", "parquet",
                 "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    manifest = orjson.loads((out / "_manifest.json").read_bytes())
    got = [r for name in manifest["parts"] for _, r in decision_records(str(out / name))]
    alone = one_process("--orders", str(orders), "--results", str(results), "--rules", rules)
    single = [orjson.loads(line) for line in alone.splitlines()]
    key = orjson.dumps
    assert sorted(map(key, got)) == sorted(map(key, single)) and len(got) == 60


_WITHOUT_DASK = """
import sys
sys.modules["dask"] = None
sys.modules["distributed"] = None
from labrecog.cli import main
sys.argv = ["labrecog", *sys.argv[1:]]
main()
"""


def test_without_dask_the_command_says_what_to_install(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _WITHOUT_DASK,
            "evaluate",
            str(DEMO),
            "--dask",
            "local",
            "--rules",
            str(ROOT / "rules/demo"),
            "-o",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "pip install 'labrecog[dask]'" in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_cluster_without_workers_exits_3_naming_ten_partitions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cluster loses every worker (as when its nannies give up): the command ends
    after the no-workers timeout instead of waiting for ever, exit 3, no manifest, and
    names ten failed partitions, not each of hundreds."""
    import dask

    import labrecog.dask

    real = labrecog.dask.evaluate_files

    def without_workers(client: Any, *args: Any, **kwargs: Any) -> Any:
        drain(client)
        return real(client, *args, **kwargs)

    monkeypatch.setattr(labrecog.dask, "evaluate_files", without_workers)
    with gzip.open(CN, "rb") as raw:
        for i in range(12):  # a partition each
            (tmp_path / f"cn-{i:02}.jsonl").write_bytes(b"".join(next(raw) for _ in range(3)))
    out = tmp_path / "out"
    with dask.config.set({"distributed.scheduler.no-workers-timeout": "1s"}):
        result = run(str(tmp_path / "cn-*.jsonl"), "--rules", str(ROOT / "rules/cn-reference"),
                     "--dask", "local", "--workers", "1", "-o", str(out))  # fmt: skip
    assert result.exit_code == 3, result.output
    named = [line for line in result.stderr.splitlines() if "partition failed:" in line]
    assert len(named) == 10 and all("NoWorkerError" in line for line in named)
    assert "… and 2 more partitions failed" in result.stderr
    assert "no manifest written" in result.stderr
    assert not (out / "_manifest.json").exists()
