"""``labrecog test``: run a rule set's own tests, so a rule change that breaks one shows."""

from __future__ import annotations

import os
import sys
import unicodedata
from pathlib import Path
from typing import Literal

import click

from labrecog.authoring.cases import CaseError
from labrecog.authoring.report import Report, json_report, junit_report
from labrecog.authoring.runner import (
    KINDS,
    Coverage,
    RunResult,
    collect_tests,
    find_test_files,
    run_tests,
    write_actual,
)
from labrecog.batch.io import atomic_output
from labrecog.cli.common import EXIT_RULES, check_output_paths, load_engine, stdout_may_close
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
@click.option("-v", "--verbose", is_flag=True, help="List every test with its outcome.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "junit"]),
    default="text",
    show_default=True,
    help="text for people; json (one document) or junit (JUnit XML) for CI.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Write the json or junit report here (default stdout); written only when complete.",
)
@stdout_may_close
def test(
    path: str,
    pattern: str | None,
    coverage: bool,
    fail_under: float | None,
    update: bool,
    lang: Lang,
    verbose: bool,
    fmt: Literal["text", "json", "junit"],
    output: str | None,
) -> None:
    """Run the tests in PATH/tests/*.yaml against the rule set at PATH.

    Exit 0 when all pass, 1 when any fails (or coverage is below --fail-under), 2 when
    the rule set or a test file is invalid (every problem is listed, in every format).
    """
    if output is not None and fmt == "text":
        raise click.UsageError("-o writes a report: give --format json or junit")
    engine = load_engine(path)
    if output is not None:
        _check_output(Path(path), output)
    files = find_test_files(Path(path))
    tests, problems = collect_tests(engine, files)
    result = run_tests(engine, tests, pattern, lang, keep_going=True)
    problems = sorted([*problems, *result.errors], key=_where)
    low = fail_under is not None and result.coverage.percent() < fail_under
    if fmt != "text":
        report = Report(engine.rules, [str(f) for f in files], result, problems,
                        coverage, fail_under)  # fmt: skip
        with atomic_output(output) as sink:
            sink.write((json_report if fmt == "json" else junit_report)(report))
    elif problems:
        for problem in problems:
            click.echo(str(problem))
        click.echo(say("test", "problems", lang, n=len(problems)))
    else:
        _text(result, coverage, fail_under, verbose, update, lang)
    if problems:
        sys.exit(EXIT_RULES)
    if update and fmt != "text":
        _update(result, lang, err=True)
    sys.exit(1 if result.failures or low else 0)


def _text(
    result: RunResult,
    coverage: bool,
    fail_under: float | None,
    verbose: bool,
    update: bool,
    lang: Lang,
) -> None:
    """Listing (-v), failures, files written (--update), coverage, then the count."""
    if verbose:
        for r in result.results:
            outcome = say("test", f"outcome.{r.outcome}", lang)
            t = r.test
            click.echo(say("test", "listed", lang, file=t.file, line=t.line, name=t.name,
                           outcome=outcome))  # fmt: skip
    for failure in result.failures:
        click.echo(str(failure))
    if update:
        _update(result, lang, err=False)
    if coverage or fail_under is not None:
        _report(result.coverage, lang)
        if fail_under is not None and result.coverage.percent() < fail_under:
            percent = f"{result.coverage.percent():.1f}"
            click.echo(say("test", "below", lang, percent=percent, minimum=f"{fail_under:g}"))
    click.echo(say("test", "summary", lang, passed=result.passed, failed=result.failed))


def _update(result: RunResult, lang: Lang, *, err: bool) -> None:
    """--update: the actual outcomes beside each test file (said on stderr under a report)."""
    try:
        written = write_actual(result.outcomes)
    except (FileExistsError, OSError) as exc:
        click.echo(f"--update: {exc}", err=True)
        sys.exit(EXIT_RULES)
    for target in written:
        click.echo(say("test", "wrote", lang, target=target), err=err)


def _where(problem: CaseError) -> tuple[str, int, int]:
    return problem.position.file, problem.position.line, problem.position.col


def _check_output(ruleset: Path, output: str) -> None:
    """The report never replaces a rule or test file, nor becomes one: a new ``*.yaml``
    inside the rule set would be read as rules (or tests) by the next run."""
    for file in sorted(ruleset.rglob("*")):
        if file.is_file():
            check_output_paths({"rule-set file": str(file)}, {"-o": output})
    target = Path(os.path.realpath(output))
    inside = target.is_relative_to(os.path.realpath(ruleset))
    if inside and target.suffix in (".yaml", ".yml"):
        raise click.UsageError(
            f"-o {output} is inside the rule set {ruleset}: it would be read as rules"
        )


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
