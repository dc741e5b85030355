"""``labrecog lint``: what a rule set's own tests cannot find (docs/lint.md).

Exit 0 when nothing at or above ``--fail-on`` is reported, 1 when something is, 2 when the
rule set does not load or the options are wrong: the same contract as ``ruff check``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from labrecog import __version__
from labrecog._errors import RulesetError
from labrecog.cli.common import EXIT_RULES, stdout_may_close
from labrecog.compile import compile_rules
from labrecog.lint import CODES, SEVERITY_RANK, as_json, as_sarif, as_text, lint_loaded, select
from labrecog.load import load_ruleset
from labrecog.words import Lang

__all__ = ["lint"]


def _codes(values: tuple[str, ...]) -> tuple[str, ...]:
    """``--select C,P001 --select P006``: comma lists, repeatable; each a code prefix."""
    out = tuple(c.strip().upper() for v in values for c in v.split(",") if c.strip())
    for code in out:
        if not any(known.startswith(code) for known in CODES):
            raise click.BadParameter(f"no lint code starts with '{code}' (docs/lint.md)")
    return out


@click.command()
@click.argument("path", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif"]), default="text",
              show_default=True, help="text (file:line:col), json, or SARIF 2.1.0")  # fmt: skip
@click.option("--select", "selected", multiple=True, metavar="CODES",
              help="only these codes or prefixes (C, P00, C003; comma-separated)")  # fmt: skip
@click.option("--ignore", "ignored", multiple=True, metavar="CODES",
              help="leave these codes or prefixes out")  # fmt: skip
@click.option("--fail-on", type=click.Choice(["error", "warning", "info"]), default="warning",
              show_default=True, help="the least severity that makes the exit 1")  # fmt: skip
@click.option("-q", "--quiet", is_flag=True,
              help="text: show only findings at or above --fail-on, and the count")  # fmt: skip
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True)
@stdout_may_close
def lint(
    path: str, fmt: str, selected: tuple[str, ...], ignored: tuple[str, ...], fail_on: str,
    quiet: bool, lang: Lang,
) -> None:  # fmt: skip
    """Find overlapping, shadowed and unsafe rules in the rule set at PATH."""
    chosen = _codes(selected) or ("",)
    left_out = _codes(ignored)
    try:
        loaded = load_ruleset(path)
        rules = compile_rules(loaded)
    except RulesetError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        sys.exit(EXIT_RULES)
    declared = tuple(loaded.rules.lint.ignore)  # each with its justification in the YAML
    for entry in declared:
        code = entry.split()[0]
        if not any(known.startswith(code) for known in CODES):
            where = loaded.position(("lint", "ignore", code))
            click.echo(f"{where.file}:{where.line}:{where.col}: no lint code starts with "
                       f"'{code}' (docs/lint.md)", err=True)  # fmt: skip
            sys.exit(EXIT_RULES)
    folder = Path(path) if Path(path).is_dir() else None
    found = lint_loaded(loaded, rules, lang, folder)
    kept, dropped = select(found, chosen, left_out + declared)
    threshold = SEVERITY_RANK[fail_on]
    if fmt == "json":
        ruleset = {"id": rules.id, "version": rules.version, "digest": rules.digest}
        click.echo(as_json(kept, len(dropped), ruleset), nl=False)
    elif fmt == "sarif":
        click.echo(as_sarif(kept, __version__, lang), nl=False)
    else:
        shown = [f for f in kept if not quiet or SEVERITY_RANK[f.severity] >= threshold]
        click.echo(as_text(shown, len(dropped), lang, len(kept) - len(shown)), nl=False)
    if any(SEVERITY_RANK[f.severity] >= threshold for f in kept):
        sys.exit(1)
