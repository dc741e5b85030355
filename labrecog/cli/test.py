"""``labrecog test``: run a rule set's own tests, so a rule change that breaks one shows."""

from __future__ import annotations

import sys
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
from labrecog.cli.common import EXIT_RULES, load_engine

__all__ = ["test"]

_LABELS = {
    "tests": "catalogue tests",
    "panels": "panels",
    "exceptions": "exception flags",
    "conditions": "conditions",
    "institutions": "institutions",
    "reasons": "reason codes",
}


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
def test(
    path: str, pattern: str | None, coverage: bool, fail_under: float | None, update: bool
) -> None:
    """Run the tests in PATH/tests/*.yaml against the rule set at PATH."""
    engine = load_engine(path)
    try:
        tests = load_tests(engine, find_test_files(Path(path)))
        result = run_tests(engine, tests, pattern)
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
            click.echo(f"wrote {target}")
    low = False
    if coverage or fail_under is not None:
        _report(result.coverage)
        low = fail_under is not None and result.coverage.percent() < fail_under
        if low:
            click.echo(f"coverage {result.coverage.percent():.1f}% is below {fail_under:g}%")
    click.echo(f"{result.passed} passed, {result.failed} failed")
    sys.exit(1 if result.failures or low else 0)


def _report(cov: Coverage) -> None:
    click.echo("coverage:")
    for kind in KINDS:
        done, total = cov.counts(kind)
        line = f"  {_LABELS[kind]:<16} {done:>3}/{total:<3} {cov.percent(kind):5.1f}%"
        missing = cov.missing(kind)
        if missing:
            line += "  not exercised: " + ", ".join(missing)
        click.echo(line)
    click.echo(f"  {'overall':<16} {cov.percent():5.1f}%")
