"""A progress bar for operators watching a long batch; silent when nobody is watching.

When the input's size is known (a regular file, gzip or not) the bar says how far through
it the run is and when it should end; from stdin or a pipe only the count and the rate can
be known. The clock is injectable so that the line can be tested without waiting.
"""

from __future__ import annotations

import gzip
import os
import stat
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from io import StringIO
from types import TracebackType
from typing import BinaryIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    ProgressColumn,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.progress import Progress as RichProgress

from labrecog.batch.summary import Summary

__all__ = ["Meter", "Progress", "byte_meter", "eta_seconds", "format_eta"]


@dataclass(frozen=True, slots=True)
class Meter:
    """How far through its input a run is: bytes of the file read so far, of ``size``.

    For gzip both are compressed bytes: the file's size is known, the text's is not."""

    size: int
    tell: Callable[[], int]


def byte_meter(path: str, stream: BinaryIO) -> Meter | None:
    """A meter for an input opened by ``open_input``; None when its size cannot be known
    (stdin, a pipe, a device)."""
    if path == "-":
        return None
    raw = stream.fileobj if isinstance(stream, gzip.GzipFile) else stream
    if raw is None:
        return None
    try:
        st = os.fstat(raw.fileno())
    except (OSError, ValueError, AttributeError):
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return Meter(size=st.st_size, tell=raw.tell)


def eta_seconds(elapsed: float, done: int, total: int) -> float | None:
    """Time left at the rate so far; None before anything was read."""
    if done <= 0:
        return None
    return max(0.0, elapsed * (total - done) / done)


def format_eta(seconds: float | None) -> str:
    """``H:MM:SS``, rounded up (a run never "ends in 0:00:00" while still running)."""
    if seconds is None:
        return "-:--:--"
    whole = int(-(-seconds // 1))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


class Progress:
    """Shown on stderr only when it is a terminal and the run is not quiet."""

    def __init__(
        self,
        *,
        enabled: bool = True,
        meter: Meter | None = None,
        clock: Callable[[], float] = time.perf_counter,
        console: Console | None = None,
    ) -> None:
        self._console = console or Console(stderr=True)
        terminal = self._console.is_terminal if console else sys.stderr.isatty()
        self._enabled = enabled and terminal
        self._meter = meter
        self._clock = clock
        self._bar: RichProgress | None = None
        self._task: TaskID | None = None
        self._started = clock()

    def __enter__(self) -> Progress:
        if self._enabled:
            columns: list[str | ProgressColumn] = [SpinnerColumn()]
            if self._meter is not None:
                columns += [BarColumn(bar_width=20), TextColumn("{task.percentage:>3.0f}%")]
            columns += [
                TextColumn("{task.fields[cases]:>10,} cases"),
                TextColumn("{task.fields[rate]:>8,.0f}/s"),
                TextColumn("errors {task.fields[errors]:,}"),
                TimeElapsedColumn(),
            ]
            if self._meter is not None:
                columns.append(TextColumn("ETA {task.fields[eta]}"))
            self._bar = RichProgress(
                *columns, console=self._console, transient=True, get_time=self._clock
            )
            self._bar.__enter__()
            total = None if self._meter is None else max(self._meter.size, 1)
            self._task = self._bar.add_task(
                "evaluate", total=total, cases=0, rate=0.0, errors=0, eta=format_eta(None)
            )
        return self

    def update(self, summary: Summary) -> None:
        if self._bar is None or self._task is None:
            return
        elapsed = max(self._clock() - self._started, 1e-9)
        rate = summary.cases / elapsed
        if self._meter is None:
            self._bar.update(self._task, cases=summary.cases, rate=rate, errors=summary.errors)
            return
        done = self._read()
        eta = format_eta(eta_seconds(elapsed, done, self._meter.size))
        self._bar.update(
            self._task,
            completed=min(done, max(self._meter.size, 1)),
            cases=summary.cases,
            rate=rate,
            errors=summary.errors,
            eta=eta,
        )

    def text(self) -> str:
        """The progress line as it stands, as plain text ("" when not shown)."""
        if self._bar is None:
            return ""
        buffer = StringIO()
        out = Console(file=buffer, width=self._console.width, color_system=None)
        out.print(self._bar.make_tasks_table(self._bar.tasks))
        return buffer.getvalue().rstrip()

    def _read(self) -> int:
        assert self._meter is not None
        try:
            return self._meter.tell()
        except (OSError, ValueError):  # closed at the end of the input: all of it was read
            return self._meter.size

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.__exit__(kind, value, traceback)
