"""``labrecog schema``: JSON Schema from the models, for editors and integrators; and the
columns of the Parquet decisions file (``parquet``), for warehouse tables."""

from __future__ import annotations

from typing import Any

import click
import orjson

from labrecog.batch.parquet import ParquetUnavailable
from labrecog.cli.common import stdout_may_close
from labrecog.load import RuleFile
from labrecog.model import Case, Decision

__all__ = ["schema", "schema_for"]


def schema_for(kind: str) -> dict[str, Any]:
    if kind == "parquet":
        from labrecog.batch.parquet import schema_json

        return schema_json()
    if kind == "case":
        return Case.model_json_schema()
    if kind == "decision":
        return Decision.model_json_schema()
    return RuleFile.model_json_schema()


@click.command()
@click.argument("kind", type=click.Choice(["case", "decision", "rules", "parquet"]))
@stdout_may_close
def schema(kind: str) -> None:
    """Print the JSON Schema of a case, a decision or a rule file; or (parquet) the
    columns of evaluate's Parquet output: names, Arrow types, descriptions."""
    try:
        found = schema_for(kind)
    except ParquetUnavailable as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(orjson.dumps(found, option=orjson.OPT_INDENT_2).decode())
