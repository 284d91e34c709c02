"""Raw check records -> figures: the one place validate's rank results are aggregated.

Ranks return raw timings (scaling/workloads/checks): `times` (seconds per timed sample) and
`work` (FLOPs or bytes per sample), or `rounds` already in the metric's unit (the host copies,
timed by CUDA events in hardware/transfers). Here:

- a per-rank figure's rounds are work / time per sample, in the check's unit, and its value
  is their median (robust to one sample hit by a neighbour's burst);
- a group op's time per iteration is its slowest member's (nccl-tests), busbw = S/t x the
  op's factor (all_reduce 2(n-1)/n, all_to_all (n-1)/n) per iteration, and the value is the
  median over iterations.

`summarize` is the `checks` table of the check workloads (checks.csv under `scaling run`).
Pure numpy/pandas: no torch, no ray.
"""

from __future__ import annotations

import statistics
from collections import defaultdict

from scaling.collector.formulas import busbw_factor

RECORD = "validate"
SCALE = {
    "gemm": 1e12,
    "membw": 1e9,
    "h2d": 1e9,
    "d2h": 1e9,
    "h2d_all": 1e9,
    "d2h_all": 1e9,
    "p2p": 1e9,
    "peer_copy": 1e9,
}
"""Work per second -> the check's unit (TFLOP/s for GEMM, GB/s for the rest)."""
UNITS = {"gemm": "TFLOP/s", "membw": "GB/s", "h2d": "GB/s", "d2h": "GB/s", "h2d_all": "GB/s",
         "d2h_all": "GB/s", "p2p": "GB/s", "peer_copy": "GB/s",
         "allreduce": "GB/s busbw", "inter_node": "GB/s busbw"}  # fmt: skip
CHECK_COLUMNS = ("check", "world_size", "round", "rank", "node", "gpu", "model", "peer",
                 "group_id", "value", "unit", "samples", "error")  # fmt: skip


def rounds_of(rec: dict) -> list[float]:
    """The per-sample figures of one rank's record, in its check's unit."""
    if rec.get("rounds") is not None:
        return [float(x) for x in rec["rounds"]]
    scale, work = SCALE.get(rec["check"]), rec.get("work")
    if scale is None or not work:
        return []
    return [work / t / scale for t in rec.get("times") or [] if t and t > 0]


def value_of(rounds: list[float]) -> float | None:
    return float(statistics.median(rounds)) if rounds else None


def busbw_rounds(members: list[dict]) -> list[float]:
    """busbw (GB/s) per iteration of one group op from its members' records (records made
    before the op was recorded are all_reduces)."""
    timed = [m["times"] for m in members if m.get("times")]
    if not timed or len(timed) != len(members):
        return []
    n, size = members[0]["ranks"], members[0]["size_bytes"]
    factor = busbw_factor(_clean(members[0].get("op")) or "all_reduce", n)
    if factor is None:  # one rank: no data crosses a link
        return []
    slowest = [max(ts) for ts in zip(*timed, strict=False)]
    return [size / t / 1e9 * factor for t in slowest if t > 0]


def wrong_elements(members: list[dict]) -> int | None:
    counts = [m["wrong"] for m in members if m.get("wrong") is not None]
    return sum(counts) if counts else None


def by_check(records: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        if r.get("type", RECORD) == RECORD:
            out[r.get("check", "")].append(r)
    return out


def summarize(samples, manifest: dict):
    """The checks table: one row per rank and figure (per group for all_reduce)."""
    import pandas as pd

    if samples is None or samples.empty or "type" not in samples:
        return pd.DataFrame(columns=list(CHECK_COLUMNS))
    recs = samples[samples["type"] == RECORD].to_dict("records")
    rows = []
    for check, items in by_check(recs).items():
        if check in ("allreduce", "inter_node"):
            rows += _group_rows(check, items)
        elif check in SCALE:
            rows += [_rank_row(check, r) for r in items]
    return pd.DataFrame(rows, columns=list(CHECK_COLUMNS))


def _clean(x):
    return None if x is None or (isinstance(x, float) and x != x) else x


def _rank_row(check: str, r: dict) -> dict:
    rounds = rounds_of(r)
    return {"check": check, "world_size": _clean(r.get("world_size")), "round": _clean(r.get("round")),
            "rank": _clean(r.get("rank")),
            "node": _clean(r.get("node")), "gpu": _clean(r.get("gpu")), "model": _clean(r.get("model")),
            "peer": _clean(r.get("peer")), "group_id": None, "value": value_of(rounds),
            "unit": UNITS[check], "samples": len(rounds),
            "error": _clean(r.get("error")) or _clean(r.get("skipped"))}  # fmt: skip


def _group_rows(check: str, items: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in items:  # one all_reduce per group and round (`scaling run --repeats`)
        groups[(str(r.get("group_id")), _clean(r.get("round")))].append(r)
    rows = []
    for (gid, rnd), members in groups.items():
        rounds = busbw_rounds(members)
        errors = [str(m["error"]) for m in members if _clean(m.get("error"))]
        rows.append({"check": check, "world_size": _clean(members[0].get("world_size")),
                     "round": rnd, "rank": None, "node": None, "gpu": None, "model": None, "peer": None,
                     "group_id": gid, "value": value_of(rounds), "unit": UNITS[check],
                     "samples": len(rounds), "error": "; ".join(errors) or None})  # fmt: skip
    return rows
