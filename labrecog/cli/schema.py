"""``labrecog schema``: JSON Schema from the models, for editors and integrators."""

from __future__ import annotations

from typing import Any

import click
import orjson

from labrecog.cli.common import stdout_may_close
from labrecog.load import RuleFile
from labrecog.model import Case, Decision

__all__ = ["schema", "schema_for"]


def schema_for(kind: str) -> dict[str, Any]:
    if kind == "case":
        return Case.model_json_schema()
    if kind == "decision":
        return Decision.model_json_schema()
    return RuleFile.model_json_schema()


@click.command()
@click.argument("kind", type=click.Choice(["case", "decision", "rules"]))
@stdout_may_close
def schema(kind: str) -> None:
    """Print the JSON Schema of a case, a decision or a rule file."""
    click.echo(orjson.dumps(schema_for(kind), option=orjson.OPT_INDENT_2).decode())
