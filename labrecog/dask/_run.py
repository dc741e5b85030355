"""``labrecog evaluate INPUTS... --dask``: many files, partitions on Dask workers, a folder out.

The folder holds one part file per partition, a ``_run.json`` written first (what this run
is: inputs, rule set, options), and a ``_manifest.json`` written last, only when every
partition is done and every input line has its record. A folder without the manifest is
an unfinished run: ``--resume`` finishes it (the parts already done are kept, checked by
their digests), anything else is refused, so a run never mixes with another's parts.
"""

from __future__ import annotations

import os
import pickle
import platform
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

import labrecog
from labrecog.batch.summary import Summary
from labrecog.dask._blocks import DEFAULT_BLOCK_BYTES, Part, count_starts, line_offsets, plan_parts
from labrecog.dask._task import (
    OutFormat,
    PartOptions,
    PartStats,
    _replace_bytes,
    _sha256,
    part_file,
    run_part,
    summary_json,
)
from labrecog.load import LoadedRuleset

__all__ = ["FolderError", "RunResult", "check_folder", "evaluate_files", "open_client"]

#: A worker's statistical profiler samples the running task's stack every 10 ms from
#: another thread, taking the GIL from it: a few per cent of a CPU-bound task. The event
#: loop's health tick (every 20 ms) and the system monitor (every 500 ms) wake the loop's
#: thread too, only for dashboards and warnings. Quieter for the cluster labrecog starts
#: (docs/scale.md says how to set the same on a cluster).
QUIET_WORKERS = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
}

#: A partition that kills its worker again and again can leave a LocalCluster with no
#: worker at all: a nanny whose new worker dies while it starts gives up, and nothing
#: starts another. The run would wait for ever; instead its waiting partitions fail after
#: this long with no worker (``distributed.scheduler.no-workers-timeout``, read by the
#: scheduler when it starts; a value the user set is kept). Nobody adds workers to the
#: cluster labrecog starts, so waiting longer than a worker's restart only hides the fault.
NO_WORKERS_TIMEOUT = "60s"

RUN_FILE = "_run.json"
MANIFEST = "_manifest.json"
MANIFEST_VERSION = 1


class FolderError(ValueError):
    """The output folder cannot take this run: a usage error, found before any work."""


@dataclass
class RunResult:
    manifest: dict[str, Any]
    summary: Summary
    skipped: int = 0  # parts found done by --resume
    failures: list[str] = field(default_factory=list)


@contextmanager
def open_client(address: str, workers: int | None = None) -> Iterator[Any]:
    """``local``: a LocalCluster of worker processes sized to the machine (one thread
    each: deciding holds the GIL) that gives up after :data:`NO_WORKERS_TIMEOUT` with no
    worker; otherwise the scheduler at ``address``."""
    import logging

    import dask
    from distributed import Client, LocalCluster

    if address == "local":
        n = workers or os.cpu_count() or 1
        no_workers = dask.config.get("distributed.scheduler.no-workers-timeout", None)
        with (
            dask.config.set(QUIET_WORKERS),
            dask.config.set(
                {"distributed.scheduler.no-workers-timeout": no_workers or NO_WORKERS_TIMEOUT}
            ),
            LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",  # a free port: two runs side by side never clash
                silence_logs=logging.ERROR,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    with Client(address, timeout="30s") as client:
        yield client


def plan_identity(
    inputs: list[str], rules: LoadedRuleset, options: PartOptions, block_bytes: int
) -> dict[str, Any]:
    """What makes two runs the same run: ``--resume`` continues only an identical one."""
    files = []
    for path in inputs:
        st = os.stat(path)
        files.append({"path": path, "bytes": st.st_size, "mtime_ns": st.st_mtime_ns})
    return {
        "labrecog": labrecog.__version__,
        "inputs": files,
        "rules": {"id": rules.rules.id, "version": rules.rules.version, "digest": rules.digest},
        "format": options.fmt,
        "lang": options.lang,
        "max_case_pairs": options.limits.max_pairs,
        "max_line_bytes": options.max_line_bytes,
        "block_bytes": block_bytes,
    }


def check_folder(out_dir: str | Path, resume: bool) -> bool:
    """Whether the folder holds an earlier run; FolderError if it cannot take this one
    (the CLI asks before it starts a cluster). Messages name it as given (``out/``)."""
    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise FolderError(f"{out_dir} is not a folder")
    if not folder.exists() or not any(folder.iterdir()):
        return False
    if not resume:
        raise FolderError(
            f"{out_dir} is not empty; give --resume to finish the run that wrote it, "
            "or an empty or new folder"
        )
    return True


def prepare_folder(out_dir: Path, identity: dict[str, Any], resume: bool) -> dict[str, Any] | None:
    """Create or check the folder; the finished manifest if ``--resume`` finds one."""
    if not check_folder(out_dir, resume):
        out_dir.mkdir(parents=True, exist_ok=True)
        _replace_bytes(out_dir / RUN_FILE, _dumps(identity))
        return None
    run_file = out_dir / RUN_FILE
    if not run_file.is_file():
        raise FolderError(f"{out_dir} holds no {RUN_FILE}: not a labrecog run to resume")
    before = orjson.loads(run_file.read_bytes())
    if before != identity:
        keys = identity.keys() | before.keys()
        changed = sorted(k for k in keys if before.get(k) != identity.get(k))
        raise FolderError(
            f"{out_dir} holds another run ({', '.join(changed)} differ); --resume continues "
            "only the same inputs, rule set and options"
        )
    manifest = out_dir / MANIFEST
    return orjson.loads(manifest.read_bytes()) if manifest.is_file() else None


def done_parts(out_dir: Path, parts: list[Part], fmt: OutFormat) -> dict[str, PartStats]:
    """Parts an earlier run finished: stats written for the same piece of the input, and
    the part's file, under its own name, with the bytes recorded."""
    found: dict[str, PartStats] = {}
    for part in parts:
        done = out_dir / f".{part.name}.done"
        if not done.is_file():
            continue
        try:
            stats = PartStats.from_json(orjson.loads(done.read_bytes()))
            if stats.piece != (part.start, part.end) or stats.file != part_file(part, fmt):
                continue
            digest, _ = _sha256(out_dir / stats.file)
        except (OSError, ValueError, KeyError):
            continue
        if digest == stats.sha256:
            found[part.name] = stats
    return found


def _rules(rules: LoadedRuleset) -> LoadedRuleset:
    return rules


def evaluate_files(
    client: Any,
    inputs: list[str],
    rules: LoadedRuleset,
    options: PartOptions,
    *,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    resume: bool = False,
) -> RunResult:
    """Evaluate every line of ``inputs`` into ``options.out_dir``; see the module."""
    began = time.perf_counter()
    inputs = [os.path.abspath(p) for p in inputs]  # workers may start elsewhere
    options = replace(options, out_dir=os.path.abspath(options.out_dir))
    out_dir = Path(options.out_dir)
    identity = plan_identity(inputs, rules, options, block_bytes)
    finished = prepare_folder(out_dir, identity, resume)
    parts = plan_parts(inputs, block_bytes)
    ready = done_parts(out_dir, parts, options.fmt) if resume else {}
    if finished is not None:
        if len(ready) == len(parts):
            return RunResult(finished, _summary_of(finished), skipped=len(parts))
        (out_dir / MANIFEST).unlink()  # a part was changed or lost since: finish it again
    token = secrets.token_hex(4)
    # A task whose result is the rule set, not scattered data: if the worker holding it
    # dies, Dask computes it again from the graph (scattered data would be lost for good).
    shipped = client.submit(_rules, rules, key=f"labrecog-rules-{token}")
    futures = _submit(client, parts, ready, shipped, options, token)
    stats = dict(ready)
    failures: list[str] = []
    from distributed import as_completed

    try:
        for future in as_completed(futures):
            name = futures[future]
            try:
                got: PartStats = future.result()
            except Exception as exc:  # a worker died too often, no worker left, or a bug
                failures.append(failure(name, exc))
                continue
            stats[name] = got
    finally:
        # Released at once, done or not (interrupted): an erred run's futures stayed
        # wanted on the scheduler, and its tasks, left in the task groups, stopped the next
        # run's parts being queued as root tasks (they went all to the workers at once).
        with suppress(Exception):  # best effort: never hides the run's own outcome
            client.cancel([shipped, *futures])  # the counts go with the parts needing them
    _clean_temporaries(out_dir)
    summary = Summary.of(got.summary for got in stats.values())
    if failures:
        return RunResult({}, summary, len(ready), failures)
    manifest = _manifest(inputs, parts, stats, identity, rules, client, began, summary)
    _replace_bytes(out_dir / MANIFEST, _dumps(manifest))
    return RunResult(manifest, summary, len(ready))


def failure(name: str, exc: BaseException) -> str:
    """A failed partition as the command names it."""
    return f"{name}: {type(exc).__name__}: {exc}"


def _submit(
    client: Any,
    parts: list[Part],
    ready: dict[str, PartStats],
    shipped: Any,
    options: PartOptions,
    token: str,
) -> dict[Any, str]:
    """A line count per block of the plain files, one task for their running sums, then
    one task per part left.

    Every part depends on the same two tasks (the sums, the rule set): Dask then treats
    the parts as root tasks and hands them to workers as they free up, in priority order,
    which is about input order. The run ends on the last file's small tapered parts, not with
    one worker idle while another finishes the block it was given at the start. Keys
    carry the run's ``token``: a part of this run is never confused with one of an
    earlier run still known to a shared scheduler."""
    first = len(parts) + 1
    counts: dict[int, list[Any]] = {}
    for part in parts:
        if part.kind == "jsonl":  # the others number their own lines
            done = ready.get(part.name)
            count = done.lines if done else client.submit(
                count_starts, part, pure=False, priority=first
            )  # fmt: skip
            counts.setdefault(part.source, []).append(count)
    offsets = client.submit(line_offsets, counts, pure=False, priority=first)
    futures: dict[Any, str] = {}
    for i, part in enumerate(parts, 1):
        if part.name in ready:
            continue
        key = f"labrecog-{part.name}-{token}"
        future = client.submit(run_part, part, offsets, shipped, options, key=key,
                               priority=first - i)  # fmt: skip
        futures[future] = part.name
    return futures


def _clean_temporaries(out_dir: Path) -> None:
    """Temporary files of parts whose worker was killed while writing them."""
    for path in out_dir.glob(".*.tmp"):
        path.unlink(missing_ok=True)


def _manifest(
    inputs: list[str],
    parts: list[Part],
    stats: dict[str, PartStats],
    identity: dict[str, Any],
    rules: LoadedRuleset,
    client: Any,
    began: float,
    total: Summary,
) -> dict[str, Any]:
    files: list[dict[str, Any]] = []
    for source, path in enumerate(inputs):
        own = [stats[p.name] for p in parts if p.source == source]
        summary = Summary.of(got.summary for got in own)
        files.append(
            {
                "path": path,
                "lines": sum(s.lines for s in own),
                "records": sum(s.records for s in own),
                "errors": sum(s.errors for s in own),
                "parts": [s.file for s in own],
                "summary": summary_json(summary),
            }
        )
    return {
        "version": MANIFEST_VERSION,
        "complete": all(f["lines"] == f["records"] for f in files),
        "labrecog": labrecog.__version__,
        "rules": identity["rules"],
        "format": identity["format"],
        "inputs": files,
        "lines": sum(f["lines"] for f in files),
        "records": sum(f["records"] for f in files),
        "errors": sum(f["errors"] for f in files),
        "partitions": len(parts),
        "summary": summary_json(total),
        "dask": dask_section(client, rules, list(stats.values()), began),
    }


def dask_section(
    client: Any, rules: LoadedRuleset, stats: list[PartStats], began: float
) -> dict[str, Any]:
    """How the run went on the cluster; the only part of a manifest that differs between
    two runs of the same inputs (timings, addresses)."""
    compiled = sorted(s.compile_seconds for s in stats if s.compile_seconds is not None)
    return {
        "scheduler": client.scheduler.address if client.scheduler else None,
        # the scheduler's answer itself: scheduler_info() returns the client's cached copy,
        # which its periodic refresh (with no workers listed) may replace meanwhile (0 seen)
        "workers": len(client.nthreads()),
        "engine_compiles": len(compiled),
        "engine_compile_seconds_max": round(compiled[-1], 4) if compiled else None,
        "shipped_rules_bytes": len(pickle.dumps(rules)),
        "seconds": round(time.perf_counter() - began, 3),
        "python": platform.python_version(),
    }


def _summary_of(manifest: dict[str, Any]) -> Summary:
    from labrecog.dask._task import summary_from

    return summary_from(manifest["summary"])


def _dumps(data: dict[str, Any]) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n"
