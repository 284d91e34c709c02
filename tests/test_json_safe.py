"""One json_safe for every JSON the tool writes (--json, predict.json, the headline): what
JSON cannot hold becomes null, "unknown", never a number and never a crash at dump time."""

from __future__ import annotations

import json
import math

import numpy as np

from scaling.format import json_safe


def test_nan_and_infinities_become_null_and_numpy_becomes_python():
    doc = {"a": math.nan, "b": [math.inf, -math.inf, np.float64("nan")], 2: np.int64(7),
           "c": (np.float32(1.5), "x")}  # fmt: skip
    safe = json_safe(doc)
    assert safe == {"a": None, "b": [None, None, None], "2": 7, "c": [1.5, "x"]}
    assert type(safe["2"]) is int and type(safe["c"][0]) is float
    assert json.loads(json.dumps(safe, allow_nan=False)) == safe
