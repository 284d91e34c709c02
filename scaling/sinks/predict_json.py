"""predict.json: what `scaling predict` leaves in the run directory it predicted from.

    path = write_prediction(run_dir, doc)   # doc: scaling.collector.predict.predict_run's

Written whole or not at all (scaling.rundir.write_atomic); NaN and infinities become null.
"""

from __future__ import annotations

import json
from pathlib import Path

from scaling.collector.predict.prediction import PREDICT_JSON
from scaling.format import json_safe
from scaling.rundir import write_atomic


def write_prediction(run_dir, doc: dict) -> Path:
    """Write predict.json into the run directory; returns its path."""
    text = json.dumps(json_safe(doc), indent=1, allow_nan=False) + "\n"
    return write_atomic(Path(run_dir) / PREDICT_JSON, text)
