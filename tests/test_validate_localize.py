"""Adaptive localisation on a simulated cluster: planted bad nodes, links, silent and flaky
nodes, against the localisation's budget of about 2·k·log2(N) + 8 group tests. The simulator's bad
links fail a test only when their ends are neighbours in its ring (simulate.py); the search
screens ceil((N-1)/2) ring orders to make every pair neighbours once (rings.py), so a search
that proves every link may spend those screens on top (ring_test_budget)."""

from __future__ import annotations

import json
import random

import pytest
from prometheus_client.parser import text_string_to_metric_families

from scaling.collector.validate.codes import FAIL, PASS, WARN
from scaling.collector.validate.internode import localization_verdicts
from scaling.collector.validate.localize import (
    Outcome,
    Request,
    group_test_budget,
    localize,
    ring_test_budget,
    round_robin,
)
from scaling.collector.validate.rings import pairs_covered, ring_orders, rings_needed
from scaling.collector.validate.simulate import CostModel, SimulatedCluster
from scaling.collector.validate.verdicts import ValidateResult
from scaling.sinks import prometheus


def run(sim: SimulatedCluster, **kw):
    return localize(sim.nodes, sim, clock=sim.clock, timing="modelled", **kw)


def kinds(loc, *names):
    return [f for f in loc.findings if f.kind in names]


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("seed", range(8))
def test_1024_nodes_every_bad_node_found_within_budget(k, seed):
    """A bad node fails every ring that holds it: the first ring's screen and bisection find it
    within the localisation's budget (the other rings only prove the links: see below)."""
    sim = SimulatedCluster.of(1024)
    sim.bad_nodes = set(random.Random(seed * 10 + k).sample(sim.nodes, k))
    loc = run(sim, rings=1)
    assert set(loc.blamed()) == sim.bad_nodes  # every bad node, no good one
    assert not kinds(loc, "link", "group", "intermittent")
    assert loc.tests <= group_test_budget(1024, k), (loc.tests, group_test_budget(1024, k))
    assert loc.wall_s == pytest.approx(sim.now)  # the modelled clock, round by round


def test_budget_formula():
    assert group_test_budget(1024, 1) == 28
    assert group_test_budget(1024, 3) == 68


def test_each_bad_node_confirmed_with_two_different_known_good_buddies():
    sim = SimulatedCluster.of(1024, bad_nodes={"n0777"})
    loc = run(sim, rings=1)
    (f,) = loc.findings
    buddies = [set(loc.steps[i - 1].nodes) - {"n0777"} for i in f.steps]
    assert len(buddies) == 2 and buddies[0] != buddies[1]
    for b in buddies:
        (node,) = b
        assert node in loc.passed_in and loc.passed_in[node] < min(f.steps)


def test_a_healthy_cluster_costs_one_test_per_ring_order():
    """One screen per ring order: ceil((N-1)/2) of them, after which every pair has been
    neighbours in a passing ring. Capped at one ring (rings=1), one test, as before."""
    loc = run(SimulatedCluster.of(1024))
    assert (loc.mode, loc.tests, loc.findings) == ("screen passed", 512, [])
    assert loc.rings_tested == loc.rings_needed == 512
    assert pairs_covered([s.nodes for s in loc.steps], loc.nodes) == 1024 * 1023 // 2
    assert len(loc.passed_in) == 1024
    one = run(SimulatedCluster.of(1024), rings=1)
    assert (one.mode, one.tests, one.rings_tested, one.rings_needed) == ("screen passed", 1, 1, 512)


@pytest.mark.parametrize("pair", [("n0003", "n0900"), ("n0003", "n0004"), ("n0100", "n0101")])
def test_a_bad_link_between_two_nodes_is_named_not_the_nodes(pair):
    sim = SimulatedCluster.of(1024, bad_links=[pair])
    loc = run(sim)
    (link,) = kinds(loc, "link")
    assert set(link.nodes) == set(pair)
    assert loc.blamed() == [] and not kinds(loc, "group", "intermittent")
    assert set(pair) <= set(loc.passed_in)  # each passes with other nodes
    assert loc.tests <= ring_test_budget(1024, 1)


def test_silent_node_fails_at_once_and_the_rest_is_screened_again():
    sim = SimulatedCluster.of(1024, silent_nodes={"n0500"})
    loc = run(sim, rings=1)
    (f,) = loc.findings
    assert (f.kind, f.nodes, f.code, f.verdict) == (
        "no_measurement",
        ("n0500",),
        "NO_MEASUREMENT",
        FAIL,
    )
    assert loc.tests == 2 and "n0500" not in loc.steps[1].nodes and loc.steps[1].passed
    assert loc.mode == "screen passed"


def test_silent_and_bad_nodes_together():
    sim = SimulatedCluster.of(1024, silent_nodes={"n0001"}, bad_nodes={"n0700", "n0200"})
    loc = run(sim)
    assert set(loc.blamed()) == {"n0001", "n0700", "n0200"}
    assert [f.nodes for f in kinds(loc, "no_measurement")] == [("n0001",)]
    assert loc.tests <= ring_test_budget(1024, 3)


@pytest.mark.parametrize("flakes", [1, 2, 3, 5])
def test_a_flaky_failure_blames_no_one(flakes):
    sim = SimulatedCluster.of(1024, flaky={"n0640": flakes})
    loc = run(sim, rings=1)
    assert not kinds(loc, "node", "link", "group", "no_measurement")
    assert kinds(loc, "intermittent") and all(f.verdict == WARN for f in loc.findings)


@pytest.mark.parametrize("flakes", [1, 2, 4, 8])
def test_flaky_good_node_beside_a_bad_one(flakes):
    sim = SimulatedCluster.of(1024, bad_nodes={"n0010"}, flaky={"n0900": flakes})
    loc = run(sim, rings=1)
    assert loc.blamed() == ["n0010"]
    assert not kinds(loc, "link", "group")


def test_a_spurious_failure_with_a_buddy_blames_no_one():
    """n0000 shares the last bisection pair with bad n0001; its own buddy test fails once by
    chance: the second buddy and the repeat clear it."""
    sim = SimulatedCluster.of(1024, bad_nodes={"n0001"})
    left = [1]

    def test(requests):
        outcomes = sim(requests)
        for i, r in enumerate(requests):
            if left[0] and r.phase == "buddy" and "n0000" in r.nodes:
                outcomes[i] = Outcome(False, 1.0, outcomes[i].duration_s, (), "spurious")
                left[0] -= 1
        return outcomes

    loc = localize(sim.nodes, test, clock=sim.clock, rings=1)
    assert left == [0]
    assert loc.blamed() == ["n0001"]
    (flake,) = kinds(loc, "intermittent")
    assert "n0000" in flake.nodes and flake.verdict == WARN


def test_domains_keep_splits_on_domain_edges():
    sim = SimulatedCluster.of(256, bad_nodes={"n0077"})
    racks = {n: f"rack{int(n[1:]) // 24}" for n in sim.nodes}  # 24-node racks: not a power of 2
    loc = run(sim, domains=racks)
    assert loc.blamed() == ["n0077"]
    for s in loc.steps:
        if s.phase == "bisect" and len(s.nodes) >= 24:
            spanned = {racks[n] for n in s.nodes}
            assert sum(racks[n] in spanned for n in sim.nodes) == len(s.nodes)  # whole racks


def test_rounds_hold_disjoint_groups_and_max_concurrent_is_honoured():
    sim = SimulatedCluster.of(512, bad_nodes={"n0003", "n0300", "n0444"})
    loc = run(sim)
    for r in range(1, loc.rounds + 1):
        seen: set[str] = set()
        for s in (s for s in loc.steps if s.round == r):
            assert not seen & set(s.nodes)
            seen |= set(s.nodes)
    assert any(sum(s.round == r for s in loc.steps) > 1 for r in range(1, loc.rounds + 1))
    sequential = run(
        SimulatedCluster.of(512, bad_nodes={"n0003", "n0300", "n0444"}), max_concurrent=1
    )
    assert sequential.rounds == sequential.tests
    assert set(sequential.blamed()) == {"n0003", "n0300", "n0444"}
    assert sequential.wall_s > loc.wall_s  # the model: one test at a time takes longer


def test_small_cluster_tests_every_pair():
    sim = SimulatedCluster.of(6, bad_nodes={"n0002"})
    loc = run(sim)
    assert loc.mode == "exhaustive pairs" and loc.blamed() == ["n0002"]
    assert loc.every_pair_tested and loc.rings_tested == 1 < loc.rings_needed == 3
    pairs = [s for s in loc.steps if s.phase == "pair"]
    assert len(pairs) == 15 and len({s.round for s in pairs}) == 5


def test_small_cluster_bad_link():
    loc = run(SimulatedCluster.of(5, bad_links=[("n0001", "n0004")]))
    (link,) = loc.findings
    assert (link.kind, set(link.nodes)) == ("link", {"n0001", "n0004"})


def test_two_nodes_cannot_tell_which():
    loc = run(SimulatedCluster.of(2, bad_nodes={"n0001"}))
    (f,) = loc.findings
    assert f.kind == "group" and set(f.nodes) == {"n0000", "n0001"} and loc.blamed() == []


def test_three_nodes_two_bad_blames_no_one_it_cannot_prove():
    loc = run(SimulatedCluster.of(3, bad_nodes={"n0001", "n0002"}))
    assert loc.blamed() == [] and kinds(loc, "group")


def test_one_node_has_nothing_to_test():
    loc = run(SimulatedCluster.of(1))
    assert (loc.mode, loc.tests) == ("single node", 0)


def test_a_group_test_answering_the_wrong_count_is_an_error():
    with pytest.raises(ValueError, match="outcomes"):
        localize(["a", "b", "c"], lambda reqs: [Outcome(True)] * (len(reqs) + 1))


def test_round_robin_is_every_pair_once():
    for n in (2, 5, 8):
        nodes = [f"x{i}" for i in range(n)]
        rounds = round_robin(nodes)
        pairs = [frozenset(p) for r in rounds for p in r]
        assert len(pairs) == len(set(pairs)) == n * (n - 1) // 2
        assert all(len({x for p in r for x in p}) == 2 * len(r) for r in rounds)


def test_cost_model_grows_with_group_size():
    c = CostModel()
    assert c(2) < c(64) < c(1024) and c(1) == pytest.approx(c.setup_s + c.per_node_s)


def test_verdicts_from_a_localisation():
    sim = SimulatedCluster.of(32, bad_nodes={"n0005"}, bad_links=[("n0001", "n0020")],
                              silent_nodes={"n0030"})  # fmt: skip
    loc = run(sim)
    verdicts = localization_verdicts(loc)
    by_node = {v.node: v for v in verdicts if v.scope == "node"}
    assert len(by_node) == 32
    assert by_node["n0005"].verdict == FAIL and by_node["n0005"].code == "NODE_COMM_FAIL"
    assert by_node["n0030"].code == "NO_MEASUREMENT"
    assert by_node["n0001"].verdict == PASS and by_node["n0020"].verdict == PASS
    (link,) = [v for v in verdicts if v.scope == "link"]
    assert {link.node, link.peer_node} == {"n0001", "n0020"} and link.code == "LINK_COMM_FAIL"
    assert sum(v.verdict == FAIL for v in verdicts) == 3
    json.dumps(loc.to_dict())  # validate.json can hold it


@pytest.mark.parametrize("seed", range(40))
def test_mixed_faults_never_blame_a_good_node_and_always_end(seed):
    rng = random.Random(seed)
    sim = SimulatedCluster.of(rng.randint(2, 300))
    picked = rng.sample(sim.nodes, min(len(sim.nodes), 7))
    sim.bad_nodes = set(picked[: rng.randint(0, 3)])
    sim.silent_nodes = set(picked[3:4]) if rng.random() < 0.5 else set()
    if rng.random() < 0.5 and len(picked) >= 6:
        sim.bad_links = {frozenset(picked[4:6])}
    if len(picked) >= 7:
        sim.flaky = {picked[6]: 1}
    loc = run(sim)
    faulty = sim.bad_nodes | sim.silent_nodes
    link_ends = {n for link in sim.bad_links for n in link}
    assert set(loc.blamed()) <= faulty | link_ends  # never a healthy node
    unresolved = {n for f in kinds(loc, "group") for n in f.nodes}
    assert faulty <= set(loc.blamed()) | unresolved  # every bad one named, or in a FAIL group
    if any(f.kind == "link" for f in loc.findings):
        assert {frozenset(f.nodes) for f in kinds(loc, "link")} <= sim.bad_links


# -- the ring model --------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 3, 4, 5, 8, 9, 64, 65])
def test_ring_orders_make_every_pair_neighbours_with_the_fewest_rings(n):
    nodes = [f"x{i:02d}" for i in range(n)]
    orders = ring_orders(nodes)
    assert orders[0] == tuple(nodes)  # the first screen is the nodes' own order
    assert all(sorted(o) == nodes for o in orders)
    assert len(orders) == rings_needed(n) == (n - 1 + 1) // 2  # ceil((n-1)/2): the lower bound
    assert pairs_covered(orders, nodes) == n * (n - 1) // 2


def test_the_simulator_fails_a_link_only_between_ring_neighbours():
    sim = SimulatedCluster.of(6, bad_links=[("n0000", "n0002")])
    a, b, c, d = "n0000", "n0001", "n0002", "n0003"
    orders = [(a, b, c, d), (c, a), (a, b, c), (c, b, d, a)]
    passed = [sim([Request(o, "screen")])[0].passed for o in orders]
    # a-c apart in a 4-ring; neighbours as a pair, and across the wrap of a 3-ring and a 4-ring
    assert passed == [True, False, False, False]
    sim.ring = False  # the older model: any group holding both ends fails
    assert not sim([Request((a, b, c, d), "screen")])[0].passed


def test_one_ring_misses_a_link_whose_ends_are_not_neighbours_in_it():
    """What a 64-node simulation shows: the link n0003-n0040 passes the first ring's screen. The
    localisation says how much it tested (1 ring of 32); all the rings find the link."""
    one = run(SimulatedCluster.of(64, bad_links=[("n0003", "n0040")]), rings=1)
    assert (one.mode, one.findings, one.rings_tested, one.rings_needed) == (
        "screen passed",
        [],
        1,
        32,
    )
    assert not one.every_pair_tested and not one.to_dict()["every_pair_tested"]
    loc = run(SimulatedCluster.of(64, bad_links=[("n0003", "n0040")]))
    (link,) = loc.findings
    assert (link.kind, set(link.nodes)) == ("link", {"n0003", "n0040"})
    assert loc.rings_tested == 32 and loc.every_pair_tested
    assert loc.tests <= ring_test_budget(64, 1)


@pytest.mark.parametrize("n", [64, 1024])
@pytest.mark.parametrize("seed", range(2))
def test_a_bad_link_is_found_under_the_ring_model(n, seed):
    rng = random.Random(seed)
    sim = SimulatedCluster.of(n)
    pair = rng.sample(sim.nodes, 2)
    sim.bad_links = {frozenset(pair)}
    loc = run(sim)
    (link,) = loc.findings
    assert (link.kind, set(link.nodes)) == ("link", set(pair))
    assert loc.blamed() == [] and loc.rings_tested == loc.rings_needed
    # the search proper (everything but the ring screens after the first) within the budget
    assert loc.tests - (loc.rings_tested - 1) <= group_test_budget(n, 1)


@pytest.mark.parametrize("n", [64, 1024])
def test_bad_nodes_and_a_link_together_under_the_ring_model(n):
    sim = SimulatedCluster.of(n, bad_nodes={"n0005", "n0033"}, bad_links=[("n0010", "n0050")])
    loc = run(sim)
    assert loc.blamed() == ["n0005", "n0033"]
    assert [set(f.nodes) for f in kinds(loc, "link")] == [{"n0010", "n0050"}]
    assert not kinds(loc, "group", "intermittent")
    assert loc.tests <= ring_test_budget(n, 3)


def test_reference_tests_are_steps_and_count_in_the_totals():
    """The driver's node-pair reference runs through the localisation's recorder: its tests
    are steps (phase "reference"), in tests, rounds and wall time, but prove no node good."""
    sim = SimulatedCluster.of(64, bad_nodes={"n0009"})
    pairs = [[("n0000", "n0008"), ("n0016", "n0024")], [("n0000", "n0016"), ("n0008", "n0024")]]
    seen = []

    def reference(run_tests):
        for rnd in pairs:
            seen.append(run_tests([Request(p, "reference") for p in rnd]))

    loc = run(sim, reference=reference, rings=1)
    assert [len(r) for r in seen] == [2, 2] and all(o.passed for r in seen for o in r)
    refs = [s for s in loc.steps if s.phase == "reference"]
    assert [s.index for s in refs] == [1, 2, 3, 4] and {s.round for s in refs} == {1, 2}
    assert loc.reference_tests == 4 and loc.tests == 4 + len(
        run(SimulatedCluster.of(64, bad_nodes={"n0009"}), rings=1).steps
    )
    assert loc.steps[4].phase == "screen" and loc.rounds == len(loc.round_wall_s)
    assert all(loc.passed_in[n] > 4 for n in ("n0000", "n0008", "n0016", "n0024"))
    assert loc.blamed() == ["n0009"]
    d = loc.to_dict()
    fams = {
        f.name: f.samples[0].value
        for f in text_string_to_metric_families(
            prometheus.render(ValidateResult([], localization=d))
        )
    }
    assert fams["scaling_validate_localization_tests"] == loc.tests  # the reference included
    assert fams["scaling_validate_localization_reference_tests"] == 4
    assert fams["scaling_validate_localization_rings_tested"] == 1
    assert fams["scaling_validate_localization_rings_needed"] == 32
    assert (d["tests"], d["reference_tests"], d["rings_tested"], d["rings_needed"]) == (
        loc.tests,
        4,
        1,
        32,
    )


@pytest.mark.parametrize(
    "value,needle",
    [("0", "positive integer, got 0"), ("-1", "positive integer"), ('"all"', "'all'")],
)
def test_a_bad_ring_orders_is_a_one_line_error_exit_2(tmp_path, value, needle):
    from click.testing import CliRunner

    from scaling.cli import main

    bad = tmp_path / "bad.toml"
    bad.write_text(f"[validate]\nring_orders = {value}\n")
    r = CliRunner().invoke(main, ["validate", "--config", str(bad), "--out", str(tmp_path / "r")])
    assert r.exit_code == 2, r.output
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("Error: bad value for validate.ring_orders") and needle in line
    assert not (tmp_path / "r").exists()


def test_a_known_bad_link_made_adjacent_again_is_not_searched_twice():
    """Removing bad n0019 from later rings makes n0014 and n0016 neighbours again in one of
    them: the ring leaves one end out (testing the pair it drops on its own) instead of failing
    and sending the search after the same link again."""
    sim = SimulatedCluster.of(36, bad_nodes={"n0019", "n0006"}, bad_links=[("n0014", "n0016")])
    loc = run(sim)
    assert loc.blamed() == ["n0006", "n0019"]
    assert [set(f.nodes) for f in loc.findings if f.kind == "link"] == [{"n0014", "n0016"}]
    assert sum(s.phase == "screen" and not s.passed for s in loc.steps) == 2  # one per fault's ring
    assert any(s.why.startswith("a pair the ring left out") for s in loc.steps)
    assert loc.every_pair_tested and loc.tests <= ring_test_budget(36, 3)


def test_a_cluster_above_the_exhaustive_size_bisects_even_when_fewer_nodes_are_left():
    sim = SimulatedCluster.of(9, bad_nodes={"n0002"}, bad_links=[("n0000", "n0003")])
    loc = run(sim)
    assert loc.mode == "bisect" and not [s for s in loc.steps if s.why.startswith("every pair")]
    assert loc.blamed() == ["n0002"] and [set(f.nodes) for f in kinds(loc, "link")] == [
        {"n0000", "n0003"}
    ]
    assert loc.tests <= ring_test_budget(9, 2)


@pytest.mark.parametrize("rings,says", [(None, "every pair of nodes was tested"), (1, "unseen")])
def test_the_report_says_which_pairs_were_crossed_and_counts_the_reference(rings, says):
    from scaling.report.validate import localization_blocks

    sim = SimulatedCluster.of(16, bad_nodes={"n0003"})
    loc = run(sim, rings=rings, reference=lambda r: r([Request(("n0000", "n0008"), "reference")]))
    text = " ".join(getattr(b, "text", "") for b in localization_blocks(loc.to_dict()))
    assert f"{loc.tests} group tests" in text and says in text
    assert f"{loc.rings_tested} of 8 ring orders screened" in text
    assert "include 1 node-pair reference test run to set the bar" in text


def test_a_group_test_with_a_node_already_lost_is_missing_not_a_crash():
    from scaling.collector.validate.internode import GroupBar, group_outcome

    # node b's ranks were lost before the localisation: its members never answered (None)
    out = group_outcome([None, {"wall_s": 0.5, "ranks": 2}], {"b": "rank 3 died"},
                        GroupBar(None, "none"), ("a", "b"))  # fmt: skip
    assert not out.passed and out.missing == ("b",) and "rank 3 died" in out.detail
