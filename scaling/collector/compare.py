"""Two runs, point by point: deltas in %, which changes are real, and drift named once.

Each matched point is judged by `scaling.collector.judge.judge` on its per-round figures
(collector/rounds.py: the 25th percentile of each round's iterations). The Mann-Whitney U test
over the two runs' rounds says whether the change is real, --confidence covering all the matched
points at once (Bonferroni: were the rounds the only noise, identical runs would fail no more
often than 1 - confidence allows, not that often per point), and only a real change beyond
--threshold is a regression. Before that, drift across the whole run is found
(collector/drift.py): when every class of points (a kind at a world size) moved alike, the
1-rank references included, the run gets one "environment shift" and the points are judged on
what they did beyond it; --normalize judges each point relative to the run's own 1-rank
reference instead. The 1-rank references themselves never fail a comparison on their own: they
are the yardstick for the host's state.

Times are the slowest rank's per iteration (collectives) or per DDP step (training), one figure
per round. Throughput is batch / step time and busbw is size / time, so a time regression is
exactly a throughput regression.

A point that stopped working is a regression whatever the timings say: a training point that ran
before and now fails (oom, error), and a collective that was exact and now has wrong elements.
Runs without rounds (older runs, --repeats 1) still compare: their points are "undecided", with
the reason, because one round per run cannot tell a change from drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scaling.collector import drift, stats
from scaling.collector import rounds as round_figures
from scaling.collector.collectives import POINT_KEYS as COLL_KEYS_ALL
from scaling.collector.judge import CONFIDENCE, THRESHOLD_PCT, Judgment, judge
from scaling.collector.run import Run
from scaling.collector.startup import compare_startup
from scaling.collector.training import POINT_KEYS as TRAIN_KEYS_ALL

COLL_KEYS = ["group", "op", "dtype", "timing", "world_size", "size_bytes"]
TRAIN_KEYS = ["workload", "preset", "precision", "scaling", "batch_per_rank", "world_size"]

COLUMNS = [
    "kind",
    "point",
    "name",
    "world_size",
    "reference",
    "metric",
    "base",
    "new",
    "delta_pct",
    "time_delta_pct",
    "judged_delta_pct",
    "p_value",
    "p_bar",
    "interval_low_pct",
    "interval_high_pct",
    "mdc_pct",
    "rounds_base",
    "rounds_new",
    "verdict",
    "regression",
    "why",
]


@dataclass
class Comparison:
    base: str
    new: str
    threshold_pct: float
    confidence: float
    normalize: bool
    points: pd.DataFrame
    """One row per matched point (COLUMNS). delta_pct: change of the figure in metric (positive
    = more); time_delta_pct: change of the median of the round figures (positive = slower);
    judged_delta_pct: the change judged, after the environment shift or the reference is taken
    out; p_value, interval_*_pct, mdc_pct: the judgment's statistics (judge.Judgment); p_bar: the
    p-value a real change stays below, (1 - confidence) / the number of points judged."""
    shift: drift.Shift
    only_base: list[str]
    only_new: list[str]
    notes: list[str] = field(default_factory=list)
    startup: pd.DataFrame = field(default_factory=pd.DataFrame)  # startup.py: read, not judged

    @property
    def regressions(self) -> pd.DataFrame:
        return self.points[self.points["regression"]]

    def counts(self) -> dict[str, int]:
        return {v: int((self.points["verdict"] == v).sum()) for v in _VERDICT_ORDER}

    def to_dict(self) -> dict:
        rows = self.points.replace({np.nan: None}).to_dict(orient="records")
        return {
            "base": self.base,
            "new": self.new,
            "threshold_pct": self.threshold_pct,
            "confidence": self.confidence,
            "normalize": self.normalize,
            "regressions": int(self.points["regression"].sum()),
            "verdicts": self.counts(),
            "environment_shift": self.shift.to_dict(),
            "notes": self.notes,
            "points": rows,
            "only_in_base": self.only_base,
            "only_in_new": self.only_new,
            "startup": self.startup.replace({np.nan: None}).to_dict(orient="records"),
        }


_VERDICT_ORDER = ("regression", "improvement", "same", "undecided")


def compare(
    base: Run,
    new: Run,
    threshold_pct: float = THRESHOLD_PCT,
    confidence: float = CONFIDENCE,
    normalize: bool = False,
    round_quantile: float = round_figures.ROUND_QUANTILE,
) -> Comparison:
    """Judge every matched point of new against base. round_quantile: which quantile of a
    round's iterations is its figure (collector/rounds.py says why 0.25)."""
    coll, cb, cn = _collective_pairs(base, new, round_quantile)
    train, tb, tn = _training_pairs(base, new, round_quantile)
    pairs = pd.concat(
        [p for p in (coll, train) if not p.empty] or [_pairs_frame()], ignore_index=True
    )
    ratios = pd.Series(
        [_ratio(b, n) for b, n in zip(pairs["base_rounds"], pairs["new_rounds"], strict=True)],
        index=pairs.index,
        dtype=float,
    )
    family = max(int(ratios.notna().sum()), 1)  # the confidence covers every point judged
    mdc = pd.Series(
        [_mdc(p, confidence, family) for p in pairs.to_dict(orient="records")],
        index=pairs.index,
        dtype=float,
    )
    classes = pd.Series(
        [drift.class_label(k, n) for k, n in zip(pairs["kind"], pairs["world_size"], strict=True)],
        index=pairs.index,
        dtype=object,
    )
    shift = drift.find_shift(ratios, pairs["reference"], classes, threshold_pct, mdc)
    if normalize:
        divisors = drift.reference_factors(ratios, pairs["reference"], pairs["kind"])
    else:
        divisors = pd.Series(shift.factor, index=pairs.index, dtype=float)
    rows = [
        _judged(p, ratio, div, threshold_pct, confidence, family)
        for p, ratio, div in zip(pairs.to_dict(orient="records"), ratios, divisors, strict=True)
    ]
    points = pd.DataFrame(rows, columns=COLUMNS).astype({"regression": bool, "reference": bool})
    notes = _notes(points, threshold_pct, normalize, divisors)
    return Comparison(
        str(base.path), str(new.path), threshold_pct, confidence, normalize, points, shift,
        cb + tb, cn + tn, notes, compare_startup(base.samples, new.samples),
    )  # fmt: skip


def _mdc(p: dict, conf: float, family: int) -> float:
    """A point's minimum detectable change (%): it does not depend on any shift."""
    if not len(p["base_rounds"]) or not len(p["new_rounds"]):
        return np.nan
    mdc = stats.detectable_change(p["base_rounds"], p["new_rounds"], (1.0 - conf) / family)
    return np.nan if mdc is None else mdc * 100.0


def _judged(p: dict, ratio: float, divisor: float, thr: float, conf: float, family: int) -> dict:
    """One output row: the judgment of the point's rounds (beyond the divisor), then the
    failures that are regressions whatever the timings say."""
    if np.isnan(divisor):
        j = Judgment("undecided", "no 1-rank reference in both runs to normalize by",
                     None, None, None, None, (len(p["base_rounds"]), len(p["new_rounds"])),
                     (1.0 - conf) / family)  # fmt: skip
    else:
        new_rounds = np.asarray(p["new_rounds"], float) / divisor
        j = judge(p["base_rounds"], new_rounds, thr, conf, family)
    interval = j.interval or (np.nan, np.nan)
    row = {k: p[k] for k in COLUMNS if k in p}
    row.update(
        time_delta_pct=(ratio - 1.0) * 100.0,
        judged_delta_pct=_nan(j.delta_pct),
        p_value=_nan(j.p_value),
        p_bar=j.bar,
        interval_low_pct=(interval[0] - 1.0) * 100.0,
        interval_high_pct=(interval[1] - 1.0) * 100.0,
        mdc_pct=_nan(j.mdc_pct),
        rounds_base=j.rounds[0],
        rounds_new=j.rounds[1],
        verdict=j.verdict,
        regression=j.verdict == "regression",
        why=j.reason,
    )
    if p["failure"]:
        row.update(verdict="regression", regression=True, why=p["failure"])
    elif p["skip"]:
        row.update(verdict="undecided", regression=False, why=p["skip"])
    elif p["reference"] and j.verdict in ("regression", "improvement"):
        row.update(verdict="undecided", regression=False, why=_yardstick(j))
    return row


def _yardstick(j: Judgment) -> str:
    """Why a 1-rank reference does not regress on its own. It is the yardstick drift is found
    with: a busier host moves it first (the 1-rank gloo all_reduce here: 17 us on a quiet host,
    50-80 us on a loaded one, whole runs long), and a change of the code it runs shows at more
    ranks too, where it is judged."""
    return (
        f"the 1-rank reference changed {j.delta_pct:+.1f}% (p = {j.p_value:.2g}): a reference is "
        "the yardstick for the host's state, which moves it first, and does not fail a "
        "comparison on its own (a change of the code it runs shows at more ranks)"
    )


def _notes(points: pd.DataFrame, thr: float, normalize: bool, divisors: pd.Series) -> list[str]:
    """Why points are undecided, in a line per cause; what --normalize divided by."""
    notes = []
    undecided = points[(points["verdict"] == "undecided") & (points["why"] != "")]
    single = (undecided["rounds_base"] < 2) | (undecided["rounds_new"] < 2)
    if single.any():
        notes.append(
            f"{int(single.sum())} points have a single round in a run: one round cannot tell a "
            "change from drift, so they are undecided unless they fail; measure with --repeats 8"
        )
    few = undecided[~single & undecided["mdc_pct"].isna() & (undecided["rounds_base"] > 0)]
    if len(few):
        notes.append(f"{len(few)} points undecided: {few['why'].iloc[0]}")
    spread = undecided[undecided["mdc_pct"] > thr]
    if len(spread):
        notes.append(
            f"{len(spread)} points undecided: their rounds are too spread to show a {thr:g}% "
            f"change (minimum detectable {spread['mdc_pct'].min():.0f}% to "
            f"{spread['mdc_pct'].max():.0f}%)"
        )
    if normalize and len(points):
        by_kind = pd.DataFrame({"kind": points["kind"], "f": divisors}).groupby("kind")["f"].first()
        for kind, f in by_kind.items():
            moved = "n/a (no 1-rank points)" if np.isnan(f) else f"{(f - 1) * 100:+.1f}%"
            notes.append(
                f"{kind} points judged relative to their 1-rank reference, which moved {moved}"
            )
    return notes


# ---------------------------------------------------------------- matching points


_PAIR_COLUMNS = ["kind", "point", "name", "world_size", "reference", "metric", "base", "new",
                 "delta_pct", "base_rounds", "new_rounds", "failure", "skip"]  # fmt: skip


def _pairs_frame() -> pd.DataFrame:
    return pd.DataFrame(columns=_PAIR_COLUMNS)


def _with_rounds(table: pd.DataFrame, rounds: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The table's rows with their per-round figures in a "rounds" list (empty when none)."""
    table = table.copy()
    lists = round_figures.as_lists(rounds, [k for k in keys if k in rounds])
    on = [k for k in keys if k in table and k in lists]
    for k in on:  # sample files mix record types: integer keys may arrive as floats
        if pd.api.types.is_numeric_dtype(table[k]) or pd.api.types.is_numeric_dtype(lists[k]):
            table[k] = pd.to_numeric(table[k], errors="coerce").astype(float)
            lists[k] = pd.to_numeric(lists[k], errors="coerce").astype(float)
    if table.empty:
        return table.assign(rounds=[])
    out = table.merge(lists[on + ["rounds"]], on=on, how="left")
    out["rounds"] = [r if isinstance(r, list) else [] for r in out["rounds"]]
    return out


def _match(b: pd.DataFrame, n: pd.DataFrame, keys: list[str], label):
    """Matched rows (columns suffixed _base/_new), and the labels of points in one run only."""
    if b.empty or n.empty:
        return (
            None,
            [label(r) for r in b.to_dict("records")],
            [label(r) for r in n.to_dict("records")],
        )
    keys = [k for k in keys if k in b and k in n]
    m = b.merge(n, on=keys, how="outer", suffixes=("_base", "_new"), indicator=True)
    only_b = [label(r) for r in m[m["_merge"] == "left_only"].to_dict(orient="records")]
    only_n = [label(r) for r in m[m["_merge"] == "right_only"].to_dict(orient="records")]
    return m[m["_merge"] == "both"], only_b, only_n


def _coll_label(r) -> str:
    from scaling.config.units import format_size

    extra = "" if r.get("group", "world") == "world" else f" [{r['group']}]"
    return (
        f"{r['op']} {r['dtype']} {int(r['world_size'])} ranks "
        f"{format_size(int(r['size_bytes']))}{extra}"
    )


def _collective_pairs(base: Run, new: Run, q: float):
    b, n = (
        _with_rounds(
            run.collectives, round_figures.collective_rounds(run.samples, q), COLL_KEYS_ALL
        )
        for run in (base, new)
    )
    m, only_b, only_n = _match(b, n, COLL_KEYS, _coll_label)
    if m is None:
        return _pairs_frame(), only_b, only_n
    rows = []
    for r in m.to_dict(orient="records"):
        wrong_b, wrong_n = r.get("wrong_base"), r.get("wrong_new")
        busbw = not pd.isna(r["busbw_gbps_base"]) and not pd.isna(r["busbw_gbps_new"])
        metric = "busbw_gbps" if busbw else "time_p50_us"
        rows.append(
            {
                "kind": "collective",
                "point": _coll_label(r),
                "name": r["op"],
                "world_size": int(r["world_size"]),
                "reference": int(r["world_size"]) == 1,
                "metric": metric,
                "base": r[f"{metric}_base"],
                "new": r[f"{metric}_new"],
                "delta_pct": _pct(r[f"{metric}_base"], r[f"{metric}_new"]),
                "base_rounds": r["rounds_base"],
                "new_rounds": r["rounds_new"],
                "failure": f"#wrong {_int(wrong_b)} -> {int(wrong_n)}"
                if _pos(wrong_n) and not _pos(wrong_b)
                else "",
                "skip": "",
            }
        )
    return pd.DataFrame(rows), only_b, only_n


def _train_label(r) -> str:
    parts = [str(r["workload"])]
    parts += [str(r[k]) for k in ("preset", "precision") if k in r and not pd.isna(r[k])]
    if "batch_per_rank" in r and not pd.isna(r["batch_per_rank"]):
        parts.append(f"batch {int(r['batch_per_rank'])}")
    return " ".join(parts) + f" {int(r['world_size'])} ranks"


def _training_pairs(base: Run, new: Run, q: float):
    b, n = (
        _with_rounds(run.training, round_figures.training_rounds(run.samples, q), TRAIN_KEYS_ALL)
        for run in (base, new)
    )
    m, only_b, only_n = _match(b, n, TRAIN_KEYS, _train_label)
    if m is None:
        return _pairs_frame(), only_b, only_n
    rows = []
    for r in m.to_dict(orient="records"):
        ok_b, ok_n = r["status_base"] == "ok", r["status_new"] == "ok"
        rows.append(
            {
                "kind": "training",
                "point": _train_label(r),
                "name": r["workload"],
                "world_size": int(r["world_size"]),
                "reference": int(r["world_size"]) == 1,
                "metric": "samples_per_s",
                "base": r["samples_per_s_base"],
                "new": r["samples_per_s_new"],
                "delta_pct": _pct(r["samples_per_s_base"], r["samples_per_s_new"]),
                # a point that did not run has no step times worth judging
                "base_rounds": r["rounds_base"] if ok_b and ok_n else [],
                "new_rounds": r["rounds_new"] if ok_b and ok_n else [],
                "failure": f"status ok -> {r['status_new']}" if ok_b and not ok_n else "",
                "skip": "" if ok_b else f"base status {r['status_base']}: nothing to compare",
            }
        )
    return pd.DataFrame(rows), only_b, only_n


def _ratio(base_rounds, new_rounds) -> float:
    if not len(base_rounds) or not len(new_rounds):
        return np.nan
    return float(np.median(new_rounds) / np.median(base_rounds))


def _pct(base, new) -> float:
    if pd.isna(base) or pd.isna(new) or base == 0:
        return np.nan
    return (new / base - 1.0) * 100.0


def _nan(x) -> float:
    return np.nan if x is None else float(x)


def _pos(x) -> bool:
    return x is not None and not pd.isna(x) and x > 0


def _int(x) -> str:
    return "n/a" if x is None or pd.isna(x) else str(int(x))
