"""What does interleaving a rung cost? The fixed part of one trial call against a round.

An interleaved rung (scaling/collector/tune/halving.py) measures each candidate in `passes`
calls instead of one: every extra pass costs a call's fixed part again (the model's build,
DDP wrap and warmup; and a new process group when two candidates' NCCL variables differ).
This measures those parts on real trials (the tiny transformer at 2 CPU ranks, two DDP bucket
candidates, 8 steps a round), alternating the candidates call by call as a rung would:

- same group: the candidates share the process group (same NCCL variables, as DDP bucket
  sizes, precisions and batches do);
- new group: the group is closed before every call, as between candidates whose NCCL
  variables differ.

Then it projects a rung of 8 rounds x 8 steps per candidate at 1, 2, 4 and 8 passes, as the
search's own cost model does (fixed part per call + per measured step).

    python benchmarks/tune_interleave_cost.py              # 6 calls per candidate and mode
    python benchmarks/tune_interleave_cost.py --calls 10 --steps 8
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's scaling, not whichever one is installed
IDS = ("b8-fp32-ddp-bk1", "b8-fp32-ddp-bk25")


def config():
    from scaling.config import load_config

    return load_config(overrides={
        "gpus": [2], "workloads": ["transformer"], "tune.workload": "transformer",
        "tune.dimensions": ["batch", "bucket_cap_mb"], "tune.batches": [8],
        "tune.bucket_cap_mb": [1, 25], "runs_dir": tempfile.mkdtemp(prefix="tune-pass-"),
    })  # fmt: skip


def calls(trials, n: int, steps: int, new_group: bool) -> dict[str, list[float]]:
    """n calls per candidate, alternating; (fixed seconds, seconds in measured steps) each."""
    from scaling.collector.tune.halving_types import TrialBudget

    budget = TrialBudget(1, steps, 1, 2, False)
    fixed, inside = [], []
    for i in range(2 * n):
        if new_group:
            trials.close()  # the next call forms its group again
        r = trials(IDS[i % 2], budget)
        if r.status != "ok":
            raise RuntimeError(f"{IDS[i % 2]}: {r.status} {r.error}")
        fixed.append(r.seconds - r.step_seconds)
        inside.append(r.step_seconds)
    return {"fixed_s": fixed, "round_s": inside}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=6, help="calls per candidate and mode")
    ap.add_argument("--steps", type=int, default=8, help="measured steps per call (one round)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    from tune_harness import real_trials

    with real_trials(config()) as (trials, _, _):
        out = {
            "same group": calls(trials, args.calls, args.steps, False),
            "new group": calls(trials, args.calls, args.steps, True),
        }
    print(f"tiny transformer, 2 CPU ranks, {args.calls} calls per candidate per mode, "
          f"{args.steps} steps a round (medians; the host was shared)")  # fmt: skip
    for mode, d in out.items():
        fixed, round_s = statistics.median(d["fixed_s"]), statistics.median(d["round_s"])
        d.update(fixed_median_s=fixed, round_median_s=round_s)
        rung = [fixed * p + 8 * round_s for p in (1, 2, 4, 8)]
        cost = ", ".join(
            f"{p} passes {c / rung[0]:.2f}x" for p, c in zip((1, 2, 4, 8), rung, strict=True)
        )
        d["rung_cost_vs_one_call"] = [c / rung[0] for c in rung]
        print(f"  {mode}: fixed part of a call {fixed:.2f} s, a round {round_s:.2f} s "
              f"(fixed / round {fixed / round_s:.2f}); a rung of 8 rounds: {cost}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
