"""The collector's time against the number of points, at N ranks with --rank-samples slowest
(benchmarks/driver_scale.py uses it for its projection; runnable alone).

`read_samples` + `collectives.summarize` run once over the whole run directory, after the
sweep: one grouped pandas pass over every point, not one per point. driver_scale.py's own rows
all hold 9 points, so a fit on them alone cannot tell a fixed cost from a per-point one; this
writes the samples a reduced run writes (one "coll" record per iteration carrying the slowest
rank, one "check" record per point) for several point counts and fits a + b x points.

    python benchmarks/collector_points.py --ranks 1024 --points 9,51,153,510
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from scaling.collector import collectives
from scaling.collector.load import read_samples
from scaling.rundir import MANIFEST, SAMPLES


def write(path: Path, n: int, points: int, iters: int = 20) -> None:
    """A reduced run's samples: `points` points of all_reduce at world size n, 17 sizes per
    round as the standard sweep, in rounds of 17."""
    path.mkdir(parents=True, exist_ok=True)
    (path / MANIFEST).write_text(json.dumps({"status": "ok", "config": {"gpus": [n]}}))
    with (path / SAMPLES).open("w") as fh:
        for p in range(points):
            size, rnd = 1024 << (p % 17), p // 17
            point = (f'"workload":"collectives","group":"world","op":"all_reduce",'
                     f'"world_size":{n},"ranks":{n},"nodes":{max(1, n // 8)},'
                     f'"size_bytes":{size},"count":{size // 4},"dtype":"float32",'
                     f'"timing":"blocking","depth":1,"round":{rnd}')  # fmt: skip
            for it in range(iters):
                t = 1e-5 * (1 + it % 7)
                fh.write(f'{{"type":"coll",{point},"iter":{it},"rank":{it % n},"time_s":{t}}}\n')
            fh.write(f'{{"type":"check",{point},"wrong":0,"wrong_ranks":[],"reduced":"sum"}}\n')


def measure(n: int, counts: list[int], reps: int = 5) -> list[tuple[int, float]]:
    """(points, median seconds of read_samples + summarize) per point count."""
    tmp = Path(tempfile.mkdtemp(prefix="collector-points-"))
    out = []
    try:
        for points in counts:
            write(tmp / str(points), n, points)
            times = []
            for _ in range(reps):
                t0 = time.perf_counter()
                collectives.summarize(read_samples(tmp / str(points)))
                times.append(time.perf_counter() - t0)
            out.append((points, statistics.median(times)))
    finally:
        shutil.rmtree(tmp)
    return out


def fit(rows: list[tuple[int, float]]) -> tuple[float, float]:
    """(a, b) of seconds = a + b x points, least squares."""
    x = np.array([[1.0, p] for p, _ in rows])
    (a, b), *_ = np.linalg.lstsq(x, np.array([t for _, t in rows]), rcond=None)
    return float(a), float(b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ranks", type=int, default=1024)
    ap.add_argument("--points", default="9,51,153,510")
    args = ap.parse_args()
    rows = measure(args.ranks, [int(x) for x in args.points.split(",")])
    for points, t in rows:
        print(f"  {points:>5} points: {t * 1e3:7.1f} ms (median of 5)")
    a, b = fit(rows)
    print(f"  fit: {a * 1e3:.1f} ms + {b * 1e6:.0f} us x points")


if __name__ == "__main__":
    main()
