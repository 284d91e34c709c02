"""The driver's own cost per point against the number of ranks: what `scaling run` adds to the
time the ranks spend measuring, and how it grows toward 1,024 and 8,192 ranks.

Each point goes through the code `scaling run` uses (scaling/sweep.py `_measure`): the Ray
calls to every rank and the wait for all of them (`Gang.call`, `failures.collect`), the
samples built from the answers (`records`, `round_order.tag`), the run-directory append, and
afterwards the collector (`read_samples` + `collectives.summarize`).

- real ranks (gloo, one process each; as many as this machine holds): a point's harness time
  is the driver's wall time of the call minus the slowest rank's own wall time in `run_point`.
- synthetic ranks: a few actors answer for N ranks with samples recorded from the real ranks,
  one Ray call per rank as the real gang makes, so the driver sees N ranks' payloads. Nothing
  is measured on the answering side: the whole call is harness. The answerers share this
  machine's cores with the driver, so the wall time is an upper bound on a cluster's; the
  driver's CPU time (all its threads, Ray's included) is printed beside it.

The harness time per point is fitted to a + b*N + c*N*I (+ d*N^2 when asked), N ranks, I
timed iterations per point, and projected onto the standard sweep (the default `scaling run`
collective sweep) at 1,024 and 8,192 ranks, as a fraction of that sweep's measured time,
which is a labelled estimate from public figures (docs/scale.md says which).

    python benchmarks/driver_scale.py      # real 1,2,4; synthetic 64..4096; all and slowest
    python benchmarks/driver_scale.py --real 1,2 --synthetic 256,1024 --reps 3
    python benchmarks/driver_scale.py --rank-samples slowest # only the reduced samples

Run it from the repository root with PYTHONPATH=$PWD. Minutes on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import ray  # noqa: E402
from collector_scale import timed  # noqa: E402 (benchmarks/ is on sys.path when run as a script)

from scaling import round_order  # noqa: E402
from scaling.cluster.gang import Gang  # noqa: E402
from scaling.collector import collectives as coll_summary  # noqa: E402
from scaling.collector.load import read_samples  # noqa: E402
from scaling.config import RunConfig  # noqa: E402
from scaling.rundir import RunDir  # noqa: E402
from scaling.workloads.collectives import WORKLOAD, message_sizes  # noqa: E402
from scaling.workloads.collectives import plan as plan_points  # noqa: E402

TIMED_TARGET = "driver_scale:timed_point"


def timed_point(spec: dict) -> dict:
    """Rank side: the real run_point, plus this rank's own wall time in it."""
    from scaling.workloads.collectives.bench import run_point

    t0 = time.perf_counter()
    out = run_point(spec)
    out["rank_wall_s"] = time.perf_counter() - t0
    return out


class Answerer:
    """Answers `run` for many synthetic ranks with recorded results, measuring nothing.

    Answerer j of k answers ranks j, j+k, ...; Ray runs one actor's calls in submission
    order, so it knows which rank each call is for (rank 0 carries a reduced point's times).
    """

    def __init__(self, recorded: list[dict], j: int, k: int):
        self.recorded, self.j, self.k, self.calls = recorded, j, k, 0

    def run(self, target, spec: dict) -> dict:
        n, mine = spec["world_size"], len(range(self.j, spec["world_size"], self.k))
        rank = self.j + self.k * (self.calls % mine)
        self.calls += 1
        times = self.recorded[rank % len(self.recorded)]["times"]
        times = (times * (spec["iters"] // len(times) + 1))[: spec["iters"]]
        if spec.get("rank_samples") == "slowest":  # what a reduced rank sends (bench.run_point)
            if rank:
                return {"times": [], "wrong": 0, "member": True}
            slowest = [r % n for r in range(len(times))]
            return {"times": times, "slowest_ranks": slowest, "wrong": 0, "member": True}
        return {"times": times, "wrong": 0, "member": True}


def group_view(n: int) -> SimpleNamespace:
    """What `records` reads from a group: 8 ranks per node, as a GPU cluster would have."""
    nodes = max(1, -(-n // 8))
    return SimpleNamespace(
        nodes=nodes,
        span="inter-node" if nodes > 1 else "intra-node",
        shape=f"{n} = {nodes} nodes × {min(n, 8)}",
    )


def one_point(gang, actors, group, point, rundir, rnd: int) -> dict:
    """One point through sweep._measure's steps, each timed."""
    cpu0, t0 = time.process_time(), time.perf_counter()
    results = gang.call(actors, "run", TIMED_TARGET, WORKLOAD.rank_spec(point))
    call = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    recs, t_rec = timed(lambda: round_order.tag(WORKLOAD.records(point, group, results), rnd))
    _, t_app = timed(rundir.append_samples, recs)
    rank = max(r.get("rank_wall_s", 0.0) for r in results)
    return {
        "call": call,
        "rank": rank,
        "cpu": cpu,
        "records": t_rec,
        "append": t_app,
        "n_records": len(recs),
        "results": results,
    }


def measure(gang, actors, group, points, reps: int, out: Path) -> dict:
    """Median per point over `reps` rounds of `points`; then the collector on what was written."""
    rundir = RunDir(out)
    rows = [one_point(gang, actors, group, p, rundir, r) for r in range(reps) for p in points]
    rundir.close()
    samples, t_load = timed(read_samples, out)
    _, t_sum = timed(coll_summary.summarize, samples)
    med = {
        k: float(np.median([r[k] for r in rows]))
        for k in ("call", "rank", "cpu", "records", "append")
    }
    med["harness"] = float(
        np.median([r["call"] - r["rank"] + r["records"] + r["append"] for r in rows])
    )
    med["collector_per_point"] = (t_load + t_sum) / len(rows)
    med["collector_per_record"] = (t_load + t_sum) / max(1, sum(r["n_records"] for r in rows))
    med["recorded"] = [x for x in rows[-1]["results"] if x.get("times")]
    return med


def fake_gang(timeout_s: float = 600.0) -> Gang:
    # Gang.call and its wait are the code under test; the synthetic ranks need no placement.
    gang = object.__new__(Gang)
    gang.timeout_s, gang.broken, gang.metas = timeout_s, False, []
    return gang


def fit(rows: list[dict], key: str, quadratic: bool) -> dict:
    """Least squares of rows[key] on 1, N, N*I (and N^2), in relative error (each row weighted
    by 1/value, so the largest N does not decide every term alone): seconds per point."""
    x = np.array(
        [[1.0, r["n"], r["n"] * r["iters"]] + ([r["n"] ** 2] if quadratic else []) for r in rows]
    )
    y = np.array([r[key] for r in rows])
    coef, *_ = np.linalg.lstsq(x / y[:, None], np.ones_like(y), rcond=None)
    names = ["per_point", "per_rank", "per_rank_iter", "per_rank2"]
    return dict(zip(names, map(float, coef), strict=False))


def predict(c: dict, n: int, iters: int) -> float:
    return (
        c["per_point"]
        + c["per_rank"] * n
        + c["per_rank_iter"] * n * iters
        + c.get("per_rank2", 0.0) * n * n
    )


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", default="1,2,4", help="real gloo world sizes ('' for none)")
    ap.add_argument("--synthetic", default="64,256,1024,4096", help="synthetic rank counts")
    ap.add_argument("--iters", default="20,80", help="timed iterations per point to fit N*I")
    ap.add_argument("--reps", type=int, default=3, help="rounds of the points per measurement")
    ap.add_argument("--answerers", type=int, default=2, help="actors answering synthetic ranks")
    ap.add_argument(
        "--rank-samples", default="all,slowest", help="all, slowest or both, side by side"
    )
    ap.add_argument("--keep", action="store_true", help="keep the run directories written")
    ap.add_argument("--quadratic", action="store_true", help="fit an N^2 term too")
    ap.add_argument("--busbw", type=float, default=370.0, help="GB/s, for the sweep estimate")
    ap.add_argument("--alpha-us", type=float, default=30.0, help="op latency, for the estimate")
    args = ap.parse_args()
    ints = lambda s: [int(x) for x in s.split(",") if x]  # noqa: E731
    cfg = RunConfig()
    iters_list = ints(args.iters)
    modes = [m for m in args.rank_samples.split(",") if m]
    if not modes or set(modes) - {"all", "slowest"}:
        ap.error("--rank-samples: all, slowest or all,slowest")

    # Small messages: the harness does not depend on the size, the ranks' time does.
    def points_at(n: int, iters: int, mode: str) -> list[dict]:
        cfg.collectives.iters, cfg.collectives.max_bytes = iters, 4 << 10
        return [{**p, "rank_samples": mode} for p in plan_points(cfg, n)]

    tmp = Path(tempfile.mkdtemp(prefix="driver-scale-"))
    ray.init(
        address="local",
        num_cpus=max(ints(args.real) + [2]),
        include_dashboard=False,
        log_to_driver=False,
    )
    rows, recorded = [], [{"times": [1e-4] * 20}]
    print(
        f"rank samples {','.join(modes)}, side by side; medians of {args.reps} rounds; host load "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print(
        f"{'mode':>9} {'samples':>7} {'N':>5} {'I':>3} {'call ms':>8} {'rank ms':>8} {'cpu ms':>7} "
        f"{'rec ms':>7} {'app ms':>7} {'harness ms':>10} {'coll us/rec':>11}"
    )
    for n in ints(args.real):
        gang = Gang(n, "cpu", timeout_s=300)
        try:
            with gang.group(n) as group:
                for iters, mode in [(i, m) for i in iters_list for m in modes]:
                    m = measure(
                        gang,
                        group.actors,
                        group,
                        points_at(n, iters, mode),
                        args.reps,
                        tmp / f"real-{n}-{iters}-{mode}",
                    )
                    recorded = m.pop("recorded") if mode == "all" else recorded
                    rows.append({"mode": "real", "samples": mode, "n": n, "iters": iters, **m})
                    _show(rows[-1])
        finally:
            gang.shutdown()
    actor = ray.remote(num_cpus=0)(Answerer)
    answerers = [actor.remote(recorded, j, args.answerers) for j in range(args.answerers)]
    gang = fake_gang()
    for n in ints(args.synthetic):
        actors = [answerers[i % len(answerers)] for i in range(n)]
        for iters, mode in [(i, m) for i in iters_list for m in modes]:
            out = tmp / f"syn-{n}-{iters}-{mode}"
            m = measure(gang, actors, group_view(n), points_at(n, iters, mode), args.reps, out)
            m.pop("recorded")
            rows.append({"mode": "synthetic", "samples": mode, "n": n, "iters": iters, **m})
            _show(rows[-1])
            if not args.keep:
                shutil.rmtree(out)  # 4,096 ranks x 80 iterations: hundreds of MB
    ray.shutdown()
    if args.keep:
        print(f"kept {tmp}")
    else:
        shutil.rmtree(tmp)
    for mode in modes:
        report([r for r in rows if r["samples"] == mode], mode, args)


def _show(r: dict) -> None:
    ms = {k: r[k] * 1e3 for k in ("call", "rank", "cpu", "records", "append", "harness")}
    print(
        f"{r['mode']:>9} {r['samples']:>7} {r['n']:>5} {r['iters']:>3} {ms['call']:8.2f} {ms['rank']:8.2f} "
        f"{ms['cpu']:7.2f} {ms['records']:7.2f} {ms['append']:7.2f} {ms['harness']:10.2f} "
        f"{r['collector_per_record'] * 1e6:11.2f}",
        flush=True,
    )


PARTS = ("calls", "records", "append", "collector", "harness")


def report(rows: list[dict], mode: str, args) -> None:
    std = RunConfig()  # the standard sweep: `scaling run`'s defaults
    c = std.collectives
    syn = [r for r in rows if r["mode"] == "synthetic"] or rows
    for r in syn:
        r["calls"] = r["call"] - r["rank"]
        r["collector"] = r["collector_per_point"]
    fits = {k: fit(syn, k, args.quadratic) for k in PARTS}
    print(
        "\nfit, seconds per point (synthetic rows, relative least squares): a + b*N + c*N*I"
        + (" + d*N^2" if args.quadratic else "")
    )
    for key, co in fits.items():
        terms = ", ".join(f"{k} {v * 1e6:.3g} us" for k, v in co.items())
        print(f"  {key:>10}: {terms}")
    sizes = len(message_sizes(c.min_bytes, c.max_bytes, c.factor))
    calls = len(c.ops) * len(c.dtypes) * sizes * std.repeats
    print(
        f"\nstandard sweep (defaults): {c.ops} {c.dtypes} {sizes} sizes, iters {c.iters}, "
        f"repeats {std.repeats}: {calls} point calls per world size; "
        f"rank samples {mode}"
    )
    for n in (1024, 8192):
        part = {k: calls * predict(fits[k], n, c.iters) for k in PARTS}
        meas = estimated_sweep_s(n, std, args.busbw, args.alpha_us * 1e-6)
        total = part["harness"] + part["collector"]
        print(
            f"  N={n:>5}: calls {part['calls']:.2f} s + records {part['records']:.2f} s + append "
            f"{part['append']:.2f} s (harness fit {part['harness']:.2f} s) + collector "
            f"{part['collector']:.2f} s\n           vs measured {meas:.3f} s (ESTIMATE: busbw "
            f"{args.busbw:g} GB/s, alpha {args.alpha_us:g} us) -> overhead {total / meas:.0%}"
        )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]
    )
    main()
