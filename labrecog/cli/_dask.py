"""``labrecog evaluate INPUTS... --dask local|tcp://HOST:PORT -o OUT_DIR/`` (docs/scale.md).

Kept apart from ``evaluate.py``: Dask is an extra, imported only when ``--dask`` is given.
"""

from __future__ import annotations

import glob
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

import click

from labrecog.batch.records import CaseLimits
from labrecog.batch.summary import Summary
from labrecog.cli.common import EXIT_INTERNAL, EXIT_RULES, load_engine_and_rules
from labrecog.words import Lang

if TYPE_CHECKING:
    from labrecog.dask._task import OutFormat

__all__ = ["expand_inputs", "on_dask", "run_dask"]

_GLOB = ("*", "?", "[")
#: (option, parameter, its unset value, why it means nothing with --dask)
_NOT_FOR_DASK = (
    ("--jobs", "jobs", 1, "the cluster's workers evaluate (--workers sizes --dask local)"),
    ("--csv-bom", "csv_bom", False, "each part is read by programs, not by Excel"),
    ("--summary-json", "summary_json", None, "the manifest holds the summary"),
    ("--index", "index_kind", "auto", "joined mode on Dask shuffles, it builds no index"),
    ("--input-format", "source", None, "the inputs are labrecog cases, JSONL or Parquet"),
    ("--strict-fhir", "strict_fhir", False, "the inputs are labrecog cases, not FHIR"),
)

#: Failed partitions named one by one; a cluster left without workers fails them all.
_SHOWN_FAILURES = 10


def expand_inputs(patterns: tuple[str, ...]) -> list[str]:
    """Each input as given, or, if it is not a file and holds a glob character, the files
    it matches in sorted order; an input matching nothing, or given twice, is refused."""
    found: list[str] = []
    for pattern in patterns:
        if pattern == "-":
            raise click.UsageError("--dask reads files: workers cannot read stdin")
        if os.path.exists(pattern) or not any(c in pattern for c in _GLOB):
            if not os.path.isfile(pattern):
                raise click.UsageError(f"input {pattern} is not a file")
            found.append(pattern)
            continue
        matched = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
        if not matched:
            raise click.UsageError(f"input {pattern} matches no file")
        found.extend(matched)
    seen: set[str] = set()
    for path in found:
        real = os.path.realpath(path)
        if real in seen:
            raise click.UsageError(f"input {path} is given twice")
        seen.add(real)
    return found


def on_dask(given: dict[str, Any], print_summary: Callable[[Summary], None]) -> NoReturn:
    """``--dask``: the options that mean something there, then the run (it exits)."""
    for option, name, unset, why in _NOT_FOR_DASK:
        if given[name] != unset:
            raise click.UsageError(f"{option} is not for --dask: {why}")
    orders, results = given["orders"], given["results"]
    if bool(given["inputs"]) == (orders is not None) or (orders is None) != (results is None):
        raise click.UsageError("give CASES files, or --orders with --results")
    joined = None
    if orders is not None:
        joined = (expand_inputs((orders,)), expand_inputs((results,)))
    fmt = given["fmt"] or "jsonl"
    run_dask(
        inputs=expand_inputs(given["inputs"]) if joined is None else [],
        joined=joined,
        rules=given["rules"],
        address=given["dask_address"],
        workers=given["workers"],
        out_dir=given["output"],
        fmt=fmt,
        lang=given["lang"],
        limits=CaseLimits(max_pairs=given["max_case_pairs"]),
        max_line_bytes=given["max_line_bytes"],
        block_mb=given["block_mb"],
        resume=given["resume"],
        quiet=given["quiet"],
        print_summary=print_summary,
    )


def run_dask(
    *,
    inputs: list[str],
    joined: tuple[list[str], list[str]] | None,
    rules: str,
    address: str,
    workers: int | None,
    out_dir: str | None,
    fmt: str,
    lang: Lang | None,
    limits: CaseLimits,
    max_line_bytes: int,
    block_mb: int,
    resume: bool,
    quiet: bool,
    print_summary: Callable[[Summary], None],
) -> NoReturn:
    """Run, print the summary, exit as ``evaluate`` does (0, 1 error records, 2 usage or
    folder, 3 unfinished partitions)."""
    try:
        from labrecog import dask as ldask
    except ImportError as exc:
        raise click.UsageError(str(exc)) from None
    if out_dir is None:
        raise click.UsageError("--dask writes a folder of part files: give -o OUT_DIR/")
    if fmt not in ("jsonl", "csv", "parquet"):
        raise click.UsageError(f"--dask writes jsonl, csv or parquet parts, not {fmt}")
    if workers is not None and address != "local":
        raise click.UsageError("--workers sizes --dask local; a cluster has its own workers")
    if joined is not None and resume:
        raise click.UsageError("--resume is not available in joined mode on Dask: run again "
                               "into a new folder")  # fmt: skip
    out_real = os.path.realpath(out_dir)
    for path in inputs if joined is None else [*joined[0], *joined[1]]:
        if os.path.realpath(path).startswith(out_real + os.sep):
            raise click.UsageError(f"input {path} is inside the output folder {out_dir}")
    _, loaded = load_engine_and_rules(rules, lang)
    out_fmt: OutFormat = "csv" if fmt == "csv" else "parquet" if fmt == "parquet" else "jsonl"
    options = ldask.PartOptions(out_dir, out_fmt, lang, limits, max_line_bytes)
    try:
        ldask.check_folder(out_dir, resume)  # before a cluster is started for nothing
        with ldask.open_client(address, workers) as client:
            if joined is not None:
                result = ldask.evaluate_joined(
                    client, joined[0], joined[1], loaded, options, block_bytes=block_mb * 2**20
                )
            else:
                result = ldask.evaluate_files(
                    client, inputs, loaded, options, block_bytes=block_mb * 2**20, resume=resume
                )
    except (ldask.FolderError, OSError) as exc:
        click.echo(f"labrecog: {exc}", err=True)
        sys.exit(EXIT_RULES)
    if not quiet:
        print_summary(result.summary)
        _say_run(result, out_dir)
    if result.failures:
        for failure in result.failures[:_SHOWN_FAILURES]:
            click.echo(f"labrecog: partition failed: {failure}", err=True)
        if len(result.failures) > _SHOWN_FAILURES:
            more = len(result.failures) - _SHOWN_FAILURES
            click.echo(f"labrecog: … and {more} more partitions failed", err=True)
        click.echo(
            f"labrecog: {len(result.failures)} partitions failed; no manifest written. "
            f"Run again with --resume to redo only those.",
            err=True,
        )
        sys.exit(EXIT_INTERNAL)
    manifest: dict[str, Any] = result.manifest
    if not manifest.get("complete"):
        click.echo("labrecog: internal error: lines and records differ (see the manifest)",
                   err=True)  # fmt: skip
        sys.exit(EXIT_INTERNAL)
    sys.exit(1 if manifest["errors"] else 0)


def _say_run(result: Any, out_dir: str) -> None:
    manifest = result.manifest
    if not manifest:
        return
    kept = f", {result.skipped} already done" if result.skipped else ""
    click.echo(
        f"parts {manifest['partitions']}{kept}  lines {manifest['lines']}  "
        f"records {manifest['records']}  manifest {os.path.join(out_dir, '_manifest.json')}",
        err=True,
    )
