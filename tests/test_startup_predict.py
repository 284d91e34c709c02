"""predict's start-up law (collector/predict/startup_law.py) on start-up tables of known shape."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from scaling.collector.predict.startup_law import lines, predict_startup


def table(ns, init, first=None, setup=None) -> pd.DataFrame:
    rows = [
        {"world_size": n, "group": "world", "init_s": i, "first_collective_s": f, "setup_s": s}
        for n, i, f, s in zip(ns, init, first or init, setup or init, strict=True)
    ]
    return pd.DataFrame(rows + [{"world_size": 2, "group": "intra", "init_s": 99.0,
                                  "first_collective_s": 99.0, "setup_s": 99.0}])  # fmt: skip


def test_linear_growth_is_found_held_out_and_extrapolated():
    ns = [2, 4, 8, 16]
    doc = predict_startup(table(ns, [0.5 + 0.01 * n for n in ns]), [1024])
    e = doc["phases"]["init_s"]
    assert doc["label"] == "estimate" and e["law"] == "linear" and e["held_out_n"] == 16
    assert e["holdout_error_pct"] == pytest.approx(0, abs=1e-6)
    assert e["predictions"][0]["seconds"] == pytest.approx(0.5 + 0.01 * 1024)
    assert "intra" not in str(doc["measured"])  # the world group's figures only


def test_log_growth_picks_the_log_law():
    ns = [2, 4, 8, 16]
    doc = predict_startup(table(ns, [1 + 0.2 * math.log2(n) for n in ns]), [1024])
    assert doc["phases"]["init_s"]["law"] == "log"
    assert doc["phases"]["init_s"]["predictions"][0]["seconds"] == pytest.approx(3.0)


def test_too_few_world_sizes_or_no_growth_give_no_figure():
    doc = predict_startup(table([1, 2], [0.1, 0.2]), [1024])
    assert doc["phases"] == {} and "needs 3" in doc["reason"]
    assert lines(doc) == [f"communicator start-up: n/a ({doc['reason']})"]
    shrinking = predict_startup(table([2, 4, 8], [0.3, 0.2, 0.1]), [1024])["phases"]["init_s"]
    assert "predictions" not in shrinking and "not extrapolated" in shrinking["reason"]
