"""A cluster started the way users start one: `ray start --head`, then `scaling run --address`.

Ray 2.60 turns token authentication on at `ray start --head` and writes the token to
~/.ray/auth_token. The driver must find it with no extra environment, and a wrong or missing
token must be one line and exit 2, quickly, without Ray's retry log on the terminal.
Each test gets its own HOME, so the token files are the test's own.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


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


def stop_session(sid: int) -> None:
    """Stop only this cluster (`ray stop` would stop every Ray on the machine)."""
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        for pid in session_pids(sid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.time() + wait
        while session_pids(sid) and time.time() < deadline:
            time.sleep(0.2)


def clean_env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    return env | {"HOME": str(home), "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="module")
def head(tmp_path_factory, ray_owner):
    """`ray start --head --port P` in its own process session, with a fresh HOME.

    `ray start --head` turns authentication on when a token exists, which it does on any
    machine where a local Ray (a `scaling run`, a notebook) ran before: make one the way
    Ray's docs say, `ray get-auth-token --generate`.
    """
    home = tmp_path_factory.mktemp("home")
    port = free_port()
    ray_bin = str(Path(sys.executable).with_name("ray"))
    subprocess.run(
        [ray_bin, "get-auth-token", "--generate"],
        env=clean_env(home),
        capture_output=True,
        check=True,
        timeout=60,
    )
    held = ray_owner.hold("ray-start")  # the head's processes are this fixture's
    p = subprocess.Popen(
        [ray_bin, "start", "--head", "--port", str(port), "--num-cpus", "2"],
        env=clean_env(home) | held,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    out, _ = p.communicate(timeout=120)
    try:
        assert p.returncode == 0, out[-2000:]
        token = home / ".ray" / "auth_token"
        assert token.is_file(), "ray start --head wrote no token: token auth is off in this Ray?"
        host = socket.gethostbyname(socket.gethostname())
        yield {"address": f"{host}:{port}", "home": home, "token": token}
    finally:
        stop_session(p.pid)
        ray_owner.drop(held)


def scaling(args: list[str], env: dict, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "scaling", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_plain_ray_start_cluster_just_works(head, tmp_path):
    out = tmp_path / "run"
    r = scaling(
        ["run", "--address", head["address"], "--gpus", "1,2", "--workloads", "collectives",
         "-e", "64K", "-n", "3", "-r", "1", "--out", str(out), "--json"],
        clean_env(head["home"]),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    assert "InvalidAuthToken" not in r.stderr
    notices = [x for x in r.stderr.splitlines() if "token authentication" in x]
    assert len(notices) == 1 and str(head["token"]) in notices[0], r.stderr
    result = json.loads(r.stdout)
    assert result["status"] == "ok"
    assert {row["world_size"] for row in result["summary"]} == {1, 2}


@pytest.mark.parametrize("case", ["wrong token", "no token", "auth disabled"])
def test_rejected_driver_is_one_line_exit_2_fast(head, tmp_path, case):
    env = clean_env(tmp_path)  # a HOME without the cluster's token file
    if case == "wrong token":
        env["RAY_AUTH_TOKEN"] = "0" * 32
    elif case == "auth disabled":
        env["RAY_AUTH_MODE"] = "disabled"
    t0 = time.monotonic()
    r = scaling(
        ["run", "--address", head["address"], "--gpus", "1,2", "--out", str(tmp_path / "r")],
        env,
        timeout=60,
    )
    took = time.monotonic() - t0
    assert r.returncode == 2, r.stderr[-2000:]
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr[-2000:]
    assert "RAY_AUTH_TOKEN" in lines[0]
    if case == "auth disabled":
        assert "RAY_AUTH_MODE=disabled" in lines[0]
    # Fast: no ray.init retry loop (20 s, a log line a second); the refusal costs a Python
    # start, ray's import and one GCS request. Past 15 s the same import is timed right after
    # (side by side, so a loaded host slows both) and the refusal may take 15 s more than it:
    # a retry loop, import + 20 s, is over that line at any load.
    assert took < 15 or took < 15 + import_seconds(env), f"took {took:.1f} s"
    assert not (tmp_path / "r").exists()


def import_seconds(env: dict) -> float:
    """A Python start and the imports of the refusal's path, timed now."""
    t0 = time.monotonic()
    cmd = [sys.executable, "-c", "import ray, scaling.cli, scaling.cluster.connect"]
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)
    return time.monotonic() - t0
