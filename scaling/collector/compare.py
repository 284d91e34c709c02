"""Two runs, point by point: deltas in %, and which are regressions beyond the runs' own noise.

A point is a regression when its time got worse by more than the threshold *beyond the
spread*: the new run's fast end (p10 of its per-iteration times) is slower than the base
run's slow end (p90) by more than threshold %. Two runs of the same machine overlap in their
p10..p90 bands and never regress; a real slowdown clears both bands.

Times are the slowest rank's per iteration (collectives) or per DDP step (training), so the
band is the same noise the percentiles in summary.csv describe. Throughput is batch / step
time and busbw is size / time, so a time regression is exactly a throughput regression.

A point that stopped working is a regression too: a training point that ran before and now
fails (oom, error), and a collective that was exact and now has wrong elements.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scaling.collector.collectives import iteration_spread
from scaling.collector.curves import step_spread
from scaling.collector.run import Run

COLL_KEYS = ["group", "op", "dtype", "timing", "world_size", "size_bytes"]
TRAIN_KEYS = ["workload", "preset", "precision", "scaling", "batch_per_rank", "world_size"]

COLUMNS = [
    "kind",
    "point",
    "metric",
    "base",
    "new",
    "delta_pct",
    "time_delta_pct",
    "beyond_spread_pct",
    "regression",
    "why",
]


@dataclass
class Comparison:
    base: str
    new: str
    threshold_pct: float
    points: pd.DataFrame
    """One row per matched point (COLUMNS). delta_pct is the change of the figure in metric
    (positive = more); time_delta_pct the change of the p50 time (positive = slower)."""
    only_base: list[str]
    only_new: list[str]

    @property
    def regressions(self) -> pd.DataFrame:
        return self.points[self.points["regression"]]

    def to_dict(self) -> dict:
        rows = self.points.replace({np.nan: None}).to_dict(orient="records")
        return {
            "base": self.base,
            "new": self.new,
            "threshold_pct": self.threshold_pct,
            "regressions": int(self.points["regression"].sum()),
            "points": rows,
            "only_in_base": self.only_base,
            "only_in_new": self.only_new,
        }


def compare(base: Run, new: Run, threshold_pct: float = 5.0) -> Comparison:
    coll, cb, cn = _collectives(base, new, threshold_pct)
    train, tb, tn = _training(base, new, threshold_pct)
    points = pd.concat([p for p in (coll, train) if not p.empty] or [_empty()], ignore_index=True)
    return Comparison(str(base.path), str(new.path), threshold_pct, points, cb + tb, cn + tn)


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=COLUMNS).astype({"regression": bool})


def judge(base_hi: float, new_lo: float, threshold_pct: float) -> tuple[float, bool]:
    """How far (%) the new run's fast end is beyond the base run's slow end; and whether that
    exceeds the threshold. Times: larger is worse."""
    beyond = (new_lo / base_hi - 1.0) * 100.0
    return beyond, bool(beyond > threshold_pct)


def _match(b: pd.DataFrame, n: pd.DataFrame, keys: list[str], label):
    """Matched rows (columns suffixed _base/_new), and the labels of points in one run only."""
    if b.empty or n.empty:
        return (
            None,
            [label(r) for r in b.to_dict("records")],
            [label(r) for r in n.to_dict("records")],
        )
    keys = [k for k in keys if k in b and k in n]
    m = b.merge(n, on=keys, how="outer", suffixes=("_base", "_new"), indicator=True)
    only_b = [label(r) for r in m[m["_merge"] == "left_only"].to_dict(orient="records")]
    only_n = [label(r) for r in m[m["_merge"] == "right_only"].to_dict(orient="records")]
    return m[m["_merge"] == "both"], only_b, only_n


def _coll_label(r) -> str:
    from scaling.config.units import format_size

    extra = "" if r.get("group", "world") == "world" else f" [{r['group']}]"
    return (
        f"{r['op']} {r['dtype']} {int(r['world_size'])} ranks "
        f"{format_size(int(r['size_bytes']))}{extra}"
    )


def _with_spread(table: pd.DataFrame, spread: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The summary rows with the run's p10/p90 band beside them."""
    if table.empty:
        return table
    return table.merge(spread, on=[k for k in keys if k in spread], how="left")


def _collectives(base: Run, new: Run, thr: float):
    b, n = (
        _with_spread(run.collectives, iteration_spread(run.samples), COLL_KEYS)
        for run in (base, new)
    )
    m, only_b, only_n = _match(b, n, COLL_KEYS, _coll_label)
    if m is None:
        return _empty(), only_b, only_n
    rows = []
    for r in m.to_dict(orient="records"):
        t_b, t_n = r["time_p50_us_base"] * 1e-6, r["time_p50_us_new"] * 1e-6
        base_hi = _or(r.get("time_p90_s_base"), t_b)
        new_lo = _or(r.get("time_p10_s_new"), t_n)
        beyond, reg = judge(base_hi, new_lo, thr)
        why = f"p10 {new_lo * 1e6:.1f} us vs base p90 {base_hi * 1e6:.1f} us" if reg else ""
        wrong_b, wrong_n = r.get("wrong_base"), r.get("wrong_new")
        if _pos(wrong_n) and not _pos(wrong_b):
            reg, why = True, f"#wrong {_int(wrong_b)} -> {int(wrong_n)}"
        busbw = not pd.isna(r["busbw_gbps_base"]) and not pd.isna(r["busbw_gbps_new"])
        metric = "busbw_gbps" if busbw else "time_p50_us"
        rows.append(
            {
                "kind": "collective",
                "point": _coll_label(r),
                "metric": metric,
                "base": r[f"{metric}_base"],
                "new": r[f"{metric}_new"],
                "delta_pct": _pct(r[f"{metric}_base"], r[f"{metric}_new"]),
                "time_delta_pct": _pct(t_b, t_n),
                "beyond_spread_pct": beyond,
                "regression": reg,
                "why": why,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS), only_b, only_n


def _train_label(r) -> str:
    parts = [str(r["workload"])]
    parts += [str(r[k]) for k in ("preset", "precision") if k in r and not pd.isna(r[k])]
    if "batch_per_rank" in r and not pd.isna(r["batch_per_rank"]):
        parts.append(f"batch {int(r['batch_per_rank'])}")
    return " ".join(parts) + f" {int(r['world_size'])} ranks"


def _training(base: Run, new: Run, thr: float):
    b, n = (
        _with_spread(run.training, step_spread(run.samples), ["workload", "world_size"])
        for run in (base, new)
    )
    m, only_b, only_n = _match(b, n, TRAIN_KEYS, _train_label)
    if m is None:
        return _empty(), only_b, only_n
    rows = []
    for r in m.to_dict(orient="records"):
        ok_b, ok_n = r["status_base"] == "ok", r["status_new"] == "ok"
        row = {
            "kind": "training",
            "point": _train_label(r),
            "metric": "samples_per_s",
            "base": r["samples_per_s_base"],
            "new": r["samples_per_s_new"],
            "delta_pct": np.nan,
            "time_delta_pct": np.nan,
            "beyond_spread_pct": np.nan,
            "regression": False,
            "why": "",
        }
        if ok_b and not ok_n:
            row.update(regression=True, why=f"status ok -> {r['status_new']}")
        elif ok_b and ok_n:
            t_b, t_n = r["step_time_p50_s_base"], r["step_time_p50_s_new"]
            base_hi = _or(r.get("step_p90_s_base"), _or(r.get("step_time_p90_s_base"), t_b))
            new_lo = _or(r.get("step_p10_s_new"), t_n)
            beyond, reg = judge(base_hi, new_lo, thr)
            row.update(
                delta_pct=_pct(row["base"], row["new"]),
                time_delta_pct=_pct(t_b, t_n),
                beyond_spread_pct=beyond,
                regression=reg,
                why=f"step p10 {new_lo:.4g} s vs base p90 {base_hi:.4g} s" if reg else "",
            )
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS), only_b, only_n


def _pct(base, new) -> float:
    if pd.isna(base) or pd.isna(new) or base == 0:
        return np.nan
    return (new / base - 1.0) * 100.0


def _or(x, default):
    return default if x is None or pd.isna(x) else x


def _pos(x) -> bool:
    return x is not None and not pd.isna(x) and x > 0


def _int(x) -> str:
    return "n/a" if x is None or pd.isna(x) else str(int(x))
