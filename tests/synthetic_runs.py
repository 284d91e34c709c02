"""Hand-built run directories for collector, report, compare and notebook tests.

Written through the real sink (RunDir), with sample records as rundir.py documents them.
Times follow a simple model so every figure is predictable:

- collectives: t = 20 us + S / (1 GB/s) per op, x `slow`, x a per-iteration noise factor
  in [1 - noise, 1 + noise]; rank r adds r * 1e-7 s so the slowest rank is the last.
- training: t_local = 100 ms (resnet50) / 50 ms (transformer), exposed comm 10 ms per
  doubling of ranks, t_comm 20 ms; rank 3 at 4 ranks computes 25% slower (a straggler).
  Each step's noise factor is shared by the ranks and the five factors of a point have a
  median of exactly 1, so the real training collector (scaling.collector.training) finds
  the model's step time exactly: its training.csv equals `training_table()` in the figures
  the tests assert (throughput, efficiency, stragglers).
"""

from __future__ import annotations

import math
import random
import shutil
from pathlib import Path

import pandas as pd

from scaling.collector.formulas import busbw_factor
from scaling.collector.loaded_run import TRAINING_COLUMNS
from scaling.rundir import RunDir

SIZES = [1 << 10, 1 << 14, 1 << 18, 1 << 20]
WORKLOADS = {"resnet50": (0.100, "cpu-small", 8), "transformer": (0.050, "tiny", 4)}


def coll_time(op: str, n: int, size: int, slow: float = 1.0) -> float:
    f = busbw_factor(op, n) or 0.0
    return (20e-6 + size * max(f, 0.25) / 1e9) * slow


def write_run(
    path: Path,
    *,
    world_sizes=(1, 2, 4),
    ops=("all_reduce", "all_gather"),
    iters: int = 6,
    status: str = "ok",
    training: bool = True,
    slow: float = 1.0,
    noise: float = 0.05,
    seed: int = 0,
    device: str = "cpu",
    topology: dict | None = None,
    rounds: int = 1,
    slow_from: int = 1,
    drift: float = 0.0,
) -> Path:
    """rounds > 1 writes "round" on every record (as `scaling run --repeats` does), each round
    x its own factor in [1 - drift, 1 + drift]; `slow` applies at world sizes >= slow_from."""
    rng = random.Random(seed)
    rd = RunDir(path)
    gpu = "NVIDIA H100 80GB HBM3" if device == "cuda" else None
    ranks = [
        {
            "hostname": "node0",
            "node_ip": "10.0.0.1",
            "device": device,
            "gpu_name": gpu,
            "gpu_index": r if gpu else None,
            "torch": "2.5.0",
            "cuda": "12.4" if gpu else "n/a",
            "nccl": "2.21.5" if gpu else "n/a",
        }
        for r in range(max(world_sizes))
    ]
    workloads = (["collectives"] if ops else []) + (list(WORKLOADS) if training else [])
    # A GPU run's points name a device the peak table does not know: MFU stays n/a.
    device_name = "Synthetic GPU" if device == "cuda" else "cpu"
    rd.write_manifest(
        tool={"name": "scaling", "version": "0.1.0"},
        status="running",
        started="2026-01-01T00:00:00+00:00",
        ended=None,
        error=None,
        config={
            "gpus": list(world_sizes),
            "workloads": workloads,
            "collectives": {
                "ops": list(ops),
                "dtypes": ["float32"],
                "min_bytes": SIZES[0],
                "max_bytes": SIZES[-1],
                "factor": 16,
                "warmup": 1,
                "iters": iters,
                "timing": "blocking",
            },
        },
        device=device,
        backend="nccl" if device == "cuda" else "gloo",
        host={"hostname": "node0", "python": "3.11.7", "platform": "Linux"},
        ray={"version": "2.40.0", "nodes": []},
        ranks=ranks,
        notices=[],
        synthetic_data=True,
        **({"topology": topology} if topology else {}),
    )
    trained = []
    for n in world_sizes:
        factor = slow if n >= slow_from else 1.0
        for r in range(rounds):
            tag = {"round": r} if rounds > 1 else {}
            jolt = 1 + rng.uniform(-drift, drift) if drift else 1.0
            _write_collectives(rd, n, ops, iters, factor * jolt, noise, rng, tag)
            for workload, (t_local, preset, batch) in WORKLOADS.items() if training else ():
                key = dict(workload=workload, preset=preset, world_size=n, nodes=1,
                           scaling="weak", precision="fp32", **tag)  # fmt: skip
                steps = _steps(key, n, t_local * factor * jolt, _jitters(rng, noise))
                trained.append(steps + _train_points(key, n, batch, device_name))
    # Training points workload by workload (a real run interleaves world sizes; the collector
    # does not care, and training.csv then lists each workload's curve together).
    for recs in sorted(trained, key=lambda recs: list(WORKLOADS).index(recs[0]["workload"])):
        rd.append_samples(recs)
    rd.write_manifest(status=status, ended="2026-01-01T00:01:00+00:00")
    if status != "ok":
        rd.write_manifest(error="RuntimeError: planted failure")
    rd.close()
    return path


def _write_collectives(rd, n, ops, iters, slow, noise, rng, tag) -> None:
    """One round of every collective point at world size n."""
    for op in ops:
        for size in SIZES:
            base = dict(
                type="coll",
                workload="collectives",
                group="world",
                op=op,
                world_size=n,
                nodes=1,
                size_bytes=size,
                count=size // 4,
                dtype="float32",
                timing="blocking",
                **tag,
            )
            recs = []
            for it in range(iters):
                t = coll_time(op, n, size, slow) * (1 + rng.uniform(-noise, noise))
                recs += [dict(base, iter=it, rank=r, time_s=t + r * 1e-7) for r in range(n)]
            check = {k: v for k, v in base.items() if k != "type"}
            recs += [dict(check, type="check", rank=r, wrong=0) for r in range(n)]
            rd.append_samples(recs)


def exposed(n: int) -> float:
    return 0.010 * math.log2(n)


def _train_points(key: dict, n: int, batch: int, device_name: str) -> list[dict]:
    """Per-rank facts of a training point, in the fields the training workload writes."""
    tokens = 128 if key["workload"] == "transformer" else None
    return [
        dict(
            type="train_point",
            **key,
            rank=r,
            batch=batch,
            global_batch=batch * n,
            status="ok",
            flops_per_step=1e12,
            peak_mem_bytes=(3 << 30) + r,
            checksum_bits="3ff0c0ffee",
            tokens_per_sample=tokens,
            device_name=device_name,
        )  # fmt: skip
        for r in range(n)
    ]


def _jitters(rng, noise: float, steps: int = 5) -> list[float]:
    """Per-step noise factors in about [1 - 2 noise, 1 + 2 noise], centred so that their median
    is exactly 1 (so the slowest rank's median step is the model's step time)."""
    draws = [rng.uniform(-noise, noise) for _ in range(steps)]
    middle = sorted(draws)[steps // 2]
    return [1 + (d - middle) for d in draws]


def _steps(key: dict, n: int, t_local: float, jitters: list[float]):
    out = []
    for step, jitter in enumerate(jitters):
        for r in range(n):
            straggle = 1.25 if (n == 4 and r == 3) else 1.0
            phases = {
                "compute": t_local * straggle * jitter,
                "local": t_local * jitter,
                "ddp": (t_local + exposed(n)) * jitter,
            }
            if n > 1:  # one rank has no gradient all-reduce (see workloads/training/bench.py)
                phases["comm"] = 0.020 * jitter
            for phase, t in phases.items():
                out.append(
                    dict(
                        type="step",
                        **key,
                        phase=phase,
                        step=step,
                        rank=r,
                        time_s=t,
                    )
                )
    return out


def training_table(world_sizes=(1, 2, 4), slow: float = 1.0) -> pd.DataFrame:
    rows = []
    for workload, (t_local, preset, batch) in WORKLOADS.items():
        t_local *= slow
        sps1 = batch / t_local  # at 1 rank nothing is exposed: t_ddp = t_local
        for n in world_sizes:
            t_ddp = t_local + exposed(n)
            t_comm = 0.020 if n > 1 else float("nan")
            sps = n * batch / t_ddp
            rows.append(
                {
                    "workload": workload,
                    "preset": preset,
                    "world_size": n,
                    "nodes": 1,
                    "scaling": "weak",
                    "precision": "fp32",
                    "batch_per_rank": batch,
                    "global_batch": n * batch,
                    "status": "ok",
                    "step_time_p50_s": t_ddp,
                    "step_time_p90_s": t_ddp * 1.02,
                    "step_time_p99_s": t_ddp * 1.05,
                    "t_ddp_s": t_ddp,
                    "t_local_s": t_local,
                    "t_comm_s": t_comm,
                    "exposed_comm_s": exposed(n),
                    "comm_fraction": exposed(n) / t_ddp,
                    "overlap": 1 - exposed(n) / t_comm if n > 1 else float("nan"),
                    "samples_per_s": sps,
                    "samples_per_s_per_gpu": sps / n,
                    "tokens_per_s": sps * 128 if workload == "transformer" else float("nan"),
                    "tokens_per_s_per_gpu": sps * 128 / n
                    if workload == "transformer"
                    else float("nan"),
                    "efficiency": sps / (n * sps1),
                    "flops_per_step": 1e12 * n,
                    "achieved_tflops": 1e12 * n / t_ddp / 1e12,
                    "mfu": float("nan"),
                    "peak_mem_bytes_max": 3 << 30,
                    "mem_balance": 1.01,
                    "power_w": float("nan"),
                    "samples_per_s_per_w": float("nan"),
                    "gpu_util_pct": float("nan"),
                    "straggler_ranks": "3" if n == 4 else "",
                    "consistent": True,
                    "flags": "straggler" if n == 4 else "",
                }
            )
    return pd.DataFrame(rows, columns=TRAINING_COLUMNS)


def corrupt(path: Path, lineno: int, text: str = '{"type": "coll", "op": ') -> None:
    """Replace one line of samples.jsonl with garbage."""
    lines = (path / "samples.jsonl").read_text().splitlines(keepends=True)
    lines[lineno - 1] = text + "\n"
    (path / "samples.jsonl").write_text("".join(lines))


def truncate_last_line(path: Path, keep: int = 30) -> int:
    """Cut the last line to its first `keep` characters, as a crash mid-append does."""
    data = (path / "samples.jsonl").read_text()
    lines = data.splitlines(keepends=True)
    lines[-1] = lines[-1][:keep]
    (path / "samples.jsonl").write_text("".join(lines))
    return len(lines)


def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
