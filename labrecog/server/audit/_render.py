"""The audit as tables (for rich on a terminal) and as one self-contained HTML page.

The tables are :class:`labrecog.output.ReportTable`, as ``labrecog report``'s are, and the
page has the report page's look (its style sheet is copied below: ``labrecog.output`` does
not export it). No script, no network; every string from the store (codes, user ids,
department names, reason displays) is escaped, and control characters are shown as
escapes, so stored text cannot drive a terminal or a page.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from labrecog.output import ReportTable, esc, page_head, plain, table_html
from labrecog.words import Lang, say

__all__ = ["audit_tables", "period_text", "plain", "render_audit_html"]

_COUNTS = ("cards", "accepted", "overridden", "no_feedback", "override_rate")


def _percent(part: int, whole: int) -> str:
    """From the counts, rounded once (5/11 is 45.5%, not 45.4% from the JSON's 0.4545)."""
    if whole == 0:
        return "–"
    share = (Decimal(100 * part) / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP)
    return f"{share}%"


def period_text(period: dict[str, Any], lang: Lang) -> str:
    start, end, tz = period["from"], period["to"], period["timezone"]
    key = "both" if start and end else "from" if start else "to" if end else "all"
    return say("audit", f"period.{key}", lang, start=start, end=end, tz=tz)


def _count_cells(row: dict[str, Any]) -> tuple[str, ...]:
    return (
        str(row["cards"]),
        str(row["accepted"]),
        str(row["overridden"]),
        str(row["no_feedback"]),
        _percent(row["overridden"], row["accepted"] + row["overridden"]),
    )


def audit_tables(data: dict[str, Any], top: int, lang: Lang = "en") -> list[ReportTable]:
    """The totals, then override rates by test, reason, department and ordering user, each
    cut to ``top`` rows (``--json`` keeps them all)."""

    def w(key: str) -> str:
        return say("audit", key, lang)

    def named(value: str | None) -> str:
        return w("not_recorded") if value is None else plain(value)

    totals = data["totals"]
    answered = totals["accepted"] + totals["overridden"]
    total_rows = (
        (w("item_cards"), str(totals["cards"])),
        (w("accepted"), str(totals["accepted"])),
        (w("overridden"), str(totals["overridden"])),
        (w("no_feedback"), str(totals["no_feedback"])),
        (w("override_rate"), _percent(totals["overridden"], answered)),
        (w("order_cards"), str(totals["order_cards"])),
        (w("order_dismissed"), str(totals["order_cards_dismissed"])),
        (w("unknown_cards"), str(totals["feedback_on_unknown_cards"])),
    )
    tables = [ReportTable("totals", w("totals"), ("", w("value")), (False, True), total_rows)]
    numeric = (False, True, True, True, True, True)
    for key, column in (("by_test", "test"), ("by_department", "department"), ("by_user", "user")):
        rows = [(named(r[column]), *_count_cells(r)) for r in data[key]]
        heads = (w(column), *(w(c) for c in _COUNTS))
        tables.append(_cut(key, w(key), heads, numeric, rows, top))
    overrides = sum(r["overridden"] for r in data["by_reason"])
    reasons = [
        (
            w("no_reason") if r["code"] is None else plain(r["code"]),
            plain(r["display"] or ""),
            str(r["overridden"]),
            _percent(r["overridden"], overrides),
        )
        for r in data["by_reason"]
    ]
    heads = (w("reason"), w("display"), w("overridden"), w("share"))
    by_reason = _cut("by_reason", w("by_reason"), heads, (False, False, True, True), reasons, top)
    tables.insert(2, by_reason)
    return tables


def _cut(
    key: str,
    title: str,
    headers: tuple[str, ...],
    numeric: tuple[bool, ...],
    rows: Sequence[tuple[str, ...]],
    top: int,
) -> ReportTable:
    return ReportTable(key, title, headers, numeric, tuple(rows[:top]), max(0, len(rows) - top))


# --- HTML -------------------------------------------------------------------------------


def _table_html(table: ReportTable, lang: Lang) -> str:
    more = say("audit", "more_html", lang, n=table.hidden) if table.hidden else ""
    return table_html(table, say("audit", "no_rows", lang), more)


def render_audit_html(data: dict[str, Any], top: int, lang: Lang = "en") -> str:
    """The whole page: heading, store and period, the tables, and how rates are counted."""
    title = say("audit", "title", lang)
    parts = [
        *page_head(title, lang),
        f'<p class="src">{esc(say("audit", "store", lang, store=data["store"]))}<br>'
        f"{esc(period_text(data['period'], lang))}</p>",
    ]
    parts.extend(_table_html(table, lang) for table in audit_tables(data, top, lang))
    for note in ("note.rate", "note.reason"):
        parts.append(f'<p class="more">{esc(say("audit", note, lang))}</p>')
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)
