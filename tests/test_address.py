"""`scaling run --address` against a cluster started the way docs/clusters.md says (launch/local).

Two Ray nodes (separate raylets, 2 CPUs each) on this machine; the run goes in a
subprocess, exactly as a user would type it.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
PORT = "6470"  # away from the launch tests' default port


@pytest.fixture(scope="module")
def cluster_env(ray_owner):
    ray_owner.release()
    # as with an activated venv: the `ray` CLI next to this interpreter
    base = os.environ | {"PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    held = ray_owner.hold("start_cluster")  # its `ray start` nodes are this fixture's
    try:
        yield from _started(base | held)
    finally:
        subprocess.run(
            ["launch/local/stop_cluster.sh", "--port", PORT], cwd=ROOT, env=base, timeout=120
        )
        ray_owner.drop(held)


def _started(base: dict):
    start = subprocess.run(
        ["launch/local/start_cluster.sh", "--workers", "1", "--port", PORT],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert start.returncode == 0, start.stderr[-2000:]
    last = start.stdout.strip().splitlines()[-1]
    exported = dict(re.findall(r"(\w+)=(\S+)", last.removeprefix("export ")))
    env = {k: v for k, v in base.items() if k != "RAY_ADDRESS"} | exported
    yield env


def test_spread_over_two_nodes_labels_inter_node(cluster_env, tmp_path):
    out = tmp_path / "addr"
    address = cluster_env.pop("RAY_ADDRESS")
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "scaling",
            "run",
            "--address",
            address,
            "--gpus",
            "1,2,4",
            "--placement",
            "spread",
            "--workloads",  # the labels come from the collectives' table; training adds minutes
            "collectives",
            "-b",
            "4K",
            "-e",
            "64K",
            "-f",
            "4",
            "-n",
            "3",
            "--repeats",
            "1",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=cluster_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    s = pd.read_csv(out / "summary.csv")
    world = s[s.group == "world"].drop_duplicates("world_size").set_index("world_size")
    assert world.loc[1, "span"] == "intra-node"
    assert world.loc[2, "shape"] == "2 = 2 nodes × 1" and world.loc[2, "span"] == "inter-node"
    assert world.loc[4, "shape"] == "4 = 2 nodes × 2" and world.loc[4, "span"] == "inter-node"
    assert set(s[s.group == "inter"].world_size) == {4}
    assert (s["wrong"] == 0).all()
    assert "inter-node" in p.stdout
