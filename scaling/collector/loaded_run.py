"""A run directory, loaded and aggregated: the one place samples become the figures reports show.

from scaling.collector.loaded_run import load_run
run = load_run("runs/20260101T000000Z-abc123")
run.collectives      # summary.csv rows: percentiles, algbw/busbw (+ link ceilings)
run.training         # training.csv rows: efficiency, comm fraction, overlap, MFU, flags
run.curves           # throughput per world size with the ideal-linear line
run.per_rank         # per-rank step times (straggler spotting)
run.headline         # the figures that matter, and verdicts
run.tables           # tables of other registered workloads, by name
run.startup          # startup.csv rows: communicator start-up per world size and group
run.partial, run.warnings

Which tables a run has comes from the workload registry: each workload names its table and
the function that builds it (scaling.workloads.catalog.Table).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from scaling.collector.curves import per_rank_step_times, scaling_curves
from scaling.collector.headline import Headline, headline
from scaling.collector.load import SampleWarning, read_manifest, read_samples
from scaling.collector.startup import startup_table
from scaling.collector.training import TRAINING_COLUMNS
from scaling.collector.transport import transport_warnings
from scaling.rundir import MANIFEST, SAMPLES
from scaling.workloads.catalog import Table, resolve, tables

__all__ = ["NotARunDir", "Run", "TRAINING_COLUMNS", "load_run", "partial_reason"]
NAMED = ("collectives", "training")
"""Tables the report reads by name: Run fields. Other workloads' tables go to Run.tables."""


class NotARunDir(ValueError):
    """The path is missing or holds neither manifest.json nor samples.jsonl."""


@dataclass
class Run:
    path: Path
    manifest: dict
    samples: pd.DataFrame
    collectives: pd.DataFrame
    training: pd.DataFrame
    curves: pd.DataFrame
    per_rank: pd.DataFrame
    headline: Headline
    warnings: list[str] = field(default_factory=list)
    """Unreadable sample lines, a failed training summary, hardware warnings from the manifest."""
    notices: list[str] = field(default_factory=list)
    """What the run told the user as it went (e.g. falling back to CPU ranks)."""
    partial_reason: str | None = None
    """Why the run is partial (failed, interrupted, never ended); None for a complete run."""
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    """Tables of other registered workloads, by table name."""
    damage: list[str] = field(default_factory=list)
    """The warnings about damaged sample lines (also in warnings): what every reader prints."""

    def table(self, name: str) -> pd.DataFrame | None:
        """Any of the run's tables by name (collectives and training included)."""
        return getattr(self, name) if name in NAMED else self.tables.get(name)

    @property
    def startup(self) -> pd.DataFrame:
        """startup.csv rows: communicator start-up per world size and group (collector/startup.py)."""
        return startup_table(self.samples)

    @property
    def partial(self) -> bool:
        return self.partial_reason is not None

    @property
    def name(self) -> str:
        return self.path.name


def load_run(run_dir: str | Path) -> Run:
    """Load manifest and samples and compute every aggregate; never fails on a bad sample line."""
    path = Path(run_dir)
    if not path.is_dir():
        raise NotARunDir(f"{path}: no such run directory")
    if not (path / MANIFEST).exists() and not (path / SAMPLES).exists():
        raise NotARunDir(f"{path}: not a run directory (no {MANIFEST} or {SAMPLES})")
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        manifest = read_manifest(path)
        samples = read_samples(path)
    notes += [str(w.message) for w in caught]
    damage = [str(w.message) for w in caught if issubclass(w.category, SampleWarning)]
    built = {t.name: _summarize(t, samples, manifest, notes) for t in tables()}
    collectives, training = built.pop("collectives"), built.pop("training")
    reason = partial_reason(manifest)
    return Run(
        path=path,
        manifest=manifest,
        samples=samples,
        collectives=collectives,
        training=training,
        curves=scaling_curves(training),
        per_rank=per_rank_step_times(samples),
        headline=headline(manifest, collectives, training, reason),
        warnings=notes + transport_warnings(collectives) + _manifest_list(manifest, "warnings"),
        notices=_manifest_list(manifest, "notices"),
        partial_reason=reason,
        tables=built,
        damage=damage,
    )


def partial_reason(manifest: dict) -> str | None:
    if not manifest:
        return "no manifest.json"
    status = manifest.get("status")
    if status != "ok":
        error = manifest.get("error")
        return f"status {status}" + (f": {error}" if error else "")
    if not manifest.get("ended"):
        return "the run never recorded its end"
    return None


def _summarize(table: Table, samples: pd.DataFrame, manifest: dict, notes: list[str]):
    """One table's rows; the warnings it raises become notes. A tolerant table whose summary
    fails is a note and an empty table, so the rest of the report still comes."""
    summarize = resolve(table.summarize)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            rows = summarize(samples, manifest)
        notes += [str(w.message) for w in caught]
        return rows
    except Exception as e:
        if not table.tolerant:
            raise
        notes.append(f"{table.name} summary failed ({type(e).__name__}: {e})")
        return pd.DataFrame(columns=list(resolve(table.columns)))


def _manifest_list(manifest: dict, key: str) -> list[str]:
    """A list of messages the run recorded: strings or {"message": ...} dicts."""
    out = []
    for item in manifest.get(key) or []:
        if isinstance(item, dict):
            item = item.get("message") or item.get("text") or str(item)
        out.append(str(item))
    return out
