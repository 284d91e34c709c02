"""What `api.run` hears and returns: the hooks a caller overrides, the collector's summary of a
run directory, and the run's outcome (an Outcome, scaling/outcome.py: one type for run,
validate and tune).

    result = api.run(cfg)
    result.status, result.exit_code, result.failures(), result.document
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scaling.outcome import Outcome

if TYPE_CHECKING:
    import pandas as pd

    from scaling.collector.loaded_run import Run
    from scaling.report import ReportPaths


class RunHooks:
    """What a caller of `run` hears while it measures. Override what you need."""

    def notice(self, text: str) -> None:
        """A line for the user (a fallback to CPU, a skipped op, a warning)."""

    def planned(self, run_dir: Path, points: int) -> None:
        """The run directory exists and `points` points are planned; measuring starts."""

    def point(self, point: dict) -> None:
        """One point was measured and its samples are on disk."""

    def done(self) -> None:
        """Measuring ended (finished, failed or interrupted)."""


@dataclass
class Summary:
    """A run directory through the collector: its tables written, and optionally its report."""

    run: Run
    tables: list[Path]
    report: ReportPaths | None = None
    report_error: str | None = None
    """Why the report could not be written (the tables and samples are on disk)."""

    def to_dict(self) -> dict[str, Any]:
        """What `scaling report --json` prints."""
        run = self.run
        return {
            "run_dir": str(run.path),
            "report_md": str(self.report.markdown) if self.report else None,
            "report_html": str(self.report.html) if self.report else None,
            "tables": [str(p) for p in self.tables],
            "status": run.manifest.get("status"),
            "partial": run.partial,
            "partial_reason": run.partial_reason,
            "headline": run.headline.to_dict(),
            "warnings": run.warnings,
        }


@dataclass
class RunResult(Outcome):
    """What `api.run` returns (scaling/outcome.py: status, exit_code, path, document)."""

    summary: Summary | None = None
    """The collector's tables and the report; None when the samples could not be summarized."""
    summary_error: str | None = None

    @property
    def manifest(self) -> dict:
        return self.summary.run.manifest if self.summary else {}

    @property
    def run(self) -> Run | None:
        return self.summary.run if self.summary else None

    @property
    def report(self) -> ReportPaths | None:
        return self.summary.report if self.summary else None

    def wrong(self) -> int:
        """Wrong elements over every checked collective point (nccl-tests #wrong)."""
        coll = self.run.collectives if self.run else None
        return 0 if coll is None or coll.empty else int(coll["wrong"].fillna(0).sum())

    def diverged(self) -> pd.DataFrame | None:
        """Training rows whose parameters differ across ranks after the measured steps."""
        t = self.run.training if self.run else None
        return None if t is None or t.empty else t[t["consistent"].eq(False)]

    def failures(self) -> list[tuple[str, str]]:
        """(what failed, detail) for each reason this run counts as failed; empty when good.
        An interrupted run is not a failure here (the CLI exits 130 for it)."""
        if self.status not in ("ok", "interrupted"):
            error = self.manifest.get("error")
            return [("run failed", f"{error} (samples measured so far are kept)")]
        out = []
        if self.wrong():
            out.append(("correctness check failed", f"{self.wrong()} wrong elements (see #wrong)"))
        diverged = self.diverged()
        if diverged is not None and not diverged.empty:
            where = ", ".join(
                f"{r.workload} at {r.world_size} ranks" for r in diverged.itertuples()
            )
            out.append(("consistency check failed", f"parameters differ across ranks ({where})"))
        return out

    def judged_code(self) -> int:
        """1 when the samples could not be summarized or a check failed (failures())."""
        return 1 if self.summary is None or self.failures() else 0

    @property
    def document(self) -> dict[str, Any]:
        """What `scaling run --json` prints: the manifest's status, the tables, the report."""
        from scaling.format import json_rows

        if self.summary is None:
            return {"run_dir": str(self.path), "status": self.status,
                    "error": self.summary_error, "summary": None}  # fmt: skip
        run, report = self.run, self.report
        m = run.manifest
        doc = {"run_dir": str(self.path), **{k: m.get(k) for k in ("status", "error", "device",
                                                                    "backend")}}  # fmt: skip
        paths = report and {"report_md": str(report.markdown), "report_html": str(report.html)}
        doc |= {"summary": json_rows(run.collectives), "report": paths or None}
        doc["training"] = json_rows(run.training)
        return doc
