"""Compare runs as the unit of evidence: sets of runs per side, or one run each with history.

    from scaling.collector.runsets import compare_sets
    c = compare_sets([b1, b2, b3], [n1, n2, n3])          # Run objects (collector.loaded_run)
    c.exit_code, c.first_line, c.classes, c.points

Why runs and not rounds: rounds inside one run share the host's state for the whole run. On the
2-core development VM about 1 identical run in 6 sat 25-37% off in a whole class for the whole
run, so no rule over the rounds of two runs can tell that from a 25% regression (the
measurements in docs/compare.md). The variance that decides is the variance between runs.

Each run gives one figure per point: the median of its round figures (collector/points.py);
in logs, so changes are ratios. A class is a kind at a world size (collective at 2 ranks,
training at 4 ranks): its level in a run is the mean log figure of its points, because the
points of a class share their cause (a busier host, a slower link) and move together. Per class,
Student's t test compares the two sides' run levels, the spread pooled from

- the base runs and the history (earlier runs whose fingerprint, collector/stack.py, equals the
  base's: the same config on the same machines and stack), and
- the new runs, when there are two or more,

with the confidence covering every class at once (Bonferroni), as compare's judge does for
points. Points are judged the same way as a family of their own. With one run per side and no
history there is no spread at all: every change is "undecided", and the output says how to get
evidence (more runs per side, or history).

Everything moving together is not an excuse. When every class moved alike (each within the
threshold of their median, the 1-rank references included), the comparison says so first:
"everything moved +x% together", judged as one more class. With run sets or history it is a
regression when beyond the between-run spread and the threshold. With single runs and no history
it is a regression when the stack differs (versions, driver, GPU models, NCCL environment), and
otherwise undecided. --accept-shift takes such a shift out (the user knows the host changed) and
judges the classes beyond it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scaling.collector import student
from scaling.collector.judge import CONFIDENCE, THRESHOLD_PCT, change_case
from scaling.collector.loaded_run import Run
from scaling.collector.points import class_label, run_points
from scaling.collector.stack import Difference, differences
from scaling.collector.startup import compare_startup

EVERYTHING = "everything"
MAX_RUNS_SUGGESTED = 30
LEVEL_COLUMNS = ["label", "kind", "world_size", "base", "new", "delta_pct", "p_value", "p_bar",
                 "mdc_pct", "runs_needed", "verdict", "regression", "why"]  # fmt: skip


@dataclass
class SetComparison:
    base: list[str]
    new: list[str]
    history: list[str]
    threshold_pct: float
    confidence: float
    spread: str
    """Where the between-run spread came from, in words (or why there is none)."""
    differences: list[Difference]
    classes: pd.DataFrame
    """One row per class and one "everything" row (LEVEL_COLUMNS); base/new are geometric mean
    run figures (s) of the class's points, averaged over each side's runs."""
    points: pd.DataFrame
    """One row per matched point (LEVEL_COLUMNS, label = the point)."""
    uniform: dict | None = None
    """When every class moved alike: pct, verdict, line (printed first), accepted."""
    failures: list[str] = field(default_factory=list)
    only_base: list[str] = field(default_factory=list)
    only_new: list[str] = field(default_factory=list)
    untimed: list[str] = field(default_factory=list)
    """Points both sides have that some run did not time: not judged."""
    notes: list[str] = field(default_factory=list)
    startup: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Communicator start-up per world size, base -> new (collector/startup.py): read, not
    judged."""

    @property
    def regressions(self) -> int:
        judged = int(self.classes["regression"].sum()) + int(self.points["regression"].sum())
        return judged + len(self.failures)

    @property
    def exit_code(self) -> int:
        return 1 if self.regressions else 0

    @property
    def first_line(self) -> str | None:
        return None if self.uniform is None else self.uniform["line"]

    def to_dict(self) -> dict:
        def rows(df):
            return df.replace({np.nan: None}).to_dict(orient="records")

        return {
            "base": self.base, "new": self.new, "history": self.history,
            "threshold_pct": self.threshold_pct, "confidence": self.confidence,
            "spread": self.spread, "regressions": self.regressions,
            "uniform": self.uniform,
            "differences": [d.to_dict() for d in self.differences],
            "classes": rows(self.classes), "points": rows(self.points),
            "failures": self.failures, "only_in_base": self.only_base,
            "only_in_new": self.only_new, "notes": self.notes,
            "startup": rows(self.startup),
        }  # fmt: skip


def compare_sets(
    base: list[Run],
    new: list[Run],
    history: list[Run] = (),
    threshold_pct: float = THRESHOLD_PCT,
    confidence: float = CONFIDENCE,
    accept_shift: bool = False,
    points_of=run_points,
) -> SetComparison:
    """Judge the new runs against the base runs (history: earlier runs like the base).
    points_of: a run's point table (collector/points.py); a benchmark judging the same runs
    many times passes a cached one."""
    tables = {side: [points_of(r) for r in runs] for side, runs in
              (("base", base), ("new", new), ("history", history))}  # fmt: skip
    matched, only_base, only_new, untimed, notes = _match(tables["base"], tables["new"])
    hist = [t for t in tables["history"] if matched <= _timed(t)]
    if len(hist) < len(tables["history"]):
        notes.append(f"{len(tables['history']) - len(hist)} history runs lack some matched "
                     "points and were not used")  # fmt: skip
    first = tables["base"][0]  # the base run's order: world size, then op and size
    meta = first[first["point"].isin(matched)].drop_duplicates("point").set_index("point")
    logs = {side: _log_matrix(ts, meta.index) for side, ts in
            (("base", tables["base"]), ("new", tables["new"]), ("history", hist))}  # fmt: skip
    cls = pd.Series([class_label(k, n) for k, n in zip(meta["kind"], meta["world_size"],
                    strict=True)], index=meta.index)  # fmt: skip
    levels = {side: _class_levels(m, cls) for side, m in logs.items()}
    thr = np.log1p(threshold_pct / 100.0)
    diffs = differences([r.manifest for r in base], [r.manifest for r in new])
    uniform = _uniform(levels, thr, threshold_pct, confidence, diffs, accept_shift)
    shift = uniform["log"] if uniform and uniform["accepted"] else 0.0
    class_bar = (1.0 - confidence) / max(len(levels["base"].columns) + 1, 1)
    class_rows = [
        _judge(c, "class", levels["base"][c], levels["new"][c] - shift, levels["history"][c],
               thr, class_bar, _world(c, meta, cls))
        for c in levels["base"].columns
    ]  # fmt: skip
    if uniform is not None:
        class_rows.append(uniform.pop("row"))
    point_bar = (1.0 - confidence) / max(len(meta), 1)
    point_rows = [
        _judge(p, meta.at[p, "kind"], logs["base"][p], logs["new"][p] - shift,
               logs["history"][p], thr, point_bar, int(meta.at[p, "world_size"]))
        for p in meta.index
    ]  # fmt: skip
    spread = _spread_source(len(base), len(new), len(hist))
    if spread.startswith("none"):
        notes.append(_how_to_decide())
    return SetComparison(
        base=[str(r.path) for r in base], new=[str(r.path) for r in new],
        history=[str(r.path) for r, t in zip(history, tables["history"], strict=True)
                 if any(t is h for h in hist)],
        threshold_pct=threshold_pct, confidence=confidence, spread=spread, differences=diffs,
        classes=_frame(class_rows), points=_frame(point_rows), uniform=uniform,
        failures=_failures(tables["base"], tables["new"]), only_base=only_base,
        only_new=only_new, untimed=untimed, notes=notes,
        startup=compare_startup([r.samples for r in base], [r.samples for r in new]),
    )  # fmt: skip


# ---------------------------------------------------------------- matching and levels


def _timed(t: pd.DataFrame) -> set[str]:
    return set(t.loc[t["figure_s"].notna() & (t["figure_s"] > 0), "point"])


def _match(base: list[pd.DataFrame], new: list[pd.DataFrame]):
    """Points timed in every run of both sides; points in one side only (in run order); a
    note for points both sides have but some run did not time."""
    order_base = list(dict.fromkeys(p for t in base for p in t["point"]))
    order_new = list(dict.fromkeys(p for t in new for p in t["point"]))
    in_base, in_new = set(order_base), set(order_new)
    matched = set.intersection(*(_timed(t) for t in base + new)) if base + new else set()
    notes = []
    untimed = [p for p in order_base if p in in_new and p not in matched]
    if untimed:
        notes.append(f"{len(untimed)} points in both sides have no timings in some run "
                     f"(e.g. {untimed[0]}): not judged")  # fmt: skip
    only_base = [p for p in order_base if p not in in_new]
    return matched, only_base, [p for p in order_new if p not in in_base], untimed, notes


def _log_matrix(tables: list[pd.DataFrame], points: pd.Index) -> pd.DataFrame:
    """Runs x points: log of each run's figure."""
    rows = [np.log(t.set_index("point")["figure_s"].reindex(points).astype(float)) for t in tables]
    return pd.DataFrame(rows, columns=points).reset_index(drop=True)


def _class_levels(logs: pd.DataFrame, cls: pd.Series) -> pd.DataFrame:
    """Runs x classes: the mean log figure of each class's points (one vote per point)."""
    if logs.empty:
        return pd.DataFrame(columns=sorted(cls.unique()), dtype=float)
    return logs.T.groupby(cls).mean().T


def _world(label: str, meta: pd.DataFrame, cls: pd.Series) -> int:
    return int(meta.loc[cls == label, "world_size"].iloc[0])


# ---------------------------------------------------------------- the run-level test


def _judge(label, kind, b, n, h, thr, bar, world_size=None) -> dict:
    """Student's t over run levels (logs); the spread pooled from base+history and new."""
    b, n, h = (np.asarray(x, float) for x in (b, n, h))
    delta = float(np.mean(n) - np.mean(b))
    row = dict(label=label, kind=kind, world_size=world_size, base=float(np.exp(np.mean(b))),
               new=float(np.exp(np.mean(n))), delta_pct=_pct(delta), p_bar=bar)  # fmt: skip
    groups = [g for g in (np.concatenate([b, h]), n) if len(g) >= 2]
    df = sum(len(g) - 1 for g in groups)
    if df == 0:
        return row | dict(p_value=np.nan, mdc_pct=np.nan, runs_needed=np.nan,
                          verdict="undecided", regression=False,
                          why="one run per side and no history: the spread between runs "
                          "is unknown")  # fmt: skip
    s2 = sum(float(((g - g.mean()) ** 2).sum()) for g in groups) / df
    se = float(np.sqrt(s2 * (1.0 / len(b) + 1.0 / len(n))))
    crit = student.quantile(1.0 - bar / 2.0, df)
    p = (0.0 if delta else 1.0) if se == 0 else student.two_sided_p(delta / se, df)
    mdc = crit * se
    needed = _runs_needed(s2, df - (len(n) - 1 if len(n) >= 2 else 0), thr, bar)
    verdict, why = _runs_verdict(delta, p, mdc, thr, bar)
    return row | dict(p_value=p, mdc_pct=_pct(mdc), runs_needed=needed, verdict=verdict,
                      regression=verdict == "regression", why=why)  # fmt: skip


def _runs_verdict(delta, p, mdc, thr, bar) -> tuple[str, str]:
    pct, thr_pct = _pct(delta), _pct(thr)
    case = change_case(delta, p, mdc, thr, bar)
    if case in ("regression", "improvement"):
        return case, f"{pct:+.1f}% (p = {p:.2g}) beyond the run-to-run spread and {thr_pct:.3g}%"
    if case == "within":
        return "same", f"a real change of {pct:+.1f}% (p = {p:.2g}), within {thr_pct:.3g}%"
    if case == "blind":
        return "undecided", (f"{pct:+.1f}% is within what runs differ by here: only changes "
                             f"above {_pct(mdc):.1f}% could show (p = {p:.2g})")  # fmt: skip
    return "same", f"no change beyond the run-to-run spread (p = {p:.2g})"


def _runs_needed(s2: float, base_df: int, thr: float, bar: float) -> int | float:
    """Runs per side (the same on both) at which a change of the threshold's size would be
    detectable with this spread; NaN beyond MAX_RUNS_SUGGESTED."""
    for k in range(2, MAX_RUNS_SUGGESTED + 1):
        df = max(base_df, 0) + 2 * (k - 1)
        if student.quantile(1.0 - bar / 2.0, df) * np.sqrt(s2 * 2.0 / k) <= thr:
            return k
    return np.nan


# ---------------------------------------------------------------- everything moved together


def _uniform(levels, thr, threshold_pct, confidence, diffs, accept_shift) -> dict | None:
    """The uniform-shift judgment, or None when the classes did not all move alike beyond the
    threshold (then each class is judged on its own)."""
    b, n, h = levels["base"], levels["new"], levels["history"]
    if len(b.columns) < 2:
        return None
    deltas = n.mean() - b.mean()
    common = float(np.median(deltas))
    alike = bool((np.abs(deltas - common) <= thr).all())
    if not alike or abs(common) <= thr:
        return None
    row = _judge(EVERYTHING, EVERYTHING, b.mean(axis=1), n.mean(axis=1), h.mean(axis=1)
                 if not h.empty else [], thr, (1.0 - confidence) / (len(b.columns) + 1))  # fmt: skip
    stack = [d for d in diffs if d.stack]
    moved = f"everything moved {row['delta_pct']:+.1f}% together"
    if row["why"].startswith("one run per side"):
        if stack:
            row.update(verdict="regression" if common > 0 else "improvement",
                       regression=common > 0,
                       why="the stack changed: " + "; ".join(d.line() for d in stack))  # fmt: skip
        else:
            row["why"] = ("nothing in the manifests changed; one run per side and no history "
                          "cannot tell that from the host")  # fmt: skip
    line = f"{moved}: {row['verdict']}: {row['why']}"
    if row["verdict"] == "undecided":
        line = f"undecided: {moved}: {row['why']}"
    if accept_shift:
        row.update(verdict="accepted", regression=False,
                   why="accepted (--accept-shift): classes judged beyond it")  # fmt: skip
        line = f"{moved}: {row['why']}"
    return dict(pct=row["delta_pct"], log=common, verdict=row["verdict"], line=line,
                accepted=accept_shift, row=row)  # fmt: skip


# ---------------------------------------------------------------- the rest


def _failures(base: list[pd.DataFrame], new: list[pd.DataFrame]) -> list[str]:
    """Points that worked in every base run and failed in some new run: regressions whatever
    the timings say."""
    broke_before = {p for t in base for p in t.loc[t["failed"] != "", "point"]}
    out = []
    for t in new:
        for p, why in t.loc[t["failed"] != "", ["point", "failed"]].itertuples(index=False):
            if p not in broke_before and any(p in set(b["point"]) for b in base):
                out.append(f"{p}: {why}")
    return sorted(set(out))


def _spread_source(m: int, n: int, h: int) -> str:
    parts = []
    if m >= 2 or h:
        parts.append(f"{m} base run{'s' if m != 1 else ''}"
                     + (f" and {h} earlier run{'s' if h != 1 else ''} like it" if h else ""))  # fmt: skip
    if n >= 2:
        parts.append(f"{n} new runs")
    return (
        " + ".join(parts) if parts else "none: one run per side and no earlier runs like the base"
    )


def _how_to_decide() -> str:
    return ("one run per side cannot tell a change from the host's run-to-run state: compare "
            "run sets (--base R1 --base R2 --base R3 --new ...) or keep earlier runs of the same "
            "configuration in --runs-dir (history)")  # fmt: skip


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=LEVEL_COLUMNS).astype({"regression": bool})


def _pct(log_ratio: float) -> float:
    return float(np.expm1(log_ratio) * 100.0)
