"""``labrecog validate``: every problem in a rule set as ``file:line:col: message``."""

from __future__ import annotations

import sys

import click

from labrecog._errors import RulesetError
from labrecog.cli.common import stdout_may_close
from labrecog.engine import Engine

__all__ = ["validate"]


@click.command()
@click.argument("path", type=click.Path())
@stdout_may_close
def validate(path: str) -> None:
    """Load and check the rule set at PATH (a folder or one YAML file)."""
    try:
        engine = Engine.from_path(path)
    except RulesetError as exc:
        for problem in exc.problems:
            click.echo(str(problem))
        click.echo(f"{len(exc.problems)} problem(s)", err=True)
        sys.exit(1)
    rules = engine.rules
    click.echo(
        f"ok: {rules.id} {rules.version} ({rules.digest}) — {len(rules.tests)} tests, "
        f"{len(rules.panels)} panels, {len(rules.conditions)} conditions, "
        f"{len(rules.institutions)} institutions"
    )
