"""Reports: markdown/html and plots from the collector's tables. Never imports torch or ray,
and never writes a table: summary.csv / training.csv are written by scaling.sinks.tables,
the report only reads what the collector computed.

from scaling.report import write_report
paths = write_report("runs/20260101T000000Z-abc123")   # report.md, report.html
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scaling.collector.loaded_run import Run, load_run

REPORT_MD = "report.md"
REPORT_HTML = "report.html"


@dataclass
class ReportPaths:
    markdown: Path
    html: Path


def write_report(run: Run | str | Path) -> ReportPaths:
    """Load the run (unless given one); write report.md and report.html into it."""
    from scaling.report import content, html, markdown

    if not isinstance(run, Run):
        run = load_run(run)
    doc = content.build(run)
    from scaling.rundir import write_atomic

    md = write_atomic(run.path / REPORT_MD, markdown.render(doc, run.path))
    page = write_atomic(run.path / REPORT_HTML, html.render(doc))
    return ReportPaths(md, page)
