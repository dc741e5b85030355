"""``labrecog evaluate``: stream JSONL cases to JSONL decisions, one record per line."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, BinaryIO

import click
import orjson

from labrecog.batch.records import evaluate_line
from labrecog.batch.summary import Summary
from labrecog.cli.common import load_engine

__all__ = ["evaluate"]


def _lines(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    yield from enumerate(stream, start=1)


@click.command()
@click.argument("cases", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--rules", "rules", required=True, type=click.Path(exists=True), help="Rule set.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Output JSONL file.")
@click.option("--summary-json", type=click.Path(dir_okay=False), help="Write the summary here.")
@click.option("--lang", type=click.Choice(["zh", "en"]), help="Message language.")
@click.option("-q", "--quiet", is_flag=True, help="No summary on stderr.")
def evaluate(
    cases: str,
    rules: str,
    output: str | None,
    summary_json: str | None,
    lang: str | None,
    quiet: bool,
) -> None:
    """Evaluate CASES (JSONL, '-' for stdin) and write one decision or error per line."""
    engine = load_engine(rules, lang)
    summary = Summary()
    source: BinaryIO = sys.stdin.buffer if cases == "-" else open(cases, "rb")  # noqa: SIM115
    try:
        if output is None:
            _run(engine, source, sys.stdout.buffer, summary)
        else:
            _run_to_file(engine, source, Path(output), summary)
    finally:
        if source is not sys.stdin.buffer:
            source.close()
    if summary_json:
        Path(summary_json).write_bytes(orjson.dumps(summary.as_dict(), option=orjson.OPT_INDENT_2))
    if not quiet:
        _print_summary(summary)
    sys.exit(1 if summary.errors else 0)


def _run(engine: object, source: BinaryIO, sink: IO[bytes], summary: Summary) -> None:
    from labrecog.engine import Engine

    assert isinstance(engine, Engine)
    for number, raw in _lines(source):
        record = evaluate_line(engine, number, raw)
        summary.add(record)
        sink.write(orjson.dumps(record) + b"\n")
    sink.flush()


def _run_to_file(engine: object, source: BinaryIO, target: Path, summary: Summary) -> None:
    """Write beside the target and rename when complete: a half-run never looks finished."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as sink:
            _run(engine, source, sink, summary)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
