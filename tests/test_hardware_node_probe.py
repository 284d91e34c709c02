"""probe_nodes on a real local Ray: pinned, zero-CPU tasks that run even when every CPU is taken."""

from __future__ import annotations

import pytest
import ray

from scaling.cluster.node_probe import probe_nodes

pytestmark = [pytest.mark.slow, pytest.mark.ray_shape("local1")]


@ray.remote(num_cpus=1)
class CpuHog:
    def ready(self) -> bool:
        return True


@pytest.fixture(scope="module")
def one_cpu_ray(ray_owner):
    ray_owner.local(1)


def test_probe_runs_on_every_node_while_the_only_cpu_is_held(one_cpu_ray):
    hog = CpuHog.remote()
    assert ray.get(hog.ready.remote(), timeout=60)
    assert ray.available_resources().get("CPU", 0) == 0
    snapshots = probe_nodes(timeout_s=60)
    node_ids = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
    assert list(snapshots) == node_ids
    snap = snapshots[node_ids[0]]
    assert snap["schema"] == 1 and snap["ray"]["node_id"] == node_ids[0]
    assert snap["host"]["cpu_logical"] >= 1
    assert "available" in snap["nvml"]
    ray.kill(hog)
