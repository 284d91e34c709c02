"""NCCL environment candidates, judged per message-size range, recommended only beyond noise.

NCCL picks an algorithm (ring, tree, NVLS, ...), a protocol (LL, LL128, Simple), a channel
count and buffer sizes per collective and message size. Forcing them through NCCL_ALGO,
NCCL_PROTO, NCCL_MIN_NCHANNELS/NCCL_MAX_NCHANNELS or NCCL_BUFFSIZE changes results by message
size, and NCCL's own documentation (Environment Variables) files them among the *debugging*
variables, which "should not be used in production nor retained in scripts, or only as
workaround". So tune tries them, labels them as such, and recommends a setting only when it
beats NCCL's defaults beyond noise in some size range and loses in none: an environment
variable applies to every message of the process, not to one range.

    cands = nccl_candidates(["Ring", "Tree"], ["LL128", "Simple"])
    recs = recommend({"64K-16M": {c.id: rounds, ...}, ...}, judge)

The ranges are the [tune] section's `nccl_size_ranges` (config/tune.py: SizeRange).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scaling.collector.tune.judging import Judge

DEBUG_NOTE = (
    "NCCL_ALGO, NCCL_PROTO, NCCL_MIN_NCHANNELS/NCCL_MAX_NCHANNELS and NCCL_BUFFSIZE are NCCL "
    "debugging variables: NCCL's documentation says they should not be used in production nor "
    "retained in scripts, or only as a workaround. Recheck after any driver, NCCL or topology "
    "change."
)
DEFAULT_ID = "nccl-defaults"


@dataclass(frozen=True)
class NcclCandidate:
    env: tuple[tuple[str, str], ...]
    """(name, value) pairs; empty: NCCL's own choices."""

    @property
    def id(self) -> str:
        if not self.env:
            return DEFAULT_ID
        return "nccl:" + ",".join(f"{k.removeprefix('NCCL_')}={v}" for k, v in self.env)

    @property
    def label(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.env) or "NCCL defaults"


def nccl_candidates(
    algos: Sequence[str] = (),
    protos: Sequence[str] = (),
    channels: Sequence[int] = (),
    buffsizes: Sequence[int] = (),
) -> list[NcclCandidate]:
    """NCCL's defaults first, then every combination; each variable may also stay unset."""
    options = [
        [None, *(("NCCL_ALGO", a) for a in algos)],
        [None, *(("NCCL_PROTO", p) for p in protos)],
        [
            None,
            *((("NCCL_MIN_NCHANNELS", str(c)), ("NCCL_MAX_NCHANNELS", str(c))) for c in channels),
        ],
        [None, *(("NCCL_BUFFSIZE", str(b)) for b in buffsizes)],
    ]
    out = []
    for combo in itertools.product(*options):
        env: list[tuple[str, str]] = []
        for item in combo:
            if item is None:
                continue
            env.extend(item if isinstance(item[0], tuple) else [item])
        out.append(NcclCandidate(tuple(env)))
    return out


def recommend(
    per_range: Mapping[str, Mapping[str, Sequence[float]]],
    judge: Judge,
    default_id: str = DEFAULT_ID,
) -> dict:
    """One NCCL setting to recommend, or none, from per-range rounds (higher is better).

    per_range: range label -> candidate id -> per-round figures (e.g. busbw) in that range.
    A candidate qualifies when the judge calls it better than the defaults in at least one
    range and worse in none; among those, the one better in the most ranges (then the best
    median ratio). Every verdict is kept for the report.
    """
    verdicts: dict[str, dict[str, str]] = {}
    for rng, rounds in per_range.items():
        base = rounds.get(default_id)
        if not base:
            raise ValueError(f"range {rng}: no rounds for NCCL's defaults ({default_id})")
        verdicts[rng] = {c: judge(r, base) for c, r in rounds.items() if c != default_id}
    ids = sorted({c for v in verdicts.values() for c in v})
    qualified = []
    for c in ids:
        vs = [v[c] for v in verdicts.values() if c in v]
        if "worse" not in vs and "better" in vs:
            qualified.append((vs.count("better"), _gain(per_range, c, default_id), c))
    if not qualified:
        reason = "no NCCL setting beat NCCL's defaults beyond noise without losing in some range"
        return {"recommended": None, "reason": reason, "verdicts": verdicts, "note": DEBUG_NOTE}
    wins, _, best = max(qualified)
    reason = f"better than NCCL's defaults beyond noise in {wins} range(s), worse in none"
    return {"recommended": best, "reason": reason, "verdicts": verdicts, "note": DEBUG_NOTE}


def _gain(per_range, cid: str, default_id: str) -> float:
    import statistics

    ratios = [
        statistics.median(r[cid]) / statistics.median(r[default_id])
        for r in per_range.values()
        if cid in r
    ]
    return statistics.mean(ratios) if ratios else 1.0


def env_lines(env: Sequence[tuple[str, str]]) -> list[str]:
    """Shell lines for a recommended setting, with the debugging-variable warning."""
    if not env:
        return []
    return [f"# {DEBUG_NOTE}", *(f"export {k}={v}" for k, v in env)]
