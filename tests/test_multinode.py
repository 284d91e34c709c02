"""A real 2-node Ray cluster on this machine (ray.cluster_utils.Cluster), no mocks.

Node "big" has 2 CPUs and the head has 1: pack puts rank order on the fuller node
first, spread puts one rank per node, and gloo groups span both raylets.
"""

import pytest
import ray

from scaling.cluster.gang import Gang
from scaling.workloads import collectives

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_nodes():
    from ray.cluster_utils import Cluster

    from tests.conftest import forget_ray

    forget_ray()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    big = cluster.add_node(num_cpus=2)
    ray.init(address=cluster.address, log_to_driver=False)
    cluster.wait_for_nodes()
    yield {"cluster": cluster, "big": big.node_id, "head": cluster.head_node.node_id}
    forget_ray()
    cluster.shutdown()


def _point(n):
    shape = collectives.point_shape("all_reduce", 65536, "float32", n)
    return {
        "op": "all_reduce",
        "dtype": "float32",
        "world_size": n,
        "warmup": 1,
        "iters": 2,
        "timing": "blocking",
        "depth": 1,
        "check": True,
        **shape,
    }


def test_pack_is_node_contiguous_with_torchrun_numbering(two_nodes):
    gang = Gang(3, "cpu", placement="pack", timeout_s=120)
    try:
        nodes = [m["node_id"] for m in gang.metas]
        # fuller node first, ranks contiguous per node
        assert nodes == [two_nodes["big"], two_nodes["big"], two_nodes["head"]]
        with gang.group(3) as grp:
            envs = gang.call(grp.actors, "env_view")
            assert [e["node_id"] for e in envs] == nodes
            assert [e["NODE_RANK"] for e in envs] == ["0", "0", "1"]
            assert [e["LOCAL_RANK"] for e in envs] == ["0", "1", "0"]
            assert [e["LOCAL_WORLD_SIZE"] for e in envs] == ["2", "2", "1"]
            assert grp.nodes == 2
            res = gang.call(grp.actors, "run", collectives.TARGET, _point(3))
            assert [r["wrong"] for r in res] == [0, 0, 0]  # gloo all_reduce across nodes is exact
        with gang.group(2) as grp:
            # two ranks fit on one node: a smaller world size spans as few nodes as possible
            assert grp.nodes == 1
            assert {e["NODE_RANK"] for e in gang.call(grp.actors, "env_view")} == {"0"}
    finally:
        gang.shutdown()


def test_spread_puts_one_rank_per_node(two_nodes):
    gang = Gang(2, "cpu", placement="spread", timeout_s=120)
    try:
        assert {m["node_id"] for m in gang.metas} == {two_nodes["big"], two_nodes["head"]}
        with gang.group(2) as grp:
            envs = gang.call(grp.actors, "env_view")
            assert sorted(e["NODE_RANK"] for e in envs) == ["0", "1"]
            assert {e["LOCAL_RANK"] for e in envs} == {"0"}
            res = gang.call(grp.actors, "run", collectives.TARGET, _point(2))
            assert [r["wrong"] for r in res] == [0, 0]
    finally:
        gang.shutdown()


def test_gpus_per_node_shape(two_nodes):
    gang = Gang(3, "cpu", gpus_per_node=2, timeout_s=120)
    try:
        nodes = [m["node_id"] for m in gang.metas]
        assert nodes[:2] == [two_nodes["big"]] * 2 and nodes[2] == two_nodes["head"]
    finally:
        gang.shutdown()


def test_spread_wider_than_the_cluster_is_refused(two_nodes):
    from scaling.cluster.connect import ClusterError

    with pytest.raises(ClusterError, match="only 2 nodes have CPU for 3 ranks"):
        Gang(3, "cpu", placement="spread", timeout_s=30)
