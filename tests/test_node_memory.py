"""Per-node memory is read in one place (cluster/node_memory.py): the sweep's fit check and
tune's memory model see the same figure for a node, its available memory on cpu."""

from __future__ import annotations

import pytest

from scaling.cluster.memory_fit import check_nodes
from scaling.cluster.node_memory import node_memory
from scaling.config import load_config
from scaling.tune.model import capacity_of

GIB = 1 << 30
METAS = [{"node_id": "a"}, {"node_id": "a"}, {"node_id": "b"}]
SNAPSHOTS = {
    "a": {
        "host": {"hostname": "busy", "mem_total_bytes": 64 * GIB, "mem_available_bytes": 8 * GIB}
    },
    "b": {
        "host": {"hostname": "idle", "mem_total_bytes": 64 * GIB, "mem_available_bytes": 60 * GIB}
    },
}


def test_both_callers_read_the_available_memory_of_the_same_node():
    nodes = node_memory("cpu", METAS, SNAPSHOTS)
    assert [(n.host, n.ranks, n.capacity_bytes) for n in nodes] == [
        ("busy", 2, 8 * GIB), ("idle", 1, 60 * GIB)]  # fmt: skip
    # tune: the busy node's available memory over its two ranks, not its 64 GiB total
    capacity, source = capacity_of(load_config(), "cpu", METAS, SNAPSHOTS)
    assert (capacity, source) == (4 * GIB, "available host memory of busy / 2 ranks")
    # the sweep: 2 GB messages fit the idle node's one rank, not the busy node's two
    cfg = load_config(overrides={"gpus": "3", "workloads": "collectives",
                                 "collectives.max_bytes": "2G"})  # fmt: skip
    with pytest.raises(ValueError, match=r"but node busy has 8\.0 GiB"):
        check_nodes(cfg, "cpu", METAS, SNAPSHOTS)
    check_nodes(cfg, "cpu", METAS[2:], SNAPSHOTS)  # the idle node alone: no refusal


def test_on_cuda_each_rank_has_the_smallest_gpu_of_its_node():
    gpus = [{"memory": {"total_bytes": 80 * GIB}}, {"memory": {"total_bytes": 40 * GIB}}]
    snaps = {"a": {"host": {"hostname": "g1"}, "gpus": gpus}, "b": {}}
    nodes = node_memory("cuda", METAS, snaps)
    assert [(n.where, n.capacity_bytes) for n in nodes] == [("the smallest GPU of g1", 40 * GIB)]
    assert capacity_of(load_config(), "cuda", METAS, snaps) == (
        40 * GIB, "the smallest GPU of g1 (NVML)")  # fmt: skip
