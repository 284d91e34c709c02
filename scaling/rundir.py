"""The run directory: the driver's only sink. Workers never write files.

Layout of runs/<UTC time>-<short id>/ (or --out DIR):

manifest.json   config, versions, host, Ray nodes, rank metadata, topology,
                start/end, status ("running" | "ok" | "failed" | "interrupted")
                and the error when there is one. Rewritten atomically.
samples.jsonl   raw samples, one JSON object per line, appended (and flushed)
                as results arrive so a crash keeps what was measured.
summary.csv     collectives: one row per op x world size x dtype x size.
training.csv    training workloads: one row per workload x world size x config.

Sample records (every record has "type", "workload", "world_size", "rank"; the records of a
point's measurement also carry "round": r, 0-based, the round of `--repeats` they belong to,
rounds interleaved across the points of a world size (scaling/rounds.py); a record without it
is round 0 of a one-round run):

  {"type": "coll", "workload": "collectives", "group": "world", "op": "all_reduce",
   "world_size": 2, "nodes": 1, "size_bytes": 1024, "count": 256, "dtype": "float32",
   "timing": "blocking", "round": 0, "iter": 0, "rank": 0, "time_s": 1.2e-05}
      one timed iteration of one rank (pipelined: time of the batch / depth).
  {"type": "check", ... same point keys ..., "rank": 0, "wrong": 0}
      the exact correctness check of one rank for that point; "wrong" is
      null when the check was skipped (e.g. bf16 sums too large to be exact).
  {"type": "step", "workload": "resnet50", "world_size": 2, "nodes": 1,
   "preset": "tiny", "scaling": "weak", "precision": "fp32", "phase": "ddp",
   "round": 0, "step": 0, "rank": 0, "time_s": 0.12}
      one training step of one rank; phase is ddp (the real step) | local (under
      no_sync) | comm (the gradient all-reduces alone) | compute (forward alone, for
      the straggler check). World size 1 trains without DDP and records ddp only.
  {"type": "train_point", "workload": "resnet50", "world_size": 2, "round": 0, "rank": 0, ...}
      per-rank facts of a training point in one round: status ("ok" | "oom", with failed_stage
      and oom_ranks), batch, global_batch, flops_per_step (this rank's),
      tokens_per_sample, device_name, peak_mem_bytes and mem_kind (cuda | rss),
      checksum_sum / checksum_bits (hex) of the parameters after the measured steps,
      power_w / gpu_util_pct (null without NVML), bucket_bytes, the DDP options.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
SAMPLES = "samples.jsonl"
SUMMARY = "summary.csv"
TRAINING = "training.csv"


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_run_path(runs_dir: str | Path) -> Path:
    """runs/<UTC time>-<short id>: sortable by time, unique without coordination."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return Path(runs_dir) / f"{stamp}-{secrets.token_hex(3)}"


class RunDir:
    """Writes one run's files. Only the driver process holds one."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.manifest: dict[str, Any] = {}
        self._samples = (self.path / SAMPLES).open("a", encoding="utf-8")

    def write_manifest(self, **updates: Any) -> None:
        """Merge updates into the manifest and rewrite it atomically (never half-written)."""
        self.manifest.update(updates)
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".manifest.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self.manifest, fh, indent=2, sort_keys=False, default=str)
            fh.write("\n")
        os.replace(tmp, self.path / MANIFEST)

    def append_samples(self, records: Iterable[dict[str, Any]]) -> None:
        """Append records and flush, so what was measured survives a crash."""
        for rec in records:
            self._samples.write(json.dumps(rec, separators=(",", ":")) + "\n")
        self._samples.flush()

    def close(self) -> None:
        self._samples.close()
