"""How far `scaling predict` is off when it extrapolates: holdout errors on data nobody here wrote.

    python benchmarks/predict_accuracy.py                       # public fixtures only
    python benchmarks/predict_accuracy.py --run runs/A --run runs/B   # plus step holdouts of runs

Goals: holdout error <= 10% on collective time at the large-message plateau;
<= 15% on step time where such data exists.

- Public fixtures (tests/fixtures/public/*.json, each naming its source):
  * plateau figures at several node counts: the largest node count is predicted from the
    others (busbw flat in n, the ring model) and compared with what was published;
  * nccl-tests tables at one world size: no holdout in n is possible (reported "unvalidated");
    the fit's own error in message size is printed instead, labelled as such.
- Runs given with --run: each training curve's step holdout (largest world size predicted
  from the rest) and each collective's plateau holdout, as `scaling predict` computes them.

Nothing is tuned to a fixture: the model, the plateau rule and the holdout are the library's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scaling.collector.predict import published  # noqa: E402
from scaling.collector.predict.holdout import collective_holdout, error_summary  # noqa: E402

PUBLIC = ROOT / "tests" / "fixtures" / "public"
COLL_GOAL, STEP_GOAL = 10.0, 15.0


def verdict(err: float | None, goal: float) -> str:
    if err is None:
        return "n/a"
    return "met" if abs(err) <= goal else "NOT met"


def public_rows() -> tuple[list[list[str]], list[list[str]]]:
    held, fitted = [], []
    for path in sorted(PUBLIC.glob("*.json")):
        doc = published.load(path)
        if doc["kind"] == "plateau":
            for group, runs in published.plateau_series(doc).items():
                h = published.plateau_holdout(runs)
                label = doc["name"] + ("" if group == "all" else f" ({group})")
                if h["status"] != "validated":
                    held.append([label, "-", "-", "-", "-", "unvalidated: " + h["reason"], "n/a"])
                    continue
                held.append([
                    label,
                    ", ".join(map(str, h["fitted_on"])),
                    str(h["held_out_n"]),
                    f"{h['busbw_predicted_gbps']:.2f}",
                    f"{h['busbw_measured_gbps']:.2f}",
                    f"{h['plateau_bias_pct']:+.1f}%",
                    verdict(h["plateau_error_pct"], COLL_GOAL),
                ])  # fmt: skip
            continue
        for ps in published.curve_points(doc):
            fit = ps.fit()
            n = ps.world_sizes[0]
            sizes, measured = ps.at(n)
            e = error_summary(ps.op, n, sizes, measured, fit.time(sizes, n))
            h = collective_holdout(ps)
            fitted.append([
                doc["name"],
                f"{n} ({ps.span})",
                f"{fit.segments[-1].busbw_gbps:.1f}",
                fit.break_reason.split(":")[0],
                f"{e['plateau_error_pct']:.1f}%",
                f"{e['all_sizes_median_error_pct']:.1f}%",
                "unvalidated" if h["status"] != "validated" else "validated",
            ])  # fmt: skip
    return held, fitted


def run_rows(run_dirs: list[str], reps: int) -> list[list[str]]:
    from scaling.collector.loaded_run import load_run
    from scaling.collector.predict import predict_run

    rows = []
    for d in run_dirs:
        doc = predict_run(load_run(d), [8], reps=reps)  # the holdouts do not depend on targets
        name = Path(d).name
        for t in doc["training"]:
            h = t.get("holdout") or {"status": "unvalidated", "reason": t.get("unavailable")}
            err = h.get("step_error_pct")
            what = f"step {t['label']}"
            rows.append(_row(name, what, h, err, STEP_GOAL))
        for c in doc["collectives"]:
            for span, fit in c["fits"].items():
                h = fit["holdout"]
                what = f"{c['op']} {c['dtype']} {span} (plateau)"
                rows.append(_row(name, what, h, h.get("plateau_bias_pct"), COLL_GOAL))
    return rows


def _row(name, what, h, err, goal) -> list[str]:
    if h.get("status") != "validated":
        return [name, what, "-", "-", f"unvalidated: {h.get('reason')}", "n/a"]
    fitted = ", ".join(map(str, h["fitted_on"]))
    return [name, what, fitted, str(h["held_out_n"]), f"{err:+.1f}%", verdict(err, goal)]


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", action="append", default=[], help="a run directory (repeatable)")
    ap.add_argument("--bootstrap", type=int, default=0, help="replicates for runs (default 0)")
    args = ap.parse_args()
    held, fitted = public_rows()
    print("Public plateau figures: largest node count held out (goal <= 10% on plateau time)\n")
    print(table(["fixture", "fitted on n", "held out n", "predicted busbw GB/s",
                 "published busbw GB/s", "time error", "goal"], held))  # fmt: skip
    print("\nPublic nccl-tests tables at one world size: fit in message size only\n")
    print(table(["fixture", "n", "fitted busbw GB/s", "change-point", "fit error at plateau",
                 "fit error, all sizes (median)", "holdout in n"], fitted))  # fmt: skip
    print(
        "\nStep-time holdout on public data: n/a (no public source found with per-step compute, "
        "overlap and bucket sizes at several world sizes)."
    )
    if args.run:
        print("\nRuns: largest world size held out (goals: step <= 15%, plateau <= 10%)\n")
        rows = run_rows(args.run, args.bootstrap)
        print(table(["run", "what", "fitted on n", "held out n", "error", "goal"], rows))


if __name__ == "__main__":
    main()
