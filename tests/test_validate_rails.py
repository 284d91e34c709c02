"""Every rail: the inter-node group tests use every rank of each node, not its first one.

A real 2-node Ray cluster on this machine (ray.cluster_utils.Cluster), two CPU ranks per
node, gloo: each group test must be one all_to_all (the default group_op) over all four
ranks, both ranks of each
node taking part, so on GPUs every GPU's nearest NIC carries traffic (docs/validate-fabric.md).
The thresholds are loose: four ranks share two cores here; what is tested is who took part.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from scaling.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.ray_shape("cluster 2,2")]
LOOSE = """
[validate]
check_seconds = 0.5
gemm_size = 128
comm_bytes = "256K"
outlier_min_pct = 60.0
inter_node_min_fraction = 0.05
"""


@pytest.fixture(scope="module")
def validated(tmp_path_factory, ray_owner):
    root = tmp_path_factory.mktemp("rails")
    (root / "loose.toml").write_text(LOOSE)
    out = root / "run"
    ray_owner.cluster([2, 2])
    r = CliRunner().invoke(
        main,
        ["validate", "--level", "quick", "--gpus", "4", "--config", str(root / "loose.toml"),
         "--out", str(out), "--timeout", "60"],
        catch_exceptions=False,
    )  # fmt: skip
    records = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    return r, json.loads((out / "validate.json").read_text()), records


def test_every_group_test_holds_every_rank_of_its_nodes(validated):
    r, doc, records = validated
    tests = [x for x in records if x.get("check") == "inter_node"]
    assert tests, r.output
    by_group: dict[str, list[dict]] = {}
    for x in tests:
        by_group.setdefault(x["group_id"], []).append(x)
    for members in by_group.values():
        assert sorted(m["rank"] for m in members) == [0, 1, 2, 3]
        assert {m["world_size"] for m in members} == {4} and {m["ranks"] for m in members} == {4}
        assert all(m.get("times") and not m.get("error") for m in members)
        # the default group op, checked exactly: every received chunk is its sender's
        assert {m["op"] for m in members} == {"all_to_all"} and {m["wrong"] for m in members} == {0}
    per_node = {}
    for m in tests:
        per_node.setdefault(m["node"], set()).add(m["rank"])
    assert sorted(len(v) for v in per_node.values()) == [2, 2]
    passed = [v for v in doc["verdicts"] if v["check"] == "inter_node" and v["verdict"] == "PASS"]
    assert len(passed) == 2, [v["evidence"] for v in doc["verdicts"] if v["check"] == "inter_node"]
    assert "all_to_all 256K, all ranks of each node (every rail)" in r.output
    # the bar came from a node-pair reference of the same op, kept per node (2 ranks each)
    bar = doc["localization"]["bar"]
    assert (
        bar["op"] == "all_to_all" and bar["node_gbps"] > 0 and "2 rank(s) per node" in bar["source"]
    )
