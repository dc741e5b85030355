"""What the commands share: loading a rule set with exit code 2 on failure, and a quiet
exit when the reader of stdout goes away (``labrecog evaluate … | head``)."""

from __future__ import annotations

import errno
import functools
import os
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import click
from rich.console import Console

from labrecog._errors import RulesetError
from labrecog.engine import Engine

__all__ = ["EXIT_BROKEN_PIPE", "EXIT_RULES", "StdoutConsole", "load_engine", "stdout_may_close"]

EXIT_RULES = 2
EXIT_BROKEN_PIPE = 141
"""128 + SIGPIPE: what a shell reports for ``cat`` or ``grep`` stopped by ``| head``."""

_P = ParamSpec("_P")
_R = TypeVar("_R")


def load_engine(path: str, lang: str | None = None) -> Engine:
    try:
        return Engine.from_path(path, lang="zh" if lang == "zh" else "en" if lang else None)
    except RulesetError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        click.echo(f"rule set {path} is invalid ({len(exc.problems)} problems)", err=True)
        sys.exit(EXIT_RULES)


def stdout_may_close(command: Callable[_P, _R]) -> Callable[_P, _R]:
    """Wrap a command so that a closed stdout ends it quietly with exit 141.

    The reader of a pipe leaving early (``head``, ``less`` quit) is not an error of the
    command: no ``[Errno 32] Broken pipe`` and no traceback, but not exit 0 either, since
    not everything was written (``set -o pipefail`` sees it, as it sees ``cat``). stdout
    is flushed inside the guard, so a write that fails only at the last flush, or at
    interpreter exit, is caught too.
    """

    @functools.wraps(command)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            try:
                return command(*args, **kwargs)
            finally:
                sys.stdout.flush()
        except BrokenPipeError:
            _stdout_to_devnull()
            sys.exit(EXIT_BROKEN_PIPE)

    return run


class StdoutConsole(Console):
    """A rich console that leaves a closed stdout to :func:`stdout_may_close`: rich's own
    handling exits 1, which would read as "the command failed"."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))


def _stdout_to_devnull() -> None:
    """What is still buffered for stdout goes nowhere, so exiting cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # no real file descriptor (a test runner's stdout): nothing more to flush
    finally:
        os.close(devnull)
