"""What a script and a later run can trust after a run that went wrong: `--json` prints one
document on stdout in every outcome, and a run that recorded nothing says how to reuse its
--out. (An interrupted tune's partial tune.json: tests/test_tune_faults.py.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from scaling.cli import main
from scaling.rundir import RunDir
from tests.procs import ROOT, manifest, rank_pid, scaling_env
from tests.test_faults import small_disk  # noqa: F401 (a fixture: a 640 KiB tmpfs)


def test_a_run_that_recorded_nothing_is_refused_with_how_to_reuse_it(tmp_path):
    out = tmp_path / "run"
    rundir = RunDir(out)  # what a start that failed before its first sample leaves
    rundir.write_manifest(status="failed", error="no space left on device writing samples.jsonl")
    rundir.close()
    r = CliRunner().invoke(main, ["run", "--gpus", "1", "--out", str(out)])
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "recorded no sample" in lines[0], r.stderr
    assert "no space left on device" in lines[0] and f"rm -r {out}" in lines[0]
    (out / "samples.jsonl").write_text('{"type": "coll"}\n')  # a run with samples: kept safe
    r = CliRunner().invoke(main, ["run", "--gpus", "1", "--out", str(out)])
    assert r.exit_code == 2 and "already holds an earlier run" in r.stderr


@pytest.mark.slow
def test_a_disk_too_full_for_the_first_files_leaves_no_directory(tmp_path, small_disk):  # noqa: F811
    (small_disk / "filler").write_bytes(b"\0" * (500 << 10))  # less room than the reserve
    out = small_disk / "run"
    args = ["--gpus", "1", "--workloads", "collectives", "-e", "4K", "-n", "2", "-r", "1"]
    r = subprocess.run([sys.executable, "-m", "scaling", "run", *args, "--out", str(out)],
                       cwd=ROOT, env=scaling_env(), capture_output=True, text=True,
                       timeout=300)  # fmt: skip
    assert r.returncode == 2, r.stderr[-2000:]
    assert "no space left on device" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()  # nothing blocks the same --out once there is room


def test_json_refusal_is_one_document(tmp_path):
    r = CliRunner().invoke(main, ["run", "--json", "--gpus", "1", "--timeout", "inf"])
    assert r.exit_code == 2
    doc = json.loads(r.stdout)
    assert doc["status"] == "refused" and "finite" in doc["error"]


# `scaling run --json` after a killed rank: test_faults.py's
# test_killed_rank_is_named_in_one_line_and_json_stdout_parses (one run serves both checks).


def test_validate_json_refusal_is_one_document(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[validate]\ngroup_op = "bogus"\n')
    r = CliRunner().invoke(main, ["validate", "--json", "--config", str(bad)])
    assert r.exit_code == 2
    doc = json.loads(r.stdout)
    assert doc["status"] == "refused" and "group_op" in doc["error"]


@pytest.mark.slow
def test_validate_json_stdout_parses_after_a_killed_rank(tmp_path):
    out = tmp_path / "run"
    # short checks (as test_validate_stopped.py): the subject is stdout after the kill
    (tmp_path / "tiny.toml").write_text("[validate]\ncheck_seconds = 1.0\ngemm_size = 256\n")
    args = ["--gpus", "2", "--level", "quick", "--config", str(tmp_path / "tiny.toml"),
            "--out", str(out), "--json"]  # fmt: skip
    with (tmp_path / "out").open("w") as stdout, (tmp_path / "err").open("w") as stderr:
        p = subprocess.Popen([sys.executable, "-m", "scaling", "validate", *args], cwd=ROOT,
                             env=scaling_env(), stdout=stdout, stderr=stderr)  # fmt: skip
        deadline = time.time() + 180
        while not (out / "manifest.json").exists() or not manifest(out).get("ranks"):
            assert p.poll() is None and time.time() < deadline, (tmp_path / "err").read_text()
            time.sleep(0.2)
        os.kill(rank_pid(out, 1), signal.SIGKILL)
        assert p.wait(timeout=240) == 1
    doc = json.loads((tmp_path / "out").read_text())  # the whole of stdout: one document
    assert doc["status"] == "FAIL" and doc["run_dir"] == str(out)
    assert any(v["code"] == "NO_MEASUREMENT" for v in doc["verdicts"])
