"""A progress bar for operators watching a long batch; silent when nobody is watching."""

from __future__ import annotations

import sys
import time
from types import TracebackType

from rich.console import Console
from rich.progress import Progress as RichProgress
from rich.progress import SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from labrecog.batch.summary import Summary

__all__ = ["Progress"]


class Progress:
    """Shown on stderr only when it is a terminal and the run is not quiet."""

    def __init__(self, *, enabled: bool = True) -> None:
        self._enabled = enabled and sys.stderr.isatty()
        self._bar: RichProgress | None = None
        self._task: TaskID | None = None
        self._started = time.perf_counter()

    def __enter__(self) -> Progress:
        if self._enabled:
            self._bar = RichProgress(
                SpinnerColumn(),
                TextColumn("{task.fields[cases]:>10,} cases"),
                TextColumn("{task.fields[rate]:>8,.0f}/s"),
                TextColumn("errors {task.fields[errors]:,}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task("evaluate", total=None, cases=0, rate=0.0, errors=0)
        return self

    def update(self, summary: Summary) -> None:
        if self._bar is None or self._task is None:
            return
        elapsed = max(time.perf_counter() - self._started, 1e-9)
        self._bar.update(
            self._task, cases=summary.cases, rate=summary.cases / elapsed, errors=summary.errors
        )

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.__exit__(kind, value, traceback)
