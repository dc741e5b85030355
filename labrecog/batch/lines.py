"""Input lines with a cap on their size: memory stays flat in bytes, not just in lines.

``for line in stream`` holds a whole line, however long: one 35 MB line of 500 tests ×
100,000 priors took 4.7 GB. Here a line longer than the cap is skipped in chunks and
stands as an :class:`OverLongLine`, which ``records.evaluate_line`` turns into an
``invalid_input`` record naming the limit. Every command that reads cases (``evaluate``,
``explain --line``) numbers lines through :func:`capped_lines`, so line N means the same
record everywhere and a UTF-8 BOM on line 1 (spreadsheet exports) is accepted by all.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, Final

__all__ = ["DEFAULT_MAX_LINE_BYTES", "UTF8_BOM", "OverLongLine", "capped_lines"]

DEFAULT_MAX_LINE_BYTES: Final = 8 * 1024 * 1024
"""8 MiB: some 20,000 prior results, far beyond any real order, and a bounded parse."""

UTF8_BOM: Final = b"\xef\xbb\xbf"
_SKIP_CHUNK = 1 << 20


class OverLongLine(bytes):
    """An empty stand-in for a line over the cap; its bytes were read past, never kept."""

    limit: int

    def __new__(cls, limit: int) -> OverLongLine:
        made = super().__new__(cls, b"")
        made.limit = limit
        return made

    def __reduce__(self) -> tuple[type[OverLongLine], tuple[int]]:
        return (OverLongLine, (self.limit,))  # crosses to worker processes intact


def capped_lines(
    stream: BinaryIO, max_bytes: int = DEFAULT_MAX_LINE_BYTES, first_line: int = 1
) -> Iterator[tuple[int, bytes]]:
    """Lines numbered from 1, as a text editor shows them, each at most ``max_bytes`` long
    (not counting its newline); a longer one is an :class:`OverLongLine`. ``first_line``:
    the number of the line the stream is positioned at (a block of a file read on its own,
    labrecog.dask); only line 1 may start with the BOM."""
    line_no = first_line - 1
    while True:
        raw = stream.readline(max_bytes + 1)
        if not raw:
            return
        line_no += 1
        if line_no == 1 and raw.startswith(UTF8_BOM):
            raw = raw[len(UTF8_BOM) :]
            if len(raw) == max_bytes - len(UTF8_BOM) + 1 and not raw.endswith(b"\n"):
                raw += stream.readline(len(UTF8_BOM))  # the BOM does not count
        if len(raw) <= max_bytes or raw.endswith(b"\n"):
            yield line_no, raw
            continue
        while raw and not raw.endswith(b"\n"):
            raw = stream.readline(_SKIP_CHUNK)
        yield line_no, OverLongLine(max_bytes)
