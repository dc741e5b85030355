"""The progress line of ``labrecog evaluate``: percentage and ETA when the input's size is
known, count and rate when not. Driven with a fake clock: no real time is measured."""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path

import pytest
from rich.console import Console

from labrecog.batch.io import open_input
from labrecog.batch.progress import Meter, Progress, byte_meter, eta_seconds, format_eta
from labrecog.batch.summary import Summary


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def terminal() -> Console:
    return Console(file=io.StringIO(), force_terminal=True, color_system=None, width=150)


def summary(cases: int, errors: int = 0) -> Summary:
    s = Summary()
    s.cases, s.errors = cases, errors
    return s


def test_eta_from_the_share_done() -> None:
    assert eta_seconds(10.0, 250, 1000) == pytest.approx(30.0)
    assert eta_seconds(10.0, 0, 1000) is None  # nothing read yet: no estimate
    assert eta_seconds(10.0, 1000, 1000) == 0.0
    assert eta_seconds(10.0, 1200, 1000) == 0.0  # a gzip member read ahead past the end
    assert format_eta(None) == "-:--:--"
    assert format_eta(30.2) == "0:00:31"
    assert format_eta(3 * 3600 + 62) == "3:01:02"


def test_known_size_shows_percentage_and_eta() -> None:
    clock, read = Clock(), [0]
    meter = Meter(size=1000, tell=lambda: read[0])
    with Progress(meter=meter, clock=clock, console=terminal()) as progress:
        clock.now += 10
        read[0] = 250
        progress.update(summary(5000, errors=3))
        line = progress.text()
    assert " 25%" in line
    assert "ETA 0:00:30" in line
    assert "5,000 cases" in line
    assert "500/s" in line
    assert "errors 3" in line


def test_unknown_size_keeps_count_and_rate() -> None:
    clock = Clock()
    with Progress(clock=clock, console=terminal()) as progress:
        clock.now += 4
        progress.update(summary(2000))
        line = progress.text()
    assert "2,000 cases" in line
    assert "500/s" in line
    assert "%" not in line and "ETA" not in line


def test_silent_when_not_a_terminal() -> None:
    quiet = Console(file=io.StringIO(), force_terminal=False)
    with Progress(meter=Meter(10, lambda: 5), clock=Clock(), console=quiet) as progress:
        progress.update(summary(1))
        assert progress.text() == ""


def test_meter_of_a_plain_file(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_bytes(b"x" * 100_000 + b"\n")
    with open_input(str(path)) as stream:
        meter = byte_meter(str(path), stream)
        assert meter is not None
        assert meter.size == 100_001
        assert meter.tell() == 0
        stream.read(50_000)
        assert meter.tell() == 50_000


def test_meter_of_a_gzip_file_counts_compressed_bytes(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl.gz"
    path.write_bytes(gzip.compress(os.urandom(300_000)))
    with open_input(str(path)) as stream:
        meter = byte_meter(str(path), stream)
        assert meter is not None
        assert meter.size == path.stat().st_size
        stream.read()
        assert meter.tell() == meter.size


def test_no_meter_for_stdin_or_a_pipe(tmp_path: Path) -> None:
    assert byte_meter("-", io.BytesIO(b"")) is None
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with os.fdopen(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK), "rb") as stream:
        assert byte_meter(str(fifo), stream) is None
