"""A run that fails or is interrupted keeps what it measured and says why."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from scaling import sweep
from scaling.config import load_config
from scaling.rundir import RunDir
from scaling.workloads import collectives

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


def test_failure_mid_run_marks_manifest_and_keeps_samples(ray_local, tmp_path, monkeypatch):
    cfg = load_config(
        overrides={"gpus": "1,2", "collectives.max_bytes": "4K", "collectives.iters": "2"}
    )
    real_plan = collectives.WORKLOAD.plan

    def plan_with_a_bad_point(c, n):
        points = real_plan(c, n)
        # a point the ranks cannot run: the rank raises, the sweep must stop cleanly
        return points if n == 1 else points[:1] + [dict(points[0], op="no_such_op")]

    monkeypatch.setattr(collectives.WORKLOAD, "plan", plan_with_a_bad_point)
    prep = sweep.prepare(cfg)
    rundir = RunDir(tmp_path / "r")
    try:
        status = sweep.run(cfg, prep, rundir)
    finally:
        prep.gang.shutdown()
        rundir.close()
    assert status == "failed"
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert (
        manifest["status"] == "failed" and "no_such_op" in manifest["error"] and manifest["ended"]
    )
    lines = (tmp_path / "r" / "samples.jsonl").read_text().splitlines()
    sizes = {
        (json.loads(x)["world_size"], json.loads(x)["size_bytes"]) for x in lines if '"coll"' in x
    }
    # world size 1's whole sweep and world size 2's first point were measured and kept
    assert (1, 1024) in sizes and (1, 4096) in sizes and (2, 1024) in sizes


def test_ctrl_c_marks_interrupted_exit_130_and_keeps_samples(tmp_path):
    out = tmp_path / "int"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scaling",
            "run",
            "--gpus",
            "1,2",
            "-b",
            "1K",
            "-e",
            "16M",
            "-n",
            "30",
            "--repeats",
            "1",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    samples = out / "samples.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not samples.exists() or samples.stat().st_size < 20000):
        time.sleep(0.2)
    assert p.poll() is None, "run ended before it could be interrupted"
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted" and manifest["ended"]
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) > 0 and (summary["wrong"] == 0).all()
