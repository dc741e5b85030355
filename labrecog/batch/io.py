"""Opening batch inputs and outputs: stdin, gzip, and outputs that appear only when complete.

Output paths (docs/cli.md "Output paths"): ``-`` is stdout; a regular file (new or old) is
written to a hidden ``.partial`` beside it and renamed into place; a FIFO or character
device is written through, never replaced; a symlink is followed, so the link stays and
its target is replaced; anything else (folder, socket, block device) is refused.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import secrets
import stat
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO, Literal

from labrecog.batch.lines import DEFAULT_MAX_LINE_BYTES, capped_lines

__all__ = [
    "OutputPathError",
    "atomic_output",
    "check_paths",
    "numbered_lines",
    "open_input",
    "output_target",
]

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


def numbered_lines(
    stream: BinaryIO, max_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[tuple[int, bytes]]:
    """Lines numbered from 1, as a text editor shows them, never more than ``max_bytes``
    held in memory (a longer line is an ``OverLongLine``: an error record, not an
    out-of-memory); a UTF-8 BOM on line 1 is dropped (:func:`labrecog.batch.lines.capped_lines`)."""
    yield from capped_lines(stream, max_bytes)


@contextlib.contextmanager
def atomic_output(path: str | None) -> Iterator[BinaryIO]:
    """stdout, a FIFO or device written through, or a file that is renamed into place
    only when the block completes (through a symlink: its target).

    An interrupted run leaves at most a ``.NAME.*.partial`` file beside the target, never
    a file with the target's name that looks finished.
    """
    if path is None or path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    target, kind = output_target(path)
    if kind == "stream":
        # No O_CREAT, no O_TRUNC: the device or FIFO is written, never made into a file.
        with os.fdopen(os.open(target, os.O_WRONLY | getattr(os, "O_BINARY", 0)), "wb") as out:
            yield out
        return
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


class OutputPathError(ValueError):
    """An output location that must not or cannot be written: a usage error, found
    before any work starts."""


OutputKind = Literal["file", "stream"]
_Identity = tuple[int, int] | str


def output_target(path: str) -> tuple[Path, OutputKind]:
    """Where writing ``path`` lands, and how: ``file`` (atomic replace) or ``stream``.

    A FIFO or character device is opened by the name given (``/dev/stdout`` into a pipe
    resolves only through its link); a file through a symlink is the link's target, so
    the rename freshens the target and the link stays.
    """
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return Path(os.path.realpath(path)), "file"  # a new file; its folder is checked
    if stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode):
        return Path(path), "stream"
    if stat.S_ISREG(st.st_mode):
        return Path(os.path.realpath(path)), "file"
    raise OutputPathError(
        f"{path} is {_kind(st.st_mode)}: an output must be a file, a FIFO or a character device"
    )


def check_paths(inputs: Mapping[str, str | None], outputs: Mapping[str, str | None]) -> None:
    """Every output writable, none the same file as an input or another output.

    Keys name the option (``-o``, ``CASES``) so the message says which two collide.
    Identity is the inode (``st_dev``, ``st_ino``), so hard links and symlinks are seen
    through; outputs not yet created compare by their resolved path. Character devices
    (``/dev/null``, a terminal) may be named twice: nothing is lost writing them twice.
    """
    seen: list[tuple[str, str, _Identity]] = []
    for option, path in inputs.items():
        if path is None or path == "-":
            continue
        try:
            st = os.stat(path)
        except OSError:
            continue  # opening it will say why, as before
        if not stat.S_ISCHR(st.st_mode):
            seen.append((option, path, (st.st_dev, st.st_ino)))
    for option, path in outputs.items():
        if path is None or path == "-":
            continue
        try:
            target, kind = output_target(path)
        except OutputPathError as exc:
            raise OutputPathError(f"{option} {exc}") from None
        _check_writable(option, path, target, kind)
        ident = _identity(target)
        if ident is None:
            continue
        for other_option, other_path, other in seen:
            if other == ident:
                raise OutputPathError(
                    f"{option} {path} is the same file as {other_option} {other_path}"
                )
        seen.append((option, path, ident))


def _identity(target: Path) -> _Identity | None:
    try:
        st = os.stat(target)
    except (FileNotFoundError, NotADirectoryError):
        return str(target)
    return None if stat.S_ISCHR(st.st_mode) else (st.st_dev, st.st_ino)


def _check_writable(option: str, path: str, target: Path, kind: OutputKind) -> None:
    """A stream must accept writes; a file needs a folder (or the nearest existing
    ancestor, since missing folders are created) that takes new files."""
    if kind == "stream":
        if not os.access(target, os.W_OK):
            raise OutputPathError(f"cannot write {option} {path}: not writable")
        return
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise OutputPathError(f"cannot write {option} {path}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputPathError(f"cannot write {option} {path}: folder {folder} is not writable")


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISBLK(mode):
        return "a block device"
    return "not a regular file"
