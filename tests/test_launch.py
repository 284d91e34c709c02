"""The launch recipes in launch/: the KubeRay manifest's structure, the shell scripts' syntax
(bash -n, shellcheck), and a real multi-node Ray cluster on this machine, started and
stopped by launch/local/.

    python -m pytest tests/test_launch.py -q
    python -m pytest tests/test_launch.py -q -m "not slow"    # without starting Ray
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
LAUNCH = ROOT / "launch"
SCRIPTS = sorted([*LAUNCH.rglob("*.sh"), *LAUNCH.rglob("*.sbatch")])
RAYJOB = LAUNCH / "kubernetes" / "rayjob.yaml"


def _rayjob() -> dict:
    docs = [doc for doc in yaml.safe_load_all(RAYJOB.read_text()) if doc is not None]
    assert len(docs) == 1, f"{RAYJOB.name} should hold exactly one document"
    return docs[0]


def _pod_specs(job: dict) -> dict[str, dict]:
    """Pod spec of the head and of each worker group, by group name."""
    cluster = job["spec"]["rayClusterSpec"]
    specs = {"head": cluster["headGroupSpec"]["template"]["spec"]}
    for group in cluster["workerGroupSpecs"]:
        specs[group["groupName"]] = group["template"]["spec"]
    return specs


def _option(argv: list[str], name: str) -> str | None:
    """The value of `name VALUE` or `name=VALUE` in argv."""
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def test_rayjob_is_a_kuberay_rayjob_with_a_cluster():
    job = _rayjob()
    assert job["apiVersion"] == "ray.io/v1"
    assert job["kind"] == "RayJob"
    assert job["metadata"]["name"]
    cluster = job["spec"]["rayClusterSpec"]
    assert cluster["headGroupSpec"]["rayStartParams"] is not None
    assert cluster["workerGroupSpecs"], "no worker group"
    # A failed check must fail the job, not rerun the benchmark.
    assert job["spec"]["submitterConfig"]["backoffLimit"] == 0


def test_rayjob_entrypoint_runs_scaling_against_its_cluster():
    argv = shlex.split(_rayjob()["spec"]["entrypoint"])
    assert argv[:2] == ["scaling", "run"]
    assert _option(argv, "--address") == "auto"
    assert _option(argv, "--gpus")


def test_rayjob_workers_request_the_gpus_the_run_needs():
    job = _rayjob()
    argv = shlex.split(job["spec"]["entrypoint"])
    total = 0
    for group in job["spec"]["rayClusterSpec"]["workerGroupSpecs"]:
        (container,) = group["template"]["spec"]["containers"]
        resources = container["resources"]
        gpus = int(resources["limits"]["nvidia.com/gpu"])
        assert gpus > 0, f"worker group {group['groupName']} has no GPUs"
        # Extended resources need requests == limits.
        assert int(resources["requests"]["nvidia.com/gpu"]) == gpus
        assert group["replicas"] == group["minReplicas"] == group["maxReplicas"]
        per_node = _option(argv, "--gpus-per-node")
        assert per_node is None or int(per_node) == gpus
        total += group["replicas"] * gpus
    largest = max(int(n) for n in _option(argv, "--gpus").split(","))
    assert largest <= total, f"--gpus asks for {largest} GPUs, the workers offer {total}"


def test_rayjob_pods_mount_a_memory_backed_dev_shm():
    for group, spec in _pod_specs(_rayjob()).items():
        shm = {
            volume["name"]
            for volume in spec["volumes"]
            if volume.get("emptyDir", {}).get("medium") == "Memory"
        }
        for container in spec["containers"]:
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            assert mounts.get("/dev/shm") in shm, f"{group}: /dev/shm is not a Memory emptyDir"


def test_rayjob_runs_one_image_everywhere():
    images = {c["image"] for spec in _pod_specs(_rayjob()).values() for c in spec["containers"]}
    assert len(images) == 1, images


def test_launch_has_the_three_recipes():
    names = {p.relative_to(LAUNCH).as_posix() for p in SCRIPTS}
    assert {
        "slurm/scaling.sbatch",
        "local/start_cluster.sh",
        "local/stop_cluster.sh",
    } <= names


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_script_parses_with_bash_n(script):
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(
    shutil.which("shellcheck") is None,
    reason="shellcheck is not installed (apt-get install -y shellcheck); CI installs it",
)
def test_scripts_pass_the_ci_checks():
    result = subprocess.run(
        [str(ROOT / ".ci" / "launch-checks.sh")], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


# A driver in its own process, as a user's `scaling run` would be: the alive nodes, and a
# task pinned to each of them to show its raylet really runs work.
_DRIVER = """
import json, ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
ray.init(log_to_driver=False)  # RAY_ADDRESS from the printed exports
alive = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
@ray.remote(num_cpus=1)
def node_id():
    return ray.get_runtime_context().get_node_id()
pinned = [node_id.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n, soft=False)).remote()
          for n in alive]
print(json.dumps({"alive": alive, "ran_on": ray.get(pinned, timeout=60)}))
"""


def _session_members(sids: set[int]) -> list[int]:
    """Live (non-zombie) processes in the given sessions."""
    members = []
    for pid in psutil.pids():
        try:
            if os.getsid(pid) in sids and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                members.append(pid)
        except (OSError, psutil.Error):
            continue
    return members


@pytest.mark.slow
def test_local_cluster_runs_three_nodes_and_stops_cleanly():
    env = dict(os.environ)
    # The scripts call `ray` and `python3`: this interpreter's environment's.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for name in ("RAY_ADDRESS", "SCALING_LOCAL_PORT", "SCALING_LOCAL_WORKERS"):
        env.pop(name, None)
    start = str(LAUNCH / "local" / "start_cluster.sh")
    stop = str(LAUNCH / "local" / "stop_cluster.sh")

    # Another cluster may hold a port we pick: a failed start cleans up after itself, so
    # just try elsewhere.
    for _ in range(3):
        port = random.randrange(20000, 40000, 10)
        started = subprocess.run(
            [start, "--workers", "2", "--cpus", "1", "--port", str(port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
        )
        if started.returncode == 0:
            break
    assert started.returncode == 0, started.stdout + started.stderr
    state = Path(f"/tmp/scaling-ray-{os.getuid()}-{port}")
    sids = {int(p.read_text()) for p in (state / "sessions").iterdir()}
    try:
        last = started.stdout.strip().splitlines()[-1]
        assert last.startswith("export RAY_ADDRESS="), started.stdout
        driver_env = dict(env)
        driver_env.update(kv.split("=", 1) for kv in shlex.split(last)[1:])
        assert driver_env["RAY_ADDRESS"].endswith(f":{port}")

        driver = subprocess.run(
            [sys.executable, "-c", _DRIVER],
            env=driver_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert driver.returncode == 0, driver.stderr
        seen = json.loads(driver.stdout.strip().splitlines()[-1])
        assert len(seen["alive"]) == 3, seen
        assert sorted(seen["ran_on"]) == sorted(seen["alive"])
    finally:
        stopped = subprocess.run(
            [stop, "--port", str(port)], env=env, capture_output=True, text=True, timeout=60
        )
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert _session_members(sids) == [], "stop_cluster.sh left processes behind"
    assert not state.exists()


# Stand-ins for SLURM and Ray, to run scaling.sbatch's control flow on one machine. srun runs
# its command here (dropping its own options), so a SIGTERM to "srun" reaches the step as
# srun's forwarding would; `ray start --head --block` listens on the port the script waits
# for; the readiness check (python3 -) answers at once; scaling exits with a chosen code.
_FAKES = {
    "srun": """#!/bin/bash
echo "srun $*" >> "$FAKE_LOG"
while [[ $1 == --* ]]; do shift; done
exec "$@"
""",
    "ray": """#!/bin/bash
echo "ray $*" >> "$FAKE_LOG"
case $1 in
start) if [[ " $* " == *" --head "* ]]; then
		exec "$REAL_PYTHON" -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(600)' "$SCALING_RAY_PORT"
	fi
	exec sleep 600 ;;
stop) exit 0 ;;
esac
""",
    "python3": """#!/bin/bash
if [[ $1 == - ]]; then cat >/dev/null; echo "Ray cluster ready"; exit 0; fi
exec "$REAL_PYTHON" "$@"
""",
    "scaling": """#!/bin/bash
echo "scaling $*" >> "$FAKE_LOG"
exit "$FAKE_SCALING_RC"
""",
}


@pytest.mark.skipif(sys.platform != "linux", reason="the fakes use bash and /dev/tcp")
def test_sbatch_stops_its_ray_steps_cleanly(tmp_path):
    """The job ends with `ray stop` on the nodes and its Ray steps exiting 0: no step is left to
    SLURM's SIGKILL (`srun: error: task 0: Killed`), and the job exits with scaling's code."""
    from tests.test_ray_start import free_port

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in _FAKES.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    log = tmp_path / "log"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "REAL_PYTHON": sys.executable,
        "FAKE_LOG": str(log),
        "FAKE_SCALING_RC": "3",
        "SLURM_JOB_NUM_NODES": "2",
        "SLURM_JOB_ID": "4242",
        "SLURMD_NODENAME": "node0",
        "SCALING_HEAD_IP": "127.0.0.1",
        "SCALING_RAY_PORT": str(free_port()),
        "SCALING_RAY_WAIT_S": "30",
    }
    env.pop("SCALING_VENV", None)
    proc = subprocess.Popen(
        ["bash", str(LAUNCH / "slurm" / "scaling.sbatch"), "--gpus", "1,2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        out, _ = proc.communicate(timeout=60)
    finally:
        leftover = _session_members({proc.pid})
        for pid in leftover:
            with contextlib.suppress(OSError):
                os.kill(pid, 9)
    calls = log.read_text()
    assert proc.returncode == 3, out  # scaling's exit code
    assert "scaling run --address 127.0.0.1:" in calls and "--gpus 1,2" in calls
    starts = [line for line in calls.splitlines() if line.startswith("ray start")]
    assert len(starts) == 2 and all("--block" in line for line in starts), calls
    assert calls.index("scaling run") < calls.index("\nray stop --grace-period 20"), calls
    assert "Ray stopped" in out and "Killed" not in out and "error" not in out.lower(), out
    assert leftover == [], "the Ray steps outlived the job"
