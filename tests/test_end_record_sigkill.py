"""A driver killed outright (SIGKILL, the OOM killer) while it stops the ranks still leaves a
true record: measuring had ended, so the manifest says how it ended, not "running".

`scaling run` writes the end of the run twice: sweep.run records it as soon as measuring
ends, and the session again once the ranks and Ray are stopped. The first copy is what this
test holds: the driver is stalled at the session's shutdown (the test hook SCALING_TEST_STALL,
scaling/interrupts.py) and killed there, before the session's own write.

    python -m pytest tests/test_end_record_sigkill.py -q
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from tests.procs import ROOT, manifest, scaling_env, session_pids, wait_for
from tests.ray_procs import kill_family

pytestmark = pytest.mark.slow
ARGS = ["--gpus", "1,2", "--workloads", "collectives", "-b", "1K", "-e", "4K", "-f", "4",
        "-n", "3", "-w", "1", "-r", "1"]  # fmt: skip


def test_sigkill_while_the_ranks_are_stopped_leaves_the_end_of_the_run_recorded(tmp_path):
    out, log = tmp_path / "run", tmp_path / "log"
    p = subprocess.Popen(
        [sys.executable, "-m", "scaling", "run", *ARGS, "--out", str(out)],
        cwd=ROOT,
        env=scaling_env(SCALING_TEST_STALL="shutdown"),
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
        start_new_session=True,  # every Ray process it starts shares its session: found below
    )
    try:
        wait_for(log, "SCALING_TEST_STALL: stalled at shutdown", p)
        p.send_signal(signal.SIGKILL)
        assert p.wait(timeout=30) == -signal.SIGKILL
    finally:
        p.kill()  # a no-op once it is dead
        kill_family(session_pids(p.pid))  # the local Ray it started has no driver to stop it
        deadline = time.time() + 15
        while session_pids(p.pid) and time.time() < deadline:
            time.sleep(0.2)
    assert session_pids(p.pid) == []
    m = manifest(out)
    # measuring had ended: the record says ok, when, and no error; the samples are whole
    assert (m["status"], m["error"]) == ("ok", None) and m["ended"] >= m["started"], m
    samples = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    sizes = {(r["world_size"], r["size_bytes"]) for r in samples if r["type"] == "check"}
    assert sizes == {(n, s) for n in (1, 2) for s in (1024, 4096)}
    assert not (out / "summary.csv").exists()  # killed before the tables: the kill was in time
