"""What a comparison covered: nothing compared is not a pass.

A comparison gate (CI: `scaling compare baseline new || fail`) must not pass when it judged
nothing. Two ways it could:

- the same run on both sides (one directory twice, or a copy of it: the same samples byte for
  byte): it shows no change by construction. That is bad input, exit 2, before anything is read.
- too few of BASE's points found in NEW: after a config change (other sizes, other world
  sizes, another dtype) the runs share few or no points, and "no regressions in 0 matched
  points" would pass forever. When fewer than MIN_MATCHED_PCT % of BASE's points matched, the
  comparison is incomplete: exit 2 with a line naming the points that did not match, unless a
  matched point regressed (a regression measured is a finding: exit 1 wins).

Why exit 2 and not 1: exit 1 says "NEW is slower", and scripts act on it (file a performance
bug, bisect). Here nothing was measured to be slower: the runs do not measure the same thing,
so the fix is a new baseline or a matching config, which is what exit 2 (bad input) says. Both
fail a gate.
"""

from __future__ import annotations

from pathlib import Path

from scaling.rundir import SAMPLES

MIN_MATCHED_PCT = 50.0
"""The share of BASE's points NEW must match for a comparison to count (compare --min-matched)."""
SHOWN = 5


class NothingToCompare(ValueError):
    """BASE and NEW are one run: a comparison would judge nothing."""


def check_distinct(base: str | Path, new: str | Path) -> None:
    """NothingToCompare when BASE and NEW are the same run: one directory, or the same samples."""
    b, n = Path(base), Path(new)
    if b.exists() and n.exists() and b.resolve() == n.resolve():
        raise NothingToCompare(
            f"BASE and NEW are the same run ({b}): a run compared with itself shows no change "
            "by construction; compare it with another run"
        )
    sb, sn = b / SAMPLES, n / SAMPLES
    same_size = sb.is_file() and sn.is_file() and sb.stat().st_size == sn.stat().st_size > 0
    if same_size and sb.read_bytes() == sn.read_bytes():
        raise NothingToCompare(
            f"BASE ({b}) and NEW ({n}) hold the same samples byte for byte: one run copied, "
            "not two runs; compare it with another run"
        )


def shortfall(matched: int, only_base: list[str], only_new: list[str],
              min_pct: float = MIN_MATCHED_PCT, untimed: list[str] = ()) -> str | None:  # fmt: skip
    """Why the comparison covers too little of BASE (one line), or None when it covers enough.
    untimed: BASE points NEW has too, but some run did not time (not judged either)."""
    total = matched + len(only_base) + len(untimed)
    if total == 0:
        return "BASE has no points to compare (no collective or training point in its samples)"
    pct = 100.0 * matched / total
    if matched and pct >= min_pct:
        return None
    head = (
        f"only {matched} of BASE's {total} points matched in NEW ({pct:.0f}%, below {min_pct:g}%)"
        if matched
        else f"none of BASE's {total} points matched in NEW"
    )
    text = f"{head}; not in NEW: {_names(only_base)}" if only_base else head
    if untimed:
        text += f"; not timed in every run: {_names(list(untimed))}"
    if only_new:
        text += f"; NEW has instead: {_names(only_new)}"
    return text + " (a config change? compare with a baseline measured the same way)"


def _names(points: list[str]) -> str:
    more = f" and {len(points) - SHOWN} more" if len(points) > SHOWN else ""
    return ", ".join(points[:SHOWN]) + more
