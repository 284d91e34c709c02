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


# Fields every reader does arithmetic on. A line that is valid JSON but carries, say,
# "time_s": "fast" is as corrupt as a torn one: it is skipped with a warning, not summed.
NUMERIC_FIELDS = (
    "time_s", "world_size", "rank", "ranks", "nodes", "iter", "step", "size_bytes", "count",
    "wrong", "batch", "global_batch", "flops_per_step", "peak_mem_bytes",
)  # fmt: skip


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
        kept: list[int] = []
        records = _tolerant_records(data, path, linenos=kept)
        return _drop_mistyped(pd.DataFrame.from_records(records), kept, path)
    if tail.strip():
        tail_records = _tolerant_records(tail, path, first_lineno=body.count(b"\n") + 1)
        if tail_records:
            frame = pd.concat([frame, pd.DataFrame.from_records(tail_records)], ignore_index=True)
    # The fast path read every non-empty line, in order.
    return _drop_mistyped(frame, [i for i, x in enumerate(data.split(b"\n"), 1) if x.strip()], path)


def _drop_mistyped(frame: pd.DataFrame, linenos: list[int], path: Path) -> pd.DataFrame:
    """Rows whose numeric fields hold something else (a string, a bool, a list): skipped."""
    bad = pd.Series(False, index=frame.index)
    for col in NUMERIC_FIELDS:
        if col not in frame or pd.api.types.is_numeric_dtype(frame[col].dtype):
            if col in frame and pd.api.types.is_bool_dtype(frame[col].dtype):
                bad |= frame[col].notna()
            continue
        values = frame[col]
        ok = values.map(
            lambda v: v is None or (isinstance(v, int | float) and not isinstance(v, bool))
        )
        bad |= ~ok
    if not bad.any():
        return frame
    # linenos[row] is the file line a frame row came from, so warnings name the right line.
    for row in frame.index[bad][:5]:
        where = linenos[row] if row < len(linenos) else "?"
        warnings.warn(
            f"{path}:{where}: skipped sample with a wrongly typed field",
            SampleWarning,
            stacklevel=3,
        )
    if bad.sum() > 5:
        warnings.warn(
            f"{path}: {int(bad.sum()) - 5} more samples with wrongly typed fields skipped",
            SampleWarning,
            stacklevel=3,
        )
    good = frame[~bad].reset_index(drop=True)
    for col in NUMERIC_FIELDS:  # what is left is numeric: give pandas the numbers
        if col in good and good[col].dtype == object:
            good[col] = pd.to_numeric(good[col])
    return good


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


def _tolerant_records(
    data: bytes, path: Path, first_lineno: int = 1, linenos: list[int] | None = None
) -> list[dict]:
    """The readable records; `linenos`, when given, receives the line number of each."""
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
        if linenos is not None:
            linenos.append(lineno)
    return rows
