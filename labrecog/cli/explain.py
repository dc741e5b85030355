"""``labrecog explain``: one case as a readable table with reasons (docs/explain.md).

Exit codes: 0 when the case was decided (whatever the statuses), 2 for a rule-set error,
a usage error, or a case that cannot be decided (unreadable, not JSON, invalid input).
An undecidable case is a 2, not a 1, because for a single case it is a usage error:
there is no batch of which "some records" failed (see docs/explain.md).
"""

from __future__ import annotations

import sys
import zlib
from typing import Any, BinaryIO, NoReturn

import click
import orjson
from rich.console import Console

from labrecog._errors import InputError
from labrecog.batch.io import open_input
from labrecog.batch.lines import DEFAULT_MAX_LINE_BYTES, UTF8_BOM, OverLongLine, capped_lines
from labrecog.cli.common import StdoutConsole, load_engine, stdout_may_close
from labrecog.decide import Trace
from labrecog.load import loads_strict
from labrecog.output import explanation

__all__ = ["EXIT_INVALID_CASE", "explain"]

EXIT_INVALID_CASE = 2
_MIN_WIDTH = 100


@click.command()
@click.argument("case", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--rules", required=True, type=click.Path(exists=True), help="Rule set.")
@click.option(
    "--line",
    type=click.IntRange(min=1),
    help="Take the case from this line (1-based) of a JSONL file.",
)
@click.option("--lang", type=click.Choice(["zh", "en"]), help="Message language.")
@click.option("--json", "as_json", is_flag=True, help="Print the decision JSON instead.")
@stdout_may_close
def explain(case: str, rules: str, line: int | None, lang: str | None, as_json: bool) -> None:
    """Explain the decision for one CASE: a JSON file, one line of JSONL (--line), or '-'."""
    engine = load_engine(rules, lang)
    raw = _read_case(case, line)
    where = f"{_display(case)} line {line}" if line is not None else _display(case)
    try:
        data = loads_strict(raw)
    except InputError as exc:
        _fail([str(p) for p in exc.problems], where)
    except orjson.JSONDecodeError as exc:
        hint = ""
        if line is None and raw.strip().count(b"\n") > 0:
            hint = " (a JSONL file? pick one case with --line N)"
        _fail([f"not valid JSON: {exc}{hint}"], where)
    try:
        valid = engine.validate_case(data)
        trace = Trace()
        decision = engine.evaluate(valid, trace=trace)
    except InputError as exc:
        _fail([str(p) for p in exc.problems] or [str(exc)], where)

    if as_json:
        text = orjson.dumps(decision.model_dump(mode="json"), option=orjson.OPT_INDENT_2)
        click.echo(text.decode("utf-8"))
        return
    console = _console()
    console.print(explanation(valid, decision, engine.rules, engine.lang, trace))


def _read_case(path: str, line: int | None) -> bytes:
    """The bytes of the chosen case, read as ``evaluate`` reads its input: gzip recognised
    by its magic bytes, a BOM on line 1 dropped (spreadsheet exports add one), lines
    numbered and capped in size by the same reader, so line N means the same record."""
    try:
        with open_input(path) as stream:
            if line is None:
                raw = stream.read(DEFAULT_MAX_LINE_BYTES + 1).removeprefix(UTF8_BOM)
                if len(raw) > DEFAULT_MAX_LINE_BYTES:
                    _usage(f"{_display(path)}: longer than {DEFAULT_MAX_LINE_BYTES} bytes")
                return raw
            chosen = _nth_line(stream, line, path)
    except (OSError, EOFError, zlib.error) as exc:
        _usage(f"{_display(path)}: cannot read: {getattr(exc, 'strerror', None) or exc}")
    if isinstance(chosen, OverLongLine):
        _usage(f"{_display(path)}: line {line} is longer than {chosen.limit} bytes")
    if not chosen.strip():
        _usage(f"{_display(path)}: line {line} is empty")
    return chosen


def _nth_line(stream: BinaryIO, line: int, path: str) -> bytes:
    count = 0
    for count, raw in capped_lines(stream):
        if count == line:
            return raw
    _usage(f"{_display(path)}: --line {line} is beyond the end: the file has {count} line(s)")


def _console() -> Console:
    """No colour off a terminal (rich decides), and a floor on width so tables stay legible."""
    detected = Console(file=sys.stdout).width
    return StdoutConsole(file=sys.stdout, width=max(_MIN_WIDTH, detected), highlight=False)


def _display(path: str) -> str:
    return "<stdin>" if path == "-" else path


def _usage(message: str) -> NoReturn:
    """A request that names no case to explain: one line, same exit code as click's usage errors."""
    click.echo(message, err=True)
    sys.exit(EXIT_INVALID_CASE)


def _fail(problems: list[Any], where: str) -> NoReturn:
    """Every problem as ``path: message``, then which case it was."""
    for problem in problems:
        click.echo(str(problem), err=True)
    click.echo(f"{where}: case cannot be decided ({len(problems)} problem(s))", err=True)
    sys.exit(EXIT_INVALID_CASE)
