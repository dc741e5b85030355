"""The report's tables, and the same tables as one self-contained HTML page.

The page needs no network and no JavaScript: it is mailed around and opened from disk
by analysts, so charts are inline SVG and the style is inline CSS. Every string that came
from a decisions file (test codes, institution ids, reason codes) is escaped.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from decimal import Decimal
from html import escape
from typing import Any

from labrecog.output._html_page import ReportTable, esc, page_head, plain, table_html
from labrecog.words import Lang, say

__all__ = [
    "Names",
    "ReportTable",
    "format_money",
    "format_percent",
    "plain",
    "render_html",
    "report_tables",
]

#: ordered code -> how the report shows it ("HBA1C 糖化血红蛋白A1c"); codes not in it as is
Names = Mapping[str, str]


def format_money(money: dict[str, str]) -> str:
    """``12.00 CNY; 3.50 USD``: one amount per currency, never a sum across them."""
    return "; ".join(f"{amount} {plain(currency)}" for currency, amount in money.items()) or "0"


def format_percent(rate: str | None) -> str:
    return "–" if rate is None else f"{Decimal(rate) * 100:.1f}%"


def report_tables(
    data: dict[str, Any], top: int, lang: Lang = "en", names: Names | None = None
) -> list[ReportTable]:
    """The tables of the report, each cut to ``top`` rows (the JSON keeps them all), in
    ``lang``; ``names`` shows tests by code and name."""

    def w(key: str, **params: object) -> str:
        return say("report", key, lang, **params)

    def heads(*keys: str) -> tuple[str, ...]:
        return tuple(w(key) for key in keys)

    def test(code: str) -> str:
        return plain(names.get(code, code) if names else code)

    totals = data["totals"]
    total_rows = [
        (w("cases"), str(totals["cases"])),
        (w("decisions"), str(totals["decisions"])),
        (w("error_records"), str(totals["errors"])),
        (w("unreadable"), str(totals["unreadable"])),
        (w("items"), str(totals["items"])),
        (w("waive"), f"{totals['waive']} ({format_percent(totals['waive_rate'])})"),
        (w("partial"), f"{totals['partial']} ({format_percent(totals['partial_rate'])})"),
        (w("retest"), f"{totals['retest']} ({format_percent(totals['retest_rate'])})"),
        (w("saving"), format_money(totals["saving"])),
    ]
    if totals["saving_mismatches"]:
        total_rows.append((w("mismatches"), str(totals["saving_mismatches"])))
    for code, n in data["error_codes"].items():
        total_rows.append((w("error_code", code=plain(code)), str(n)))
    tables = [
        ReportTable("totals", w("totals"), ("", w("value")), (False, True), tuple(total_rows)),
        _cut(
            "by_test",
            w("by_test"),
            heads("test", "count", "waive", "partial", "retest", "waiver_rate", "saving"),
            (False, True, True, True, True, True, True),
            [
                (
                    test(r["code"]),
                    str(r["count"]),
                    str(r["waive"]),
                    str(r["partial"]),
                    str(r["retest"]),
                    format_percent(r["waive_rate"]),
                    format_money(r["saving"]),
                )
                for r in data["by_test"]
            ],
            top,
        ),
        _cut(
            "by_institution",
            w("by_institution"),
            heads("institution", "waived_tests", "single_tests", "panel_components", "saving"),
            (False, True, True, True, True),
            [
                (
                    w("not_recorded") if r["institution"] is None else plain(r["institution"]),
                    str(r["waived_tests"]),
                    str(r["single_tests"]),
                    str(r["panel_components"]),
                    format_money(r["saving"]),
                )
                for r in data["by_institution"]
            ],
            top,
            w("institution_caption", unattributed=format_money(data["unattributed_saving"])),
        ),
        _cut(
            "by_reason",
            w("by_reason"),
            heads("reason", "reason_items", "reasons"),
            (False, True, True),
            [(plain(r["code"]), str(r["items"]), str(r["reasons"])) for r in data["by_reason"]],
            top,
            w("reason_caption"),
        ),
        _cut(
            "by_ruleset",
            w("by_ruleset"),
            heads("id", "version", "digest", "decisions", "items", "waiver_rate", "saving"),
            (False, False, False, True, True, True, True),
            [
                (
                    plain(r["id"]),
                    plain(r["version"]),
                    _short_digest(plain(r["digest"])),
                    str(r["decisions"]),
                    str(r["items"]),
                    format_percent(r["waive_rate"]),
                    format_money(r["saving"]),
                )
                for r in data["by_ruleset"]
            ],
            top,
            w("digest_caption"),
        ),
    ]
    return tables


def _short_digest(digest: str) -> str:
    """``sha256:`` and 12 hex digits tell rule sets apart, as a short git hash does."""
    algo, sep, hexdigits = digest.partition(":")
    return f"{algo}:{hexdigits[:12]}" if sep and len(hexdigits) > 12 else digest


def _cut(
    key: str,
    title: str,
    headers: tuple[str, ...],
    numeric: tuple[bool, ...],
    rows: list[tuple[str, ...]],
    top: int,
    caption: str = "",
) -> ReportTable:
    return ReportTable(
        key, title, headers, numeric, tuple(rows[:top]), max(0, len(rows) - top), caption
    )


# --- HTML -------------------------------------------------------------------------------

# The report page adds its bar charts to the shared page style.
_CHART_CSS = """
svg{display:block;margin:.5rem 0}svg text{font-size:12px;fill:#1b1f24}
svg rect.bar{fill:#2f81f7}svg rect.track{fill:#eaeef2}
""".strip()

_LABEL_WIDTH = 180
_BAR_WIDTH = 360
_ROW_HEIGHT = 20
_LABEL_UNITS = 26  # label display width, CJK characters counting two


def render_html(
    data: dict[str, Any],
    top: int,
    source: str,
    lang: Lang = "en",
    names: Names | None = None,
) -> str:
    """The whole page; ``source`` is the decisions file's name, shown in the heading."""

    def w(key: str, **params: object) -> str:
        return say("report", key, lang, **params)

    def test(code: str) -> str:
        return names.get(code, code) if names else code

    tables = {t.key: t for t in report_tables(data, top, lang, names)}
    parts = [
        *page_head(w("title"), lang, _CHART_CSS),
        f'<p class="src">{_e(w("decisions_file", source=source))}</p>',
        _table_html(tables["totals"], w),
    ]
    if data["unreadable_lines"]:
        parts.append(f"<p>{_e(w('unreadable_lines'))}</p><ul>")
        for sample in data["unreadable_lines"]:
            line = "?" if sample["line"] is None else str(sample["line"])
            parts.append(f"<li>{_e(w('line', line=line, why=sample['why']))}</li>")
        parts.append("</ul>")
    by_test = data["by_test"][:top]
    parts.append(f"<h2>{_e(w('chart.rate'))}</h2>")
    parts.append(
        _bar_chart(
            w("chart.rate"),
            [
                (
                    test(r["code"]),
                    float(Decimal(r["waive_rate"] or 0)),
                    format_percent(r["waive_rate"]),
                )
                for r in by_test
            ],
            w("no_data"),
            scale_max=1.0,
        )
    )
    for currency in sorted({c for r in data["by_test"] for c in r["saving"]}):
        ranked = sorted(
            (r for r in data["by_test"] if currency in r["saving"]),
            key=lambda r: (-Decimal(r["saving"][currency]), r["code"]),
        )[:top]
        title = w("chart.saving", currency=currency)
        parts.append(f"<h2>{_e(title)}</h2>")
        parts.append(
            _bar_chart(
                title,
                [
                    (
                        test(r["code"]),
                        float(Decimal(r["saving"][currency])),
                        f"{r['saving'][currency]} {currency}",
                    )
                    for r in ranked
                ],
                w("no_data"),
            )
        )
    parts.append(f"<h2>{_e(w('chart.reasons'))}</h2>")
    parts.append(
        _bar_chart(
            w("chart.reasons_label"),
            [(r["code"], float(r["items"]), str(r["items"])) for r in data["by_reason"][:top]],
            w("no_data"),
        )
    )
    for key in ("by_test", "by_institution", "by_reason", "by_ruleset"):
        parts.append(_table_html(tables[key], w))
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


_e = esc


def _table_html(table: ReportTable, w: Callable[..., str]) -> str:
    return table_html(table, w("no_rows"), w("more_html", n=table.hidden))


def _display_width(ch: str) -> int:
    return 2 if unicodedata.east_asian_width(ch) in "WF" else 1


def _short_label(label: str) -> str:
    """Cut to what fits left of the bars; the full label is in the bar's tooltip."""
    label = plain(label)
    width = 0
    for i, ch in enumerate(label):
        width += _display_width(ch)
        if width > _LABEL_UNITS:
            return label[:i] + "…"
    return label


def _bar_chart(
    title: str,
    bars: list[tuple[str, float, str]],
    no_data: str,
    scale_max: float | None = None,
) -> str:
    """Horizontal bars: label, bar scaled to the largest value (or ``scale_max``), value."""
    if not bars:
        return f"<p>{_e(no_data)}</p>"
    biggest = scale_max if scale_max is not None else max(v for _, v, _ in bars)
    height = _ROW_HEIGHT * len(bars) + 4
    width = _LABEL_WIDTH + _BAR_WIDTH + 110
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}">'
    ]
    for i, (label, value, text) in enumerate(bars):
        y = 2 + i * _ROW_HEIGHT
        length = 0.0 if biggest <= 0 else max(0.0, min(1.0, value / biggest)) * _BAR_WIDTH
        mid = y + _ROW_HEIGHT / 2 + 4
        out.append(
            f"<g><title>{_e(label)}: {_e(text)}</title>"
            f'<text x="{_LABEL_WIDTH - 6}" y="{mid:.0f}" text-anchor="end">'
            f"{escape(_short_label(label))}</text>"
            f'<rect class="track" x="{_LABEL_WIDTH}" y="{y + 3}" width="{_BAR_WIDTH}" '
            f'height="{_ROW_HEIGHT - 6}"/>'
            f'<rect class="bar" x="{_LABEL_WIDTH}" y="{y + 3}" width="{length:.1f}" '
            f'height="{_ROW_HEIGHT - 6}"/>'
            f'<text x="{_LABEL_WIDTH + _BAR_WIDTH + 6}" y="{mid:.0f}">{_e(text)}</text></g>'
        )
    out.append("</svg>")
    return "\n".join(out)
