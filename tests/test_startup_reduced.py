"""Start-up reduced per node (--rank-samples slowest, cluster/startup_timing.summary): startup.csv
and compare read the same figures from a node's record as from its ranks' own records."""

import random

import pandas as pd
import pytest

from scaling.cluster import failures, relay, startup_timing
from scaling.collector.startup import compare_startup, startup_table


def _answers(world: int, seed: int, tie: bool) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for r in range(world):
        t = {k: rng.uniform(0.001, 2.0) for k in startup_timing.PHASES}
        out.append({"rank": r, "backend": "gloo", "startup": t})
    if tie and world > 8:  # two ranks on two nodes with the same largest total: the lower wins
        top = {k: 5.0 for k in startup_timing.PHASES}
        out[3]["startup"], out[world - 2]["startup"] = dict(top), dict(top)
    return out


def _both(worlds: list[int], per_node: int, tie: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    per_rank, per_node_recs = [], []
    for i, n in enumerate(worlds):  # 16 twice: a world size formed again keeps both
        answers = _answers(n, seed=i, tie=tie)
        per_rank += startup_timing.records(answers, n, "world", "gloo", 3.5 + i)
        nodes = [answers[j : j + per_node] for j in range(0, n, per_node)]
        random.Random(i).shuffle(nodes)  # relays answer in any order
        sums = [startup_timing.summary(a) for a in nodes]
        per_node_recs += startup_timing.reduced_records(sums, n, "world", "gloo", 3.5 + i)
    point = {"type": "collective", "world_size": 16, "ranks": 16, "rank": 0}  # has "ranks" too
    return pd.DataFrame([point, *per_rank]), pd.DataFrame([point, *per_node_recs])


@pytest.mark.parametrize("tie", [False, True])
def test_per_node_records_give_the_same_startup_table(tie):
    ranks, nodes = _both([3, 16, 16, 24], per_node=8, tie=tie)
    assert len(nodes) < len(ranks)  # 1 + 2 + 2 + 3 records instead of 59
    want, got = startup_table(ranks), startup_table(nodes)
    assert len(want) == 4 and want["ranks"].tolist() == [3, 16, 16, 24]
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    if tie:
        assert want["slowest_rank"].tolist()[1:] == [3, 3, 3]
    pd.testing.assert_frame_equal(
        compare_startup([nodes], [ranks]), compare_startup([ranks], [ranks]), check_exact=True
    )


def test_mixed_run_dirs_compare_alike():
    """A run with per-node records compares with one with per-rank records (an `all` run)."""
    ranks, nodes = _both([16, 32], per_node=8, tie=False)
    mixed = pd.concat([ranks[ranks["world_size"] == 16], nodes[nodes["world_size"] == 32]])
    pd.testing.assert_frame_equal(startup_table(mixed), startup_table(ranks), check_exact=True)


def test_a_node_without_times_sends_nothing():
    assert startup_timing.summary([None, {"rank": 1, "startup": None}]) is None
    assert startup_timing.reduced_records([None], 2, "world", "gloo", 1.0) == []


def test_the_second_level_carries_each_node_summary():
    """relay.merge (a share's first relay answering for its nodes) keeps every node's summary,
    and Fanned.expand hands them to the driver with the ranks' packed logs."""
    a = {"results": {"same": None, "n": 2}, "errors": {}, "pending": [], "startup": [(0, 2)]}
    b = {"results": {"same": None, "n": 3}, "errors": {}, "pending": [], "startup": [(2, 3)]}
    merged = relay.merge(failures.Outcome(results=[a, b]), [2, 3])
    assert merged["startup"] == [(0, 2), (2, 3)]
    fanned = relay.Fanned(5)
    fanned.add("ref", [0, 1, 2, 3, 4], relayed=True)
    out = fanned.expand(failures.Outcome(results=[merged]))
    assert out.results == [None] * 5 and fanned.startup == [(0, 2), (2, 3)]
