"""Does `scaling compare` cry wolf? And does it catch a real slowdown?

K identical runs of one configuration, and K runs each with a slowdown planted on one point
class through the SCALING_FAULTS test hook (scaling/workloads/faults.py: the ranks really take
that much longer), all interleaved (identical, slow 10%, slow 25%, identical, ...) so the
machine's drift lands on every kind alike. Then every ordered pair is judged with the same
function `scaling compare` calls:

- false alarms: identical vs identical, K(K-1) ordered pairs; a pair is a false alarm when
  compare would exit 1 (any regression);
- detection: identical base vs slowed new, K x K pairs per slowdown; a pair catches the
  slowdown when at least one planted point is a regression (the exit code then is 1 for the
  right reason); per point, how many planted points were caught, overall and among those whose
  minimum detectable change was below the planted change;
- the bound: how well ANY rule on the planted class as a whole could do with these runs.
  Per pair, the class's level change (geometric mean over the planted points of the change
  of their median round); the cutoff on it that keeps false alarms within the goal (5% of
  identical pairs) and the share of slowed pairs above it. When that is below 95%, identical
  runs differ by as much as the planted change, and no test over two runs can meet both
  goals on this host;
- cost: each K also runs the command once with --repeats 1, so the wall and sweep times of the
  rounds runs and of one round are measured side by side.

    python benchmarks/compare_false_alarms.py                       # K=6: 24 runs, ~30 min
    python benchmarks/compare_false_alarms.py --runs 6 --keep /tmp/cfa --json
    python benchmarks/compare_false_alarms.py --reuse /tmp/cfa      # judge kept runs again
    bash benchmarks/gpu/check.sh --steps false_alarms               # on the GPU machine's CPUs

The run itself: `scaling run --gpus 1,2 --workloads collectives,transformer --max-bytes 4M`
with the default --repeats (add --repeats R to change it). Goals (issue 15): false alarms <= 5%
of pairs; 25% caught in >= 95% of pairs; 10% caught where the MDC allows it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np

RUN = ["--gpus", "1,2", "--workloads", "collectives,transformer", "--max-bytes", "4M"]
KINDS = {"same": 1.0, "slow10": 1.10, "slow25": 1.25}
ONE_ROUND = "once"  # the same command with --repeats 1, timed only: what the rounds cost


def make_runs(root: Path, k: int, planted: str, repeats: int | None, cost: bool = True) -> dict:
    """K runs of each kind, interleaved (plus one --repeats 1 run per K, for the cost, unless
    cost is False); the wall time of each command, and its sweep time (manifest start to end:
    no Ray start, no report)."""
    times = {}
    kinds = [*KINDS.items(), *([(ONE_ROUND, 1.0)] if cost else [])]
    for i in range(k):
        for kind, factor in kinds:
            out = root / f"{kind}-{i}"
            cmd = [sys.executable, "-m", "scaling", "run", *RUN, "--device", "cpu"]
            cmd += ["--out", str(out)]
            if kind == ONE_ROUND:
                cmd += ["--repeats", "1"]
            elif repeats:
                cmd += ["--repeats", str(repeats)]
            if factor != 1.0:
                cmd += ["--env", f"SCALING_FAULTS=slow:{planted}={factor}"]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            wall = time.perf_counter() - t0
            if proc.returncode != 0:
                tail = proc.stderr[-2000:]
                raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{tail}")
            # the 1-minute load average when the run ended: how many other tenants shared the
            # cores (the host's state is what the false-alarm rate depends on)
            load = os.getloadavg()[0]
            times[out.name] = {"wall_s": wall, "sweep_s": _sweep_seconds(out), "load_1m": load}
            print(f"  {out.name}: {wall:.0f} s, load {load:.1f}", file=sys.stderr, flush=True)
    (root / "times.json").write_text(json.dumps(times, indent=1))
    return times


def _sweep_seconds(run_dir: Path) -> float:
    m = json.loads((run_dir / "manifest.json").read_text())
    return (
        datetime.fromisoformat(m["ended"]) - datetime.fromisoformat(m["started"])
    ).total_seconds()


def planted_mask(points, planted: str):
    what, _, n = planted.partition("@")
    name = points["name"] if what != "collectives" else points["kind"].map({"collective": what})
    mask = name == what
    return mask & (points["world_size"] == int(n)) if n else mask


def judge_pairs(root: Path, k: int, planted: str, args) -> dict:
    from scaling.collector.compare import compare
    from scaling.collector.run import load_run

    runs = {kind: [load_run(root / f"{kind}-{i}") for i in range(k)] for kind in KINDS}
    judging = (args.threshold, args.confidence, args.normalize, args.quantile)
    same = [compare(a, b, *judging) for a, b in itertools.permutations(runs["same"], 2)]
    out = {"false_alarms": _false_alarms(same, planted)}
    same_levels = [_class_change(c, planted) for c in same]
    for kind, factor in KINDS.items():
        if factor == 1.0:
            continue
        pairs = [compare(a, b, *judging) for a, b in itertools.product(runs["same"], runs[kind])]
        out[kind] = _detection(pairs, planted, (factor - 1.0) * 100.0)
        out[kind]["bound"] = _bound(same_levels, [_class_change(c, planted) for c in pairs])
    return out


def _class_change(c, planted: str) -> float:
    """The planted class's level change in one pair (%): geometric mean over its points of
    median(new rounds) / median(base rounds)."""
    d = c.points.loc[planted_mask(c.points, planted), "time_delta_pct"].dropna()
    return float(np.expm1(np.mean(np.log1p(d / 100.0))) * 100.0) if len(d) else float("nan")


def _bound(same: list[float], slowed: list[float], goal: float = 0.05) -> dict:
    """The lowest cutoff on the class change that raises at most `goal` of the identical
    pairs, and the share of slowed pairs above it: what the best rule on the class level
    could catch with these runs."""
    allowed = int(goal * len(same))
    cutoff = sorted(same, reverse=True)[allowed] if len(same) > allowed else float("-inf")
    return {
        "identical_pairs_pct": [min(same), max(same)],
        "slowed_pairs_pct": [min(slowed), max(slowed)],
        "cutoff_pct": cutoff,
        "false_alarms_allowed": allowed,
        "caught": sum(v > cutoff for v in slowed) / len(slowed),
    }


def _false_alarms(pairs, planted: str) -> dict:
    alarms = [c for c in pairs if len(c.regressions)]
    points = sum(len(c.points) for c in pairs)
    flagged = sum(len(c.regressions) for c in pairs)
    return {
        "pairs": len(pairs),
        "pairs_with_alarm": len(alarms),
        "rate": len(alarms) / len(pairs),
        "points_judged": points,
        "points_flagged": flagged,
        "shifts_named": sum(c.shift.named for c in pairs),
        "flagged_points": sorted({p for c in alarms for p in c.regressions["point"]}),
        "verdicts": _tally(pairs),
    }


def _detection(pairs, planted: str, change_pct: float) -> dict:
    caught = hit = seeable = seeable_hit = wrong = 0
    for c in pairs:
        mask = planted_mask(c.points, planted)
        reg = c.points["regression"]
        caught += bool((reg & mask).any())
        hit += int((reg & mask).sum())
        can = mask & (c.points["mdc_pct"] < change_pct)
        seeable += int(can.sum())
        seeable_hit += int((reg & can).sum())
        wrong += bool((reg & ~mask).any())
    planted_points = int(planted_mask(pairs[0].points, planted).sum()) if pairs else 0
    return {
        "pairs": len(pairs),
        "pairs_caught": caught,
        "rate": caught / len(pairs),
        "planted_points_per_pair": planted_points,
        "point_rate": hit / max(planted_points * len(pairs), 1),
        "points_mdc_below_change": seeable,
        "point_rate_where_mdc_allows": seeable_hit / seeable if seeable else None,
        "planted_mdc_pct_median": _median_mdc(pairs, planted),
        "pairs_with_other_regressions": wrong,
        "verdicts": _tally(pairs),
    }


def _median_mdc(pairs, planted: str) -> float | None:
    """The median minimum detectable change of the planted points: how noisy the host was."""
    vals = [v for c in pairs for v in c.points.loc[planted_mask(c.points, planted), "mdc_pct"]]
    vals = [v for v in vals if v == v]
    return statistics.median(vals) if vals else None


def _tally(pairs) -> dict:
    total: dict[str, int] = {}
    for c in pairs:
        for v, n in c.counts().items():
            total[v] = total.get(v, 0) + n
    return total


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--runs", type=int, default=6, help="K runs of each kind (>= 2)")
    ap.add_argument(
        "--repeats", type=int, default=None, help="scaling run --repeats (default: its own)"
    )
    ap.add_argument("--planted", default="all_reduce@2", help="SCALING_FAULTS class to slow")
    ap.add_argument("--threshold", type=float, default=5.0)
    ap.add_argument("--confidence", type=float, default=0.95)
    ap.add_argument("--normalize", action="store_true", help="judge as compare --normalize")
    ap.add_argument(
        "--quantile", type=float, default=0.25, help="round figure (0.5: round medians)"
    )
    ap.add_argument(
        "--keep", metavar="DIR", help="keep the runs here (default: a temporary folder)"
    )
    ap.add_argument("--reuse", metavar="DIR", help="judge the runs kept in DIR; run nothing")
    ap.add_argument(
        "--no-cost", action="store_true",
        help="skip the --repeats 1 runs that measure what the rounds cost (a quarter less time)",
    )  # fmt: skip
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.reuse or args.keep or tmp)
        if args.reuse:
            times = json.loads((root / "times.json").read_text())
        else:
            root.mkdir(parents=True, exist_ok=True)
            print(f"{4 * args.runs} runs into {root}", file=sys.stderr)
            times = make_runs(root, args.runs, args.planted, args.repeats, not args.no_cost)
        result = judge_pairs(root, args.runs, args.planted, args)
        result["run_time_s"] = _run_times(times)
        result["settings"] = vars(args) | {
            "command": "scaling run " + " ".join(RUN),
            "cpus": os.cpu_count(),
        }
        name = f"result-q{args.quantile:g}{'-normalize' if args.normalize else ''}.json"
        (root / name).write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1) if args.json else _text(result))


def _run_times(times: dict) -> dict:
    """Median and range of the wall and sweep times: the rounds runs, and --repeats 1."""
    out = {}
    for label in ("rounds", "one_round"):
        names = [n for n in times if n.startswith(ONE_ROUND) == (label == "one_round")]
        for key in ("wall_s", "sweep_s"):
            vals = sorted(times[n][key] for n in names)
            if vals:
                out[f"{label}_{key}"] = {
                    "runs": len(vals),
                    "median": statistics.median(vals),
                    "min": vals[0],
                    "max": vals[-1],
                }
    loads = sorted(t["load_1m"] for t in times.values() if "load_1m" in t)
    if loads:  # runs kept before the load was recorded have none
        out["load_1m"] = {
            "runs": len(loads), "median": statistics.median(loads),
            "min": loads[0], "max": loads[-1],
        }  # fmt: skip
    return out


def _pct_or_na(x) -> str:
    return "n/a" if x is None else f"{x:.0f}%"


def _text(r: dict) -> str:
    fa = r["false_alarms"]
    lines = [
        f"false alarms: {fa['pairs_with_alarm']}/{fa['pairs']} pairs = {fa['rate']:.1%} "
        f"(goal <= 5%); {fa['points_flagged']} of {fa['points_judged']} points; "
        f"environment shift named in {fa['shifts_named']} pairs; verdicts {fa['verdicts']}",
    ]
    if fa["flagged_points"]:
        lines.append(f"  flagged: {', '.join(fa['flagged_points'])}")
    for kind in ("slow10", "slow25"):
        d = r.get(kind)
        if not d:
            continue
        allows = d["point_rate_where_mdc_allows"]
        lines.append(
            f"{kind}: caught in {d['pairs_caught']}/{d['pairs']} pairs = {d['rate']:.1%}; "
            f"{d['point_rate']:.1%} of the {d['planted_points_per_pair']} planted points per pair; "
            f"{'n/a' if allows is None else f'{allows:.1%}'} of the "
            f"{d['points_mdc_below_change']} planted points whose MDC was below the change; "
            f"other regressions in {d['pairs_with_other_regressions']} pairs; "
            f"median MDC of the planted points {_pct_or_na(d['planted_mdc_pct_median'])}"
        )
        b = d["bound"]
        lines.append(
            f"  bound: the planted class's level changed {b['identical_pairs_pct'][0]:+.0f}% to "
            f"{b['identical_pairs_pct'][1]:+.0f}% in identical pairs, {b['slowed_pairs_pct'][0]:+.0f}% "
            f"to {b['slowed_pairs_pct'][1]:+.0f}% in {kind} pairs; the best cutoff on it with at "
            f"most {b['false_alarms_allowed']} false alarms ({b['cutoff_pct']:+.1f}%) catches "
            f"{b['caught']:.0%}"
        )
    for key, t in r["run_time_s"].items():
        unit = "" if key == "load_1m" else " s"
        lines.append(
            f"{key}: median {t['median']:.1f}{unit} "
            f"(range {t['min']:.1f}-{t['max']:.1f}, {t['runs']} runs)"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
