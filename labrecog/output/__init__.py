"""Presentation only: the explain table and the HTML report, read from decisions and traces."""

from labrecog.output._explain_table import explanation
from labrecog.output._html_report import (
    ReportTable,
    render_html,
    report_tables,
)

__all__ = [
    "ReportTable",
    "explanation",
    "render_html",
    "report_tables",
]
