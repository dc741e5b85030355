"""The pieces every labrecog HTML page shares: the table type, escaping, the style sheet,
the page head and a table's markup. ``report`` and ``audit`` pages are built from these,
so they look alike and escape alike. No script, no network.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from html import escape

__all__ = ["PAGE_CSS", "ReportTable", "esc", "page_head", "plain", "table_html"]


@dataclass(frozen=True, slots=True)
class ReportTable:
    """One table as plain strings, rendered by rich on a terminal and as HTML."""

    key: str
    title: str
    headers: tuple[str, ...]
    numeric: tuple[bool, ...]
    rows: tuple[tuple[str, ...], ...]
    hidden: int = 0  # rows beyond --top
    caption: str = ""


def plain(text: str) -> str:
    """Control characters shown as escapes: input text must not drive the terminal."""
    if text.isprintable():
        return text
    return "".join(
        ch if ch.isprintable() or unicodedata.category(ch) == "Zs" else _escaped(ch) for ch in text
    )


def _escaped(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def esc(text: str) -> str:
    """Text for HTML: control characters as escapes, then markup escaped."""
    return escape(plain(text), quote=True)


PAGE_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC","PingFang SC",
"Microsoft YaHei",sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1b1f24}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0}
th,td{border-bottom:1px solid #d0d7de;padding:.25rem .75rem;text-align:left}
th{background:#f6f8fa}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
caption{caption-side:bottom;text-align:left;color:#57606a;font-size:.85rem;padding-top:.4rem}
.more{color:#57606a;font-size:.85rem}.src{color:#57606a}
""".strip()


def page_head(title: str, lang: str, extra_css: str = "") -> list[str]:
    """The page up to and including its ``<h1>``."""
    css = PAGE_CSS + ("\n" + extra_css if extra_css else "")
    return [
        "<!DOCTYPE html>",
        f'<html lang="{lang}">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>",
        f"<style>{css}</style>",
        "</head>",
        "<body>",
        f"<h1>{esc(title)}</h1>",
    ]


def table_html(table: ReportTable, no_rows: str, more: str) -> str:
    """One table; ``no_rows`` fills an empty one, ``more`` follows a cut one."""
    out = []
    if table.key != "totals":
        out.append(f"<h2>{esc(table.title)}</h2>")
    out.append("<table>")
    if table.caption:
        out.append(f"<caption>{esc(table.caption)}</caption>")
    heads = "".join(
        f'<th{" class=n" if num else ""} scope="col">{esc(h)}</th>'
        for h, num in zip(table.headers, table.numeric, strict=True)
    )
    out.append(f"<thead><tr>{heads}</tr></thead>")
    out.append("<tbody>")
    for row in table.rows:
        cells = "".join(
            f"<td{' class=n' if num else ''}>{esc(cell)}</td>"
            for cell, num in zip(row, table.numeric, strict=True)
        )
        out.append(f"<tr>{cells}</tr>")
    if not table.rows:
        out.append(f'<tr><td colspan="{len(table.headers)}">{esc(no_rows)}</td></tr>')
    out.append("</tbody></table>")
    if table.hidden:
        out.append(f'<p class="more">{esc(more)}</p>')
    return "\n".join(out)
