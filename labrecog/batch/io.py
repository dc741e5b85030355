"""Opening batch inputs and outputs: stdin, gzip, and outputs that appear only when complete."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_output", "numbered_lines", "open_input"]

_GZIP_MAGIC = b"\x1f\x8b"


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
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as sink:
            yield sink
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
