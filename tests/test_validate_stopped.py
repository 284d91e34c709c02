"""A rank stopped with SIGSTOP in the middle of `scaling validate`: FAIL for that rank within
the timeout, everything else still measured and reported, exit 1. A real signal on a real
rank of `python -m scaling validate` with its own local Ray, as a user runs it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.procs import ROOT, manifest, reached, scaling_env, wait_for

pytestmark = pytest.mark.slow
TIMEOUT = 5  # the wait after the stop is this test's cost (test_faults.py says why 5)


def test_a_stopped_rank_fails_within_the_timeout_and_the_rest_is_reported(tmp_path):
    (tmp_path / "tiny.toml").write_text(
        '[validate]\ncheck_seconds = 1.0\ngemm_size = 256\ncomm_bytes = "1M"\n'
    )
    for timeout in (TIMEOUT, 20):  # the longer one when load held the start past it
        out, log = tmp_path / f"run{timeout}", tmp_path / f"log{timeout}"
        args = ["--gpus", "2", "--level", "quick", "--config", str(tmp_path / "tiny.toml"),
                "--timeout", str(timeout), "--out", str(out)]  # fmt: skip
        p = subprocess.Popen([sys.executable, "-m", "scaling", "validate", *args], cwd=ROOT,
                             env=scaling_env(), stdout=log.open("w"), stderr=subprocess.STDOUT)  # fmt: skip
        if reached(log, "gemm: running", p):
            break
    else:
        raise AssertionError(f"the ranks did not start within 20 s:\n{log.read_text()[-3000:]}")
    victim = manifest(out)["ranks"][1]["pid"]
    os.kill(victim, signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        # Timed to the live "no result:" line (the declaration), not to the exit: the checks
        # after it, the report and Ray's shutdown run at the host's pace, not the timeout's.
        wait_for(log, "no result:", p, timeout=timeout + 120)
        took = time.monotonic() - stopped
        assert p.wait(timeout=timeout + 120) == 1, log.read_text()[-3000:]
    finally:
        for s in (signal.SIGCONT, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, s)
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
    # declared after the check's limit (timeout + its 1 s + the 1 s start) and a 5 s heartbeat
    assert took <= timeout + 2 + 5 + 25, f"declared {took:.0f} s after the stop"
    line = next(x for x in text.splitlines() if "no result:" in x)
    assert f"rank 1 (pid {victim}" in line and "does not answer (stopped, or hung)" in line
    doc = json.loads((out / "validate.json").read_text())
    mine = [v for v in doc["verdicts"] if v["gpu"] == 1 and v["check"] in ("gemm", "membw", "sdc")]
    assert {v["check"] for v in mine} == {"gemm", "membw", "sdc"}
    assert all(v["code"] == "NO_MEASUREMENT" and f"pid {victim}" in v["evidence"] for v in mine)
    rank0 = {v["check"]: v for v in doc["verdicts"] if v["gpu"] == 0}
    assert rank0["gemm"]["verdict"] == "PASS" and rank0["gemm"]["value"] > 0
    assert rank0["membw"]["verdict"] == "PASS" and rank0["sdc"]["code"] == "SDC_NOT_COMPARED"
    node = next(v for v in doc["verdicts"] if v["check"] == "allreduce")
    assert node["code"] == "NO_MEASUREMENT" and "needs all the node's ranks" in node["evidence"]
    assert doc["exit_code"] == 1 and (out / "validate.junit.xml").exists()
    assert manifest(out)["status"] == "ok"  # the validation itself ran to its end
