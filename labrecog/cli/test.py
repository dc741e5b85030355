"""``labrecog test``: run a rule set's own tests, so a rule change that breaks one shows."""

from __future__ import annotations

import sys
import unicodedata
from pathlib import Path

import click

from labrecog.authoring.cases import CaseError
from labrecog.authoring.runner import (
    KINDS,
    Coverage,
    find_test_files,
    load_tests,
    run_tests,
    write_actual,
)
from labrecog.cli.common import EXIT_RULES, load_engine, stdout_may_close
from labrecog.words import Lang, say

__all__ = ["test"]


@click.command()
@click.argument("path", type=click.Path(file_okay=False))
@click.option("-k", "pattern", metavar="PATTERN", help="Run only tests whose name contains this.")
@click.option("--coverage", is_flag=True, help="List what no test exercised.")
@click.option(
    "--fail-under",
    type=click.FloatRange(0, 100),
    metavar="PCT",
    help="Exit 1 when overall coverage is below PCT.",
)
@click.option(
    "--update",
    is_flag=True,
    help="Also write each test file's actual outcomes to tests/NAME.actual.yaml, for review.",
)
@click.option(
    "--lang",
    type=click.Choice(["zh", "en"]),
    default="en",
    show_default=True,
    help="Language of failures (and the reasons they quote) and of the coverage table.",
)
@stdout_may_close
def test(
    path: str,
    pattern: str | None,
    coverage: bool,
    fail_under: float | None,
    update: bool,
    lang: Lang,
) -> None:
    """Run the tests in PATH/tests/*.yaml against the rule set at PATH."""
    engine = load_engine(path)
    try:
        tests = load_tests(engine, find_test_files(Path(path)))
        result = run_tests(engine, tests, pattern, lang)
    except CaseError as exc:
        click.echo(str(exc))
        sys.exit(EXIT_RULES)
    for failure in result.failures:
        click.echo(str(failure))
    if update:
        try:
            written = write_actual(result.outcomes)
        except (FileExistsError, OSError) as exc:
            click.echo(f"--update: {exc}", err=True)
            sys.exit(EXIT_RULES)
        for target in written:
            click.echo(say("test", "wrote", lang, target=target))
    low = False
    if coverage or fail_under is not None:
        _report(result.coverage, lang)
        low = fail_under is not None and result.coverage.percent() < fail_under
        if low:
            percent = f"{result.coverage.percent():.1f}"
            click.echo(say("test", "below", lang, percent=percent, minimum=f"{fail_under:g}"))
    click.echo(say("test", "summary", lang, passed=result.passed, failed=result.failed))
    sys.exit(1 if result.failures or low else 0)


def _pad(label: str, width: int) -> str:
    """Left-aligned in ``width`` columns, a Chinese character counting two."""
    used = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in label)
    return label + " " * max(0, width - used)


def _report(cov: Coverage, lang: Lang) -> None:
    click.echo(say("test", "coverage", lang))
    for kind in KINDS:
        done, total = cov.counts(kind)
        label = _pad(say("test", f"label.{kind}", lang), 16)
        line = f"  {label} {done:>3}/{total:<3} {cov.percent(kind):5.1f}%"
        missing = cov.missing(kind)
        if missing:
            line += say("test", "not_exercised", lang) + ", ".join(missing)
        click.echo(line)
    click.echo(f"  {_pad(say('test', 'overall', lang), 16)} {cov.percent():5.1f}%")
