"""Load a run directory: manifest and samples, tolerant of a torn or corrupt line."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd

from scaling.rundir import MANIFEST, SAMPLES


class SampleWarning(UserWarning):
    """A samples.jsonl line that could not be read (skipped, never fatal)."""


def read_manifest(run_dir: str | Path) -> dict:
    path = Path(run_dir) / MANIFEST
    if not path.exists():
        return {}
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


def read_samples(run_dir: str | Path) -> pd.DataFrame:
    """All sample records as one DataFrame; unreadable lines are skipped with a warning naming them."""
    path = Path(run_dir) / SAMPLES
    rows = []
    if path.exists():
        with path.open(encoding="utf-8", errors="replace") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as e:
                    warnings.warn(
                        f"{path}:{lineno}: skipped unreadable sample ({e.msg})",
                        SampleWarning,
                        stacklevel=2,
                    )
                    continue
                if not isinstance(rec, dict) or "type" not in rec:
                    warnings.warn(
                        f"{path}:{lineno}: skipped sample without a type",
                        SampleWarning,
                        stacklevel=2,
                    )
                    continue
                rows.append(rec)
    return pd.DataFrame.from_records(rows)
