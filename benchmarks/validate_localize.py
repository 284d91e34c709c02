"""How many group tests, and how much time, does the adaptive localisation need? A simulation.

Plants k bad nodes, bad links or silent nodes at random among N simulated nodes
(scaling/collector/validate/simulate.py: with --op all_to_all, the default as in [validate]
group_op, a bad link fails any test holding both ends; with --op all_reduce only a test whose
ring makes its two ends neighbours), runs the real search (localize.py) against it, the node-pair
reference first (the driver runs it when no minimum or network ceiling sets the bar; it is
counted here as it is in validate.json), and prints tests, rounds and the *modelled* wall
time next to the issue's budget of 2·k·log2(N) + 8 tests and to testing every pair.
Times come from simulate.CostModel (30 s of set-up per group test plus the data), an
estimate anchored on NVIDIA's cluster-readiness figures, not a measurement: they compare the
strategies with each other, nothing more. Disjoint tests of one round run side by side.

    python benchmarks/validate_localize.py                       # N = 8, 64, 232, 1024
    python benchmarks/validate_localize.py --nodes 1024 --k 1 2 --seeds 5
    python benchmarks/validate_localize.py --op all_reduce             # ring screens
    python benchmarks/validate_localize.py --op all_reduce --rings 1   # one ring: links unseen
    python benchmarks/validate_localize.py --op all_reduce --model any --rings 1  # older model

Exits 1 if any run blamed a good node, missed a bad one, or its search (all but the
reference, the ring screens after the first and, under all_to_all, the tests of found links'
ends with the rest) went over the issue's budget; where the total misses that budget, the row
says "over".
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time

from scaling.collector.validate.group_tests import Request, reference_rounds
from scaling.collector.validate.localize import group_test_budget, localize
from scaling.collector.validate.simulate import CostModel, SimulatedCluster

# Reference (NVIDIA's cluster-readiness design, public; not measured here):
NVIDIA_232 = "NVIDIA reference, 232 nodes: about 22-57 tests and ~28 min, vs 26,796 pairs"
EXHAUSTIVE = 8  # localize()'s default exhaustive_max_nodes


def one(n: int, k: int, seed: int, faults: str, a) -> tuple[int, int, int, int, float, bool, int]:
    rng = random.Random(seed)
    sim = SimulatedCluster.of(n, op=a.op)
    sim.ring = a.model == "ring"
    picked = rng.sample(sim.nodes, min(n, 2 * k))
    if faults == "nodes":
        sim.bad_nodes = set(picked[:k])
    elif faults == "links":
        sim.bad_links = {frozenset(picked[2 * i : 2 * i + 2]) for i in range(k)}
    else:  # silent: nodes that never answer
        sim.silent_nodes = set(picked[:k])

    def reference(run) -> None:
        for pairs in reference_rounds(sim.nodes) if a.reference else []:
            run([Request(p, "reference") for p in pairs])

    loc = localize(sim.nodes, sim, clock=sim.clock, timing="modelled", rings=a.rings,
                   reference=reference, op=a.op)  # fmt: skip
    want = sim.bad_nodes | sim.silent_nodes
    links = {frozenset(f.nodes) for f in loc.findings if f.kind == "link"}
    right = set(loc.blamed()) == want and links == sim.bad_links
    right &= not [f for f in loc.findings if f.kind == "group"]
    ends = sum("(ends of found links)" in s.why for s in loc.steps)
    return loc.tests, loc.reference_tests, loc.rings_tested, loc.rounds, loc.wall_s, right, ends


def exhaustive(n: int, cost: CostModel) -> tuple[int, float, float]:
    pairs = n * (n - 1) // 2
    rounds = n - 1 if n % 2 == 0 else n  # the circle method: N/2 disjoint pairs per round
    return pairs, pairs * cost(2), rounds * cost(2)


def minutes(s: float) -> str:
    return f"{s / 60:,.1f}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nodes", type=int, nargs="*", default=[8, 64, 232, 1024])
    p.add_argument("--k", type=int, nargs="*", default=[0, 1, 2, 3])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--rings", type=int, default=None, help="ring orders to screen (all)")
    p.add_argument("--op", choices=("all_to_all", "all_reduce"), default="all_to_all",
                   help="the group tests' collective ([validate] group_op)")  # fmt: skip
    p.add_argument("--model", choices=("ring", "any"), default="ring",
                   help="all_reduce: a bad link fails rings where its ends are neighbours, or any group")  # fmt: skip
    p.add_argument("--no-reference", dest="reference", action="store_false",
                   help="leave out the node-pair reference (a minimum or ceiling set the bar)")  # fmt: skip
    a = p.parse_args()
    cost, ok, start = CostModel(), True, time.perf_counter()
    model = "any group holding both ends" if a.op == "all_to_all" else a.model
    print(f"op: {a.op}; fault model: {model}; ring orders: {a.rings or 'all'}; reference: "
          f"{'counted' if a.reference else 'none'}; modelled times (simulate.CostModel: an "
          "estimate, not a measurement)")  # fmt: skip
    head = (f"{'faults':>7} {'N':>5} {'k':>2} | {'tests mean':>10} {'max':>4} = {'ref':>3} + "
            f"{'rings':>5} + {'ends':>4} + {'search':>6} | {'budget':>6} | {'rounds':>6} {'min (model)':>11} | "
            f"{'all pairs':>9} {'min conc':>8}")  # fmt: skip
    print(head + "\n" + "-" * len(head))
    for faults in ("nodes", "links", "silent"):
        for n in a.nodes:
            for k in a.k if faults == "nodes" else [k for k in a.k if k in (1, 2)]:
                if 2 * k > n:
                    continue
                runs = [one(n, k, s, faults, a) for s in range(a.seeds)]
                worst = max(runs, key=lambda r: r[0])
                tests, ref, rings, ends = worst[0], worst[1], worst[2], worst[6]
                # the first screen and the search: what the budget bounds
                search = tests - ref - max(rings - 1, 0) - ends
                budget = group_test_budget(n, k)
                # Up to EXHAUSTIVE nodes a failing screen tests every pair instead of bisecting.
                within = n <= EXHAUSTIVE or search <= budget
                right = all(r[5] for r in runs) or (a.rings is not None and faults == "links")
                ok &= right and within
                flag = "" if all(r[5] for r in runs) else "  WRONG"
                flag += "" if within else "  SEARCH OVER BUDGET"
                flag += "  over" if tests > budget else ""
                pairs, _, conc = exhaustive(n, cost)
                print(f"{faults:>7} {n:>5} {k:>2} | {statistics.mean(r[0] for r in runs):>10.1f} "
                      f"{tests:>4} = {ref:>3} + {max(rings - 1, 0):>5} + {ends:>4} + {search:>6} | "
                      f"{budget if n > EXHAUSTIVE else 'pairs':>6} | "
                      f"{statistics.mean(r[3] for r in runs):>6.1f} "
                      f"{minutes(statistics.mean(r[4] for r in runs)):>11} | {pairs:>9,} "
                      f"{minutes(conc):>8}{flag}")  # fmt: skip
    print(f"\n{NVIDIA_232}")
    print(
        "max: the worst run's tests, all counted = the node-pair reference ('ref') + the ring "
        "screens after the first ('rings'; all_reduce: ceil((N-1)/2) orders make every pair "
        "neighbours once) + the tests of found links' ends with the rest ('ends'; all_to_all) "
        "+ the first screen and the search ('search', which the budget bounds). "
        "budget: 2·k·log2(N) + 8 ('pairs': up to 8 nodes every pair is tested instead); "
        "'over': the total misses it. all pairs: N(N-1)/2 tests, 'min conc' N/2 pairs a round"
    )
    print(f"{a.seeds} seeds per row; simulated in {time.perf_counter() - start:.1f} s (measured)")
    print(
        "every bad node and link found, no good node blamed, search within budget"
        if ok
        else "FAILED"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
