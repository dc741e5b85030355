"""``labrecog init``: start a local rule set from a shipped one, tests included.

A new user's first rule set should pass its own tests before the first edit: then a red
``labrecog test`` after an edit points at that edit, not at the starting point.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import NoReturn

import click

from labrecog.cli.common import EXIT_RULES
from labrecog.load import copy_shipped, shipped_rulesets
from labrecog.words import Lang, say

__all__ = ["init"]


@click.command()
@click.argument("folder", metavar="DIR", type=click.Path(path_type=Path))
@click.option(
    "--from",
    "name",
    required=True,
    type=click.Choice(shipped_rulesets()),
    help="The shipped rule set to start from.",
)
@click.option(
    "--lang",
    type=click.Choice(["zh", "en"]),
    default="en",
    show_default=True,
    help="Language of what is printed.",
)
def init(folder: Path, name: str, lang: Lang) -> None:
    """Create the rule set DIR (new or empty) as a copy of a shipped one, with its tests.

    Exit 2, writing nothing, if DIR exists and is not an empty folder.
    """
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        _refuse(say("init", "not_folder", lang, folder=folder))
    if folder.is_dir() and any(folder.iterdir()):
        _refuse(say("init", "not_empty", lang, folder=folder))
    try:
        written = copy_shipped(name, folder)
    except OSError as exc:
        _refuse(say("init", "cannot_write", lang, folder=folder, error=exc.strerror or exc))
    click.echo(say("init", "created", lang, folder=folder, name=name, count=len(written)))
    for path in written:
        click.echo(f"  {path}")
    shown = shlex.quote(str(folder))
    click.echo(say("init", "next", lang))
    click.echo(f"  labrecog validate {shown}")
    click.echo(f"  labrecog test {shown}")


def _refuse(message: str) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(EXIT_RULES)
