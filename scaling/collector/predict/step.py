"""The training-step model: step(n) = compute + exposed communication.

- compute: t_local (the step under no_sync) at the reference world size, the largest one
  measured. Weak scaling keeps it (the per-rank batch is fixed); strong scaling divides it by
  n / n_ref (the per-rank batch shrinks; perfect compute scaling is assumed and said). When
  every rank of a CPU run ran on one host (Layout.host_cores), the ranks share its cores:
  compute is scaled by max(1, n / cores) over the same at n_ref (one torch thread per rank,
  the gang's default). On the 2-core VM, t_local at 4 ranks measured 1.6x-3.1x its 2-rank
  value (README, "How accurate is it?"); a GPU rank has its own device and no such term.
- communication: DDP's recorded gradient buckets (train_point "bucket_bytes"), each through
  the fitted all_reduce model at n, summed (the buckets reduce one after another).
- exposure: the measured exposed communication (t_ddp - t_local) at the reference world size
  over the modelled bucket all-reduce time there. This is 1 - overlap with t_comm taken from
  the model instead of the separate measurement, so a model that is off by a constant factor
  at the reference size does not carry that factor to every n. The measured overlap is
  reported beside it. With no multi-rank training point there is no overlap to go on: every
  modelled all-reduce is counted as exposed.
- throughput and efficiency follow docs/formulas.md: weak n*batch/step, step(1)/step(n); strong
  global_batch/step, T(1)/(n T(n)), with step(1) measured when the run has world size 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from scaling.collector.predict.hockney import CollectiveFit
from scaling.collector.training import CURVE_KEYS, step_keys

INTRA, INTER = "intra-node", "inter-node"
DEFAULT_BUCKET_CAP = 25 * 1024 * 1024


@dataclass
class Layout:
    """Which span a world size runs in: as measured where the run measured it, else
    intra-node while n fits on one node of gpus_per_node ranks."""

    gpus_per_node: int
    measured: dict[int, str] = field(default_factory=dict)
    host_cores: int | None = None
    """CPU runs whose ranks all ran on one host: its usable cores, which the ranks share.
    None: each rank has its own device (GPU), or the ranks spanned hosts."""

    def core_share(self, ns) -> np.ndarray:
        """How many ranks' worth of work each core carries at n (>= 1; 1 without host_cores)."""
        ns = np.atleast_1d(np.asarray(ns, dtype=float))
        if not self.host_cores:
            return np.ones(ns.shape)
        return np.maximum(1.0, ns / self.host_cores)

    def spans(self, ns) -> np.ndarray:
        ns = np.atleast_1d(np.asarray(ns, dtype=float))
        out = np.where(np.ceil(ns / self.gpus_per_node) <= 1, INTRA, INTER).astype(object)
        for n, span in self.measured.items():
            out[ns == n] = span
        return out

    def span(self, n: int) -> str:
        return str(self.spans([n])[0])

    def nodes(self, n: int) -> int:
        return max(1, math.ceil(n / self.gpus_per_node))


@dataclass
class TrainingCurve:
    workload: str
    preset: str
    precision: str
    scaling: str
    batch_per_rank: dict[int, int]
    global_batch: dict[int, int]
    ddp_steps: dict[int, np.ndarray]
    """Per-step DDP step time (s) of the slowest rank, per world size."""
    local_steps: dict[int, np.ndarray]
    """Per-step no_sync (compute) time; at one rank the DDP step itself."""
    overlap: dict[int, float]
    bucket_bytes: list[int]
    bucket_note: str

    @property
    def label(self) -> str:
        return f"{self.workload} · {self.preset} · {self.precision} · {self.scaling}"

    @property
    def world_sizes(self) -> list[int]:
        return sorted(self.ddp_steps)

    def without(self, n: int) -> TrainingCurve:
        drop = lambda d: {k: v for k, v in d.items() if k != n}  # noqa: E731
        return replace(
            self,
            batch_per_rank=drop(self.batch_per_rank),
            global_batch=drop(self.global_batch),
            ddp_steps=drop(self.ddp_steps),
            local_steps=drop(self.local_steps),
            overlap=drop(self.overlap),
        )

    def medians(self, rng: np.random.Generator | None = None) -> tuple[dict, dict]:
        """Median DDP and compute step per world size; steps resampled when rng is given."""

        def med(a: np.ndarray) -> float:
            if rng is not None and len(a) > 1:
                a = a[rng.integers(0, len(a), len(a))]
            return float(np.median(a))

        return (
            {n: med(a) for n, a in self.ddp_steps.items()},
            {n: med(a) for n, a in self.local_steps.items()},
        )


@dataclass
class StepModel:
    curve: TrainingCurve
    ref_n: int
    compute_ref_s: float
    exposure: float
    fits: dict[str, CollectiveFit]
    """all_reduce fit per span."""
    layout: Layout
    step1_s: float
    notes: list[str] = field(default_factory=list)

    def comm_terms(self, ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(latency, bandwidth) of the bucket all-reduces at each n; NaN where no fit."""
        ns = np.asarray(ns, dtype=float)
        lat, bw = np.full(ns.shape, np.nan), np.full(ns.shape, np.nan)
        spans = self.layout.spans(ns)
        for span, fit in self.fits.items():
            m = spans == span
            if not m.any():
                continue
            lat[m], bw[m] = 0.0, 0.0
            for b in self.curve.bucket_bytes:
                la, bb = fit.terms(float(b), ns[m])
                lat[m] += la
                bw[m] += bb
        one = ns == 1
        lat[one], bw[one] = 0.0, 0.0  # one rank trains without DDP: nothing to reduce
        return lat, bw

    def compute(self, ns: np.ndarray) -> np.ndarray:
        ns = np.asarray(ns, dtype=float)
        share = self.layout.core_share
        shared = (share(ns) / share(self.ref_n)).reshape(ns.shape)  # 1 unless CPU ranks share cores
        if self.curve.scaling == "strong":
            return self.compute_ref_s * self.ref_n / ns * shared
        return self.compute_ref_s * shared

    def predict(self, ns) -> dict[str, np.ndarray]:
        ns = np.asarray(ns, dtype=float)
        lat, bw = self.comm_terms(ns)
        comp = self.compute(ns)
        lat, bw = self.exposure * lat, self.exposure * bw
        step = comp + lat + bw
        if math.isfinite(self.step1_s):
            # One rank is the baseline itself: measured (or modelled) once, not re-predicted.
            one = ns == 1
            comp[one], step[one] = self.step1_s, self.step1_s
        if self.curve.scaling == "strong":
            gb = next(iter(self.curve.global_batch.values()))
            throughput = gb / step
            efficiency = self.step1_s / (ns * step)
        else:
            batch = next(iter(self.curve.batch_per_rank.values()))
            throughput = ns * batch / step
            efficiency = self.step1_s / step
        dominant = np.array(["compute", "latency", "bandwidth"])[
            np.argmax(np.nan_to_num(np.vstack([comp, lat, bw]), nan=-1.0), axis=0)
        ]
        return {
            "compute_s": comp,
            "latency_s": lat,
            "bandwidth_s": bw,
            "step_s": step,
            "throughput": throughput,
            "efficiency": efficiency,
            "dominant": dominant,
        }


def build_step_model(
    curve: TrainingCurve,
    fits: dict[str, CollectiveFit],
    layout: Layout,
    medians: tuple[dict, dict] | None = None,
) -> StepModel | None:
    """The model from the curve's largest measured world size; None if its span has no fit."""
    t_ddp, t_local = medians or curve.medians()
    ref = max(curve.world_sizes)
    notes: list[str] = []
    model = StepModel(curve, ref, t_local[ref], 1.0, fits, layout, math.nan, notes)
    if ref > 1:
        if layout.span(ref) not in fits:
            return None
        lat, bw = model.comm_terms(np.array([ref]))
        modelled = float(lat[0] + bw[0])
        exposed = t_ddp[ref] - t_local[ref]
        model.exposure = max(exposed, 0.0) / modelled if modelled > 0 else 1.0
        if exposed < 0:
            notes.append(f"measured exposed comm at n={ref} is below 0 (noise): exposure set to 0")
    else:
        notes.append(
            "no multi-rank training point: all modelled all-reduce time counted as exposed"
        )
    _check_sizes(model, notes)
    if layout.host_cores:
        notes.append(
            f"CPU ranks on one host of {layout.host_cores} cores: compute scaled by "
            f"max(1, n / {layout.host_cores}) against n={ref} (the ranks share the cores)"
        )
    if 1 in t_ddp:
        model.step1_s = t_ddp[1]
    else:
        model.step1_s = float(model.compute(np.array([1.0]))[0])
        notes.append("no world size 1 in the run: efficiency is against the modelled 1-rank step")
    return model


def _check_sizes(model: StepModel, notes: list[str]) -> None:
    from scaling.config.units import format_bytes

    biggest = max(model.curve.bucket_bytes)
    for span, fit in model.fits.items():
        if biggest > 2 * fit.size_range[1]:
            notes.append(
                f"DDP buckets reach {format_bytes(biggest)} but all_reduce was measured {span} only "
                f"up to {format_bytes(fit.size_range[1])}: the model is extrapolated in size there"
            )


def apply_compute_what_if(model: StepModel, value: tuple[str, float]) -> StepModel:
    kind, v = value
    compute = model.compute_ref_s * v if kind == "factor" else v
    return replace(model, compute_ref_s=compute)


# -- from a run ------------------------------------------------------------------------------


def training_curves(training: pd.DataFrame, samples: pd.DataFrame) -> list[TrainingCurve]:
    """One curve per workload x preset x precision x scaling with successful points."""
    if training.empty or samples.empty or "type" not in samples:
        return []
    ok = training[training["status"] == "ok"]
    steps = samples[samples["type"] == "step"]
    points = samples[samples["type"] == "train_point"]
    curves = []
    for key, rows in ok.groupby(CURVE_KEYS, sort=True):
        point = dict(zip(CURVE_KEYS, key, strict=True))
        mine = _match(steps, point)
        # One step is one (round, step) of the sweep: the slowest rank's time of each.
        slow = mine.groupby(["world_size", "phase", *step_keys(mine)], dropna=False)["time_s"].max()
        ddp, local = {}, {}
        for n in sorted(int(k) for k in rows["world_size"]):
            by_phase = slow.loc[n] if n in slow.index.get_level_values(0) else None
            if by_phase is None or "ddp" not in by_phase.index.get_level_values(0):
                continue
            ddp[n] = by_phase.loc["ddp"].to_numpy(dtype=float)
            has_local = "local" in by_phase.index.get_level_values(0)
            local[n] = by_phase.loc["local"].to_numpy(dtype=float) if has_local else ddp[n]
        if not ddp:
            continue
        rows = rows.set_index(rows["world_size"].astype(int))
        buckets, note = _buckets(_match(points, point))
        curves.append(
            TrainingCurve(
                **point,
                batch_per_rank={n: int(rows.loc[n, "batch_per_rank"]) for n in ddp},
                global_batch={n: int(rows.loc[n, "global_batch"]) for n in ddp},
                ddp_steps=ddp,
                local_steps=local,
                overlap={n: float(rows.loc[n, "overlap"]) for n in ddp if n > 1},
                bucket_bytes=buckets,
                bucket_note=note,
            )
        )
    return curves


def _match(frame: pd.DataFrame, point: dict) -> pd.DataFrame:
    if frame.empty:
        return frame
    mask = np.logical_and.reduce([frame[k] == v for k, v in point.items()])
    return frame[mask]


def _buckets(points: pd.DataFrame) -> tuple[list[int], str]:
    """DDP's recorded bucket sizes; else the parameters cut at DDP's cap (an estimate)."""
    if "bucket_bytes" in points:
        for value in points["bucket_bytes"]:
            if isinstance(value, list | tuple | np.ndarray) and len(value):
                return [int(b) for b in value], f"{len(value)} DDP buckets recorded by the run"
    params = pd.to_numeric(points.get("params", pd.Series(dtype=float)), errors="coerce").max()
    if not params or math.isnan(params):
        return [], "no DDP bucket sizes and no parameter count recorded"
    cap = DEFAULT_BUCKET_CAP
    if "bucket_cap_mb" in points and pd.notna(points["bucket_cap_mb"].iloc[0]):
        cap = int(float(points["bucket_cap_mb"].iloc[0]) * 1024 * 1024)
    total = int(params) * 4
    buckets = [cap] * (total // cap) + ([total % cap] if total % cap else [])
    return buckets, (
        f"estimate: {int(params):,} fp32 parameters cut at the {cap >> 20} MiB bucket cap "
        "(no bucket sizes recorded)"
    )
