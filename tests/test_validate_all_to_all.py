"""The inter-node group test as an all_to_all ([validate] group_op, the default): every rank
sends to every other, so a group crosses every pair of its nodes and one screen proves every
link. The simulator under both ops, the search within the localisation's budget at N = 1024, the bar
kept per node and turned into busbw per test shape, the config key, and (slow) the workload
itself over two local gloo ranks with an exact check."""

from __future__ import annotations

import random

import pytest
from click.testing import CliRunner

from scaling.cli import main
from scaling.collector.validate.internode import GroupBar, a2a_share, group_bar, group_outcome
from scaling.collector.validate.localize import Request, group_test_budget, localize
from scaling.collector.validate.records import busbw_rounds
from scaling.collector.validate.simulate import SimulatedCluster
from scaling.config.validate import ValidateConfig


def run(sim: SimulatedCluster, **kw):
    return localize(sim.nodes, sim, clock=sim.clock, timing="modelled", op=sim.op, **kw)


def links_found(loc) -> set[frozenset]:
    return {frozenset(f.nodes) for f in loc.findings if f.kind == "link"}


def test_the_simulator_crosses_every_pair_under_all_to_all_and_ring_neighbours_under_all_reduce():
    order = ("a", "b", "c", "d")  # a and c are not ring neighbours
    for op, fails in (("all_to_all", True), ("all_reduce", False)):
        sim = SimulatedCluster(list(order), bad_links={frozenset(("a", "c"))}, op=op)
        (got,) = sim([Request(order, "screen")])
        assert got.passed is not fails, op
        (pair,) = sim([Request(("a", "c"), "pair")])
        assert not pair.passed  # a pair crosses its link under either op


@pytest.mark.parametrize("seed", range(6))
def test_a_bad_link_among_1024_nodes_is_found_within_budget_with_one_screen(seed):
    sim = SimulatedCluster.of(1024, op="all_to_all")
    a, b = random.Random(seed).sample(sim.nodes, 2)
    sim.bad_links = {frozenset((a, b))}
    loc = run(sim)
    assert links_found(loc) == sim.bad_links and not loc.blamed()
    assert not [f for f in loc.findings if f.kind in ("group", "intermittent")]
    screens = [s for s in loc.steps if s.phase == "screen"]
    assert len(screens) == 1 and loc.rings_needed == loc.rings_tested == 1
    assert loc.every_pair_tested and loc.to_dict()["op"] == "all_to_all"
    # every test counted, the two that prove the link's ends with the rest included
    assert loc.tests <= group_test_budget(1024, 1) == 28, loc.tests
    ends = [s for s in loc.steps if "(ends of found links)" in s.why]
    assert len(ends) == 2 and all(s.passed and len(s.nodes) == 1023 for s in ends)


def test_a_healthy_1024_node_cluster_costs_one_test_not_512_ring_screens():
    one = run(SimulatedCluster.of(1024, op="all_to_all"))
    ring = run(SimulatedCluster.of(1024, op="all_reduce"))
    assert (one.tests, one.mode, one.every_pair_tested) == (1, "screen passed", True)
    assert (ring.tests, ring.every_pair_tested) == (512, True)


def test_two_bad_links_and_a_second_link_of_one_end_are_all_found():
    """The ends of a found link are tested with the rest afterwards: a second link at one end,
    which the verify step (both ends left out) would never cross, is found too."""
    sim = SimulatedCluster.of(64, op="all_to_all")
    sim.bad_links = {frozenset(("n0003", "n0040")), frozenset(("n0003", "n0017")),
                     frozenset(("n0021", "n0058"))}  # fmt: skip
    loc = run(sim)
    assert links_found(loc) == sim.bad_links and not loc.blamed()
    assert not [f for f in loc.findings if f.kind in ("group", "intermittent")]


def test_bad_nodes_are_found_within_budget_at_1024():
    sim = SimulatedCluster.of(1024, op="all_to_all", bad_nodes={"n0100", "n0901"})
    loc = run(sim)
    assert set(loc.blamed()) == sim.bad_nodes and not links_found(loc)
    assert loc.tests <= group_test_budget(1024, 2)


def test_the_bar_is_kept_per_node_and_scaled_to_each_test_shape():
    cfg = ValidateConfig()  # group_op all_to_all by default
    assert cfg.group_op == "all_to_all"
    # 8 ranks per node, an NDR-like 400 GB/s ceiling: B = 0.7 x 400 per node
    bar = group_bar(cfg, 400.0, "8 x 400 Gb/s", per_node=8)
    assert bar.op == "all_to_all" and bar.node_gbps == pytest.approx(280.0)
    assert bar.at(16, 8) == pytest.approx(280.0 * 15 / 64)  # two nodes
    assert bar.value == pytest.approx(bar.at(16, 8))  # shown at the two-node shape
    assert bar.at(1024 * 8, 8) == pytest.approx(280.0 / 8, rel=1e-3)  # many nodes: B/g
    assert a2a_share(5, 1) == 1.0  # one rank per node: busbw is B itself
    # a reference measured on pairs becomes the same bar on every pair of the same shape
    ref = group_bar(cfg, reference=10.0, reference_how="pairs", per_node=2)
    assert ref.at(4, 2) == pytest.approx(7.5) and ref.at(8, 2) < ref.at(4, 2)
    # under all_reduce the bar stays one busbw figure
    flat = group_bar(ValidateConfig(group_op="all_reduce"), 400.0, "x", per_node=8)
    assert flat.node_gbps is None and flat.at(16, 8) == flat.at(64, 8) == pytest.approx(280.0)


def test_busbw_uses_the_all_to_all_factor_and_the_bar_for_the_group_shape():
    members = [{"op": "all_to_all", "ranks": 4, "size_bytes": 4e9, "times": [1.0, 2.0], "wrong": 0}
               for _ in range(4)]  # fmt: skip
    assert busbw_rounds(members) == pytest.approx([4 * 3 / 4, 2 * 3 / 4])  # (n-1)/n
    legacy = [{k: v for k, v in m.items() if k != "op"} for m in members]
    assert busbw_rounds(legacy) == pytest.approx([4 * 2 * 3 / 4, 2 * 2 * 3 / 4])  # all_reduce
    bar = GroupBar(2.0, "t", "all_to_all", node_gbps=2.0 / a2a_share(4, 2))
    assert group_outcome(members, {}, bar, ("a", "b"), per_node=2).passed  # 2.25 >= 2.0
    slow = [m | {"times": [3.0, 3.0]} for m in members]
    assert "below 2" in group_outcome(slow, {}, bar, ("a", "b"), per_node=2).detail


def test_a_bad_group_op_is_a_one_line_error_exit_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[validate]\ngroup_op = "broadcast"\n')
    r = CliRunner().invoke(main, ["validate", "--config", str(bad)])
    assert r.exit_code == 2
    (line,) = r.output.strip().splitlines()
    assert "validate.group_op" in line and "all_to_all, all_reduce" in line


def _rank(rank: int, store_path: str, out) -> None:
    import torch.distributed as dist

    from scaling.workloads.checks import group_collective

    dist.init_process_group("gloo", init_method=f"file://{store_path}", rank=rank, world_size=2)
    try:
        spec = group_collective.spec("inter_node", 4096, "g", "all_to_all") | {
            "warmup": 1,
            "iters": 2,
        }
        out.put(group_collective.run(spec))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_the_group_all_to_all_over_two_gloo_ranks_is_exact(tmp_path):
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_rank, args=(r, str(tmp_path / "store"), out)) for r in (0, 1)]
    for p in procs:
        p.start()
    got = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0, 0]
    for res in got:
        assert res["op"] == "all_to_all" and res["wrong"] == 0 and res["ranks"] == 2
        assert len(res["times"]) == 2 and res["size_bytes"] == 4096
    assert len(busbw_rounds(got)) == 2


def test_prometheus_and_the_report_count_every_test_and_name_the_op():
    from prometheus_client.parser import text_string_to_metric_families

    from scaling.collector.validate.verdicts import ValidateResult
    from scaling.report.validate import _coverage
    from scaling.sinks import prometheus

    sim = SimulatedCluster.of(64, op="all_to_all", bad_links=[("n0002", "n0050")])
    d = run(sim).to_dict()
    text = prometheus.render(ValidateResult([], localization=d))
    fams = {f.name: f.samples[0].value for f in text_string_to_metric_families(text)}
    assert fams["scaling_validate_localization_tests"] == d["tests"] == len(d["steps"])
    assert "scaling_validate_localization_rings_tested" not in fams  # no ring screens ran
    (note,) = _coverage(d)
    assert "all_to_alls" in note.text and "every pair" in note.text
