"""Does the collector stay fast on a large run? Load + aggregate ~1M samples, timed.

Writes a synthetic run directory like `scaling run --gpus 1024` with 50 message sizes and 20
iterations would: 1,024 ranks x 50 sizes x 20 iterations = 1,024,000 timed records, plus one
correctness-check record per rank and size. Then it times each layer of the loader on that
file, the aggregation, and `load_run` end to end (what `scaling report` does before drawing).

    python benchmarks/collector_scale.py                      # 1024 ranks x 50 sizes x 20 iters
    python benchmarks/collector_scale.py --ranks 256 --keep   # smaller; keep the run dir

Target: seconds, not minutes, for load + aggregate of the full size.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

from scaling.collector import collectives
from scaling.collector.load import _arrow_frame, _fast_frame, read_samples
from scaling.collector.loaded_run import load_run
from scaling.rundir import MANIFEST, SAMPLES


def write_samples(path: Path, ranks: int, sizes: int, iters: int) -> int:
    """A samples.jsonl in the documented schema; returns the number of records."""
    path.mkdir(parents=True, exist_ok=True)
    manifest = {
        "status": "ok",
        "started": "2026-01-01T00:00:00+00:00",
        "ended": "2026-01-01T01:00:00+00:00",
        "device": "cuda",
        "backend": "nccl",
        "config": {"gpus": [ranks], "workloads": ["collectives"]},
    }
    (path / MANIFEST).write_text(json.dumps(manifest))
    n = 0
    with (path / SAMPLES).open("w") as fh:
        for i in range(sizes):
            # 1K .. 512M, geometric, 50 distinct sizes in multiples of 4 bytes
            size = round(1024 * 2 ** (i * 19 / max(sizes - 1, 1)) / 4) * 4
            count = size // 4
            point = (
                f'"workload":"collectives","group":"world","op":"all_reduce",'
                f'"world_size":{ranks},"nodes":{max(1, ranks // 8)},"size_bytes":{size},'
                f'"count":{count},"dtype":"float32","timing":"blocking"'
            )
            lines = []
            for it in range(iters):
                for r in range(ranks):
                    t = (20e-6 + size / 300e9) * (1 + ((r * 7 + it * 13) % 17) / 100)
                    lines.append(
                        f'{{"type":"coll",{point},"iter":{it},"rank":{r},"time_s":{t!r}}}\n'
                    )
            lines += [f'{{"type":"check",{point},"rank":{r},"wrong":0}}\n' for r in range(ranks)]
            fh.writelines(lines)
            n += len(lines)
    return n


def timed(fn, *args, **kw):
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ranks", type=int, default=1024)
    ap.add_argument("--sizes", type=int, default=50)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--keep", action="store_true", help="keep the generated run directory")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="collector-scale-"))
    try:
        n, t_gen = timed(write_samples, tmp / "run", args.ranks, args.sizes, args.iters)
        mb = (tmp / "run" / SAMPLES).stat().st_size / 1e6
        print(f"{n:,} records, {mb:,.0f} MB written in {t_gen:.1f} s ({tmp / 'run'})")
        body = (tmp / "run" / SAMPLES).read_bytes()

        arrow, t_arrow = timed(_arrow_frame, body)
        print(f"  parse, pyarrow JSON reader:         {_fmt(t_arrow, arrow)}")
        blocked = sys.modules.get("pyarrow")
        sys.modules["pyarrow"] = None  # the next layer: no pyarrow installed
        try:
            frame, t_json = timed(_fast_frame, body)
        finally:
            if blocked is None:
                del sys.modules["pyarrow"]
            else:
                sys.modules["pyarrow"] = blocked
        print(f"  parse, one json.loads (no pyarrow): {_fmt(t_json, frame)}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            slow, t_slow = timed(read_samples, tmp / "run", fast=False)
        print(f"  parse, tolerant per-line parser:    {t_slow:6.2f} s")

        samples, t_load = timed(read_samples, tmp / "run")
        table, t_agg = timed(collectives.summarize, samples)
        print(
            f"load (fast path) {t_load:.2f} s + aggregate {t_agg:.2f} s "
            f"= {t_load + t_agg:.2f} s for {len(samples):,} records -> {len(table)} rows"
        )
        run, t_run = timed(load_run, tmp / "run")
        print(f"load_run end to end (every aggregate + headline): {t_run:.2f} s")
    finally:
        if args.keep:
            print(f"kept {tmp / 'run'}")
        else:
            shutil.rmtree(tmp)


def _fmt(seconds: float, frame) -> str:
    return f"{seconds:6.2f} s" if frame is not None else f"{seconds:6.2f} s (declined)"


if __name__ == "__main__":
    main()
