"""Scratch folders that do not outlive their run, even a killed one: joined mode's results
index, the ``--jobs`` workers' spool of encoded chunks.

An SQLite results index can be tens of megabytes, and unattended runs get killed. So each
folder is named ``labrecog-join-<pid>-*``; it is removed on close, at exit, and on SIGTERM
or SIGHUP (the handler removes it, then lets the signal end the process as before); and
what ``kill -9`` leaves behind is swept by the next run: folders of processes that no longer
exist, untouched for ``STALE_SECONDS`` (a margin for PID namespaces sharing one TMPDIR).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Final

__all__ = ["PREFIX", "STALE_SECONDS", "make_scratch", "remove_scratch", "sweep"]

PREFIX: Final = "labrecog-join-"
STALE_SECONDS: Final = 600
_SIGNALS: Final = (signal.SIGTERM, signal.SIGHUP) if hasattr(signal, "SIGHUP") else ()

_live: dict[Path, int] = {}  # folder -> the pid that made it (a forked child must not)
_guarded: set[int] = set()


def make_scratch(tmp_dir: str | Path | None) -> Path:
    """A new folder under ``tmp_dir`` (default TMPDIR), after sweeping stale ones there."""
    base = Path(tmp_dir) if tmp_dir is not None else Path(tempfile.gettempdir())
    sweep(base)
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=base))
    _live[path] = os.getpid()
    _guard()
    return path


def remove_scratch(path: Path) -> None:
    """Delete the folder if this process made it; idempotent."""
    if _live.get(path, os.getpid()) != os.getpid():
        return  # a forked child inherited the record; the folder is the parent's
    _live.pop(path, None)
    shutil.rmtree(path, ignore_errors=True)


def sweep(base: Path, *, now: float | None = None) -> list[Path]:
    """Remove the folders of dead processes, idle for ``STALE_SECONDS``; returns them."""
    now = time.time() if now is None else now
    removed = []
    with contextlib.suppress(OSError):
        for entry in base.glob(PREFIX + "*"):
            pid = _pid_of(entry.name)
            if pid is None or pid == os.getpid() or _alive(pid) or not _stale(entry, now):
                continue
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _pid_of(name: str) -> int | None:
    head = name[len(PREFIX) :].split("-", 1)[0]
    return int(head) if head.isdigit() else None  # an older name: whose it is is unknown


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists (another user's), or cannot tell: keep its folder
    return True


def _stale(entry: Path, now: float) -> bool:
    """Ours, a folder, and nothing in it touched for STALE_SECONDS."""
    try:
        info = entry.lstat()
        if not entry.is_dir() or entry.is_symlink() or info.st_uid != os.getuid():
            return False
        newest = max([info.st_mtime] + [child.stat().st_mtime for child in entry.iterdir()])
    except OSError:
        return False
    return now - newest > STALE_SECONDS


def _guard() -> None:
    """On SIGTERM/SIGHUP left at their default: remove our folders, then die as before."""
    if os.getpid() in _guarded or threading.current_thread() is not threading.main_thread():
        return
    _guarded.add(os.getpid())
    for signum in _SIGNALS:
        if signal.getsignal(signum) == signal.SIG_DFL:
            signal.signal(signum, _on_signal)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    for path, owner in list(_live.items()):
        if owner == os.getpid():
            shutil.rmtree(path, ignore_errors=True)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
