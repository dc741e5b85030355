"""``labrecog report``: waiver rates and savings from a decisions file.

Operators run it over a day's (or a year's) ``evaluate`` output, so it streams: one line
at a time into counters, and a bad line is counted and named, never fatal.
"""

from __future__ import annotations

import os
import sys
import zlib
from collections.abc import Iterable
from typing import NoReturn

import click
import orjson
from rich.table import Table

from labrecog.batch.aggregate import Aggregate
from labrecog.batch.io import atomic_output, numbered_lines, open_input
from labrecog.batch.parquet import ParquetUnavailable, decision_records, is_parquet
from labrecog.cli.common import (
    StdoutConsole,
    check_output_paths,
    load_engine,
    stdout_may_close,
)
from labrecog.compile import CompiledRules
from labrecog.output import ReportTable, render_html, report_tables, rich_table
from labrecog.words import Lang, say

__all__ = ["report"]

EXIT_NOTHING = 1  # no decision and no error record in the file
EXIT_FILE = 2
_BOM = b"\xef\xbb\xbf"
_PIPE_WIDTH = 120  # rich assumes 80 columns off a terminal: too narrow for the tables


@click.command()
@click.argument("decisions", type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Rows per table (and bars per chart).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole aggregate as JSON.")
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False),
    help="Also write a self-contained HTML page here ('-' for stdout, instead of tables).",
)
@click.option(
    "--rules",
    type=click.Path(exists=True),
    help="Rule set whose test names are shown beside the codes.",
)
@click.option(
    "--lang",
    type=click.Choice(["zh", "en"]),
    help="Language of the tables and the page (default: the --rules rule set's, else en).",
)
@stdout_may_close
def report(
    decisions: str,
    top: int,
    as_json: bool,
    html_path: str | None,
    rules: str | None,
    lang: Lang | None,
) -> None:
    """Summarise DECISIONS (JSONL or Parquet written by evaluate; '-' for stdin, gzip accepted):
    waiver rates and savings by test, performing institution, reason and rule set."""
    check_output_paths({"DECISIONS": decisions}, {"--html": html_path})
    engine = load_engine(rules, lang) if rules is not None else None
    lang = engine.lang if engine is not None else lang or "en"
    agg = read_decisions(decisions)
    _warn_unreadable(agg, lang)
    _warn_repeated(agg)
    if not agg.decisions and not agg.errors:
        _nothing_to_report(decisions, agg)
    data = agg.as_dict()
    names = test_names(engine.rules, (r["code"] for r in data["by_test"]), lang) if engine else None
    if html_path is not None:
        page = render_html(data, top, "stdin" if decisions == "-" else decisions, lang, names)
        try:
            with atomic_output(html_path) as sink:
                sink.write(page.encode("utf-8"))
        except BrokenPipeError:
            raise  # '--html -' into a closed pipe: stdout_may_close ends quietly (141)
        except OSError as exc:
            click.echo(f"cannot write {html_path}: {exc}", err=True)
            sys.exit(EXIT_FILE)
        if html_path == "-":
            return
    if as_json:
        click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode("utf-8"))
        return
    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    console = StdoutConsole(file=sys.stdout, highlight=False, width=_PIPE_WIDTH if piped else None)
    for i, table in enumerate(report_tables(data, top, lang, names)):
        if i:
            console.print()
        console.print(_rich_table(table, lang))


def test_names(rules: CompiledRules, codes: Iterable[str], lang: Lang) -> dict[str, str]:
    """Ordered code -> "code name" for codes the rule set knows by another name (an alias
    as ordered, 血糖, is shown with its test's name)."""
    out: dict[str, str] = {}
    for code in codes:
        canon = rules.order_codes.get(code)
        item = rules.tests.get(canon) or rules.panels.get(canon) if canon else None
        name = item.name(lang) if item is not None else code
        if name != code:
            out[code] = f"{code} {name}"
    return out


def read_decisions(path: str) -> Aggregate:
    """Stream the file into an :class:`Aggregate`; exit 2 if it cannot be opened or read."""
    if is_parquet(path):
        return _read_parquet(path)
    agg = Aggregate()
    line_no = 0
    try:
        with open_input(path) as stream:
            for line_no, raw in numbered_lines(stream):
                _add_line(agg, line_no, raw)
    except (OSError, EOFError, zlib.error) as exc:
        where = f" after line {line_no}" if line_no else ""
        click.echo(f"cannot read {path}{where}: {exc}", err=True)
        sys.exit(EXIT_FILE)
    return agg


def _read_parquet(path: str) -> Aggregate:
    """Evaluate's Parquet output, regrouped into its records (one row per item)."""
    agg = Aggregate()
    try:
        for line, record in decision_records(path):
            if not ({"items", "error"} & record.keys()):
                agg.add_unreadable(line, "not a decision row (no line or status)")
                continue
            agg.add(record, line)
    except (OSError, ParquetUnavailable) as exc:
        click.echo(f"cannot read {path}: {exc}", err=True)
        sys.exit(EXIT_FILE)
    return agg


def _nothing_to_report(path: str, agg: Aggregate) -> NoReturn:
    """No decision and no error record: an all-zero report would read as "nothing waived",
    when the file is empty or not evaluate's output at all (a file of cases, say)."""
    name = "stdin" if path == "-" else path
    why = (
        f"{agg.unreadable} line(s) that are not decisions; is it a file of cases? report "
        "reads what evaluate writes"
        if agg.unreadable
        else "it is empty"
    )
    click.echo(f"labrecog report: no decision in {name}: nothing to report ({why})", err=True)
    sys.exit(EXIT_NOTHING)


def _add_line(agg: Aggregate, line_no: int, raw: bytes) -> None:
    text = raw.strip()
    if line_no == 1 and text.startswith(_BOM):
        text = text[len(_BOM) :].strip()
    if not text:
        return  # a trailing newline, or spacing: not a record
    try:
        record = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        agg.add_unreadable(line_no, f"not valid JSON: {exc}")
        return
    agg.add(record, line_no)


def _warn_unreadable(agg: Aggregate, lang: Lang) -> None:
    """Unreadable lines go to stderr, so stdout stays parseable with ``--json``."""
    if not agg.unreadable:
        return
    click.echo(say("report", "warn.unreadable", lang, n=agg.unreadable), err=True)
    for line, why in agg.unreadable_samples:
        click.echo("  " + say("report", "line", lang, line=line, why=why), err=True)
    if agg.unreadable > len(agg.unreadable_samples):
        more = agg.unreadable - len(agg.unreadable_samples)
        click.echo(say("report", "warn.more", lang, n=more), err=True)


def _warn_repeated(agg: Aggregate) -> None:
    """One stderr line: the totals still count every record, but the operator is told that
    some orders are in them more than once (the same file concatenated twice, say)."""
    if agg.repeated_orders:
        click.echo(
            f"labrecog report: {agg.repeated_orders} record(s) repeat an order id seen earlier "
            "in the file; they are counted again in every total",
            err=True,
        )


def _rich_table(table: ReportTable, lang: Lang) -> Table:
    more = say("report", "more_rows", lang, n=table.hidden) if table.hidden else None
    return rich_table(table, more)
