"""Reports: markdown/html and plots from the collector's tables. Never imports torch or ray,
and never writes a file itself: the report renders, scaling.sinks writes (report.md,
report.html and their figures through sinks/report_files.py, summary.csv / training.csv
through sinks/tables.py); the report only reads what the collector computed.

from scaling.report import write_report
paths = write_report("runs/20260101T000000Z-abc123")   # report.md, report.html
"""

from __future__ import annotations

from pathlib import Path

from scaling.collector.loaded_run import Run, load_run
from scaling.sinks.report_files import REPORT_HTML, REPORT_MD, ReportPaths, write_report_files

__all__ = ["REPORT_HTML", "REPORT_MD", "ReportPaths", "write_report"]


def write_report(run: Run | str | Path) -> ReportPaths:
    """Load the run (unless given one); write report.md and report.html into it."""
    from scaling.report import content, html, markdown

    if not isinstance(run, Run):
        run = load_run(run)
    doc = content.build(run)
    return write_report_files(
        run.path, markdown.render(doc), html.render(doc), markdown.figures(doc)
    )
