"""report.md, report.html and report.md's figures (report_files/*.png) in the run directory.

The report renders the collector's tables into text (scaling.report); this sink writes that
text, each file whole or not at all (scaling.rundir.write_atomic). The figures go first, so a
report.md on disk never links a PNG that is missing or torn.

    paths = write_report_files(run_dir, md_text, html_text, {"report_files/busbw.png": png})
    paths.markdown, paths.html
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scaling.rundir import write_atomic

REPORT_MD = "report.md"
REPORT_HTML = "report.html"


@dataclass
class ReportPaths:
    markdown: Path
    html: Path


def write_report_files(
    run_dir: str | Path, markdown: str, html: str, figures: dict[str, bytes]
) -> ReportPaths:
    """Write the figures (path relative to run_dir -> PNG bytes), then report.md and
    report.html, into run_dir; returns the two reports' paths."""
    run_dir = Path(run_dir)
    for name, png in figures.items():
        path = run_dir / name
        path.parent.mkdir(exist_ok=True)
        write_atomic(path, png)
    md = write_atomic(run_dir / REPORT_MD, markdown)
    page = write_atomic(run_dir / REPORT_HTML, html)
    return ReportPaths(md, page)
