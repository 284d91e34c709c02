"""Where the collector's tables are written: CSV always, Parquet when pyarrow is installed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

from scaling.collector.run import Run
from scaling.rundir import SUMMARY, TRAINING


def write_tables(run: Run) -> list[Path]:
    """summary.csv (+ .parquet); training.csv (+ .parquet) when the run trained. Returns paths."""
    written = []
    tables = [(SUMMARY, run.collectives)]
    if not run.training.empty:
        tables.append((TRAINING, run.training))
    parquet = importlib.util.find_spec("pyarrow") is not None
    for name, table in tables:
        csv = run.path / name
        table.to_csv(csv, index=False)
        written.append(csv)
        if parquet:
            pq = csv.with_suffix(".parquet")
            _parquet_safe(table).to_parquet(pq, index=False)
            written.append(pq)
    return written


def _parquet_safe(table: pd.DataFrame) -> pd.DataFrame:
    # Object columns may mix types (a list of straggler ranks beside NaN); Parquet wants one.
    out = table.copy()
    for col in out.select_dtypes(include="object").columns:
        values = out[col].dropna()
        kinds = set(values.map(type))
        if len(kinds) > 1 or kinds & {list, tuple, dict}:
            out[col] = out[col].map(lambda v: None if _missing(v) else str(v))
    return out


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and v != v)
