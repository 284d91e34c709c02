"""How fast the CLI answers: wall time and peak memory of `scaling --help` and of the commands
that only read files, against `python -c pass` (the interpreter's own start-up).

    python benchmarks/cli_startup.py                  # 15 interleaved rounds, this checkout
    python benchmarks/cli_startup.py --rounds 30 --json
    python benchmarks/cli_startup.py --python /work/main/.venv/bin/python   # another install

Each command runs in a fresh process; peak memory is that process's max RSS as GNU time
reports it (a process forked from this one would count this one's memory too). The rounds
interleave the commands, so a drift in machine load hits all of them alike; figures are the
median with the range of single rounds. `scaling report RUN` runs on a synthetic
run directory written by tests/synthetic_runs.py (ranks' samples of collectives and two
training workloads), unless --run names a real one. Goal: `scaling --help` <= 0.3 s.
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


TIME = "/usr/bin/time"


def measure(cmd: list[str], cwd: Path, scratch: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one run of cmd in a fresh process."""
    out = scratch / "rss"
    start = time.perf_counter()
    p = subprocess.run(
        [TIME, "-f", "%M", "-o", str(out), *cmd], cwd=cwd, capture_output=True, text=True
    )
    wall = time.perf_counter() - start
    if p.returncode not in (0, 1):  # compare exits 1 on a regression
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr[-500:]}")
    return wall, int(out.read_text().split()[-1]) / 1024  # KiB


def commands(python: str, run_a: Path, run_b: Path) -> dict[str, list[str]]:
    scaling = [python, "-m", "scaling"]
    return {
        "python -c pass": [python, "-c", "pass"],
        "scaling --help": [*scaling, "--help"],
        "scaling run --help": [*scaling, "run", "--help"],
        "scaling report RUN": [*scaling, "report", str(run_a)],
        "scaling compare A B": [*scaling, "compare", str(run_a), str(run_b)],
        "scaling runs": [*scaling, "runs", "--runs-dir", str(run_a.parent)],
    }


def write_runs(runs: Path) -> tuple[Path, Path]:
    """Two synthetic run directories, written by a child so this process stays small."""
    a, b = runs / "20260101T000000Z-aaaaaa", runs / "20260102T000000Z-bbbbbb"
    code = (
        "import sys; from pathlib import Path; from tests.synthetic_runs import write_run; "
        "write_run(Path(sys.argv[1])); write_run(Path(sys.argv[2]), seed=1)"
    )
    subprocess.run([sys.executable, "-c", code, str(a), str(b)], cwd=ROOT, check=True)
    return a, b


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--python", default=sys.executable, help="interpreter whose scaling to time")
    ap.add_argument("--run", type=Path, help="a run directory for report (default: synthetic)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    if not os.access(TIME, os.X_OK):
        sys.exit(f"{TIME} (GNU time) is needed to read each command's peak memory")
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp) / "runs"
        run_a, run_b = write_runs(runs)
        cmds = commands(args.python, args.run or run_a, run_b)
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in cmds}
        for i in range(args.rounds):
            order = list(cmds) if i % 2 == 0 else list(reversed(cmds))
            for name in order:
                samples[name].append(measure(cmds[name], Path(tmp), Path(tmp)))
    result = summarize(samples)
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print_table(result, args.rounds)


def summarize(samples: dict[str, list[tuple[float, float]]]) -> dict:
    base = statistics.median(w for w, _ in samples["python -c pass"])
    out = {}
    for name, runs in samples.items():
        walls, mems = [w for w, _ in runs], [m for _, m in runs]
        wall = statistics.median(walls)
        out[name] = {
            "wall_s": wall,
            "wall_range_s": [min(walls), max(walls)],
            "over_python_s": wall - base,
            "peak_rss_mib": statistics.median(mems),
        }
    return out


def print_table(result: dict, rounds: int) -> None:
    print(f"{rounds} interleaved rounds; median [range of single rounds]")
    print(f"{'command':24} {'wall (s)':>22} {'over python (s)':>16} {'peak RSS (MiB)':>15}")
    for name, r in result.items():
        lo, hi = r["wall_range_s"]
        wall = f"{r['wall_s']:.3f} [{lo:.3f}-{hi:.3f}]"
        print(f"{name:24} {wall:>22} {r['over_python_s']:>16.3f} {r['peak_rss_mib']:>15.1f}")
    help_s = result["scaling --help"]["wall_s"]
    verdict = "meets" if help_s <= 0.3 else "misses"
    print(f"goal: scaling --help <= 0.3 s: {help_s:.3f} s ({verdict})")


if __name__ == "__main__":
    main()
