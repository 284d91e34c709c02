"""Collective figures published elsewhere (nccl-tests tables, plateau busbw quoted in issue
threads), read into the same models, so the models can be checked against data nobody here
wrote. tests/fixtures/public/*.json holds them, each with its source and what was copied.

Two kinds of file:

- "curve": a size sweep (nccl-tests rows) at one or more world sizes. Times are the
  out-of-place column (the average over nccl-tests' iterations: no per-iteration samples, so
  no bootstrap interval); where only busbw was published, t = S c(n) / busbw.
- "plateau": large-message busbw only, per world size, maybe several runs each. Only the
  bandwidth term of the model applies: busbw flat in n (plateau_busbw), checked by holding
  out the largest world size like any other fit.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from scaling.collector.predict.fit_points import PointSet
from scaling.collector.predict.hockney import factor, plateau_busbw
from scaling.collector.predict.holdout import UNVALIDATED, VALIDATED, unvalidated


def load(path: str | Path) -> dict:
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    for key in ("name", "source", "op", "kind", "series"):
        if key not in doc:
            raise ValueError(f"{path}: fixture lacks {key!r}")
    if not doc["source"].get("url") or not doc["source"].get("copied"):
        raise ValueError(f"{path}: a public fixture must name its source url and what was copied")
    return doc


def curve_points(doc: dict) -> list[PointSet]:
    """One PointSet per span of a "curve" fixture."""
    by_span: dict[str, list[tuple[int, float, float]]] = {}
    for s in doc["series"]:
        n = int(s["ranks"])
        for size, t in zip(s["size_bytes"], _times_s(doc["op"], n, s), strict=True):
            by_span.setdefault(s["span"], []).append((n, float(size), t))
    sets = []
    for span, pts in sorted(by_span.items()):
        arr = np.array(pts)
        times = [np.array([t]) for t in arr[:, 2]]
        sets.append(PointSet(doc["op"], doc.get("dtype", "float32"), "nccl-tests", span,
                             n=arr[:, 0], size=arr[:, 1], times=times))  # fmt: skip
    return sets


def _times_s(op: str, n: int, series: dict) -> list[float]:
    if "time_us" in series:
        return [t * 1e-6 for t in series["time_us"]]
    c = float(factor(op, np.array([n]))[0])
    return [
        size * c / (bw * 1e9)
        for size, bw in zip(series["size_bytes"], series["busbw_gbps"], strict=True)
    ]


def plateau_series(doc: dict) -> dict[str, dict[int, list[float]]]:
    """{group label: {ranks: [busbw GB/s of each run]}} of a "plateau" fixture."""
    scale = 1 / 8 if doc.get("unit") == "Gbit/s" else 1.0
    out: dict[str, dict[int, list[float]]] = {}
    for s in doc["series"]:
        group = out.setdefault(s.get("group", "all"), {})
        group[int(s["ranks"])] = [float(v) * scale for v in s["busbw"]]
    return out


def plateau_holdout(busbw_runs: dict[int, list[float]]) -> dict:
    """Predict the largest world size's plateau busbw from the others (flat in n)."""
    ws = sorted(busbw_runs)
    if len(ws) < 2:
        return unvalidated(f"one world size (n={ws[0]}): none left to fit after holding it out")
    held = ws[-1]
    rest = {n: float(np.median(busbw_runs[n])) for n in ws[:-1]}
    predicted = plateau_busbw(rest)
    measured = float(np.median(busbw_runs[held]))
    return {
        "status": VALIDATED,
        "held_out_n": held,
        "fitted_on": ws[:-1],
        "busbw_predicted_gbps": predicted,
        "busbw_measured_gbps": measured,
        # time at the plateau is S c(n) / busbw: its relative error is measured / predicted - 1
        "plateau_error_pct": 100 * abs(measured / predicted - 1),
        "plateau_bias_pct": 100 * (measured / predicted - 1),
    }


__all__ = ["UNVALIDATED", "curve_points", "load", "plateau_holdout", "plateau_series"]
