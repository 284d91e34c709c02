"""Honest error: hold out the largest measured world size, fit the rest, predict it, compare.

Every fit is checked this way. The whole procedure is rerun on what is left (law, change-point
and all), so the error is the error of an extrapolation the tool would really have made.
Too few world sizes to hold one out gives status "unvalidated" with the reason; a prediction
then carries no measured error at all, and says so.

Errors are relative to the measurement: (predicted - measured) / measured. The collective
error that matters for scaling is at the large-message plateau: the sizes whose measured
busbw is within 10% of the largest busbw measured at the held-out world size.
"""

from __future__ import annotations

import numpy as np

from scaling.collector.predict.fit_points import PointSet, all_reduce_sets
from scaling.collector.predict.hockney import factor
from scaling.collector.predict.step import Layout, TrainingCurve, build_step_model

PLATEAU_SHARE = 0.9
UNVALIDATED = "unvalidated"
VALIDATED = "validated"


def unvalidated(reason: str) -> dict:
    return {"status": UNVALIDATED, "reason": reason}


def collective_holdout(ps: PointSet) -> dict:
    ws = ps.world_sizes
    if len(ws) < 2:
        return unvalidated(
            f"one world size (n={ws[0]}) measured {ps.span}: none left to fit after holding it out"
        )
    held = ws[-1]
    fit = ps.without(held).fit()
    sizes, measured = ps.at(held)
    predicted = fit.time(sizes, held)
    return {
        "status": VALIDATED,
        "held_out_n": held,
        "fitted_on": fit.world_sizes,
        **error_summary(ps.op, held, sizes, measured, predicted),
    }


def error_summary(op: str, n: int, sizes, measured, predicted) -> dict:
    """Plateau and all-size errors (percent) of predicted vs measured times at one n."""
    sizes, measured, predicted = (np.asarray(v, dtype=float) for v in (sizes, measured, predicted))
    err = (predicted - measured) / measured
    busbw = sizes * factor(op, np.full(sizes.shape, n)) / measured
    plateau = busbw >= PLATEAU_SHARE * busbw.max()
    return {
        "plateau_error_pct": 100 * float(np.median(np.abs(err[plateau]))),
        "plateau_bias_pct": 100 * float(np.median(err[plateau])),
        "plateau_sizes_bytes": [float(sizes[plateau].min()), float(sizes[plateau].max())],
        "all_sizes_median_error_pct": 100 * float(np.median(np.abs(err))),
        "all_sizes_max_error_pct": 100 * float(np.max(np.abs(err))),
        "sizes": len(sizes),
    }


def step_holdout(curve: TrainingCurve, sets: list[PointSet], layout: Layout) -> dict:
    """Hold out the curve's largest world size, and every collective point at that size."""
    ws = curve.world_sizes
    if len(ws) < 2:
        return unvalidated(f"one training world size (n={ws[0]}): none left to fit")
    held = ws[-1]
    rest = [s.without(held) for s in sets]
    fits = {span: s.fit() for span, s in all_reduce_sets([s for s in rest if len(s.times)]).items()}
    model = build_step_model(curve.without(held), fits, layout)
    span = layout.span(held)
    if model is None or span not in fits:
        where = "its" if model is not None else "the remaining reference size's"
        return unvalidated(
            f"holding out n={held} leaves no all_reduce measurement in {where} span ({span})"
        )
    predicted = model.predict(np.array([held]))
    measured = float(np.median(curve.ddp_steps[held]))
    step = float(predicted["step_s"][0])
    out = {
        "status": VALIDATED,
        "held_out_n": held,
        "fitted_on": curve.without(held).world_sizes,
        "step_predicted_s": step,
        "step_measured_s": measured,
        "step_error_pct": 100 * (step - measured) / measured,
    }
    t_ddp, _ = curve.medians()
    if 1 in t_ddp and held != 1:
        base = t_ddp[1]
        eff_measured = base / measured if curve.scaling != "strong" else base / (held * measured)
        out["efficiency_predicted"] = float(predicted["efficiency"][0])
        out["efficiency_measured"] = eff_measured
    return out
