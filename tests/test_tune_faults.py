"""`scaling tune` under real faults, run as a user runs it (a subprocess): a signal ends it
as interrupted with every trial kept; a rank killed mid-search fails that candidate alone,
named in one line, and the search goes on on a new gang."""

from __future__ import annotations

import json
import os
import signal
import time

import pandas as pd
import pytest

from tests.procs import manifest, start_run, wait_for

pytestmark = pytest.mark.slow
SPACE = """
[tune]
dimensions = ["batch", "bucket_cap_mb"]
batches = [4, 8]
bucket_cap_mb = [1, 25]
full_rounds = 5
full_steps = 2
"""


def start_tune(tmp_path, log):
    cfg = tmp_path / "space.toml"
    cfg.write_text(SPACE)
    args = ["--workload", "transformer", "--gpus", "2", "--config", str(cfg), "--budget", "5m",
            "--out", str(tmp_path / "t")]  # fmt: skip
    return start_run(args, log, command="tune")


def test_sigterm_ends_the_tune_interrupted_with_every_trial_kept(tmp_path):
    log = tmp_path / "log"
    p = start_tune(tmp_path, log)
    wait_for(log, "trying rung 0: b4", p)  # the baseline's trial is done, the second runs
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=120) == 143
    text = log.read_text()
    assert "Traceback" not in text and "terminated by SIGTERM" in text
    out = tmp_path / "t"
    m = manifest(out)
    assert m["kind"] == "tune" and m["status"] == "interrupted" and m["ended"]
    samples = pd.read_json(out / "samples.jsonl", lines=True)
    assert "b8-fp32-ddp-bk25" in set(samples["candidate"].dropna())  # the baseline's trial
    # The trials that finished are ranked in a partial tune.json; nothing is decided from them.
    doc = json.loads((out / "tune.json").read_text())
    assert doc["partial"] == "terminated by SIGTERM" and doc["winner"] is None
    ranked = {r["id"]: r for r in doc["ranking"]}
    assert ranked["b8-fp32-ddp-bk25"]["status"] == "measured"
    assert ranked["b8-fp32-ddp-bk25"]["throughput"] > 0
    assert not (out / "best.toml").exists()
    assert "PARTIAL tune (terminated by SIGTERM)" in text
    report = (out / "report.md").read_text()
    assert "PARTIAL TUNE" in report and "b8-fp32-ddp-bk25" in report


def test_a_killed_rank_fails_one_candidate_and_the_search_goes_on(tmp_path):
    log = tmp_path / "log"
    p = start_tune(tmp_path, log)
    wait_for(log, "trying rung 0: b4", p)
    victim = manifest(tmp_path / "t")["ranks"][1]["pid"]
    time.sleep(0.3)
    os.kill(victim, signal.SIGKILL)
    assert p.wait(timeout=300) == 0, log.read_text()[-3000:]
    text = log.read_text()
    assert "Traceback" not in text
    doc = json.loads((tmp_path / "t" / "tune.json").read_text())
    failed = [c for c in doc["candidates"] if c["status"] == "failed"]
    assert len(failed) == 1, doc["candidates"]
    assert f"pid {victim}" in failed[0]["reason"] and "died" in failed[0]["reason"]
    assert doc["winner"]["id"] != failed[0]["id"] and doc["winner"]["confirm"]
