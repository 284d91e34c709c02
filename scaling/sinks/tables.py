"""The collector's tables as files: CSV always, Parquet when pyarrow is installed.

The collector computes the tables (scaling.collector.loaded_run); this sink writes them, each
whole or not at all (scaling.rundir.write_atomic); the report only reads them. Which tables exist comes from
the workload registry: summary.csv (collectives), training.csv (training workloads), and any
other registered workload's table; startup.csv (communicator start-up) when groups formed.
"""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import pandas as pd

from scaling.collector.loaded_run import Run
from scaling.format import missing
from scaling.rundir import write_atomic
from scaling.workloads.catalog import tables

STARTUP = "startup.csv"


def write_tables(run: Run) -> list[Path]:
    """Every table of the run: summary.csv (+ .parquet) always, the others when they have
    rows (training.csv when the run trained). Returns the paths written."""
    written = []
    parquet = importlib.util.find_spec("pyarrow") is not None
    for spec in tables():
        table = run.table(spec.name)
        if table is None or (table.empty and not spec.always):
            continue
        # Whole files or none: a full disk must not leave a truncated table behind.
        csv = write_atomic(run.path / spec.file, table.to_csv(index=False))
        written.append(csv)
        if parquet:
            buf = io.BytesIO()
            _parquet_safe(table).to_parquet(buf, index=False)
            written.append(write_atomic(csv.with_suffix(".parquet"), buf.getvalue()))
    written += write_startup(run)
    return written


def write_startup(run: Run) -> list[Path]:
    """startup.csv when the run formed groups (run, validate and tune all write it: it is no
    workload's table)."""
    startup = run.startup
    if startup.empty:
        return []
    return [write_atomic(run.path / STARTUP, startup.to_csv(index=False))]


def _parquet_safe(table: pd.DataFrame) -> pd.DataFrame:
    # Object columns may mix types (a list of straggler ranks beside NaN); Parquet wants one.
    out = table.copy()
    for col in out.select_dtypes(include="object").columns:
        values = out[col].dropna()
        kinds = set(values.map(type))
        if len(kinds) > 1 or kinds & {list, tuple, dict}:
            out[col] = out[col].map(lambda v: None if missing(v) else str(v))
    return out
