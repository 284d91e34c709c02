"""Run directories whose timings follow known alpha-beta and step models, for predict tests.

Written through the real sink (RunDir) in the sample format of scaling/rundir.py, with the
fields the real training collector reads, so load_run and `scaling predict` run unchanged.

- all_reduce: t = alpha(n) + S * 2(n-1)/n / B per span, alpha(n) = a0 + a1 (n - 1), times a
  per-iteration noise factor (lognormal, `noise` relative spread).
- training (resnet50, weak): t_local fixed; t_ddp = t_local + EXPOSURE * sum over buckets of
  the all_reduce model at n.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from scaling.rundir import RunDir

SIZES = [1 << k for k in range(10, 27, 2)]  # 1 KiB .. 64 MiB
INTRA = {"a0": 20e-6, "a1": 2e-6, "busbw": 100e9}
INTER = {"a0": 40e-6, "a1": 10e-6, "busbw": 20e9}
BUCKETS = [25 << 20] * 3 + [6 << 20]
T_LOCAL = 0.200
EXPOSURE = 0.5
BATCH = 32


def all_reduce_time(size, n: int, gpus_per_node: int) -> float:
    p = INTRA if n <= gpus_per_node else INTER
    return p["a0"] + p["a1"] * (n - 1) + size * 2 * (n - 1) / n / p["busbw"]


def step_time(n: int, gpus_per_node: int) -> float:
    if n == 1:
        return T_LOCAL
    comm = sum(all_reduce_time(b, n, gpus_per_node) for b in BUCKETS)
    return T_LOCAL + EXPOSURE * comm


def write_predict_run(
    path: Path,
    world_sizes=(1, 2, 4, 8),
    gpus_per_node: int = 4,
    iters: int = 8,
    steps: int = 6,
    noise: float = 0.02,
    seed: int = 0,
    training: bool = True,
    collectives: bool = True,
) -> Path:
    rng = np.random.default_rng(seed)
    rd = RunDir(path)
    rd.write_manifest(
        tool={"name": "scaling", "version": "0.1.0"},
        status="ok",
        started="2026-01-01T00:00:00+00:00",
        ended="2026-01-01T00:10:00+00:00",
        error=None,
        config={
            "gpus": list(world_sizes),
            "cluster": {"gpus_per_node": gpus_per_node},
            "workloads": ["collectives", "resnet50"],
        },  # fmt: skip
        device="cuda",
        backend="nccl",
        ranks=[],
    )
    for n in world_sizes:
        nodes = math.ceil(n / gpus_per_node)
        if collectives:
            rd.append_samples(_coll(n, nodes, gpus_per_node, iters, noise, rng))
        if training:
            rd.append_samples(_training(n, nodes, gpus_per_node, steps, noise, rng))
    rd.close()
    return path


def _shape(n: int, nodes: int) -> str:
    return f"{n} = 1 node × {n}" if nodes == 1 else f"{n} = {nodes} nodes × {n // nodes}"


def _coll(n, nodes, gpn, iters, noise, rng) -> list[dict]:
    key = dict(type="coll", workload="collectives", group="world", op="all_reduce",
               world_size=n, ranks=n, nodes=nodes, span="intra-node" if nodes == 1 else "inter-node",
               shape=_shape(n, nodes), dtype="float32", timing="blocking")  # fmt: skip
    out = []
    for size in SIZES:
        t = all_reduce_time(size, n, gpn)
        for it in range(iters):
            t_it = t * rng.lognormal(0.0, noise)
            out.append(dict(key, size_bytes=size, count=size // 4, iter=it, rank=0, time_s=t_it))
    return out


def _training(n, nodes, gpn, steps, noise, rng) -> list[dict]:
    key = dict(workload="resnet50", preset="synthetic", world_size=n, nodes=nodes,
               scaling="weak", precision="fp32")  # fmt: skip
    out = []
    for s in range(steps):
        jitter = rng.lognormal(0.0, noise)
        phases = {"ddp": step_time(n, gpn) * jitter, "local": T_LOCAL * jitter}
        if n > 1:
            phases["comm"] = sum(all_reduce_time(b, n, gpn) for b in BUCKETS) * jitter
        for phase, t in phases.items():
            out.append(dict(type="step", **key, phase=phase, step=s, rank=0, time_s=t))
    for r in range(n):
        out.append(
            dict(
                type="train_point",
                **key,
                rank=r,
                status="ok",
                batch=BATCH,
                global_batch=BATCH * n,
                flops_per_step=1e12,
                peak_mem_bytes=1 << 30,
                mem_kind="cuda",
                device_name="NVIDIA H100 80GB HBM3",
                checksum_bits="3ff0",
                tokens_per_sample=None,
                bucket_bytes=BUCKETS if n > 1 else [],
                params=sum(BUCKETS) // 4,
            )  # fmt: skip
        )
    return out
