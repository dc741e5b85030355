"""Opening batch inputs and outputs: stdin, gzip, and outputs that appear only when complete."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_output", "numbered_lines", "open_input"]

_GZIP_MAGIC = b"\x1f\x8b"
_NAME_TRIES = 100


@contextlib.contextmanager
def open_input(path: str) -> Iterator[BinaryIO]:
    """``-`` is stdin; gzip is recognised by its magic bytes, whatever the file is called."""
    if path == "-":
        stream: BinaryIO = sys.stdin.buffer
        if not hasattr(stream, "peek"):
            stream = io.BufferedReader(stream)  # type: ignore[type-var]
        if stream.peek(2)[:2] == _GZIP_MAGIC:
            with gzip.GzipFile(fileobj=stream) as unzipped:
                yield unzipped  # type: ignore[misc]
        else:
            yield stream
        return
    raw = open(path, "rb")  # noqa: SIM115 - closed below
    try:
        head = raw.read(2)
        raw.seek(0)
        if head == _GZIP_MAGIC:
            with gzip.GzipFile(fileobj=raw) as unzipped:
                yield unzipped  # type: ignore[misc]
        else:
            yield raw
    finally:
        raw.close()


def numbered_lines(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """Lines numbered from 1, as a text editor shows them."""
    yield from enumerate(stream, start=1)


@contextlib.contextmanager
def atomic_output(path: str | None) -> Iterator[BinaryIO]:
    """stdout, or a file that is renamed into place only when the block completes.

    An interrupted run leaves at most a ``.NAME.*.partial`` file beside the target, never
    a file with the target's name that looks finished.
    """
    if path is None or path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _partial_file(target)
    try:
        with os.fdopen(fd, "wb") as sink:
            yield sink
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _partial_file(target: Path) -> tuple[int, str]:
    """A new ``.NAME.*.partial`` beside the target, with the mode any new file gets.

    ``tempfile.mkstemp`` creates 0600 whatever the umask, so a decisions file meant for a
    group-readable folder came out private. Asking for 0666 lets the kernel apply the
    user's umask (022: 0644, 077: 0600) as ``open(path, "w")`` would; O_EXCL keeps the name
    ours alone, as mkstemp does.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(_NAME_TRIES):
        name = target.parent / f".{target.name}.{secrets.token_hex(4)}.partial"
        try:
            return os.open(name, flags, 0o666), str(name)
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {target}")
