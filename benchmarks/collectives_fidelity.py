"""Does the harness distort what it measures? scaling vs a raw torch.distributed script.

Runs the same all_reduce sizes, the same way (gloo, barrier before each timed
op, perf_counter, slowest rank per iteration, median over iterations), once
through `scaling run` (Ray actors) and once through a minimal mp.spawn script,
interleaved in one run, and prints the ratios.

    python benchmarks/collectives_fidelity.py            # 2 ranks, 4K and 64M
    python benchmarks/collectives_fidelity.py --rounds 11 --json

Targets on a 2-core machine, 2 ranks: 4 KiB median latency <= 1.10x raw,
64 MiB busbw >= 0.95x raw.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

SIZES = {"4K": 4 << 10, "64M": 64 << 20}


def _raw_worker(
    rank: int, n: int, port: int, sizes: list[int], warmup: int, iters: int, threads: int, q
):
    # The same per-rank thread budget scaling gives each CPU rank.
    torch.set_num_threads(threads)
    store = dist.TCPStore("127.0.0.1", port, n, is_master=rank == 0, timeout=timedelta(seconds=60))
    dist.init_process_group("gloo", store=store, rank=rank, world_size=n)
    out = {}
    for s in sizes:
        x = torch.ones(s // 4)
        for _ in range(warmup):
            dist.all_reduce(x)
        times = []
        for _ in range(iters):
            dist.barrier()
            t0 = time.perf_counter()
            dist.all_reduce(x)
            times.append(time.perf_counter() - t0)
        out[s] = times
    q.put((rank, out))
    dist.destroy_process_group()


def raw(n: int, sizes: list[int], warmup: int, iters: int, threads: int) -> dict[int, float]:
    """Median over iterations of the slowest rank's time, per size."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = [
        ctx.Process(target=_raw_worker, args=(r, n, port, sizes, warmup, iters, threads, q))
        for r in range(n)
    ]
    for p in procs:
        p.start()
    per_rank = dict(q.get() for _ in range(n))
    for p in procs:
        p.join()
    return {
        s: statistics.median(max(per_rank[r][s][i] for r in range(n)) for i in range(iters))
        for s in sizes
    }


def harness(n: int, sizes: list[int], warmup: int, iters: int) -> dict[int, float]:
    """The same sweep through the real CLI; reads p50 back from summary.csv."""
    import pandas as pd

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for s in sizes:
            run_dir = Path(tmp) / str(s)
            cmd = [
                sys.executable,
                "-m",
                "scaling",
                "run",
                "--gpus",
                str(n),
                "--device",
                "cpu",
                "-b",
                str(s),
                "-e",
                str(s),
                "-w",
                str(warmup),
                "-n",
                str(iters),
                "--no-check",
                "--repeats",  # one pass over the sizes, like the raw script
                "1",
                "--out",
                str(run_dir),
            ]
            subprocess.run(cmd, check=True, capture_output=True, text=True)
            row = pd.read_csv(run_dir / "summary.csv").iloc[0]
            out[s] = row["time_p50_us"] * 1e-6
    return out


def summarize(args, raws: dict, hars: dict) -> dict:
    """Medians over rounds, and the headline ratios: each round pairs its raw and scaling
    measurements (taken seconds apart), and the median of those per-round ratios is
    reported, because rounds drift on a shared machine more than raw and scaling differ."""
    factor = 2 * (args.ranks - 1) / args.ranks
    bw = lambda t: SIZES["64M"] / t / 1e9 * factor  # noqa: E731
    k4, k64 = SIZES["4K"], SIZES["64M"]
    lat = [h / r for h, r in zip(hars[k4], raws[k4], strict=True)]
    bus = [r / h for h, r in zip(hars[k64], raws[k64], strict=True)]
    return {
        "ranks": args.ranks,
        "rounds": args.rounds,
        "iters": args.iters,
        "cpus": os.cpu_count(),
        "latency_4K_us": {
            "raw": statistics.median(raws[k4]) * 1e6,
            "scaling": statistics.median(hars[k4]) * 1e6,
            "ratio": statistics.median(lat),
            "ratio_range": [min(lat), max(lat)],
            "target": "<= 1.10",
        },
        "busbw_64M_gbps": {
            "raw": bw(statistics.median(raws[k64])),
            "scaling": bw(statistics.median(hars[k64])),
            "ratio": statistics.median(bus),
            "ratio_range": [min(bus), max(bus)],
            "target": ">= 0.95",
        },
        "rounds_raw_us": {k: [t * 1e6 for t in v] for k, v in raws.items()},
        "rounds_scaling_us": {k: [t * 1e6 for t in v] for k, v in hars.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument(
        "--rounds", type=int, default=9, help="interleaved raw/harness rounds; medians are reported"
    )
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--save",
        default="collectives_fidelity.rounds.json",
        help="raw rounds, rewritten each round",
    )
    args = ap.parse_args()
    sizes = list(SIZES.values())
    raws, hars = {s: [] for s in sizes}, {s: [] for s in sizes}
    for _ in range(args.rounds):
        for s, t in raw(args.ranks, sizes, args.warmup, args.iters, threads=1).items():
            raws[s].append(t)
        for s, t in harness(args.ranks, sizes, args.warmup, args.iters).items():
            hars[s].append(t)
        # Keep every round on disk as it arrives: a long benchmark must not lose its data.
        Path(args.save).write_text(json.dumps({"raw_s": raws, "scaling_s": hars}))
    result = summarize(args, raws, hars)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    lat, bus = result["latency_4K_us"], result["busbw_64M_gbps"]
    print(
        f"all_reduce, gloo, {args.ranks} ranks, {args.rounds} interleaved rounds x {args.iters} iters (medians)"
    )
    print("  medians over rounds; ratio = median of per-round paired ratios [min..max]")
    for name, r, unit in (("4K latency", lat, "us"), ("64M busbw", bus, "GB/s")):
        lo, hi = r["ratio_range"]
        print(
            f"  {name:11s} raw {r['raw']:9.3f} {unit:4s} scaling {r['scaling']:9.3f} {unit:4s} "
            f"ratio {r['ratio']:.3f} [{lo:.2f}..{hi:.2f}]  (target {r['target']})"
        )


if __name__ == "__main__":
    main()
