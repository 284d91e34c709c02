"""GPU visibility as Ray Train does it, on a real 2-node Ray cluster whose nodes declare GPUs.

Ray sets CUDA_VISIBLE_DEVICES for an actor that reserves GPUs on a node that declares them,
with or without a physical GPU. Each rank must end up seeing every GPU the gang holds on its
node (sorted) and choosing its own by Ray's id; the manifest's rank records say what each saw
and chose. No CUDA is touched here (this machine has none), only the visibility logic.
"""

import pytest
import ray

from scaling.cluster.gang import Gang

pytestmark = [pytest.mark.slow, pytest.mark.ray_shape("cluster 3g3,2g2")]


@pytest.fixture(scope="module")
def gpu_nodes(ray_owner):
    return ray_owner.cluster([{"num_cpus": 3, "num_gpus": 3}, {"num_cpus": 2, "num_gpus": 2}])


def test_ranks_share_their_nodes_gpus_and_pick_their_own(gpu_nodes):
    gang = Gang(4, "cuda", placement="pack", timeout_s=120)
    try:
        envs = gang.call(gang.actors, "env_view")
        by_node: dict[str, list[dict]] = {}
        for meta, env in zip(gang.metas, envs, strict=True):
            assert len(meta["ray_gpu_ids"]) == 1  # Ray gave each rank one GPU ...
            by_node.setdefault(meta["node_id"], []).append((meta, env))
        assert sorted(len(v) for v in by_node.values()) == [1, 3]  # pack: 3 + 1
        for ranks in by_node.values():
            held = sorted((m["ray_gpu_ids"][0] for m, _ in ranks), key=int)
            for meta, env in ranks:
                # ... and each sees all the gang's GPUs of its node, in order,
                assert meta["visible_devices"] == held
                assert env["CUDA_VISIBLE_DEVICES"] == ",".join(held)
                assert env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"  # Ray's ids read in NVML's order
                # choosing its own by position in that list.
                assert held[meta["cuda_device"]] == meta["ray_gpu_ids"][0]
                assert meta["gpu_index"] == int(meta["ray_gpu_ids"][0])
        # No two ranks of a node chose the same device.
        for ranks in by_node.values():
            chosen = [m["cuda_device"] for m, _ in ranks]
            assert len(set(chosen)) == len(chosen)
        # Rank order: fuller node first, then GPU index (as before the visibility change).
        first = [m for m in gang.metas if m["node_id"] == gang.metas[0]["node_id"]]
        assert len(first) == 3 and [m["gpu_index"] for m in first] == sorted(
            m["gpu_index"] for m in first
        )
    finally:
        gang.shutdown()


def test_shared_gpu_test_mode_puts_two_ranks_on_one_gpu(gpu_nodes, monkeypatch):
    # benchmarks/gpu/check.sh runs the multi-rank CUDA path on a one-GPU machine this way.
    monkeypatch.setenv("SCALING_TEST_SHARE_GPU", "1")
    gang = Gang(2, "cuda", placement="pack", timeout_s=120)
    try:
        assert gang.backend == "gloo"  # NCCL refuses two ranks on one GPU
        ids = [m["ray_gpu_ids"] for m in gang.metas]
        assert ids[0] == ids[1] and len(ids[0]) == 1
        assert [m["cuda_device"] for m in gang.metas] == [0, 0]
        # Half a GPU each: the gang as a whole reserved one.
        assert ray.available_resources().get("GPU", 0) == 5 - 1
    finally:
        gang.shutdown()
