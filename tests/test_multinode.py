"""A real 2-node Ray cluster on this machine (ray.cluster_utils.Cluster), no mocks.

Node "big" has 2 CPUs and the head has 1: pack puts rank order on the fuller node
first, spread puts one rank per node, and gloo groups span both raylets.
"""

import sys

import pytest

from scaling.cluster.gang import Gang
from scaling.workloads import collectives

pytestmark = [pytest.mark.slow, pytest.mark.ray_shape("cluster 1,2")]


@pytest.fixture(scope="module")
def two_nodes(ray_owner):
    cluster = ray_owner.cluster([1, 2])
    (big,) = cluster.worker_nodes
    return {"cluster": cluster, "big": big.node_id, "head": cluster.head_node.node_id}


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


def test_spread_puts_one_rank_per_node_while_nodes_suffice(two_nodes):
    gang = Gang(3, "cpu", placement="spread", timeout_s=120)
    try:
        # 3 ranks on 2 nodes: spread as evenly as Ray can (2 + 1)
        assert {m["node_id"] for m in gang.metas} == {two_nodes["big"], two_nodes["head"]}
        with gang.group(2) as grp:
            # world size 2 takes one rank from each node
            envs = gang.call(grp.actors, "env_view")
            assert len({e["node_id"] for e in envs}) == 2
            assert [e["NODE_RANK"] for e in envs] == ["0", "1"]
            assert {e["LOCAL_RANK"] for e in envs} == {"0"}
            assert grp.shape == "2 = 2 nodes × 1" and grp.span == "inter-node"
            res = gang.call(grp.actors, "run", collectives.TARGET, _point(2))
            assert [r["wrong"] for r in res] == [0, 0]
    finally:
        gang.shutdown()


def test_gpus_per_node_shape(two_nodes):
    gang = Gang(3, "cpu", gpus_per_node=2, timeout_s=120)
    try:
        nodes = [m["node_id"] for m in gang.metas]
        assert nodes[:2] == [two_nodes["big"]] * 2 and nodes[2] == two_nodes["head"]
        assert gang.planned_group(3).shape == "3 = 2 nodes (2+1)"
    finally:
        gang.shutdown()


def test_too_many_ranks_per_node_is_refused(two_nodes):
    from scaling.cluster.connect import ClusterError

    with pytest.raises(ClusterError, match="--gpus-per-node 3 needs 1 nodes"):
        Gang(3, "cpu", gpus_per_node=3, timeout_s=30)


def test_cli_summary_labels_intra_and_inter_node(two_nodes, tmp_path):
    import pandas as pd
    from click.testing import CliRunner

    from scaling.cli import main

    out = tmp_path / "mn"
    r = CliRunner().invoke(
        main,
        [
            "run",
            "--gpus",
            "1,2,3",
            "--workloads",  # the labels come from the collectives' table; training adds minutes
            "collectives",
            "-b",
            "4K",
            "-e",
            "16K",
            "-f",
            "4",
            "-n",
            "2",
            "-w",
            "1",
            "--repeats",  # the labels are the subject, not the rounds: one is enough
            "1",
            "--out",
            str(out),
        ],
        catch_exceptions=False,
    )
    assert r.exit_code == 0, r.output
    s = pd.read_csv(out / "summary.csv")
    world = s[s.group == "world"]
    assert dict(zip(world.world_size, world.span, strict=False)) == {
        1: "intra-node",
        2: "intra-node",
        3: "inter-node",
    }
    assert set(world[world.world_size == 3]["shape"]) == {"3 = 2 nodes (2+1)"}
    # hierarchical view at the multi-node size: node 0's two ranks, and one rank per node
    intra, inter = s[s.group == "intra"], s[s.group == "inter"]
    assert (
        set(intra.world_size) == {3}
        and set(intra.ranks) == {2}
        and set(intra.span) == {"intra-node"}
    )
    assert (
        set(inter.world_size) == {3}
        and set(inter.ranks) == {2}
        and set(inter.span) == {"inter-node"}
    )
    assert (s["wrong"] == 0).all()
    assert "inter-node" in r.output and "(inter view of world size 3)" in r.output


def dies_on_rank2_at_a_planted_point(spec: dict) -> dict:
    """Rank side: the real point, except that rank 2 kills itself (SIGKILL) at the point
    marked "planted", inside the plan's one call it got through its node's relay."""
    import os
    import signal

    import torch.distributed as dist

    from scaling.workloads.collectives.bench import run_point

    if spec.get("planted") and dist.get_rank() == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return run_point(spec)


@pytest.mark.parametrize("levels", [1, 2])
def test_one_relay_per_node_and_a_killed_follower_behind_it_is_named(two_nodes, monkeypatch,
                                                                      levels):  # fmt: skip
    """Group formation and leader mode's followers go through one relay actor per node
    (cluster/relay.py); a follower killed inside its relayed call is named, pid and node, for
    the point the group had reached; the relays go with the gang. levels=2: the driver calls
    relays that call the node relays (relay.TREE_NODES, forced here on 2 nodes), as from 16
    nodes on."""
    import ray

    from scaling.cluster import failures, plan_run, relay
    from scaling.cluster.gang import GangError
    from scaling.config import load_config

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    monkeypatch.setenv(relay.TEST_ENV, "1")  # 3 ranks: below relay.MIN_RANKS
    monkeypatch.setenv(relay.TREE_TEST_ENV, "1" if levels == 2 else "0")
    cfg = load_config(overrides={"collectives.max_bytes": "4K", "collectives.iters": "2",
                                 "collectives.warmup": "1", "repeats": "1",
                                 "collectives.rank_samples": "slowest"})  # fmt: skip
    gang = Gang(3, "cpu", placement="pack", timeout_s=60)
    relays = dict(gang.relays.handles)
    try:
        where = {node: ray.get(h.ping.remote())["node_id"] for node, h in relays.items()}
        assert where == {two_nodes["big"]: two_nodes["big"], two_nodes["head"]: two_nodes["head"]}
        with gang.group(3) as grp:  # init_group and destroy_group through the relays
            assert [x["rank"] for x in grp.startup if x.get("rank") is not None] == [0, 1, 2]
            points = collectives.plan(cfg, 3)
            plan = [(dies_on_rank2_at_a_planted_point,
                     {**collectives.rank_spec(p), "planted": i == 2}) for i, p in enumerate(points)]  # fmt: skip
            labels = [failures.label("run", item) for item in plan]
            kept = []
            with pytest.raises(GangError) as failed:
                plan_run.run(gang, grp.actors, plan, labels, lambda i, r, n: kept.append(i),
                             lead=True)  # fmt: skip
    finally:
        gang.shutdown()
    victim = gang.metas[2]
    line = str(failed.value)
    assert f"rank 2 (pid {victim['pid']}, host {victim['hostname']}, node " in line, line
    assert f"died during {labels[2]}" in line, line
    assert kept[:1] == [0]  # the first chunk came back before the kill
    for h in relays.values():  # killed with the gang
        with pytest.raises(ray.exceptions.RayActorError):
            ray.get(h.ping.remote(), timeout=60)
