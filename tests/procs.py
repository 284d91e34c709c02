"""Running `scaling` as a user does, in a subprocess, and hurting it the way real faults do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def scaling_env(**extra: str) -> dict[str, str]:
    """This environment minus any Ray address (each run starts its own local Ray)."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    return env | {"PYTHONPATH": str(ROOT)} | extra


def start_run(args: list[str], log: Path, command: str = "run", **env: str) -> subprocess.Popen:
    """`python -m scaling COMMAND ARGS` with stdout and stderr going to `log`."""
    return subprocess.Popen(
        [sys.executable, "-m", "scaling", command, *args],
        cwd=ROOT,
        env=scaling_env(**env),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(log: Path, needle: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    """Until `needle` appears in the log (the run reached that stage)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if needle in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            raise AssertionError(f"run ended before {needle!r}:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"no {needle!r} within {timeout} s:\n{log.read_text()[-3000:]}")


def reached(log: Path, needle: str, proc: subprocess.Popen, timeout: float = 180) -> bool:
    """`wait_for`, but False when the run ended first because its ranks did not start within
    --timeout: --timeout bounds the ranks' start too, which a loaded host can hold past a
    short one. A test of what happens after the start then runs again with a longer one."""
    try:
        wait_for(log, needle, proc, timeout)
    except AssertionError:
        if proc.poll() is None or "could not start the ranks" not in log.read_text():
            raise
        return False
    return True


def rank_pid(run_dir: Path, rank: int) -> int:
    """A rank's process id, from the manifest the run wrote when it started measuring."""
    return json.loads((run_dir / "manifest.json").read_text())["ranks"][rank]["pid"]


def manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text())


def pids_matching(text: str) -> list[str]:
    out = subprocess.run(["pgrep", "-f", text], capture_output=True, text=True).stdout
    return out.split()


def session_pids(sid: int) -> list[int]:
    """Live processes of one process session (what `ray start` left running in it)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(stat.parent.name))
    return pids
