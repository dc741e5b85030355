"""Presentation only: the explain table and the HTML report, read from decisions and traces."""

from labrecog.output._explain_table import explanation
from labrecog.output._html_page import ReportTable, esc, page_head, plain, table_html
from labrecog.output._html_report import render_html, report_tables
from labrecog.output._rich_table import rich_table

__all__ = [
    "ReportTable",
    "esc",
    "explanation",
    "page_head",
    "plain",
    "render_html",
    "report_tables",
    "rich_table",
    "table_html",
]
