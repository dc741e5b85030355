"""A :class:`ReportTable` on a terminal, as ``report`` and ``audit`` print it."""

from __future__ import annotations

from rich import box
from rich.table import Table
from rich.text import Text

from labrecog.output._html_page import ReportTable

__all__ = ["rich_table"]


def rich_table(table: ReportTable, more: str | None) -> Table:
    """Cells are :class:`Text`, never markup: a code like ``[bold]`` is shown as is.
    ``more`` (rows beyond --top) follows the caption."""
    caption = "\n".join(part for part in (table.caption, more) if part)
    out = Table(
        title=table.title,
        caption=Text(caption) if caption else None,
        box=box.SIMPLE_HEAD,
        title_justify="left",
        caption_justify="left",
    )
    for header, numeric in zip(table.headers, table.numeric, strict=True):
        # fold, never an ellipsis: a cut code or digest would mislead
        out.add_column(Text(header), justify="right" if numeric else "left", overflow="fold")
    for row in table.rows:
        out.add_row(*(Text(cell) for cell in row))
    return out
