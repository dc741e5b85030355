"""What the commands share: loading a rule set with exit code 2 on failure, a quiet
exit when the reader of stdout goes away (``labrecog evaluate … | head``), output paths
checked before any work, and exit 3 with one line for an internal failure."""

from __future__ import annotations

import errno
import functools
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from typing import ParamSpec, TypeVar

import click
from rich.console import Console

from labrecog._errors import RulesetError
from labrecog.batch.io import OutputPathError, check_paths
from labrecog.compile import compile_rules
from labrecog.engine import Engine
from labrecog.load import LoadedRuleset, load_ruleset
from labrecog.words import Lang

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_INTERNAL",
    "EXIT_RULES",
    "StdoutConsole",
    "check_output_paths",
    "internal_failure_exits",
    "load_engine",
    "stdout_may_close",
]

EXIT_RULES = 2
EXIT_INTERNAL = 3
"""Not the input's fault nor the rule set's: a bug, a broken worker pool, a failing store."""
DEBUG_ENV = "LABRECOG_DEBUG"
EXIT_BROKEN_PIPE = 141
"""128 + SIGPIPE: what a shell reports for ``cat`` or ``grep`` stopped by ``| head``."""

_P = ParamSpec("_P")
_R = TypeVar("_R")


def load_engine(path: str, lang: str | None = None) -> Engine:
    return load_engine_and_rules(path, lang)[0]


def load_engine_and_rules(path: str, lang: str | None = None) -> tuple[Engine, LoadedRuleset]:
    """The engine, and the rule set it was compiled from: what ``--jobs`` workers get, so
    that an edit of the folder during a run never reaches them. Exit 2 if invalid."""
    try:
        loaded = load_ruleset(path)
        chosen: Lang | None = "zh" if lang == "zh" else "en" if lang else None
        engine = Engine(compile_rules(loaded), lang=chosen)
    except RulesetError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        click.echo(f"rule set {path} is invalid ({len(exc.problems)} problems)", err=True)
        sys.exit(EXIT_RULES)
    return engine, loaded


def check_output_paths(inputs: Mapping[str, str | None], outputs: Mapping[str, str | None]) -> None:
    """Usage error (exit 2) for an output that cannot be written or would overwrite an
    input or another output: checked before the first case is read, not after the run."""
    try:
        check_paths(inputs, outputs)
    except OutputPathError as exc:
        raise click.UsageError(str(exc)) from None


def internal_failure_exits(command: Callable[_P, _R]) -> Callable[_P, _R]:
    """Wrap a command so an unexpected exception exits 3 with one line on stderr.

    Exit 1 means "some lines were error records, all written": a crash must never read
    as that. The traceback is for developers: ``LABRECOG_DEBUG=1`` prints it first.
    Click's own exits, a closed stdout and Ctrl-C pass through untouched.
    """

    @functools.wraps(command)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return command(*args, **kwargs)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:
            raise
        except Exception as exc:
            if os.environ.get(DEBUG_ENV) == "1":
                traceback.print_exc(file=sys.stderr)
            what = " ".join(f"{type(exc).__name__}: {exc}".split())
            click.echo(
                f"labrecog: internal error, the run stopped ({what}); "
                f"set {DEBUG_ENV}=1 for the traceback",
                err=True,
            )
            sys.exit(EXIT_INTERNAL)

    return run


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
