"""``labrecog evaluate``: stream cases to decisions, one output record per input line."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, BinaryIO, cast

import click
import orjson

from labrecog.batch.formats import Format, csv_header, encoder
from labrecog.batch.io import atomic_output, numbered_lines, open_input
from labrecog.batch.join import IndexKind, ResultIndex, joined_lines
from labrecog.batch.lines import DEFAULT_MAX_LINE_BYTES
from labrecog.batch.parquet import ParquetUnavailable, is_parquet, parquet_lines
from labrecog.batch.parquet import require as require_parquet
from labrecog.batch.progress import Progress, byte_meter
from labrecog.batch.records import DEFAULT_MAX_PAIRS, CaseLimits
from labrecog.batch.runner import Source, run_lines
from labrecog.batch.summary import Summary
from labrecog.cli.common import (
    EXIT_INTERNAL,
    EXIT_RULES,
    check_output_paths,
    internal_failure_exits,
    load_engine_and_rules,
    stdout_may_close,
)
from labrecog.engine import Engine
from labrecog.words import Lang

__all__ = ["evaluate"]

EXIT_OK, EXIT_RECORD_ERRORS = 0, 1


@click.command()
@click.argument(
    "inputs", nargs=-1, metavar="[CASES]...", type=click.Path(dir_okay=False, allow_dash=True)
)
@click.option(
    "--rules", required=True, type=click.Path(exists=True), help="Rule set folder or file."
)
@click.option(
    "--orders",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Orders (cases without prior_results), joined with --results by patient.",
)
@click.option(
    "--results",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Prior results, one per line, each with patient_id ('-' for stdin).",
)
@click.option(
    "--index",
    "index_kind",
    type=click.Choice(["auto", "memory", "sqlite"]),
    default="auto",
    show_default=True,
    help="Where joined mode keeps the results.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(),
    help="Output file (default stdout); written only when complete. With --dask: a folder.",
)
@click.option(
    "--format",
    "--output-format",
    "fmt",
    type=click.Choice(["jsonl", "csv", "fhir", "parquet"]),
    help="jsonl: one record per case; csv: one row per item; fhir: FHIR Bundles in "
    "(NDJSON), one GuidanceResponse or OperationOutcome out per line; parquet: one row per "
    "item (needs -o). Default: parquet when -o ends in .parquet, else jsonl. "
    "--output-format is the same option (beside --input-format).",
)
@click.option(
    "--input-format",
    "source",
    type=click.Choice(["jsonl", "fhir"]),
    help="What each input line holds: a labrecog case (jsonl) or a FHIR R4 Bundle (fhir). "
    "Default: fhir with --format fhir, else jsonl.",
)
@click.option(
    "--strict-fhir",
    is_flag=True,
    help="Validate each Bundle against the FHIR R4 models (fhir.resources) before reading "
    "it; slower.",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Worker processes.",
)
@click.option(
    "--csv-bom",
    is_flag=True,
    help="With --format csv: start with a UTF-8 byte-order mark, so that Excel (Chinese "
    "Windows) reads the file as UTF-8.",
)
@click.option("--summary-json", type=click.Path(dir_okay=False), help="Write the summary here.")
@click.option(
    "--lang",
    type=click.Choice(["zh", "en"]),
    help="Language of reason and input-error messages (default: the rule set's language).",
)
@click.option(
    "--max-line-bytes",
    type=click.IntRange(min=1024),
    default=DEFAULT_MAX_LINE_BYTES,
    show_default=True,
    help="Longest input line; a longer one becomes an invalid_input record, never read whole.",
)
@click.option(
    "--max-case-pairs",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_PAIRS,
    show_default=True,
    help="Most ordered tests x prior results in one case; beyond, an invalid_input record.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary.")
@click.option(
    "--dask",
    "dask_address",
    metavar="local|tcp://HOST:PORT",
    help="Evaluate on Dask ('local': a LocalCluster sized to the machine; else a running "
    "scheduler): many CASES files or globs, -o a folder of part files (docs/scale.md).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    help="With --dask local: worker processes (default: one per core).",
)
@click.option("--resume", is_flag=True, help="With --dask: finish the run in the -o folder.")
@click.option(
    "--block-mb",
    type=click.IntRange(1, 4096),
    default=32,
    show_default=True,
    help="With --dask: megabytes of a plain JSONL file per partition.",
)
@internal_failure_exits
@stdout_may_close
def evaluate(
    inputs: tuple[str, ...],
    rules: str,
    orders: str | None,
    results: str | None,
    index_kind: str,
    output: str | None,
    fmt: Format | None,
    source: Source | None,
    strict_fhir: bool,
    jobs: int,
    csv_bom: bool,
    summary_json: str | None,
    lang: Lang | None,
    max_line_bytes: int,
    max_case_pairs: int,
    quiet: bool,
    dask_address: str | None,
    workers: int | None,
    resume: bool,
    block_mb: int,
) -> None:
    """Evaluate CASES (JSONL, '-' for stdin, gzip recognised; or Parquet) into decisions.

    Every input line yields exactly one output record, in input order: a decision, or an
    error record naming the line and the field. Exit 0 when all lines were decided, 1 when
    some were error records (all still written), 2 for usage or rule-set errors (an
    output that is an input, or cannot be written, included), 3 for an internal failure,
    141 when stdout was closed before everything was written (| head).

    With --format fhir (or --input-format fhir) each line is a FHIR R4 Bundle; see
    docs/fhir.md.
    """
    if dask_address is not None:
        from labrecog.cli._dask import on_dask

        on_dask(locals(), _print_summary)
    if workers is not None or resume:
        raise click.UsageError("--workers and --resume are for --dask")
    if len(inputs) > 1:
        raise click.UsageError("several CASES files need --dask (docs/scale.md)")
    cases = inputs[0] if inputs else None
    if (cases is None) == (orders is None):
        raise click.UsageError("give either CASES or --orders with --results")
    if orders is not None and results is None:
        raise click.UsageError("--orders needs --results")
    if results is not None and orders is None:
        raise click.UsageError("--results needs --orders")
    if orders == "-" and results == "-":
        raise click.UsageError("only one of --orders and --results can be read from stdin")
    if csv_bom and fmt != "csv":
        raise click.UsageError("--csv-bom is for --format csv")
    fmt = _parquet_checks(fmt, output, source, [cases, orders, results])
    source = _source(source, fmt, strict_fhir, joined=orders is not None)
    check_output_paths(
        {"CASES": cases, "--orders": orders, "--results": results, "--rules": rules},
        {"-o": output, "--summary-json": summary_json},
    )
    engine, loaded = load_engine_and_rules(rules, lang)
    summary = Summary()
    read = written = 0
    try:
        with ExitStack() as stack:
            sink = stack.enter_context(atomic_output(output))
            if fmt == "parquet":
                sink = stack.enter_context(_parquet_sink(sink))
            if fmt == "csv":
                sink.write(csv_header(bom=csv_bom))
            meter = None  # joined mode, stdin, a pipe: no known size, count and rate only
            if orders is not None and results is not None:
                lines = _joined(stack, orders, results, index_kind, engine, sink, summary, fmt)
            elif cases is not None and is_parquet(cases):
                lines = parquet_lines(cases)
            else:
                assert cases is not None
                stream = stack.enter_context(open_input(cases))
                meter = byte_meter(cases, stream)
                lines = numbered_lines(stream, max_line_bytes)
            progress = stack.enter_context(Progress(enabled=not quiet, meter=meter))
            counted = _count(lines)
            for chunk in run_lines(
                counted,
                engine=engine,
                rules=rules,
                lang=lang,
                fmt=fmt,
                jobs=jobs,
                source=source,
                strict_fhir=strict_fhir,
                loaded=loaded,
                limits=CaseLimits(max_pairs=max_case_pairs),
            ):
                sink.write(chunk.payload)
                written += chunk.lines
                summary.merge(chunk.summary)
                progress.update(summary)
            read = counted.count
    except BrokenPipeError:
        raise  # the reader of stdout left: stdout_may_close ends quietly (141)
    except OSError as exc:
        click.echo(f"labrecog: {exc}", err=True)
        sys.exit(EXIT_RULES)
    except KeyboardInterrupt:
        click.echo("labrecog: interrupted; no output file was written", err=True)
        sys.exit(130)
    if written != read:  # the runner's promise; say so loudly if it were ever broken
        click.echo(f"labrecog: internal error: {read} lines read, {written} written", err=True)
        sys.exit(EXIT_INTERNAL)
    if summary_json:
        with atomic_output(summary_json) as out:
            out.write(orjson.dumps(summary.as_dict(), option=orjson.OPT_INDENT_2) + b"\n")
    if not quiet:
        _print_summary(summary)
    if summary.lost:  # lines whose worker died twice: internal_error records, all written
        click.echo(
            f"labrecog: internal error: {summary.lost} lines became internal_error records "
            "(their worker died twice); every line has its record",
            err=True,
        )
        sys.exit(EXIT_INTERNAL)
    sys.exit(EXIT_RECORD_ERRORS if summary.errors else EXIT_OK)


def _source(source: Source | None, fmt: Format, strict: bool, *, joined: bool) -> Source:
    """The input format, checked against the output format and the other options."""
    chosen: Source = source or ("fhir" if fmt == "fhir" else "jsonl")
    if fmt == "fhir" and chosen != "fhir":
        raise click.UsageError("--format fhir reads FHIR Bundles: drop --input-format jsonl")
    if chosen == "fhir" and joined:
        raise click.UsageError("FHIR input is one Bundle per line: give CASES, not --orders")
    if strict and chosen != "fhir":
        raise click.UsageError("--strict-fhir needs FHIR input (--format fhir or "
                               "--input-format fhir)")  # fmt: skip
    if strict:
        from labrecog.fhir._strict import available

        if not available():
            raise click.UsageError(
                "--strict-fhir needs fhir.resources: pip install 'labrecog[fhir]'"
            )
    return chosen


class _Counter:
    """Counts lines as they pass, so the run can check that none went missing."""

    def __init__(self, lines: Iterable[tuple[int, bytes]]) -> None:
        self._lines = lines
        self.count = 0

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        for item in self._lines:
            self.count += 1
            yield item


def _count(lines: Iterable[tuple[int, bytes]]) -> _Counter:
    return _Counter(lines)


def _joined(
    stack: ExitStack,
    orders: str,
    results: str,
    index_kind: str,
    engine: Engine,
    sink: BinaryIO,
    summary: Summary,
    fmt: Format,
) -> Iterable[tuple[int, bytes]]:
    """Index the results (their error records are written first), then stream the orders."""
    encode = encoder(fmt)

    def on_error(record: dict[str, Any]) -> None:
        summary.add(record)
        sink.write(encode([(int(record.get("line") or 0), record)]))

    index = stack.enter_context(
        ResultIndex.from_path(
            results,
            timezone=engine.rules.timezone,
            on_error=on_error,
            index=cast(IndexKind, index_kind),
            lang=engine.lang,
        )
    )
    if is_parquet(orders):
        return joined_lines(parquet_lines(orders), index)
    return joined_lines(numbered_lines(stack.enter_context(open_input(orders))), index)


def _parquet_checks(
    fmt: Format | None, output: str | None, source: Source | None, inputs: list[str | None]
) -> Format:
    """The output format (Parquet by ``-o``'s name unless --format says otherwise), and
    pyarrow present before any work when Parquet is read or written."""
    named = output is not None and output.lower().endswith(".parquet")
    chosen: Format = fmt or ("parquet" if named else "jsonl")
    parquet_in = any(path is not None and is_parquet(path) for path in inputs)
    if chosen == "parquet" and output in (None, "-"):
        raise click.UsageError("--format parquet writes a file: give -o FILE.parquet")
    if parquet_in and (source == "fhir" or chosen == "fhir"):
        raise click.UsageError("Parquet input holds labrecog cases, not FHIR Bundles")
    if chosen == "parquet" or parquet_in:
        try:
            require_parquet()
        except ParquetUnavailable as exc:
            raise click.UsageError(str(exc)) from None
    return chosen


@contextmanager
def _parquet_sink(sink: BinaryIO) -> Iterator[BinaryIO]:
    """Parquet chunks (Arrow IPC from the runner) into row groups; the footer is written
    when the run completes, before ``atomic_output`` renames the file into place."""
    from labrecog.batch.parquet import DecisionWriter

    with DecisionWriter(sink) as writer:  # on failure: aborted; atomic_output drops the file
        yield cast(BinaryIO, writer)


def _print_summary(summary: Summary) -> None:
    data = summary.as_dict()
    currency = data["currency"] or ""
    click.echo(
        f"cases {data['cases']}  decisions {data['decisions']}  errors {data['errors']}\n"
        f"items {data['items']}  waive {data['waive']}  partial {data['partial']}  "
        f"retest {data['retest']}\n"
        f"saving {data['saving']} {currency}",
        err=True,
    )
    if data["top_reasons"]:
        top = ", ".join(f"{code} {n}" for code, n in data["top_reasons"].items())
        click.echo(f"top reasons: {top}", err=True)
