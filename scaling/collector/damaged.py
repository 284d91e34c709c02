"""Which sample records are damaged, and the warnings that count and name their lines.

Every reader of a run (report, compare, predict, runs, and whatever else reads samples.jsonl)
goes through scaling.collector.load.read_samples, which parses the lines and then asks this
module which parsed records to keep. A record is damaged, and skipped, when:

- a numeric field (SampleFields.numbers) holds something that is not a number (a string, a bool, a
  list), or a number that is not finite (NaN, 1e999), or is impossible: negative, a fraction
  where a count is meant, a world size below 1, an integer beyond 2**53 (no longer exact);
- a timed record (TIMED_TYPES: one iteration or one step) has no time, or a time <= 0;
- a field that names a point (SampleFields.names: op, dtype, phase, ...) holds something other than
  text: a list or a number there would group points by garbage, or fail to group at all;
- it nests deeper than MAX_DEPTH levels (no record the tool writes nests more than 3).

Lines that do not parse (torn, binary, not UTF-8, nested past the parser's recursion limit)
or parse to something that is not an object with a "type" are found by the parser in load.py.
Both kinds end in the same warnings: one per line for the first PER_LINE_WARNINGS lines, then
one line that counts them all and lists their line numbers.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from scaling.rundir import SAMPLE_COUNTS, SAMPLE_FIGURES, SAMPLE_NAMES
from scaling.workloads.catalog import key_kinds


@dataclass(frozen=True)
class SampleFields:
    """Which fields of a sample record hold what, read from the declarations: the registered
    workloads' point keys (PointKey.kind) and the sample format's other fields (rundir.py).
    A line that is valid JSON but carries, say, "time_s": "fast" is as corrupt as a torn one:
    it is skipped with a warning, not summed."""

    names: tuple[str, ...]
    """Fields that name a point or a record: text (or absent)."""
    counts: tuple[str, ...]
    """Counts and indices: whole numbers >= 0 (world_size >= 1)."""
    numbers: tuple[str, ...]
    """Fields every reader does arithmetic on: the counts, then the figures."""


def sample_fields() -> SampleFields:
    """The field lists for the workloads registered now (one of your own included)."""
    kinds = key_kinds()
    names = [*SAMPLE_NAMES, *(k for k, kind in kinds.items() if kind is str)]
    counts = [*(k for k, kind in kinds.items() if kind is int), *SAMPLE_COUNTS]
    names, counts = tuple(dict.fromkeys(names)), tuple(dict.fromkeys(counts))
    return SampleFields(names, counts, counts + SAMPLE_FIGURES)


TIMED_TYPES = ("coll", "step", "trial_step")
"""Records that are one timed iteration or step: their time_s must be a finite number > 0."""
MAX_DEPTH = 16
MAX_EXACT = 2**53
PER_LINE_WARNINGS = 5
_TEXT = ("string", "empty")


class SampleWarning(UserWarning):
    """A samples.jsonl line that could not be read (skipped, never fatal)."""


def too_deep(value, limit: int = MAX_DEPTH) -> bool:
    """Whether a parsed value nests deeper than `limit` (iterative: no recursion to exhaust)."""
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, dict):
            v = list(v.values())
        elif not isinstance(v, list):
            continue
        if depth > limit:
            return True
        stack.extend((x, depth + 1) for x in v if isinstance(x, dict | list))
    return False


def maybe_deep(line: bytes) -> bool:
    """A cheap screen before too_deep: a line with few brackets cannot nest deeply."""
    return line.count(b"[") + line.count(b"{") > MAX_DEPTH


def damaged_rows(frame: pd.DataFrame) -> dict[int, str]:
    """The damaged rows of the parsed records (positions): why each is damaged."""
    why: dict[int, str] = {}
    fields = sample_fields()

    def mark(bad: pd.Series, reason: str) -> None:
        # a boolean mask is cheap; the reasons are kept only for the (few) rows it flags
        for row in np.flatnonzero(np.asarray(bad, dtype=bool)):
            why.setdefault(int(row), reason)

    for col in fields.names:
        # infer_dtype runs in C: the per-value check only runs on a column with non-text in it
        if col in frame and pd.api.types.infer_dtype(frame[col], skipna=True) not in _TEXT:
            mark(~frame[col].map(_text_or_missing), f"{col} is not text")
    for col in fields.numbers:
        if col not in frame:
            continue
        values = frame[col]
        if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(
            values.dtype
        ):
            num, present = values.astype(float), values.notna()
        else:
            number = values.map(_number_or_missing)
            mark(~number, "sample with a wrongly typed field")
            num = pd.to_numeric(values.where(number), errors="coerce").astype(float)
            present = values.notna() & number
        mark(present & ~np.isfinite(num.fillna(0.0)), f"{col} is not finite")
        mark(present & (num < 0), f"{col} is negative")
        if col in fields.counts:
            mark(present & (num.abs() >= MAX_EXACT), f"{col} is too large to be exact")
            mark(present & np.isfinite(num) & (num % 1 != 0), f"{col} is not a whole number")
        if col == "world_size":
            mark(present & (num < 1), "world_size is below 1")
    if "type" in frame:
        timed = frame["type"].isin(TIMED_TYPES)
        if "time_s" in frame:
            t = frame["time_s"]
            if not pd.api.types.is_numeric_dtype(t.dtype) or pd.api.types.is_bool_dtype(t.dtype):
                t = pd.to_numeric(t.where(t.map(_number_or_missing)), errors="coerce")
            mark(timed & ~(t > 0), "time_s is missing, zero or negative")
        else:
            mark(timed, "time_s is missing")
    return why


def keep_good(frame: pd.DataFrame, linenos: Callable[[], list[int]], bad_lines: dict[int, str],
              path: Path, total: Callable[[], int]) -> pd.DataFrame:  # fmt: skip
    """The frame without its damaged rows, numeric columns as numbers; warns about those rows
    and about `bad_lines` (line -> why) that never became rows. `linenos()[row]` is the file
    line a row came from, `total()` the number of non-empty lines read: called only when a
    line is damaged (on a clean million-line file they would cost more than the checks)."""
    why = damaged_rows(frame) if len(frame) else {}
    skipped = dict(bad_lines)
    if why:
        numbers = linenos()
        for row, reason in why.items():
            skipped[numbers[row] if row < len(numbers) else -1] = reason
    if not skipped:
        return frame
    warn_skipped(path, skipped, total())
    keep = np.ones(len(frame), dtype=bool)
    keep[list(why)] = False
    good = frame[keep].reset_index(drop=True)
    fields = sample_fields()
    for col in fields.numbers:  # what is left is numeric: give pandas the numbers
        if col in good and good[col].dtype == object:
            good[col] = pd.to_numeric(good[col])
        # A skipped 2.5 or NaN made a count column float; without it the column is whole
        # again, and must read (and write to the tables) as the clean file's integers do.
        if col in fields.counts and col in good and pd.api.types.is_float_dtype(good[col]):
            values = good[col]
            if values.notna().all() and (values % 1 == 0).all():
                good[col] = values.astype("int64")
    return good


def warn_skipped(path: Path, skipped: dict[int, str], total: int) -> None:
    """One warning per damaged line for the first few, then one that counts and names them."""
    if not skipped:
        return
    lines = sorted(skipped)
    for n in lines[:PER_LINE_WARNINGS]:
        reason = skipped[n]
        text = reason if reason.startswith(("unreadable", "sample")) else f"sample: {reason}"
        warnings.warn(f"{path}:{n if n >= 0 else '?'}: skipped {text}", SampleWarning,
                      stacklevel=4)  # fmt: skip
    if len(lines) == 1:
        return  # its own warning named it
    shown = ", ".join(str(n) for n in lines[:20]) + (
        f" and {len(lines) - 20} more" if len(lines) > 20 else ""
    )
    warnings.warn(
        f"{path}: {len(lines)} of {total} lines skipped as damaged (lines {shown}); the figures "
        "come from the other lines",
        SampleWarning,
        stacklevel=4,
    )


def _text_or_missing(v) -> bool:
    return v is None or isinstance(v, str) or (isinstance(v, float) and math.isnan(v))


def _number_or_missing(v) -> bool:
    return v is None or (isinstance(v, int | float | np.integer | np.floating)
                         and not isinstance(v, bool | np.bool_))  # fmt: skip
