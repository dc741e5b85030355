"""The ``labrecog`` command line (docs/cli.md)."""

from __future__ import annotations

import click

from labrecog import __version__
from labrecog.cli.audit import audit
from labrecog.cli.diff import diff
from labrecog.cli.evaluate import evaluate
from labrecog.cli.explain import explain
from labrecog.cli.init import init
from labrecog.cli.lint import lint
from labrecog.cli.report import report
from labrecog.cli.schema import schema
from labrecog.cli.serve import serve
from labrecog.cli.test import test as test_command
from labrecog.cli.validate import validate

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="labrecog")
def main() -> None:
    """Mutual recognition of laboratory results: which ordered tests need not be repeated."""


main.add_command(evaluate)
main.add_command(validate)
main.add_command(init)
main.add_command(lint)
main.add_command(explain)
main.add_command(report)
main.add_command(schema)
main.add_command(test_command, name="test")
main.add_command(diff)
main.add_command(serve)
main.add_command(audit)
