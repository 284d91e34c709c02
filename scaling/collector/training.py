"""Training, collector layer (report/training.py draws it): samples -> training.csv.

Training samples -> training.csv: one row per workload x config x world size.

The rules (docs/formulas.md):

- A step's time is the slowest rank's time for that step. Percentiles are over steps;
  t_ddp, t_local and t_comm are medians over steps (t_ddp is the p50 step time).
- exposed_comm = t_ddp - t_local, comm_fraction = exposed_comm / t_ddp,
  overlap = 1 - exposed_comm / t_comm. One rank trains without DDP (see
  workloads/training/bench.py): t_local = t_ddp, no comm, overlap n/a.
- Throughput = global batch / t_ddp. Efficiency is against world size 1 of the same run,
  workload, preset, scaling and precision: weak = throughput(n) / (n throughput(1)),
  strong = T(1) / (n T(n)). No world size 1 -> NaN and a flag.
- FLOPs per step are the sum over ranks; MFU = achieved FLOP/s / the sum of the ranks'
  peaks at that precision (`hardware/peaks.py`); NaN (n/a) where a peak is unknown (CPU).
- Straggler: a rank whose median compute-only time (forward alone, phase "compute") is over
  1.10 x the median of the ranks' medians. The DDP step cannot show one: its all-reduce
  makes every rank wait for the slowest.
- consistent: the ranks' parameter checksums after the measured steps are identical.
- power_w is the sum of the ranks' mean GPU power; gpu_util_pct the mean over ranks.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from scaling.collector.formulas import comm_overhead, mfu, strong_efficiency, weak_efficiency
from scaling.hardware.peaks import peak_flops
from scaling.workloads.catalog import curve_keys, key_names
from scaling.workloads.training import POINT_KEYS as DECLARED

POINT_KEYS = key_names(DECLARED)
"""The table's row keys: the training workloads' declared point keys, in their order."""
CURVE_KEYS = curve_keys(DECLARED)
"""What one scaling curve holds fixed (the declared keys that do not scale with the world
size): efficiency's world-size-1 baseline, the report's curves and predict's fits match on it."""
TRAINING_COLUMNS = POINT_KEYS + [
    "batch_per_rank",
    "global_batch",
    "status",
    "step_time_p50_s",
    "step_time_p90_s",
    "step_time_p99_s",
    "t_ddp_s",
    "t_local_s",
    "t_comm_s",
    "exposed_comm_s",
    "comm_fraction",
    "overlap",
    "samples_per_s",
    "samples_per_s_per_gpu",
    "tokens_per_s",
    "tokens_per_s_per_gpu",
    "efficiency",
    "flops_per_step",
    "achieved_tflops",
    "mfu",
    "peak_mem_bytes_max",
    "mem_balance",
    "power_w",
    "samples_per_s_per_w",
    "gpu_util_pct",
    "straggler_ranks",
    "consistent",
    "flags",
]
STRAGGLER_RATIO = 1.10
NAN = float("nan")


def summarize(samples: pd.DataFrame, manifest: dict | None = None) -> pd.DataFrame:
    """The training table (TRAINING_COLUMNS); empty when the samples hold no training point.

    `manifest` supplies device names (its "ranks") for samples that lack them.
    """
    if samples.empty or "type" not in samples:
        return pd.DataFrame(columns=TRAINING_COLUMNS)
    points = samples[samples["type"] == "train_point"]
    if points.empty:
        return pd.DataFrame(columns=TRAINING_COLUMNS)
    steps = samples[samples["type"] == "step"]
    ranks_meta = (manifest or {}).get("ranks") or []
    rows = []
    for key, pts in points.groupby(POINT_KEYS, sort=False, dropna=False):
        point = dict(zip(POINT_KEYS, key, strict=True))
        if not steps.empty:
            mask = np.logical_and.reduce([steps[k] == v for k, v in point.items()])
            point_steps = steps[mask]
        else:
            point_steps = steps
        rows.append(_point_row(point, pts, point_steps, ranks_meta))
    table = pd.DataFrame(rows)
    _add_efficiency(table)
    table["flags"] = table["flags"].map(";".join)
    # Sample files mix record types, so integer keys arrive as floats; they are counts.
    for col in ("world_size", "nodes", "batch_per_rank", "global_batch"):
        table[col] = pd.to_numeric(table[col], errors="coerce").astype("Int64")
    return table[TRAINING_COLUMNS].reset_index(drop=True)


def step_keys(steps: pd.DataFrame) -> list[str]:
    """What identifies one step across ranks: its round (when recorded) and its index."""
    return ["round", "step"] if "round" in steps else ["step"]


def one_per_rank(pts: pd.DataFrame) -> pd.DataFrame:
    """A point's train_point records, one row per rank: with --repeats every round writes one.

    Facts that are the same each round come from the first; power and utilisation are means
    over rounds, peak memory the largest; an out-of-memory round makes the rank's status oom.
    """
    pts = pts.sort_values(["rank", "round"] if "round" in pts else ["rank"])
    if not pts["rank"].duplicated().any():
        return pts
    g = pts.groupby("rank", sort=True)
    out = g.first()
    for col, how in (("power_w", "mean"), ("gpu_util_pct", "mean"), ("peak_mem_bytes", "max")):
        if col in pts:
            out[col] = g[col].agg(how)
    oom = pts[pts["status"] == "oom"].groupby("rank").first()
    out.loc[oom.index] = oom
    return out.reset_index()


def _point_row(point: dict, records: pd.DataFrame, steps: pd.DataFrame, ranks_meta: list) -> dict:
    pts = one_per_rank(records)
    n = int(point["world_size"])
    row = {k: NAN for k in TRAINING_COLUMNS}
    row.update(point)
    row.update(
        batch_per_rank=int(pts["batch"].max()),
        global_batch=int(pts["global_batch"].iloc[0]),
        status="oom" if (pts["status"] == "oom").any() else "ok",
        straggler_ranks="",
        consistent=None,
        flags=[],
    )
    if pts["batch"].nunique() > 1:
        row["flags"].append(
            f"uneven per-rank batch: {row['global_batch']} over {n} ranks "
            f"({int(pts['batch'].min())}..{row['batch_per_rank']})"
        )
    if row["status"] == "oom":
        first = pts[pts["status"] == "oom"].iloc[0]
        ranks = ",".join(str(r) for r in _get(first, "oom_ranks", []))
        row["flags"].append(
            f"out of memory at batch {row['batch_per_rank']} per rank "
            f"(rank {ranks} in {_get(first, 'failed_stage', '?')})"
        )
        return row
    _step_times(row, steps, n)
    _rates(row, pts, ranks_meta, n)
    _check_stragglers(row, steps)
    by_round = records.groupby("round", dropna=False) if "round" in records else [(0, records)]
    for _, one_round in by_round:  # each round trains from the same seed: compare within one
        _check_consistency(row, one_round.sort_values("rank"))
    return row


def _step_times(row: dict, steps: pd.DataFrame, n: int) -> None:
    """Step percentiles, t_ddp / t_local / t_comm and the exposed communication."""
    slowest = steps.groupby(["phase", *step_keys(steps)], dropna=False)["time_s"].max()
    per_step = {phase: slowest.loc[phase] for phase in slowest.index.get_level_values(0).unique()}
    ddp = per_step.get("ddp", pd.Series(dtype=float))
    t_ddp = float(ddp.median()) if len(ddp) else NAN
    # One rank trains without DDP: no sync to skip and nothing to all-reduce.
    t_local = t_ddp if n == 1 else _median(per_step.get("local"))
    t_comm = _median(per_step.get("comm"))
    row.update(
        step_time_p50_s=float(ddp.quantile(0.50)) if len(ddp) else NAN,
        step_time_p90_s=float(ddp.quantile(0.90)) if len(ddp) else NAN,
        step_time_p99_s=float(ddp.quantile(0.99)) if len(ddp) else NAN,
        t_ddp_s=t_ddp,
        t_local_s=t_local,
        t_comm_s=t_comm,
    )
    oh = comm_overhead(t_ddp, t_local, None if math.isnan(t_comm) else t_comm)
    row.update(exposed_comm_s=oh["exposed_comm"], comm_fraction=oh["comm_fraction"])
    if n > 1 and oh["overlap"] is not None:
        row["overlap"] = oh["overlap"]
    if n > 1 and oh["exposed_comm"] < 0:
        row["flags"].append("t_ddp below t_local: timing noise exceeds the exposed comm")
    elif n > 1 and oh["overlap"] is not None and oh["overlap"] < 0:
        row["flags"].append(
            "overlap < 0: DDP exposes more than the all-reduce alone takes (contention or noise)"
        )


def _rates(row: dict, pts: pd.DataFrame, ranks_meta: list, n: int) -> None:
    """Throughput, FLOPs and MFU, memory, power: from t_ddp and the ranks' facts."""
    t_ddp = row["t_ddp_s"]
    samples_per_s = row["global_batch"] / t_ddp
    row.update(samples_per_s=samples_per_s, samples_per_s_per_gpu=samples_per_s / n)
    tokens = _get(pts.iloc[0], "tokens_per_sample", None)
    if tokens:
        row.update(
            tokens_per_s=samples_per_s * tokens, tokens_per_s_per_gpu=samples_per_s * tokens / n
        )

    flops = float(pts["flops_per_step"].sum())
    row.update(flops_per_step=flops, achieved_tflops=flops / t_ddp / 1e12)
    peaks = [peak_flops(_device_name(r, ranks_meta), row["precision"]) for r in pts.itertuples()]
    total_peak = None if any(p is None for p in peaks) else sum(peaks)
    m = mfu(flops, t_ddp, total_peak)
    row["mfu"] = NAN if m is None else m

    mem = pts["peak_mem_bytes"].astype(float)
    row.update(peak_mem_bytes_max=mem.max(), mem_balance=mem.max() / mem.min())
    power = _column(pts, "power_w")
    if power.notna().all():
        row.update(power_w=power.sum(), samples_per_s_per_w=samples_per_s / power.sum())
    util = _column(pts, "gpu_util_pct")
    if util.notna().all():
        row["gpu_util_pct"] = util.mean()


def _check_stragglers(row: dict, steps: pd.DataFrame) -> None:
    compute = steps[steps["phase"] == "compute"]
    if compute.empty:
        return
    per_rank = compute.groupby("rank")["time_s"].median()
    middle = per_rank.median()
    slow = per_rank[per_rank > STRAGGLER_RATIO * middle]
    if len(per_rank) > 1 and not slow.empty:
        row["straggler_ranks"] = ",".join(str(int(r)) for r in slow.index)
        worst = slow.max() / middle
        row["flags"].append(
            f"straggler rank {row['straggler_ranks']}: forward up to {worst:.2f}x "
            f"the median rank (threshold {STRAGGLER_RATIO:.2f}x)"
        )


def _check_consistency(row: dict, pts: pd.DataFrame) -> None:
    # Hex strings, compared exactly: a float column would round 64-bit checksums.
    sums = pts["checksum_bits"].tolist() if "checksum_bits" in pts else []
    if not sums or any(not isinstance(s, str) for s in sums):
        return
    differ = [int(r) for r, s in zip(pts["rank"], sums, strict=True) if s != sums[0]]
    if row["consistent"] is False:
        return  # an earlier round already differed and is flagged
    row["consistent"] = not differ
    if differ:
        row["flags"].append(
            "parameters differ across ranks after the measured steps "
            f"(rank {','.join(map(str, differ))} vs rank {int(pts['rank'].iloc[0])})"
        )


def _add_efficiency(table: pd.DataFrame) -> None:
    """Efficiency against world size 1 of the same workload, preset, scaling and precision."""
    efficiency = []
    for row in table.itertuples():
        same = np.logical_and.reduce([table[k] == getattr(row, k) for k in CURVE_KEYS])
        base = table[same & (table["world_size"] == 1)]
        if row.status != "ok":
            efficiency.append(NAN)
        elif base.empty:
            efficiency.append(NAN)
            row.flags.append("no world size 1 in this run")
        elif base["status"].iloc[0] != "ok":
            efficiency.append(NAN)
            row.flags.append("world size 1 ran out of memory: no baseline")
        else:
            efficiency.append(_efficiency(row, base.iloc[0]))
    table["efficiency"] = efficiency


def _efficiency(row, base: pd.Series) -> float:
    n = int(row.world_size)
    if row.scaling == "strong":
        return strong_efficiency(base["t_ddp_s"], n, row.t_ddp_s)
    return weak_efficiency(row.samples_per_s, n, base["samples_per_s"])


def _median(series: pd.Series | None) -> float:
    return float(series.median()) if series is not None and len(series) else NAN


def _column(pts: pd.DataFrame, name: str) -> pd.Series:
    if name not in pts:
        return pd.Series([np.nan] * len(pts), index=pts.index, dtype=float)
    return pd.to_numeric(pts[name], errors="coerce")


def _get(rec: pd.Series, name: str, default):
    value = rec.get(name, default)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return default
    return value


def _device_name(rank_row, ranks_meta: list) -> str | None:
    name = getattr(rank_row, "device_name", None)
    if isinstance(name, str) and name:
        return name
    r = int(rank_row.rank)
    if r < len(ranks_meta):
        return ranks_meta[r].get("gpu_name")
    return None
