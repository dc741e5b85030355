"""Faults injected into Dask partitions (tests/test_dask_run.py): pickled by value, so the
workers need not import the tests.

Each hook kills its own worker process (SIGKILL, as the OOM killer would) the first time
it reaches its stage for its part; a marker file made with O_EXCL decides "first" across
processes, so the run is killed exactly once per marker whatever the timing.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labrecog.dask import Part


def _first(marker: Path) -> bool:
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


@dataclass(frozen=True)
class KillOnce:
    """Kill the worker at ``stage`` of the part ``block`` of input ``source``, once."""

    markers: str
    stage: str
    source: int = 0
    block: int = 1
    always: bool = False

    def __call__(self, stage: str, part: Part) -> None:
        if stage != self.stage or (part.source, part.block) != (self.source, self.block):
            return
        marker = Path(self.markers) / f"{part.name}-{stage}"
        if self.always or _first(marker):
            if self.always:
                marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)


@dataclass(frozen=True)
class Fail:
    """Raise in the part ``block`` of input ``source`` at ``stage``: a bug in one part,
    its worker alive (Dask does not retry an exception)."""

    stage: str
    source: int = 0
    block: int = 1

    def __call__(self, stage: str, part: Part) -> None:
        if stage == self.stage and (part.source, part.block) == (self.source, self.block):
            raise RuntimeError(f"{part.name} fails (test)")


def drain(client: Any) -> None:
    """Close every worker of ``client``'s LocalCluster for good, as when all its nannies
    gave up (tests of the no-workers timeout)."""
    client.cluster.scale(0)
    client.cluster.sync(client.cluster._correct_state)  # scale() only schedules it
    assert not client.nthreads()
