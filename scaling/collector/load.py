"""Load a run directory: manifest and samples, tolerant of a torn or corrupt line.

samples.jsonl can hold a million records (1,024 ranks x 50 sizes x 20 iterations), so
reading is layered, fastest first, each layer used only when the one before cannot be
trusted with the file:

1. pyarrow's multi-threaded JSON reader, when pyarrow is installed and every column is
   flat (pyarrow would turn nested dicts into structs with merged keys and lists into
   arrays, which is not what the records say);
2. the standard library's C parser over the whole file at once (one json.loads of the
   lines joined into an array: far faster than one call per line);
3. the tolerant parser: one json.loads per line, skipping what it cannot read with a
   SampleWarning naming the file and line.

A torn last line (a crash while appending) never costs the fast path: the bytes after the
last newline are parsed on their own.
"""

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


def read_samples(run_dir: str | Path, fast: bool = True) -> pd.DataFrame:
    """All sample records as one DataFrame; unreadable lines are skipped with a warning naming them.

    fast=False forces the per-line parser (the benchmark measures both).
    """
    path = Path(run_dir) / SAMPLES
    if not path.exists():
        return pd.DataFrame()
    data = path.read_bytes()
    # Everything up to the last newline is whole lines; what follows is a torn tail, if any.
    cut = data.rfind(b"\n") + 1
    body, tail = data[:cut], data[cut:]
    frame = _fast_frame(body) if fast else None
    if frame is None:
        return pd.DataFrame.from_records(_tolerant_records(data, path))
    if tail.strip():
        tail_records = _tolerant_records(tail, path, first_lineno=body.count(b"\n") + 1)
        if tail_records:
            frame = pd.concat([frame, pd.DataFrame.from_records(tail_records)], ignore_index=True)
    return frame


def _fast_frame(body: bytes) -> pd.DataFrame | None:
    """The whole-file parse, or None when a line needs the tolerant parser's judgement."""
    if not body.strip():
        return pd.DataFrame()
    frame = _arrow_frame(body)
    if frame is None:
        lines = [line for line in body.split(b"\n") if line.strip()]
        try:
            records = json.loads(b"[" + b",".join(lines) + b"]")
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None
        if not all(isinstance(r, dict) for r in records):
            return None
        frame = pd.DataFrame.from_records(records)
    if "type" not in frame or frame["type"].isna().any():
        return None  # the tolerant parser names the lines without a type
    return frame


def _arrow_frame(body: bytes) -> pd.DataFrame | None:
    try:
        import pyarrow as pa
        import pyarrow.json as pa_json
    except ImportError:
        return None
    try:
        table = pa_json.read_json(pa.BufferReader(body))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if any(pa.types.is_nested(f.type) for f in table.schema):
        return None
    return table.to_pandas()


def _tolerant_records(data: bytes, path: Path, first_lineno: int = 1) -> list[dict]:
    rows = []
    for lineno, raw in enumerate(data.split(b"\n"), first_lineno):
        line = raw.decode("utf-8", errors="replace")
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            warnings.warn(
                f"{path}:{lineno}: skipped unreadable sample ({e.msg})",
                SampleWarning,
                stacklevel=3,
            )
            continue
        if not isinstance(rec, dict) or "type" not in rec:
            warnings.warn(
                f"{path}:{lineno}: skipped sample without a type",
                SampleWarning,
                stacklevel=3,
            )
            continue
        rows.append(rec)
    return rows
