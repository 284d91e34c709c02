"""Validate's driver (as tune/driver.py is tune's): one validation, stage by stage, on a placed gang: every result recorded as it arrives.

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
import traceback
from collections.abc import Callable

from scaling.cluster.node_memory import ranks_per_node
from scaling.validate import comm, copies, groups, hosts, links
from scaling.validate.localization import GroupTests, localise
from scaling.validate.plan import describe, stages
from scaling.validate.ranks import Ranks
from scaling.workloads.checks import gemm, host_copies, levels, membw, peer_copy, sdc

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


def per_rank(ranks: Ranks, cfg, device: str, rec: Recorder, hooks, snapshots=None) -> None:
    """The checks every rank runs on its own: independent calls, one stopped rank costs only
    its own results."""
    n = len(ranks.ranks)
    for module in PER_RANK:
        wl = module.WORKLOAD
        if wl.name == "host_copies" and device != "cuda":
            rec.add([note("h2d, d2h: not run (CPU ranks: there is no host<->device copy)")])
            continue
        if wl.name == "host_copies":
            host_copy_rounds(ranks, cfg, rec, hooks, snapshots or {})
            peer_copies(ranks, cfg, rec, hooks)
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


def host_copy_rounds(ranks: Ranks, cfg, rec: Recorder, hooks, snapshots: dict) -> None:
    """Host copies one GPU at a time per PCIe switch (the bar's way), then all at once."""
    wl = host_copies.WORKLOAD
    point = wl.plan(cfg, len(ranks.ranks))[0]
    rounds, sharers = copies.solo_rounds(ranks, snapshots)
    hooks.stage(wl.name, f"{len(rounds)} round(s) of one GPU per PCIe switch, then all at once")
    start, failures = time.perf_counter(), []
    per_node = {node: len(ranks.of_node(node)) for node in ranks.nodes}
    for members, alone in [(m, True) for m in rounds] + [(ranks.ranks, False)]:
        specs = [point | {"who": r.who(), "sharers": sharers.get(r.rank),
                          "at_once": 1 if alone else per_node[r.node]} for r in members]  # fmt: skip
        answers = ranks.call(members, wl.rank, specs, f"the {wl.name} check", _timeout(cfg))
        rec.add(wl.records(point | {"all_at_once": not alone}, None,
                           comm.as_results(members, answers, at_once=specs[0]["at_once"])))  # fmt: skip
        failures += _failures(answers)
    hooks.stage_done(wl.name, time.perf_counter() - start, failures)


def peer_copies(ranks: Ranks, cfg, rec: Recorder, hooks) -> None:
    """Each node's GPU pairs by copy-engine peer copy, one pair at a time, run by the node's
    first live rank (it sees every GPU of its node); nodes side by side."""
    wl = peer_copy.WORKLOAD
    runners = [(live[0], live) for node in ranks.nodes
               if len(live := ranks.live(ranks.of_node(node))) > 1]  # fmt: skip
    if not runners:
        return
    point = wl.plan(cfg, len(ranks.ranks))[0]
    pairs = sum(len(m) * (len(m) - 1) for _, m in runners)
    hooks.stage(wl.name, f"{pairs} GPU pairs by copy-engine peer copy, one pair at a time")
    start = time.perf_counter()
    specs = [point | {"who": r.who(), "peers": [{"rank": m.rank, "uuid": m.meta.get("gpu_uuid")}
                                                for m in members]} for r, members in runners]  # fmt: skip
    answers = ranks.call([r for r, _ in runners], wl.rank, specs, f"the {wl.name} check",
                         _timeout(cfg) * 2)  # fmt: skip
    rec.add(wl.records(point, None, comm.as_results([r for r, _ in runners], answers)))
    hooks.stage_done(wl.name, time.perf_counter() - start, _failures(answers))


def faults_record(cfg) -> dict:
    """SCALING_FAULTS on the driver and in [cluster] env (each rank's own is in its "rank"
    record): the collector raises a WARN when any is set."""
    import os

    from scaling.workloads.faults import ENV

    return {"type": "validate", "check": "faults", "driver": os.environ.get(ENV) or None,
            "cluster_env": cfg.cluster.env.get(ENV) or None}  # fmt: skip


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
            if pairs and formed:
                progress = lambda k, n: hooks.progress("p2p", k, n)  # noqa: E731
                _timed(hooks, "p2p", "every rank pair of each node, both ways",
                       lambda: rec.add(comm.pairwise(ranks, formed, cfg, timeout, progress)))  # fmt: skip
            _transports(ranks, formed, gang.backend, rec, "")  # the node's all_reduce and pairs
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
        # what the group tests' communicators used between nodes (NET/IB, NET/Socket...): the
        # port check warns when NCCL says NET/IB where sysfs shows no port
        live = [groups.Formed(ranks.live(ranks.of_node(n))) for n in ranks.nodes]
        _transports(ranks, [f for f in live if f.members], gang.backend, rec, " across nodes")


def _transports(ranks: Ranks, formed: list, backend: str, rec: Recorder, where: str) -> None:
    """NCCL's transports per node since the last reading: a note, and a record for judging."""
    found = comm.transports(ranks, formed, backend)
    rec.add([note(f"{node}: NCCL transport{where} {t}") for node, t in found.items()])
    rec.add([{"type": "validate", "check": "transport", "node": node, "transport": t}
             for node, t in found.items()])  # fmt: skip


def _timed(hooks, name: str, what: str, action: Callable[[], None]) -> None:
    hooks.stage(name, what)
    start = time.perf_counter()
    action()
    hooks.stage_done(name, time.perf_counter() - start, [])


def measure(gang, cfg, device: str, rec: Recorder, hooks, on_snapshots) -> Ranks:
    """Every stage, in order; returns the ranks (with who was lost)."""
    ranks = Ranks(gang)
    rec.add([faults_record(cfg)])
    k = len(ranks.nodes)
    hooks.stage("host", f"{k} node{'s' if k != 1 else ''}")
    start = time.perf_counter()
    host_recs, snapshots = hosts.host_records(ranks, cfg)
    ranks.set_cpu_models(snapshots)
    rec.add(host_recs)
    nodes = links.node_records(ranks, snapshots, gang.backend)
    rec.add(links.rank_records(ranks, snapshots) + nodes)
    if len(nodes) > 1:
        rec.add([note(f"{n['node']}: rails {', '.join(n['rails_unreached'])} not tested across "
                      "nodes (no rank on a GPU nearest them)") for n in nodes if n["rails_unreached"]])  # fmt: skip
    on_snapshots(snapshots)
    hooks.stage_done(
        "host", time.perf_counter() - start, [r["error"] for r in host_recs if r.get("error")]
    )
    per_rank(ranks, cfg, device, rec, hooks, snapshots)
    collective(ranks, gang, cfg, snapshots, rec, hooks)
    return ranks


def plan_lines(gang, cfg, device: str) -> list[str]:
    """What will run and the estimate, from the placed gang's shape."""
    per_node = list(ranks_per_node(gang.metas).values())
    return describe(cfg.validate.level, device, per_node, stages(cfg, device, per_node))


def measure_recorded(cfg, gang, device: str, rundir, hooks):
    """(records, status, error): the stages; a stage that raises ends the run as failed with
    what was recorded kept. An interrupt propagates (KeyboardInterrupt)."""
    from scaling.hardware.topology import manifest_topology

    rec = Recorder(rundir)

    def on_snapshots(snapshots):
        rundir.write_manifest(topology=manifest_topology(snapshots))

    try:
        ranks = measure(gang, cfg, device, rec, hooks, on_snapshots)
    except KeyboardInterrupt:
        raise
    except Exception as e:
        from scaling.sweep import one_line

        rundir.write_manifest(traceback=traceback.format_exc())
        gang.broken = True
        return rec.records, "failed", one_line(e)
    if ranks.lost:
        gang.broken = True  # a lost rank would only hold up a polite shutdown
    return rec.records, "ok", None
