"""What the commands share: loading a rule set with exit code 2 on failure."""

from __future__ import annotations

import sys

import click

from labrecog._errors import RulesetError
from labrecog.engine import Engine

__all__ = ["EXIT_RULES", "load_engine"]

EXIT_RULES = 2


def load_engine(path: str, lang: str | None = None) -> Engine:
    try:
        return Engine.from_path(path, lang="zh" if lang == "zh" else "en" if lang else None)
    except RulesetError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        click.echo(f"rule set {path} is invalid ({len(exc.problems)} problems)", err=True)
        sys.exit(EXIT_RULES)
