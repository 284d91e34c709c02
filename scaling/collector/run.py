"""A run directory, loaded and aggregated: the one place samples become the figures reports show.

from scaling.collector.run import load_run
run = load_run("runs/20260101T000000Z-abc123")
run.collectives      # summary.csv rows: percentiles, algbw/busbw (+ link ceilings)
run.training         # training.csv rows: efficiency, comm fraction, overlap, MFU, flags
run.curves           # throughput per world size with the ideal-linear line
run.per_rank         # per-rank step times (straggler spotting)
run.headline         # the figures that matter, and verdicts
run.partial, run.warnings
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from scaling.collector import collectives as coll_collector
from scaling.collector import training as training_collector
from scaling.collector.curves import per_rank_step_times, scaling_curves
from scaling.collector.headline import Headline, headline
from scaling.collector.load import read_manifest, read_samples
from scaling.collector.transport import transport_warnings
from scaling.rundir import MANIFEST, SAMPLES

"""What the hardware probe adds to summary rows (issue 4); shown wherever present."""

# training.csv as documented (README.report.md); used when there is no training collector.
TRAINING_COLUMNS = [
    "workload", "preset", "world_size", "nodes", "scaling", "precision", "batch_per_rank",
    "global_batch", "status", "step_time_p50_s", "step_time_p90_s", "step_time_p99_s",
    "t_ddp_s", "t_local_s", "t_comm_s", "exposed_comm_s", "comm_fraction", "overlap",
    "samples_per_s", "samples_per_s_per_gpu", "tokens_per_s", "tokens_per_s_per_gpu",
    "efficiency", "flops_per_step", "achieved_tflops", "mfu", "peak_mem_bytes_max",
    "mem_balance", "power_w", "samples_per_s_per_w", "gpu_util_pct", "straggler_ranks",
    "consistent", "flags",
]  # fmt: skip


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
    collectives = coll_collector.summarize(samples)
    training = _training_summary(samples, manifest, notes)
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


def _training_summary(samples: pd.DataFrame, manifest: dict, notes: list[str]) -> pd.DataFrame:
    """training.csv rows; a summary that fails is a note, so the rest of the report still comes."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            table = training_collector.summarize(samples, manifest)
        notes += [str(w.message) for w in caught]
        return table
    except Exception as e:  # a report of what was measured beats no report
        notes.append(f"training summary failed ({type(e).__name__}: {e})")
        return pd.DataFrame(columns=TRAINING_COLUMNS)


def _manifest_list(manifest: dict, key: str) -> list[str]:
    """A list of messages the run recorded: strings or {"message": ...} dicts."""
    out = []
    for item in manifest.get(key) or []:
        if isinstance(item, dict):
            item = item.get("message") or item.get("text") or str(item)
        out.append(str(item))
    return out
