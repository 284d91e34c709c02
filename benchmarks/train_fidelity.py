"""Does the harness distort a training step? scaling at world size 1 vs a plain torch loop.

The same model, batch, precision, optimizer and thread budget, measured two ways in one
run, in interleaved rounds:

- scaling: `python -m scaling run --gpus 1 --workloads W1,W2` (the real CLI, Ray actor and
  all) in a subprocess, every workload in one run per round (one Ray start, as a user's run of
  both); each workload's median measured step is read back from samples.jsonl.
- plain: the training loop written out below in a fresh subprocess (no Ray, no scaling
  step code; only the model definitions are shared): zero_grad, forward, loss, backward,
  optimizer step; each step timed as scaling times it (perf_counter on CPU, CUDA events on
  GPU, where both sides run bf16 by default and ResNet-50 in channels_last).

Each side's figure is the median over rounds of the per-round median step time; the ratio
is scaling / plain. Target: <= 1.03.

    python benchmarks/train_fidelity.py                  # both tiny CPU presets, 5 rounds
    python benchmarks/train_fidelity.py --workloads resnet50 --rounds 3 --steps 30
    python benchmarks/train_fidelity.py --device cuda --rounds 3 --warmup 10 --steps 30
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's scaling, not whichever one is installed
from scaling.hardware.peaks import PRECISIONS  # noqa: E402

# The settings the plain loop copies from scaling's workload modules (resnet50.py,
# transformer.py: their `setup`): keep them in step if those change.
RESNET = {"lr_per_256": 0.1, "momentum": 0.9, "weight_decay": 1e-4}
ADAMW = {"lr": 6e-4, "betas": (0.9, 0.95), "weight_decay": 0.1}


def plain_loop(args) -> list[float]:
    """The reference: a textbook training loop, one process, one thread on CPU."""
    import torch

    from scaling.workloads.models import build_model, loss_fn, synthetic_batch, transformer_config

    device = args.device
    if device == "cpu":
        torch.set_num_threads(1)  # what scaling gives each CPU rank
    else:
        torch.backends.cuda.matmul.allow_tf32 = args.precision != "fp32"
        torch.backends.cudnn.allow_tf32 = args.precision != "fp32"
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    if args.workload == "resnet50":
        fmt = torch.channels_last
        with torch.device(device):
            model = build_model("resnet50").to(memory_format=fmt)
        x, y = synthetic_batch("resnet50", args.batch, device, image_size=args.image_size, seed=1)
        x = x.contiguous(memory_format=fmt)
        lr = RESNET["lr_per_256"] * args.batch / 256
        opt = torch.optim.SGD(
            model.parameters(),
            lr=lr,
            momentum=RESNET["momentum"],
            weight_decay=RESNET["weight_decay"],
        )
    else:
        cfg = transformer_config(args.preset)
        with torch.device(device):
            model = build_model("transformer", cfg=cfg)
        x, y = synthetic_batch(
            "transformer", args.batch, device, seq_len=cfg.seq_len, vocab=cfg.vocab_size, seed=1
        )
        opt = torch.optim.AdamW(model.parameters(), fused=device == "cuda" or None, **ADAMW)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.precision)
    scaler = torch.amp.GradScaler(device) if args.precision == "fp16" else None

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device, dtype=dtype, enabled=dtype is not None):
            loss = loss_fn(model(x), y)
        if scaler:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()

    for _ in range(args.warmup + 1):  # +1: scaling's probe step
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    times = []
    for _ in range(args.steps):
        if device == "cuda":
            # Events on the stream, as scaling's CudaTimer: waiting for the end event is the
            # CPU-GPU sync point, so a step's launches cannot run ahead into the next one.
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            step()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
        else:
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
    return times


def plain(args, workload: str) -> float:
    """Median step time of the plain loop, in a fresh process."""
    cmd = [sys.executable, __file__, "--plain-child", workload, *_common(args, workload)]
    p = _run(cmd, f"the plain {workload} loop")
    return statistics.median(json.loads(p.stdout.strip().splitlines()[-1]))


def harness(args, workloads: list[str]) -> dict[str, float]:
    """Median measured step time of each workload at world size 1, one run through the CLI."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "fidelity.toml"
        text = (
            f'[training]\nprecision = "{args.precision}"\nwarmup = {args.warmup}\n'
            f"steps = {args.steps}\n"
        )
        for w in workloads:
            text += f'[{w}]\npreset = "{args.preset_for(w)}"\nbatch = {args.batch_for(w)}\n'
            text += f"image_size = {args.image_size}\n" if w == "resnet50" else ""
        cfg.write_text(text)
        out = Path(tmp) / "run"
        names = ",".join(workloads)
        cmd = [sys.executable, "-m", "scaling", "run", "--gpus", "1", "--workloads", names]
        cmd += ["--device", args.device, "--config", str(cfg), "--out", str(out)]
        cmd += ["--repeats", "1"]  # one pass, like the plain loop it is compared with
        _run(cmd, f"scaling run --workloads {names}")
        times: dict[str, list[float]] = {w: [] for w in workloads}
        for line in (out / "samples.jsonl").read_text().splitlines():
            rec = json.loads(line)
            if rec["type"] == "step" and rec["phase"] == "ddp":
                times[rec["workload"]].append(rec["time_s"])
    return {w: statistics.median(t) for w, t in times.items()}


def _run(cmd: list[str], what: str) -> subprocess.CompletedProcess:
    """Run a child; when it fails, end with its own last words rather than a bare exit code."""
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=_env())
    if p.returncode != 0:
        tail = "\n".join((p.stderr or p.stdout).strip().splitlines()[-15:])
        sys.exit(f"train_fidelity.py: {what} failed (exit {p.returncode}):\n{tail}")
    return p


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _common(args, workload: str) -> list[str]:
    return [
        "--device", args.device, "--precision", args.precision,
        "--warmup", str(args.warmup), "--steps", str(args.steps),
        "--batch", str(args.batch_for(workload)), "--preset", args.preset_for(workload),
        "--image-size", str(args.image_size),
    ]  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", default="resnet50,transformer")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument(
        "--precision",
        default="auto",
        choices=("auto", *(p for p in PRECISIONS if p != "auto")),
        help="auto: bf16 on cuda, fp32 on cpu (scaling's own default)",
    )
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=None, help="default: the preset's")
    ap.add_argument("--preset", default=None, help="default: tiny on cpu, the GPU one on cuda")
    ap.add_argument("--image-size", type=int, default=None, help="resnet50; default: preset's")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--plain-child", metavar="WORKLOAD", help=argparse.SUPPRESS)
    args = ap.parse_args()

    from scaling.workloads.catalog import get

    if args.precision == "auto":
        args.precision = "bf16" if args.device == "cuda" else "fp32"

    args.preset_for = lambda w: args.preset or get(w).model.auto_preset[args.device]
    args.batch_for = lambda w: args.batch or get(w).presets[args.preset_for(w)]["batch"]
    if args.image_size is None:
        presets = get("resnet50").presets
        args.image_size = presets[args.preset_for("resnet50")].get("image_size", 224)

    if args.plain_child:
        args.workload = args.plain_child
        args.preset = args.preset_for(args.workload)
        args.batch = args.batch_for(args.workload)
        print(json.dumps(plain_loop(args)))
        return

    result = {"device": args.device, "precision": args.precision, "rounds": args.rounds}
    workloads = args.workloads.split(",")
    rounds = {w: {"plain": [], "scaling": []} for w in workloads}
    for i in range(args.rounds):
        # Alternate which side goes first, so a drift in machine load favours neither.
        order = ("plain", "scaling") if i % 2 == 0 else ("scaling", "plain")
        for side in order:
            if side == "scaling":
                for w, t in harness(args, workloads).items():
                    rounds[w]["scaling"].append(t)
            else:
                for w in workloads:
                    rounds[w]["plain"].append(plain(args, w))
    for w in workloads:
        p, s = statistics.median(rounds[w]["plain"]), statistics.median(rounds[w]["scaling"])
        result[w] = {
            "preset": args.preset_for(w),
            "batch": args.batch_for(w),
            "plain_step_ms": p * 1e3,
            "scaling_step_ms": s * 1e3,
            "ratio": s / p,
            "target": "<= 1.03",
            "rounds_plain_ms": [t * 1e3 for t in rounds[w]["plain"]],
            "rounds_scaling_ms": [t * 1e3 for t in rounds[w]["scaling"]],
        }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"world size 1, {args.device}, {args.precision}, {args.rounds} interleaved rounds x "
        f"{args.steps} steps (medians)"
    )
    for w in args.workloads.split(","):
        r = result[w]
        print(
            f"  {w:12s} {r['preset']:>8s} batch {r['batch']:<4d} plain {r['plain_step_ms']:8.2f} ms"
            f"   scaling {r['scaling_step_ms']:8.2f} ms   ratio {r['ratio']:.3f}  (target <= 1.03)"
        )


if __name__ == "__main__":
    main()
