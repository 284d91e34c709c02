"""Predict beyond what was measured: collective and training-step models fitted to a run.

Pure numpy/pandas (no torch, no ray), so it reruns on any old run directory.

- hockney.py     alpha-beta model of one collective: change-point in S, ring/tree alpha(n)
- fit_points.py  the measured points (per-iteration times) and their bootstrap
- step.py        step(n) = compute + exposed communication (DDP buckets through the model)
- holdout.py     hold out the largest world size, predict it, report the error
- whatif.py      --what-if KEY=VALUE: one term replaced
- collective_prediction.py  the collectives part: fits per span, times and busbw at n
- prediction.py  predict_run(): the predict.json document (and its training part)
"""

import importlib

# Loaded on first use: `scaling predict --help` reads only whatif.py (no pandas, no numpy).
_LAZY = {
    "PREDICT_JSON": "prediction",
    "NothingToFit": "prediction",
    "predict_run": "prediction",
    "parse_what_if": "whatif",
}
__all__ = list(_LAZY)


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
