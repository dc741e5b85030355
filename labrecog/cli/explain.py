"""``labrecog explain``: one case as a readable table (being written)."""

from __future__ import annotations

import click

__all__ = ["explain"]


@click.command()
@click.argument("case", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--rules", required=True, type=click.Path(exists=True), help="Rule set.")
def explain(case: str, rules: str) -> None:
    """Explain the decision for one CASE (a JSON file)."""
    raise click.ClickException("not yet implemented")
