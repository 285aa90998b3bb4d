"""Self-contained offline HTML reports (inline SVG charts, no scripts, no CDN)."""

from gristmill.report._html import (
    bar_chart,
    confusion_heatmap,
    escape,
    line_chart,
    page,
    section,
    table,
)
from gristmill.report._run_report import render_run_report, write_run_report

__all__ = [
    "bar_chart",
    "confusion_heatmap",
    "escape",
    "line_chart",
    "page",
    "render_run_report",
    "section",
    "table",
    "write_run_report",
]
