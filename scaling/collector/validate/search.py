"""The search itself: screens, exhaustive pairs, bisection, buddies, confirmation, seams.

Each method that yields is one investigation (a coroutine the Scheduler runs in rounds); it
returns the child investigations to start. The algorithm is described in localize.py.
Under all_reduce a request's nodes are in ring order (rings.py): halves are contiguous
stretches of their group's ring, so a pair adjacent in a group stays adjacent in its half, or
is a seam. Under all_to_all (Scheduler.every_pair) a group crosses every pair of its nodes:
where two passing halves fail together, a binary search finds the pair across them.
"""

from __future__ import annotations

from itertools import combinations

from scaling.collector.validate.group_tests import Investigation, Request, Result
from scaling.collector.validate.scheduler import Scheduler
from scaling.pairing import round_robin


class Search(Scheduler):
    def screen(self, exhaustive_max: int, order: tuple[str, ...], why: str) -> Investigation:
        """One ring over every node in play, in `order` (its ring order: rings.py)."""
        everyone = self.live(order)
        if len(everyone) < 2:
            return []
        (res,) = yield [Request(everyone, "screen", f"all {len(everyone)} nodes, {why}")]
        if res.lost:  # silent nodes are named; screen the rest again
            return [self.screen(exhaustive_max, everyone, why + " (without the silent ones)")]
        if not res.failed:
            return []
        if len(self.loc.nodes) <= exhaustive_max:  # the cluster's size, not what is left of it
            self.loc.mode = "exhaustive pairs"
            return [self.pairs(everyone, res.step.index)]
        return [self.investigate(everyone, res.step.index)]

    def pair_check(
        self, pair: tuple[str, str], why: str = "a pair the ring left out beside a known bad link"
    ) -> Investigation:
        """A pair a ring left out (Scheduler.around_known_links), tested on its own."""
        (res,) = yield [Request(pair, "pair", why)]
        return self._after(pair, res)

    def link_ends(self) -> list[Investigation]:
        """all_to_all: after the screen's search, the pairs it left untested: a found link's
        ends with the other nodes (the verify step leaves both ends out) and with each other.
        Each test is every node not blamed plus a set of ends holding no found link, chosen
        greedily to cover those pairs: two tests for one link, four for two."""
        links = {frozenset(f.nodes) for f in self.loc.findings if f.kind == "link"}
        out = self.blamed(("node", "no_measurement", "group"))
        ends = [n for n in dict.fromkeys(n for f in sorted(links, key=sorted) for n in sorted(f))
                if n not in out]  # fmt: skip
        new = [n for n in ends if n not in self.ends_done]
        self.ends_done.update(new)
        rest = tuple(n for n in self.live(self.loc.nodes) if n not in out and n not in ends)
        need = {frozenset((e,)) for e in new if rest} | {
            frozenset(p) for p in combinations(ends, 2)
            if frozenset(p) not in links and set(p) & set(new)
        }  # fmt: skip
        tests = []
        while need:
            group = set(min(need, key=sorted))
            for e in ends:
                if e in group or any(frozenset((e, x)) in links for x in group):
                    continue
                if any(e in p and p <= group | {e} for p in need):
                    group.add(e)
            need = {p for p in need if not p <= group}
            tests.append(self.ends_with(rest, tuple(e for e in ends if e in group)))
        return tests

    def ends_with(self, rest: tuple[str, ...], ends: tuple[str, ...]) -> Investigation:
        group = rest + ends
        (res,) = yield [Request(group, "verify", f"{', '.join(ends)} (ends of found links) with "
                                f"the {len(rest)} nodes not blamed")]  # fmt: skip
        return self._after(group, res)

    def verify(self, rest: tuple[str, ...], last: bool) -> Investigation:
        (res,) = yield [Request(rest, "verify", "every node not blamed, together")]
        if not res.failed:
            return []
        if last:
            self.find("group", self.live(rest), f"the {len(rest)} nodes not blamed still fail "
                      f"together (step {res.step.index}) after every pass of the search", (res.step.index,))  # fmt: skip
            return []
        return [self.recheck(rest) if res.lost else self.investigate(rest, res.step.index)]

    def recheck(self, group) -> Investigation:
        """Test again what is left of a group after silent nodes left it."""
        g = self.live(group)
        if not g:
            return []
        (res,) = yield [self.test_of(g, "retest", "the rest, after a node gave no measurement")]
        return self._after(g, res)

    def _after(self, group, res: Result) -> list:
        """What to do with a group whose test came back: children to start."""
        if res.outcome is None:
            self.find("group", group, f"{', '.join(group)} failed and no node has passed a test "
                      "to serve as a buddy", ())  # fmt: skip
            return []
        if not res.failed:
            return []
        if res.lost:
            return [self.recheck(group)]
        if len(group) == 1:
            return [self.confirm(group[0], res)]
        return [self.investigate(group, res.step.index)]

    def investigate(self, group, failed_step: int) -> Investigation:
        """group failed in failed_step: test both halves, go into the failing ones."""
        group = self.live(group)
        if len(group) < 2:
            return [self.recheck(group)]
        halves = self.split(group)
        results = yield [self.test_of(h, "bisect", f"half of step {failed_step}") for h in halves]
        if all(r.outcome is not None and not r.failed for r in results):
            return [self.cross(halves, failed_step, [r.step.index for r in results])]
        return [c for h, r in zip(halves, results, strict=True) for c in self._after(h, r)]

    def confirm(self, node: str, first: Result) -> Investigation:
        """node failed with one buddy (first): confirm with another."""
        buddy1 = next(n for n in first.request.nodes if n != node)
        (res,) = yield [
            Request((node,), "confirm", f"suspect {node}, a second buddy", True, (buddy1,))
        ]
        if res.outcome is None:
            self.find("group", (node,), f"{node} failed with {buddy1} (step {first.step.index}) "
                      "and no other node is left to confirm it with", (first.step.index,))  # fmt: skip
            return []
        if res.lost:  # the suspect is out, or its buddy went silent: try another buddy
            return [] if node in self.out else [self.confirm(node, first)]
        buddy2 = next(n for n in res.request.nodes if n != node)
        steps = (first.step.index, res.step.index)
        if res.failed:
            alone = (
                " (the only known-good node: a bad link to it cannot be ruled out)"
                if buddy2 == buddy1
                else ""
            )
            self.find("node", (node,), f"{node} failed with known-good {buddy1} (step {steps[0]}) "
                      f"and {buddy2} (step {steps[1]}){alone}", steps)  # fmt: skip
            return []
        (again,) = yield [
            Request((node, buddy1), "retest", f"{node} passed with {buddy2}: the pair again")
        ]
        return self._pair_verdict(node, buddy1, again, steps + (again.step.index,))

    def _pair_verdict(self, a: str, b: str, res: Result, steps) -> list:
        if res.lost:
            return [self.recheck((a, b))]
        if res.failed:
            self.find("link", (a, b), f"{a} and {b} fail together (steps "
                      f"{', '.join(map(str, steps))}) while each passes with other nodes", steps)  # fmt: skip
        else:
            self.find("intermittent", (a, b), f"{a} with {b} failed once and passed when "
                      f"repeated (steps {', '.join(map(str, steps))})", steps)  # fmt: skip
        return []

    def cross(self, halves, failed_step: int, half_steps: list[int]) -> Investigation:
        """Both halves pass alone, their union failed: a pair where the halves meet in the ring
        (the last of one and the first of the other, either way round), or a fluke. Those two
        seams are the only pairs the union's ring crosses and neither half's ring does."""
        a_half, b_half = halves
        union = a_half + b_half
        (res,) = yield [
            Request(union, "retest", f"halves passed (steps {half_steps}), the union again")
        ]
        steps = [failed_step, *half_steps, res.step.index]
        if res.lost:
            return [self.recheck(union)]
        if not res.failed:
            self.find("intermittent", union, f"{len(union)} nodes failed together in step "
                      f"{failed_step}, passed in step {res.step.index}", steps)  # fmt: skip
            return []
        if len(union) == 2:  # the retest was the pair alone
            return self._pair_verdict(*union, res, steps)
        if self.every_pair:
            return (yield from self._across(a_half, b_half, failed_step, res.step.index, steps))
        seams = {frozenset(p): p for p in ((a_half[-1], b_half[0]), (b_half[-1], a_half[0]))}
        results = yield [Request(p, "cross", "where the halves meet in the ring") for p in seams.values()]  # fmt: skip
        steps += [r.step.index for r in results]
        if any(r.lost for r in results):
            return [self.recheck(union)]
        failed = [r for r in results if r.failed]
        for r in failed:
            self._pair_verdict(*r.request.nodes, r, steps)
        if not failed:
            self.find("group", union, f"{len(union)} nodes fail together (steps {failed_step}, "
                      f"{res.step.index}), both halves pass, and neither pair where they meet "
                      "fails alone: several links, or a load-dependent fault", steps)  # fmt: skip
        return []

    def _across(self, a_half, b_half, failed_step: int, retest: int, steps: list[int]):
        """all_to_all: the union crosses every pair across the halves; binary search for the
        node of each half that fails with the other side, then test that pair alone."""
        a = yield from self._narrow(a_half, b_half, steps)
        b = yield from self._narrow(b_half, (a,), steps)
        (pair,) = yield [Request((a, b), "pair", "the cross pair alone")]
        steps.append(pair.step.index)
        if pair.failed and not pair.lost:
            return self._pair_verdict(a, b, pair, steps)
        self.find("group", a_half + b_half, f"{len(a_half) + len(b_half)} nodes fail together "
                  f"(steps {failed_step}, {retest}), both halves pass, and no single pair across "
                  "them fails alone: several links, or a load-dependent fault", steps)  # fmt: skip
        return []

    def _narrow(self, candidates, against, steps: list[int]):
        """Binary search for the node of `candidates` that fails together with `against`."""
        c = tuple(candidates)
        while len(c) > 1:
            first, second = self.split(c)
            (res,) = yield [Request(first + tuple(against), "cross", "which node fails across")]
            steps.append(res.step.index)
            c = first if res.failed else second
        return c[0]

    def pairs(self, group, screen_step: int) -> Investigation:
        """Every pair of a small cluster, N-1 rounds of disjoint pairs."""
        results = []
        for rnd in round_robin(group):
            results += yield [Request(p, "pair", "every pair (small cluster)") for p in rnd]
        live = self.live(group)
        failed = [r for r in results if r.failed and not r.lost]
        bad, unsure = self._bad_in_pairs(live, failed)
        links = [r for r in failed if not set(r.request.nodes) & set(bad + unsure)]
        if len(live) == 2 and links:
            self.find("group", live, f"the only pair fails (step {links[0].step.index}): no "
                      "third node to tell which", [links[0].step.index])  # fmt: skip
            return []
        if not failed and not bad and len(live) > 1:
            return (yield from self._every_pair_passed(live, screen_step))
        checks = yield [Request(r.request.nodes, "retest", "the failing pair again") for r in links]
        children = []
        for first, again in zip(links, checks, strict=True):
            steps = (first.step.index, again.step.index)
            children += self._pair_verdict(*first.request.nodes, again, steps)
        return children

    def _bad_in_pairs(self, live, failed: list[Result]) -> tuple[list[str], list[str]]:
        """Nodes that fail with every other node: bad when two of those partners passed another
        pair (two known-good buddies); otherwise which ones are bad cannot be told."""
        bad, unsure = [], []
        for n in live if len(live) > 2 else ():
            partners = {m for r in failed if n in r.request.nodes for m in r.request.nodes} - {n}
            if partners < set(live) - {n}:
                continue
            good = sorted(partners & set(self.loc.passed_in))
            steps = [r.step.index for r in failed if n in r.request.nodes]
            if len(good) >= 2:
                self.find("node", (n,), f"{n} failed with every other node, {len(good)} of them "
                          f"known-good ({', '.join(good[:3])}{'...' if len(good) > 3 else ''}; steps {steps})", steps)  # fmt: skip
                bad.append(n)
            else:
                unsure.append(n)
        if unsure:
            self.find("group", unsure, f"{', '.join(unsure)} each fail with every other node, and "
                      "too few nodes passed a pair to tell which are bad", ())  # fmt: skip
        return bad, unsure

    def _every_pair_passed(self, live, screen_step: int):
        (res,) = yield [Request(live, "retest", "every pair passed: all of them again")]
        steps = (screen_step, res.step.index)
        if res.lost:
            return [self.recheck(live)]
        if res.failed:
            self.find("group", live, f"all {len(live)} nodes fail together (steps {screen_step}, "
                      f"{res.step.index}) though every pair passes: load-dependent", steps)  # fmt: skip
        else:
            self.find("intermittent", live, f"{len(live)} nodes failed together in step "
                      f"{screen_step}, passed in step {res.step.index}", steps)  # fmt: skip
        return []
