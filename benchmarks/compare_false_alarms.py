"""Does `scaling compare` cry wolf, and does it catch a real slowdown, with runs as the unit?

K identical runs, K runs with one class slowed 25% and K runs with everything slowed 25%, all
through the SCALING_FAULTS test hook (scaling/workloads/faults.py: the ranks really take that
much longer), interleaved (same, class, uniform, same, ...) so the machine's drift lands on
every kind alike. Then the judgments `scaling compare` makes (collector/runsets.py):

- run sets of S per side (default 5), drawn at random from the pools (seeded):
  false alarms over identical sets (two disjoint sets of identical runs; needs K >= 2S),
  25% class slowdowns caught, 25% uniform slowdowns caught ("everything moved together");
- one run per side, no history: false alarms over ordered identical pairs, and the share
  undecided (allowed: one run each cannot tell a change from the host's state);
- one run per side with H earlier identical runs as history (default 3);
- the cost: wall time of one run, so a verdict costs 2S runs (sets) or 2 (single).

A "draw" is one comparison; draws reuse runs, so they are not independent: with K runs the
rates are only as good as the K runs behind them. Report K with every rate.

    python benchmarks/compare_false_alarms.py                    # K=10/6/6: 22 runs, ~15 min
    python benchmarks/compare_false_alarms.py --keep /tmp/cfa --json
    python benchmarks/compare_false_alarms.py --reuse /tmp/cfa   # judge kept runs again
    bash benchmarks/gpu/check.sh --steps false_alarms            # on the GPU machine's CPUs

The run: `scaling run --gpus 1,2 --workloads collectives,transformer --max-bytes 4M` with
the default --repeats (add --repeats R to change it). Goals: sets of 5: false alarms
<= 5%, 25% class and uniform slowdowns caught >= 95%; single runs without history: false
alarms <= 5% (undecided allowed, its share reported).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUN = ["--gpus", "1,2", "--workloads", "collectives,transformer", "--max-bytes", "4M"]
UNIFORM = "slow:collectives=1.25,slow:transformer=1.25"


def kinds(planted: str) -> dict[str, str | None]:
    """Run kind -> the SCALING_FAULTS it runs with."""
    return {"same": None, "class25": f"slow:{planted}=1.25", "uniform25": UNIFORM}


def make_runs(root: Path, counts: dict[str, int], planted: str, repeats: int | None) -> dict:
    """The runs, interleaved by kind; each one's wall time and the load when it ended."""
    times = {}
    faults = kinds(planted)
    for i in range(max(counts.values())):
        for kind, k in counts.items():
            if i >= k:
                continue
            out = root / f"{kind}-{i}"
            cmd = [sys.executable, "-m", "scaling", "run", *RUN, "--device", "cpu", "--out",
                   str(out), *(["--repeats", str(repeats)] if repeats else [])]  # fmt: skip
            if faults[kind]:
                cmd += ["--env", f"SCALING_FAULTS={faults[kind]}"]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            wall = time.perf_counter() - t0
            if proc.returncode != 0:
                raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n"
                                 f"{proc.stderr[-2000:]}")  # fmt: skip
            load = os.getloadavg()[0]  # how many others shared the cores
            times[out.name] = {"wall_s": wall, "load_1m": load}
            print(f"  {out.name}: {wall:.0f} s, load {load:.1f}", file=sys.stderr, flush=True)
    (root / "times.json").write_text(json.dumps(times, indent=1))
    return times


def load_pools(root: Path) -> dict[str, list]:
    from scaling.collector.loaded_run import load_run

    pools: dict[str, list] = {}
    for path in sorted(root.iterdir()):
        kind, _, i = path.name.rpartition("-")
        if path.is_dir() and i.isdigit():
            pools.setdefault(kind, []).append(load_run(path))
    return pools


_POINTS: dict[int, object] = {}


def cached_points(run):
    """A run's point table, computed once: every draw judges the same runs again."""
    from scaling.collector.points import run_points

    if id(run) not in _POINTS:
        _POINTS[id(run)] = run_points(run)
    return _POINTS[id(run)]


def _rate(hits: int, n: int) -> dict:
    return {"draws": n, "hits": hits, "rate": hits / n if n else None}


def judge_sets(pools, size: int, draws: int, args, rng) -> dict:
    from scaling.collector.runsets import compare_sets

    def judge(b, n):
        return compare_sets(b, n, (), args.threshold, args.confidence, points_of=cached_points)

    same = pools.get("same", [])
    out: dict = {"size": size}
    if len(same) >= 2 * size:
        alarms = 0
        for _ in range(draws):
            picked = rng.sample(same, 2 * size)
            alarms += judge(picked[:size], picked[size:]).exit_code == 1
        out["false_alarms"] = _rate(alarms, draws)
    for kind in ("class25", "uniform25"):
        slowed = pools.get(kind, [])
        if len(same) >= size and len(slowed) >= size:
            caught = uniform_named = 0
            for _ in range(draws):
                c = judge(rng.sample(same, size), rng.sample(slowed, size))
                caught += c.exit_code == 1
                uniform_named += c.uniform is not None and c.uniform["verdict"] == "regression"
            out[kind] = _rate(caught, draws) | {"said_everything_moved": uniform_named}
    return out


def judge_singles(pools, history: int, args, rng, draws: int) -> dict:
    from scaling.collector.runsets import compare_sets

    same = pools.get("same", [])
    out = {"history": history}
    for kind in ("same", "class25", "uniform25"):
        other = pools.get(kind, [])
        verdicts = {"regression": 0, "undecided": 0, "draws": 0}
        for _ in range(draws):
            if len(same) < history + 2 or not other:
                break
            picked = rng.sample(same, history + 2)
            base, hist = picked[0], picked[2:]
            new = picked[1] if kind == "same" else rng.choice(other)
            c = compare_sets(
                [base], [new], hist, args.threshold, args.confidence, points_of=cached_points
            )
            verdicts["draws"] += 1
            verdicts["regression"] += c.exit_code == 1
            verdicts["undecided"] += bool((c.classes["verdict"] == "undecided").any())
        n = verdicts["draws"]
        out[kind] = {
            "draws": n,
            "regression_rate": verdicts["regression"] / n if n else None,
            "undecided_share": verdicts["undecided"] / n if n else None,
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--runs", type=int, default=10, help="identical runs (slowed: 6)")
    ap.add_argument("--slowed", type=int, default=6, help="runs of each slowed kind")
    ap.add_argument("--set-size", type=int, default=5, help="runs per side of a run set")
    ap.add_argument("--history", type=int, default=3, help="history runs for single pairs")
    ap.add_argument("--draws", type=int, default=200, help="comparisons per figure")
    ap.add_argument("--repeats", type=int, default=None, help="scaling run --repeats")
    ap.add_argument("--planted", default="all_reduce@2", help="the class slowed 25%%")
    ap.add_argument("--threshold", type=float, default=5.0)
    ap.add_argument("--confidence", type=float, default=0.95)
    ap.add_argument("--keep", metavar="DIR", help="keep the runs here")
    ap.add_argument("--reuse", metavar="DIR", help="judge the runs kept in DIR; run nothing")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    counts = {"same": args.runs, "class25": args.slowed, "uniform25": args.slowed}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.reuse or args.keep or tmp)
        if args.reuse:
            times = json.loads((root / "times.json").read_text())
        else:
            root.mkdir(parents=True, exist_ok=True)
            print(f"{sum(counts.values())} runs into {root}", file=sys.stderr)
            times = make_runs(root, counts, args.planted, args.repeats)
        pools = load_pools(root)
        rng = random.Random(0)
        result = {
            "runs": {k: len(v) for k, v in pools.items()},
            "sets": judge_sets(pools, args.set_size, args.draws, args, rng),
            "single": judge_singles(pools, 0, args, rng, args.draws),
            "single_with_history": judge_singles(pools, args.history, args, rng, args.draws),
            "run_time_s": _run_times(times),
            "settings": vars(args)
            | {"command": "scaling run " + " ".join(RUN), "cpus": os.cpu_count()},  # fmt: skip
        }
        (root / "result.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1) if args.json else _text(result))


def _run_times(times: dict) -> dict:
    walls = sorted(t["wall_s"] for t in times.values())
    loads = sorted(t["load_1m"] for t in times.values())
    return {"runs": len(walls), "wall_median_s": statistics.median(walls),
            "wall_range_s": [walls[0], walls[-1]], "load_1m_median": statistics.median(loads)}  # fmt: skip


def _pct(x) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def _text(r: dict) -> str:
    s, t = r["sets"], r["run_time_s"]
    size = s["size"]
    lines = [f"runs: {r['runs']}; one run {t['wall_median_s']:.0f} s median "
             f"(load {t['load_1m_median']:.1f})"]  # fmt: skip
    if "false_alarms" in s:
        fa = s["false_alarms"]
        lines.append(f"sets of {size}: false alarms {fa['hits']}/{fa['draws']} = "
                     f"{_pct(fa['rate'])} (goal <= 5%)")  # fmt: skip
    for kind in ("class25", "uniform25"):
        if kind in s:
            d = s[kind]
            lines.append(f"sets of {size}: {kind} caught {d['hits']}/{d['draws']} = "
                         f"{_pct(d['rate'])} (goal >= 95%); 'everything moved' named in "
                         f"{d['said_everything_moved']}")  # fmt: skip
    for key, label in (("single", "one run per side, no history"),
                       ("single_with_history", f"one run per side, history "
                        f"{r['single_with_history']['history']}")):  # fmt: skip
        for kind in ("same", "class25", "uniform25"):
            d = r[key][kind]
            lines.append(f"{label}: {kind}: exit 1 in {_pct(d['regression_rate'])}, "
                         f"undecided in {_pct(d['undecided_share'])} of {d['draws']}")  # fmt: skip
    lines.append(f"cost per verdict: sets {2 * size * t['wall_median_s']:.0f} s, "
                 f"single {2 * t['wall_median_s']:.0f} s (runs x median wall)")  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    main()
