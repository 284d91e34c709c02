"""One validation, stage by stage, on a placed gang: every result recorded as it arrives.

    host checks (per node)  ->  per-rank checks (GEMM, memory, host copies, SDC [+ burn])
      ->  one process group over the ranks still answering: each node's all_reduce, its
          GPU pairs (standard, long), and across nodes the screen and the localisation

Each stage's results go to samples.jsonl before the next starts, so nothing measured is lost
if a later stage fails; the judging happens afterwards, in the collector, from those records
(collector/validate/assemble.py). A rank lost in one stage is recorded as not measured in
every later one (ranks.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from scaling.validate import comm, groups, hosts, links
from scaling.validate.localization import GroupTests, localise
from scaling.validate.plan import describe, stages
from scaling.validate.ranks import Ranks
from scaling.workloads.checks import gemm, host_copies, levels, membw, sdc

PER_RANK = (gemm, membw, host_copies, sdc)


class Recorder:
    """Records go to the run directory at once, and stay in memory for the judging."""

    def __init__(self, rundir):
        self.rundir, self.records = rundir, []

    def add(self, records: list[dict]) -> None:
        self.rundir.append_samples(records)
        self.records += records


def _timeout(cfg) -> float:
    return cfg.cluster.timeout_s


def per_rank(ranks: Ranks, cfg, device: str, rec: Recorder, hooks) -> None:
    """The checks every rank runs on its own: independent calls, one stopped rank costs only
    its own results."""
    n = len(ranks.ranks)
    for module in PER_RANK:
        wl = module.WORKLOAD
        if wl.name == "host_copies" and device != "cuda":
            rec.add([note("h2d, d2h: not run (CPU ranks: there is no host<->device copy)")])
            continue
        point = wl.plan(cfg, n)[0]
        extra = point.get("seconds", 0.0)
        if wl.name == "sdc" and levels.level(cfg).burn:
            point["burn_seconds"] = extra = 60.0 * cfg.validate.burn_minutes
        live = len(ranks.live())
        hooks.stage(wl.name, f"{live} rank{'s' if live != 1 else ''}")
        start = time.perf_counter()
        if "seconds" in point:  # a timed check: every rank starts its window together
            point["start_at"] = time.time() + levels.START_DELAY_S
        specs = [point | {"who": r.who()} for r in ranks.ranks]
        answers = ranks.call(ranks.ranks, wl.rank, specs, f"the {wl.name} check",
                             _timeout(cfg) + extra + levels.START_DELAY_S)  # fmt: skip
        rec.add(wl.records(point, None, comm.as_results(ranks.ranks, answers)))
        hooks.stage_done(wl.name, time.perf_counter() - start, _failures(answers))


def note(text: str) -> dict:
    """A line for validate.json's notes (what was not run, and why; what NCCL used)."""
    return {"type": "validate", "check": "note", "text": text}


def _failures(answers) -> list[str]:
    return [err for _, err in answers if err]


def collective(ranks: Ranks, gang, cfg, snapshots: dict, rec: Recorder, hooks) -> None:
    """Inside each node (its own process group): all_reduce, then pairs; across nodes: the
    localisation's group tests (a process group per test)."""
    timeout, env, pairs = _timeout(cfg), cfg.cluster.env, levels.level(cfg).pairwise
    if any(len(ranks.of_node(n)) > 1 for n in ranks.nodes):
        formed, lost = comm.node_groups(ranks, env, gang.backend, timeout, pairs)
        rec.add(lost + [r for f in formed for r in f.startup])
        try:
            _timed(hooks, "allreduce", "each node's ranks",
                   lambda: rec.add(comm.node_allreduce(ranks, formed, cfg, timeout)))  # fmt: skip
            found = comm.transports(ranks, formed, gang.backend)
            rec.add([note(f"{node}: NCCL transport {t}") for node, t in found.items()])
            if pairs and formed:
                progress = lambda k, n: hooks.progress("p2p", k, n)  # noqa: E731
                _timed(hooks, "p2p", "every rank pair of each node, both ways",
                       lambda: rec.add(comm.pairwise(ranks, formed, cfg, timeout, progress)))  # fmt: skip
        finally:
            groups.destroy(ranks, formed)
    if len(ranks.nodes) > 1:
        tests = GroupTests(ranks, cfg, timeout, rec.add, env, gang.backend)
        _timed(
            hooks,
            "inter_node",
            f"{len(ranks.nodes)} nodes",
            lambda: rec.add(localise(tests, snapshots)),
        )


def _timed(hooks, name: str, what: str, action: Callable[[], None]) -> None:
    hooks.stage(name, what)
    start = time.perf_counter()
    action()
    hooks.stage_done(name, time.perf_counter() - start, [])


def measure(gang, cfg, device: str, rec: Recorder, hooks, on_snapshots) -> Ranks:
    """Every stage, in order; returns the ranks (with who was lost)."""
    ranks = Ranks(gang)
    k = len(ranks.nodes)
    hooks.stage("host", f"{k} node{'s' if k != 1 else ''}")
    start = time.perf_counter()
    host_recs, snapshots = hosts.host_records(ranks, cfg)
    ranks.set_cpu_models(snapshots)
    rec.add(host_recs)
    rec.add(
        links.rank_records(ranks, snapshots) + links.node_records(ranks, snapshots, gang.backend)
    )
    on_snapshots(snapshots)
    hooks.stage_done(
        "host", time.perf_counter() - start, [r["error"] for r in host_recs if r.get("error")]
    )
    per_rank(ranks, cfg, device, rec, hooks)
    collective(ranks, gang, cfg, snapshots, rec, hooks)
    return ranks


def plan_lines(gang, cfg, device: str) -> list[str]:
    """What will run and the estimate, from the placed gang's shape."""
    per_node = list(_per_node(gang).values())
    return describe(cfg.validate.level, device, per_node, stages(cfg, device, per_node))


def _per_node(gang) -> dict[str, int]:
    out: dict[str, int] = {}
    for m in gang.metas:
        out[m["node_id"]] = out.get(m["node_id"], 0) + 1
    return out
