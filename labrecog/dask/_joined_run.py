"""``labrecog evaluate --orders … --results … --dask …``: the joined run's graph and manifest
(the per-partition work is in ``_joined.py``)."""

from __future__ import annotations

import os
import secrets
import time
from contextlib import suppress
from dataclasses import replace
from pathlib import Path
from typing import Any

from labrecog.batch.summary import Summary
from labrecog.dask._blocks import (
    DEFAULT_BLOCK_BYTES,
    Part,
    by_source,
    count_starts,
    plan_parts,
    prefix,
)
from labrecog.dask._joined import join_bucket, meta, order_rows, result_rows
from labrecog.dask._run import (
    MANIFEST,
    MANIFEST_VERSION,
    RunResult,
    _clean_temporaries,
    _dumps,
    _rules,
    dask_section,
    failure,
    plan_identity,
    prepare_folder,
)
from labrecog.dask._task import PartOptions, PartStats, _replace_bytes, summary_json
from labrecog.load import LoadedRuleset

__all__ = ["evaluate_joined"]


def evaluate_joined(
    client: Any,
    orders: list[str],
    results: list[str],
    rules: LoadedRuleset,
    options: PartOptions,
    *,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
    buckets: int | None = None,
) -> RunResult:
    """Join ``orders`` with ``results`` by patient on the cluster; see ``_joined``."""
    import dask
    import dask.dataframe as dd
    from dask.delayed import delayed

    began = time.perf_counter()
    orders = [os.path.abspath(p) for p in orders]
    results = [os.path.abspath(p) for p in results]
    options = replace(options, out_dir=os.path.abspath(options.out_dir))
    out_dir = Path(options.out_dir)
    identity = plan_identity([*orders, *results], rules, options, block_bytes)
    identity["joined"] = {"orders": len(orders)}
    prepare_folder(out_dir, identity, resume=False)
    token = secrets.token_hex(4)
    shipped = delayed(_rules, pure=False)(rules, dask_key_name=f"labrecog-rules-{token}")
    order_parts = plan_parts(orders, block_bytes)
    result_parts = [
        replace(p, source=p.source + len(orders)) for p in plan_parts(results, block_bytes)
    ]
    order_out = _read(order_parts, options, delayed, lambda p, o: (order_rows, (p, o, options,
                      p.source)))  # fmt: skip
    result_out = _read(result_parts, options, delayed, lambda p, o: (result_rows, (p, o,
                       shipped, options, p.source)))  # fmt: skip
    k = buckets or max(len(order_parts), len(result_parts), 1)
    with dask.config.set({"dataframe.convert-string": False}):
        order_frame = dd.from_delayed([d[1] for d in order_out], meta=meta(), verify_meta=False)
        result_frame = dd.from_delayed([d[1] for d in result_out], meta=meta(), verify_meta=False)
        # "tasks": frames move pickled, so an over-long line's stand-in keeps its type
        by_order = order_frame.shuffle("patient", npartitions=k, shuffle_method="tasks")
        by_result = result_frame.shuffle("patient", npartitions=k, shuffle_method="tasks")
        joined = [
            delayed(join_bucket, pure=False)(o, r, i, shipped, options)
            for i, (o, r) in enumerate(
                zip(by_order.to_delayed(), by_result.to_delayed(), strict=True)
            )
        ]
        read_counts = [d[0] for d in order_out]
        futures = client.compute([*read_counts, *[d[0] for d in result_out], *joined])
    from distributed import wait

    try:
        wait(futures)
        failures = [failure(f.key, f.exception()) for f in futures if f.status != "finished"]
        if failures:
            _clean_temporaries(out_dir)
            return RunResult({}, Summary(), 0, failures)
        got = [f.result() for f in futures]
    finally:
        with suppress(Exception):  # released on the scheduler at once, as in _run
            client.cancel(futures)
    counts: list[int] = got[: len(read_counts)]
    result_stats: list[PartStats] = got[len(read_counts) : len(read_counts) + len(result_out)]
    bucket_stats: list[PartStats] = got[len(read_counts) + len(result_out) :]
    _clean_temporaries(out_dir)
    total = Summary.of(stats.summary for stats in [*result_stats, *bucket_stats])
    manifest = _manifest(orders, results, order_parts, counts, result_stats, bucket_stats, total)
    manifest.update({"rules": identity["rules"], "format": identity["format"], "partitions": k})
    manifest["dask"] = dask_section(client, rules, [*result_stats, *bucket_stats], began)
    _replace_bytes(out_dir / MANIFEST, _dumps(manifest))
    return RunResult(manifest, total)


def _read(parts: list[Part], options: PartOptions, delayed: Any, task: Any) -> list[Any]:
    """One reading task per partition, each numbering its lines after the file's earlier
    partitions (a line count per block and a running sum per file, as in ``_run``)."""
    out: list[Any] = []
    for own in by_source(parts):
        offsets: Any = []  # gzip and Parquet parts number their own lines
        if own[0].kind == "jsonl":
            counts = [delayed(count_starts, pure=True)(p) for p in own]
            offsets = delayed(prefix, pure=True)(*counts, 0)  # the file's total last
        for part in own:
            fn, args = task(part, offsets)
            out.append(delayed(fn, nout=2, pure=False)(*args))
    return out


def _manifest(
    orders: list[str],
    results: list[str],
    order_parts: list[Part],
    counts: list[int],
    result_stats: list[PartStats],
    bucket_stats: list[PartStats],
    total: Summary,
) -> dict[str, Any]:
    records: dict[int, int] = {}
    for stats in bucket_stats:
        for source, n in stats.by_source.items():
            records[source] = records.get(source, 0) + n
    files: list[dict[str, Any]] = []
    for source, path in enumerate(orders):
        lines = sum(n for p, n in zip(order_parts, counts, strict=True) if p.source == source)
        files.append({"path": path, "role": "orders", "lines": lines,
                      "records": records.get(source, 0)})  # fmt: skip
    for i, path in enumerate(results):
        own = [s for s in result_stats if s.source == len(orders) + i]
        files.append({"path": path, "role": "results", "lines": sum(s.lines for s in own),
                      "records": sum(s.records for s in own),
                      "parts": [s.file for s in own]})  # fmt: skip
    order_files = [f for f in files if f["role"] == "orders"]
    return {
        "version": MANIFEST_VERSION,
        "complete": all(f["lines"] == f["records"] for f in order_files),
        "mode": "joined",
        "inputs": files,
        "parts": [s.file for s in bucket_stats],
        "lines": sum(f["lines"] for f in order_files),
        "records": sum(s.records for s in [*result_stats, *bucket_stats]),
        "errors": total.errors,
        "summary": summary_json(total),
    }
