"""The memory model's activation extrapolation, checked against real peaks on this CPU.

For each tiny preset, a training step (the workload module's own model, optimizer and
synthetic batch, one thread, fp32 unless --precision) runs in a fresh process per batch and
reports its peak RSS (VmHWM). The peaks at the two small batches are fitted (memory.py:
fit_activations), the fit predicts the larger batches, and the prediction is compared with
what those batches measured. The modelled static terms (params, grads, optimizer states) are
printed beside them, and the process's RSS before the model was built, which is most of
the measured "overhead" on CPU.

RSS is not the GPU figure the issue's 10% goal is about (max_memory_allocated): it holds the
process and allocator caches. This shows the two-batch extrapolation on real peaks. With
--device cuda each peak is torch.cuda.max_memory_allocated, the goal's figure; the GPU kit
(benchmarks/gpu/check.sh) runs it for gpt2-small. No GPU has run it yet.

    python benchmarks/tune_memory.py                # both tiny presets, the default batches below
    python benchmarks/tune_memory.py --workloads resnet50 --batches 64 128 256 --precision bf16
    python benchmarks/tune_memory.py --device cuda --workloads transformer --preset gpt2-small \
        --precision bf16 --batches 4 8 16 --repeats 1                   # the 10% goal, on a GPU

The first two batches are fitted, the others predicted. Defaults: ResNet-50 tiny (32 px)
fits 64 and 128 and predicts 16, 256, 512 (16 is below the fitted range: at small batches
the RSS peak grows more slowly than the activations, as the allocator reuses memory freed
while the model was built); the transformer fits 8 and 16 and predicts 4, 64 and 128. Each peak is the median of
--repeats processes: RSS varies by a few percent from one process to the next.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

DEFAULT_BATCHES = {"resnet50": [64, 128, 16, 256, 512], "transformer": [8, 16, 4, 64, 128]}
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's scaling, not whichever one is installed


def _rss(field: str) -> int:
    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+)\s+kB", text, re.MULTILINE).group(1)) * 1024


def child(workload: str, batch: int, precision: str, steps: int, device: str, preset: str) -> dict:
    """One process, one batch: build as the harness builds, train, report the peak (RSS on
    CPU; torch.cuda.max_memory_allocated on CUDA, the figure the issue's 10% goal is about)."""
    import importlib

    import torch

    from scaling.workloads.models import loss_fn

    torch.set_num_threads(1)  # what scaling gives each CPU rank
    before = _rss("VmRSS") if device == "cpu" else 0
    module = importlib.import_module(f"scaling.workloads.{workload}")
    torch.manual_seed(0)
    s = module.setup(preset=preset, spec={}, batch=batch, global_batch=batch, device=device, seed=1)
    opt = s.make_optimizer(s.model.parameters())
    dtype = {"bf16": torch.bfloat16}.get(precision)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device, dtype=dtype, enabled=dtype is not None):
            loss = loss_fn(s.model(s.inputs), s.targets)
        loss.backward()
        opt.step()
    if device == "cuda":
        torch.cuda.synchronize()
        return {"peak": int(torch.cuda.max_memory_allocated()), "before_model": 0}
    return {"peak": _rss("VmHWM"), "before_model": before}


def measure(workload: str, batch: int, precision: str, steps: int, repeats: int, device: str,
            preset: str) -> dict:  # fmt: skip
    """The median peak over `repeats` fresh processes, and every process's figures."""
    import statistics

    cmd = [sys.executable, __file__, "--child", workload, str(batch), precision, str(steps),
           device, preset]  # fmt: skip
    runs = []
    for _ in range(repeats):
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if p.returncode:
            raise SystemExit(f"{workload} batch {batch} failed: {p.stderr.strip()[-400:]}")
        runs.append(json.loads(p.stdout.strip().splitlines()[-1]))
    peaks = [r["peak"] for r in runs]
    before = statistics.median(r["before_model"] for r in runs)
    return {"peak": int(statistics.median(peaks)), "peaks": peaks, "before_model": before}


def model_terms(workload: str, precision: str, device: str = "cpu", preset: str = "tiny"):
    """The memory model's view of the harness's step: one rank, default optimizer impl."""
    from scaling.collector.tune.memory import Sharding, forward_static, static_terms
    from scaling.workloads import catalog

    wl = catalog.get(workload)  # its model spec says the shape and optimizer `setup` builds
    shape, opt = wl.model.memory(wl.section(), preset, device)
    args = (shape, opt, precision, Sharding("single"))
    return static_terms(*args), forward_static(*args), args


def report(workload: str, batches: list[int], precision: str, steps: int, repeats: int,
           device: str = "cpu", preset: str = "tiny") -> dict:  # fmt: skip
    import statistics

    from scaling.collector.tune.memory import MIB, estimate, fit_activations

    measured = {b: measure(workload, b, precision, steps, repeats, device, preset) for b in batches}
    terms, static, args = model_terms(workload, precision, device, preset)
    lo, hi = batches[:2]
    kind = "cuda" if device == "cuda" else "rss"
    fit = fit_activations((lo, hi), (measured[lo]["peak"], measured[hi]["peak"]), kind, static)
    what = "max_memory_allocated" if device == "cuda" else "peak RSS"
    print(f"\n{workload} {preset}, {precision}, one rank on {device}, {steps} steps per process, "
          f"{what}: median of {repeats} processes")  # fmt: skip
    for t in terms:
        print(f"  model: {t.name:<22} {t.bytes / MIB:8.2f} MiB  {t.why}")
    before = statistics.median(m["before_model"] for m in measured.values())
    print(
        f"  fit from batches {lo}, {hi}: {fit.slope / MIB:.3f} MiB per sample; overhead beyond the"
        f" model {fit.overhead / MIB:.0f} MiB (process before the model: {before / MIB:.0f} MiB)"
    )
    rows = []
    for b in batches:
        pred = estimate(*args, batch=b, fit=fit).peak_bytes
        got, peaks = measured[b]["peak"], measured[b]["peaks"]
        err = 100.0 * (pred - got) / got
        role = "fitted" if b in (lo, hi) else "predicted"
        spread = f"[{min(peaks) / MIB:.0f}-{max(peaks) / MIB:.0f}]"
        print(
            f"  batch {b:>4}: measured {got / MIB:7.1f} MiB {spread:>11}, model "
            f"{pred / MIB:7.1f} MiB, error {err:+6.1f}% ({role})"
        )
        rows.append(
            {
                "batch": b,
                "measured": got,
                "peaks": peaks,
                "model": pred,
                "error_pct": err,
                "role": role,
            }
        )
    return {"workload": workload, "preset": preset, "device": device, "precision": precision,
            "fit": fit.to_dict(), "rows": rows}  # fmt: skip


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _, _, workload, batch, precision, steps, device, preset = sys.argv
        print(json.dumps(child(workload, int(batch), precision, int(steps), device, preset)))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--workloads", nargs="+", default=["resnet50", "transformer"])
    ap.add_argument("--batches", nargs="+", type=int, help="fit, fit, predict... (all workloads)")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--preset", default="tiny", help="the workload's preset (e.g. gpt2-small)")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3, help="processes per batch (median)")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    if args.batches and (len(args.batches) < 3 or args.batches[0] == args.batches[1]):
        ap.error("give two distinct batches to fit and at least one to predict")
    out = [
        report(
            w,
            args.batches or DEFAULT_BATCHES[w],
            args.precision,
            args.steps,
            args.repeats,
            args.device,
            args.preset,
        )  # fmt: skip
        for w in args.workloads
    ]
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
