"""A driver killed outright (SIGKILL, the OOM killer) while it stops the ranks still leaves a
true record: measuring had ended, so the manifest says how it ended, not "running".

The measuring session (scaling/session.py) records the end before it stops the ranks and
Ray, for run, validate and tune alike. `scaling validate` is the command here because
`run`'s sweep.run writes the same record itself as it returns (tests/test_run_lifecycle.py
reads it), which would hide a session that did not: the driver is stalled at the session's
shutdown (the test hook SCALING_TEST_STALL, scaling/interrupts.py) and killed there.

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
TINY = '[validate]\ncheck_seconds = 0.5\ngemm_size = 128\ncomm_bytes = "64K"\n'


def test_sigkill_while_the_ranks_are_stopped_leaves_the_end_of_the_run_recorded(tmp_path):
    out, log = tmp_path / "run", tmp_path / "log"
    (tmp_path / "tiny.toml").write_text(TINY)
    args = ["--gpus", "2", "--level", "quick", "--config", str(tmp_path / "tiny.toml")]
    p = subprocess.Popen(
        [sys.executable, "-m", "scaling", "validate", *args, "--out", str(out)],
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
    assert m["kind"] == "validate"
    samples = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    assert {r["rank"] for r in samples if "rank" in r} == {0, 1}
    assert not (out / "validate.json").exists()  # killed before the verdicts: in time
