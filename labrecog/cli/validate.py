"""``labrecog validate``: every problem in a rule set as ``file:line:col: message``."""

from __future__ import annotations

import sys

import click
import orjson

from labrecog._errors import RulesetError
from labrecog.cli.common import stdout_may_close
from labrecog.engine import Engine

__all__ = ["validate"]


@click.command()
@click.argument("path", type=click.Path())
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="One JSON document: ok, ruleset {id, version, digest} when valid, "
    "errors [{file, line, col, message}].",
)
@stdout_may_close
def validate(path: str, as_json: bool) -> None:
    """Load and check the rule set at PATH (a folder or one YAML file).

    Exit 0 when valid, 1 when not (every problem is listed).
    """
    try:
        engine = Engine.from_path(path)
    except RulesetError as exc:
        if as_json:
            errors = [
                {"file": p.file, "line": p.line, "col": p.col, "message": p.message}
                for p in exc.problems
            ]
            _dump({"ok": False, "errors": errors})
            sys.exit(1)
        for problem in exc.problems:
            click.echo(str(problem))
        click.echo(f"{len(exc.problems)} problem(s)", err=True)
        sys.exit(1)
    rules = engine.rules
    if as_json:
        ruleset = {"id": rules.id, "version": rules.version, "digest": rules.digest}
        _dump({"ok": True, "ruleset": ruleset, "errors": []})
        return
    click.echo(
        f"ok: {rules.id} {rules.version} ({rules.digest}) — {len(rules.tests)} tests, "
        f"{len(rules.panels)} panels, {len(rules.conditions)} conditions, "
        f"{len(rules.institutions)} institutions"
    )


def _dump(doc: dict[str, object]) -> None:
    click.echo(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode("utf-8"))
