"""Predict beyond what was measured: collective and training-step models fitted to a run.

Pure numpy/pandas (no torch, no ray), so it reruns on any old run directory.

- hockney.py     alpha-beta model of one collective: change-point in S, ring/tree alpha(n)
- points.py      the measured points (per-iteration times) and their bootstrap
- step.py        step(n) = compute + exposed communication (DDP buckets through the model)
- holdout.py     hold out the largest world size, predict it, report the error
- whatif.py      --what-if KEY=VALUE: one term replaced
- prediction.py  predict_run(): the predict.json document
"""

from scaling.collector.predict.prediction import (
    PREDICT_JSON,
    NothingToFit,
    predict_run,
    write_prediction,
)
from scaling.collector.predict.whatif import parse_what_if

__all__ = ["PREDICT_JSON", "NothingToFit", "parse_what_if", "predict_run", "write_prediction"]
