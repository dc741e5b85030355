"""``labrecog audit``: override rates from the service's store, for a quality office.

It reads the store the service writes (the same ``--db``/``LABRECOG_FEEDBACK_DB`` as
``serve``), never writes to it unless told to (``--migrate``), and prints what a monthly
review needs: override rate by test, by override reason, by department and by ordering
user, over a half-open range of days. Needs the ``server`` extra (SQLAlchemy, Alembic).

Exit codes: 0 the audit was printed (an empty period too); 2 a usage error (bad date or
time zone, ``--from`` not before ``--to``), a store that is missing, unreadable or not at
this labrecog's schema, or an HTML file that cannot be written.
"""

from __future__ import annotations

import os
import re
import sys
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
import orjson
from rich.console import Console
from rich.table import Table
from rich.text import Text

from labrecog.batch.io import atomic_output
from labrecog.cli.common import stdout_may_close
from labrecog.output import ReportTable, rich_table
from labrecog.words import Lang, say

__all__ = ["audit"]

EXIT_USAGE = 2
_PIPE_WIDTH = 120  # as report: rich assumes 80 columns off a terminal
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _day(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        if _DAY.fullmatch(value):
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)")


def _zone(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(
            f"{value!r} is not an IANA time zone (Asia/Shanghai, UTC)"
        ) from None
    return value


@click.command()
@click.option(
    "--db",
    "target",
    envvar="LABRECOG_FEEDBACK_DB",
    default="labrecog-feedback.sqlite3",
    show_default=True,
    help="The store: an SQLite file or a postgresql:// URL (env LABRECOG_FEEDBACK_DB).",
)
@click.option("--from", "start", callback=_day, help="First day counted (YYYY-MM-DD).")
@click.option("--to", "end", callback=_day, help="First day NOT counted (YYYY-MM-DD).")
@click.option(
    "--tz",
    "timezone",
    default="UTC",
    show_default=True,
    callback=_zone,
    help="Time zone of the days (IANA name, e.g. Asia/Shanghai).",
)
@click.option(
    "--top", type=click.IntRange(min=1), default=20, show_default=True, help="Rows per table."
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole audit as JSON.")
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False),
    help="Also write a self-contained HTML page here ('-' for stdout, instead of tables).",
)
@click.option(
    "--lang",
    type=click.Choice(["en", "zh"]),
    default="en",
    show_default=True,
    help="Language of the tables and the page.",
)
@click.option(
    "--migrate",
    is_flag=True,
    help="Upgrade an older store to this labrecog's schema first (writes to it).",
)
@stdout_may_close
def audit(
    target: str,
    start: date | None,
    end: date | None,
    timezone: str,
    top: int,
    as_json: bool,
    html_path: str | None,
    lang: Lang,
    migrate: bool,
) -> None:
    """Override rates of the cards the CDS service issued: by test, override reason,
    department and ordering user, for cards issued from --from up to (not including) --to."""
    if start is not None and end is not None and start >= end:
        raise click.UsageError("--from must be before --to (the range is from ≤ day < to)")
    try:
        from labrecog.server.audit import Period, StoreError, read_audit, upgrade_store
    except ImportError as exc:
        click.echo(
            f"labrecog audit needs the server extra: pip install 'labrecog[server]' ({exc})",
            err=True,
        )
        sys.exit(EXIT_USAGE)
    try:
        if migrate:
            upgrade_store(target)
        data = read_audit(target, Period(start, end, timezone))
    except StoreError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_USAGE)
    _show(data, top, lang, as_json, html_path)


def _show(data: dict[str, Any], top: int, lang: Lang, as_json: bool, html: str | None) -> None:
    from labrecog.server.audit import audit_tables, period_text, render_audit_html

    if html is not None:
        page = render_audit_html(data, top, lang)
        try:
            with atomic_output(html) as sink:
                sink.write(page.encode("utf-8"))
        except OSError as exc:
            click.echo(f"cannot write {html}: {exc}", err=True)
            sys.exit(EXIT_USAGE)
        if html == "-":
            return
    if as_json:
        click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode("utf-8"))
        return
    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    console = Console(file=sys.stdout, highlight=False, width=_PIPE_WIDTH if piped else None)
    console.print(Text(say("audit", "title", lang), style="bold"))
    console.print(Text(say("audit", "store", lang, store=str(data["store"]))))
    console.print(Text(period_text(data["period"], lang)))
    for table in audit_tables(data, top, lang):
        console.print()
        console.print(_rich_table(table, lang))
    console.print()
    for note in ("note.rate", "note.reason"):
        console.print(Text(say("audit", note, lang)))


def _rich_table(table: ReportTable, lang: Lang) -> Table:
    more = say("audit", "more_rows", lang, n=table.hidden) if table.hidden else None
    return rich_table(table, more)
