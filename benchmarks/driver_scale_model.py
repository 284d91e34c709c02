"""The model behind benchmarks/driver_scale.py: each part of a world size's harness time fitted
on the synthetic rows and projected onto the standard sweep at 1,024 and 8,192 ranks.

Two models of the calls, side by side: the driver's wall time (an upper bound here, where the
answering ranks share the driver's 2 cores) and the driver's own CPU time (time.process_time:
every thread of the driver process, Ray's core worker included). On a cluster the ranks answer
from other nodes, so the driver's CPU per call-rank is the part that grows with N there.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from scaling.cluster import relay
from scaling.cluster.plan_run import CHUNK_S
from scaling.config import RunConfig
from scaling.workloads.collectives import message_sizes

PARTS = ("calls", "calls_cpu", "records", "append", "collector")
CALL_TERMS = ("per_chunk", "per_call", "per_relayed_rank", "per_rank_iter_point")
POINT_TERMS = ("per_point", "per_point_rank", "per_point_rank_iter")


def call_counts(
    shape: str, mode: str, n: int, points: int, measured_s: float, per_node: int = 8
) -> tuple[int, int, int]:
    """(chunks, the driver's Ray calls, ranks answered inside a relay's answer) of one world
    size: per point, one call per rank per point; chunks, one call per rank per chunk
    (plan_run.next_chunk: one point, then CHUNK_S's worth); plan-direct: with reduced samples
    only rank 0 gets a call per chunk and every other rank one per world size (plan_run's
    leader mode), else as chunks; plan, what `scaling run` does now: the same, the followers'
    calls one per node through the node relays (node 0's relay has ranks 1..7), or one per
    share of nodes from relay.TREE_NODES on (`relay_calls`)."""
    if shape == "per-point":
        return points, n * points, 0
    chunks = 1 + max(1, math.ceil(measured_s / CHUNK_S))
    if shape == "plan" and mode == "slowest":
        return chunks, chunks + relay_calls(math.ceil(n / per_node)), n - 1
    if shape == "plan-direct" and mode == "slowest":
        return chunks, chunks + n - 1, 0
    return chunks, n * chunks, 0


def relay_calls(nodes: int) -> int:
    """The driver's calls for one fan-out to `nodes` node relays (relay.Relays._send)."""
    return len(relay.shares(list(range(nodes)))) if relay.tree(nodes) else nodes


def features(part: str, r: dict) -> list[float]:
    """What each part of a world size's time grows with. The calls: per chunk (a round trip
    the driver waits for), per call to a rank (a Ray task submitted and answered) and the
    payload (N*I*points values at most); the records, appends and collector: per point, in N
    and N*I."""
    n, iters, points = r["n"], r["iters"], r["points"]
    if part.startswith("calls"):
        return [r["chunks"], r["call_ranks"], r.get("relayed", 0), n * iters * points]
    return [points, points * n, points * n * iters]


def nonnegative_fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least squares of y on x in relative error (each row weighted by 1/y, so the largest N
    does not decide every term alone), every coefficient >= 0: a cost is never negative, and
    a free fit of near-collinear terms under this load's noise gave some below zero. Every
    subset of the (at most 4) terms, the best fit whose coefficients are all >= 0."""
    a, ones = x / y[:, None], np.ones_like(y)
    best, best_err = np.zeros(x.shape[1]), float(np.sum(ones**2))
    for mask in itertools.product((False, True), repeat=x.shape[1]):
        cols = [i for i, m in enumerate(mask) if m]
        if not cols:
            continue
        coef, *_ = np.linalg.lstsq(a[:, cols], ones, rcond=None)
        err = float(np.sum((a[:, cols] @ coef - ones) ** 2))
        if (coef >= 0).all() and err < best_err:
            best, best_err = np.zeros(x.shape[1]), err
            best[cols] = coef
    return best


def fit(rows: list[dict], key: str) -> dict:
    """The non-negative fit of rows[key] on its features: seconds per world size."""
    x = np.array([features(key, r) for r in rows], dtype=float)
    y = np.array([max(r[key], 1e-6) for r in rows])
    coef = nonnegative_fit(x, y)
    terms = CALL_TERMS if key.startswith("calls") else POINT_TERMS
    return dict(zip(terms, map(float, coef), strict=True))


def predict(c: dict, part: str, r: dict) -> float:
    return float(np.dot(list(c.values()), features(part, r)))


def estimated_sweep_s(n: int, cfg, busbw_gbps: float, alpha_s: float) -> float:
    """ESTIMATE of the standard sweep's measured time at n GPUs (ranks' time in run_point):
    per point (warmup + iters + check) ops of alpha + 2(n-1)/n S / busbw, plus a barrier
    (alpha) per iteration, times rounds. busbw and alpha are assumptions (docs/scale.md)."""
    c = cfg.collectives
    per_round = 0.0
    for s in message_sizes(c.min_bytes, c.max_bytes, c.factor):
        t_op = alpha_s + 2 * (n - 1) / n * s / (busbw_gbps * 1e9)
        per_round += (c.warmup + c.iters + int(c.check)) * t_op + c.iters * alpha_s
    return per_round * len(c.ops) * len(c.dtypes) * cfg.repeats


def report(
    rows: list[dict], shapes: list[str], mode: str, busbw: float, alpha_us: float, coll=None
) -> None:
    """Fit each part on the synthetic rows of every shape of one mode (the same code per call,
    per relayed rank, per record: the shapes differ in how many, which is what separates the
    terms); project each shape onto the standard sweep at 1,024 and 8,192 ranks against the
    estimated measuring time, with the calls once by wall time and once by the driver's CPU.
    coll: (a, b) of the collector's seconds = a + b x points (collector_points.py), measured
    at several point counts; then it replaces the collector's fit on these rows (all 9 points:
    a fixed cost and a per-point one are one term there, and 51 points would scale both)."""
    syn = [r for r in rows if r["mode"] == "synthetic" and r["samples"] == mode]
    if len(syn) < len(CALL_TERMS) + 1:
        return
    fits = {k: fit(syn, k) for k in PARTS}
    print(
        f"\nrank samples {mode}: fit, seconds (synthetic rows of {', '.join(shapes)}; relative "
        "least squares): calls = per chunk x chunks + per call x the driver's calls + per "
        "relayed rank x ranks answered through a relay + payload x N*I*points (wall, and the "
        "driver's CPU); the rest per point: a + b*N + c*N*I"
    )
    for key, co in fits.items():
        terms = ", ".join(f"{k} {v * 1e6:.3g} us" for k, v in co.items())
        print(f"  {key:>10}: {terms}")
    for shape in shapes:
        print(f" {shape}:")
        project(fits, shape, mode, busbw, alpha_us, coll)


def project(fits: dict, shape: str, mode: str, busbw: float, alpha_us: float, coll) -> None:
    std = RunConfig()
    c = std.collectives
    points = len(message_sizes(c.min_bytes, c.max_bytes, c.factor)) * len(c.ops) * std.repeats
    for n in (1024, 8192):
        meas = estimated_sweep_s(n, std, busbw, alpha_us * 1e-6)
        chunks, call_ranks, relayed = call_counts(shape, mode, n, points, meas)
        at = {"n": n, "iters": c.iters, "points": points, "chunks": chunks,
              "call_ranks": call_ranks, "relayed": relayed}  # fmt: skip
        part = {k: predict(fits[k], k, at) for k in PARTS}
        if coll is not None:  # one pass per run: a world size of a one-world-size run pays all
            part["collector"] = coll[0] + coll[1] * points
        rest = part["records"] + part["append"]
        wall, cpu = part["calls"] + rest, part["calls_cpu"] + rest
        print(
            f"  N={n:>5}, {points} points, {chunks} chunks, {call_ranks} driver calls "
            f"({relayed} ranks relayed): "
            f"calls {part['calls']:.3f} s wall / {part['calls_cpu']:.3f} s driver CPU + records "
            f"{part['records']:.3f} s + append {part['append']:.3f} s + collector "
            f"{part['collector']:.3f} s\n"
            f"           vs measured {meas:.3f} s (ESTIMATE: busbw {busbw:g} GB/s, alpha "
            f"{alpha_us:g} us) -> harness + collector: wall model "
            f"{(wall + part['collector']) / meas:.0%}, driver-CPU model "
            f"{(cpu + part['collector']) / meas:.0%}; harness alone {wall / meas:.0%} / "
            f"{cpu / meas:.0%}"
        )
