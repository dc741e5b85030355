"""``labrecog report``: waiver rates and savings from a decisions file (being written)."""

from __future__ import annotations

import click

__all__ = ["report"]


@click.command()
@click.argument("decisions", type=click.Path(dir_okay=False, allow_dash=True))
def report(decisions: str) -> None:
    """Summarise DECISIONS (JSONL written by evaluate)."""
    raise click.ClickException("not yet implemented")
