"""Load a run directory: manifest and samples, tolerant of any damaged line.

samples.jsonl can hold a million records (1,024 ranks x 50 sizes x 20 iterations), so
reading is layered, fastest first, each layer used only when the one before cannot be
trusted with the file:

1. pyarrow's multi-threaded JSON reader, when pyarrow is installed and every column is
   flat (pyarrow would turn nested dicts into structs with merged keys and lists into
   arrays, which is not what the records say);
2. the standard library's C parser over the whole file at once (one json.loads of the
   lines joined into an array: far faster than one call per line);
3. the tolerant parser: one json.loads per line, skipping what it cannot read (torn, not
   UTF-8, nested past the parser's limit, not an object with a "type").

Whatever path parsed them, the records then pass the same rules (collector/damaged.py): a
record with a wrongly typed, non-finite or impossible field, or nested too deep, is skipped,
and SampleWarnings count the skipped lines and name them. Every reader of a run calls
read_samples (through collector/loaded_run.py's load_run or directly): report, compare, predict,
runs, and any later command that reads samples.jsonl.

A torn last line (a crash while appending) never costs the fast path: the bytes after the
last newline are parsed on their own.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from scaling.collector.damaged import SampleWarning, keep_good, maybe_deep, too_deep
from scaling.rundir import MANIFEST, SAMPLES

__all__ = ["ManifestError", "SampleWarning", "read_manifest", "read_samples"]
MANIFEST_DEPTH = 64
"""A manifest nests config and topology a few levels deep; 64 is damage, not a manifest."""


class ManifestError(ValueError):
    """manifest.json cannot be read as a run's manifest (torn, not an object, nested too deep)."""


def read_manifest(run_dir: str | Path) -> dict:
    """The run's manifest ({} when it has none); ManifestError when it is damaged."""
    path = Path(run_dir) / MANIFEST
    if not path.exists():
        return {}
    where = f"{run_dir}: {MANIFEST} "
    try:
        doc = json.loads(path.read_bytes())
    except json.JSONDecodeError as e:
        raise ManifestError(f"{where}is not valid JSON ({e.msg}, line {e.lineno})") from None
    except (ValueError, RecursionError) as e:  # not UTF-8; nested past the parser's limit
        raise ManifestError(f"{where}is not readable JSON ({type(e).__name__})") from None
    if not isinstance(doc, dict):
        raise ManifestError(f"{where}is not a JSON object")
    if too_deep(doc, MANIFEST_DEPTH):
        raise ManifestError(f"{where}nests deeper than {MANIFEST_DEPTH} levels")
    return doc


def read_samples(run_dir: str | Path, fast: bool = True) -> pd.DataFrame:
    """All sound sample records as one DataFrame; damaged lines are skipped with warnings
    that count and name them (collector/damaged.py says what is damaged).

    fast=False forces the per-line parser (the benchmark measures both).
    """
    path = Path(run_dir) / SAMPLES
    if not path.exists():
        return pd.DataFrame()
    data = path.read_bytes()
    lines = data.split(b"\n")

    def total() -> int:
        return sum(1 for x in lines if x.strip())

    # Everything up to the last newline is whole lines; what follows is a torn tail, if any.
    cut = data.rfind(b"\n") + 1
    body, tail = data[:cut], data[cut:]
    frame = _fast_frame(body) if fast else None
    bad: dict[int, str] = {}
    if frame is None:
        kept: list[int] = []
        records = _tolerant_records(lines, kept, bad)
        return keep_good(pd.DataFrame.from_records(records), lambda: kept, bad, path, total)
    tail_line: list[int] = []
    if tail.strip():
        tail_records = _tolerant_records([tail], tail_line, bad, first_lineno=len(lines))
        if tail_records:
            frame = pd.concat([frame, pd.DataFrame.from_records(tail_records)], ignore_index=True)

    def linenos() -> list[int]:  # the fast path read every non-empty line of the body, in order
        return [i for i, x in enumerate(lines[:-1], 1) if x.strip()] + tail_line

    return keep_good(frame, linenos, bad, path, total)


def _fast_frame(body: bytes) -> pd.DataFrame | None:
    """The whole-file parse, or None when a line needs the tolerant parser's judgement."""
    if not body.strip():
        return pd.DataFrame()
    frame = _arrow_frame(body)
    if frame is None:
        lines = [line for line in body.split(b"\n") if line.strip()]
        if any(maybe_deep(line) for line in lines):
            return None  # the tolerant parser judges each such line on its own
        try:
            records = json.loads(b"[" + b",".join(lines) + b"]")
        except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError
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
    lines: list[bytes], linenos: list[int], bad: dict[int, str], first_lineno: int = 1
) -> list[dict]:
    """The readable records; `linenos` receives the line number of each, `bad` line -> why
    for each line that is not a record."""
    rows = []
    for lineno, raw in enumerate(lines, first_lineno):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw.decode("utf-8"))
        except json.JSONDecodeError as e:
            bad[lineno] = f"unreadable sample ({e.msg})"
            continue
        except UnicodeDecodeError:
            bad[lineno] = "unreadable sample (not UTF-8 text)"
            continue
        except (ValueError, RecursionError):
            bad[lineno] = "unreadable sample (nested past the parser's limit)"
            continue
        if not isinstance(rec, dict) or not isinstance(rec.get("type"), str):
            bad[lineno] = "sample without a type"
            continue
        if too_deep(rec):
            bad[lineno] = "sample nested too deep"
            continue
        rows.append(rec)
        linenos.append(lineno)
    return rows
