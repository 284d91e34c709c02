"""Tune's driver (as validate/driver.py is validate's): `api.tune`'s steps inside the measuring session (scaling/session.py owns Ray, the ranks,
the run directory, interrupts and the shutdown): refusals before Ray, the memory model's
probes, the space, the search on real trials, and the outputs. The same role as
validate/driver.py in its package.

    target = preflight(cfg)                         bad input, before Ray (ConfigError: exit 2)
    space, ctx, note = plan_space(cfg, target, prep, trials, hooks)
    result = search(cfg, space, ctx, trials, budget_s, hooks)
    outputs = conclude(rundir, cfg, target, space, ctx, result, meta)
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    workload: str
    world_size: int


def preflight(cfg) -> Target:
    """The workload and world size to tune; ConfigError naming the problem otherwise."""
    from scaling import session
    from scaling.config import ConfigError
    from scaling.workloads.training import training_workloads

    t = cfg.tune
    trainable = training_workloads()
    if t.workload:
        workload = t.workload
    else:
        listed = [w for w in cfg.workloads if w in trainable]
        if len(listed) != 1:
            raise ConfigError(
                f"tune needs one training workload: --workload {' or '.join(trainable)}"
            )
        workload = listed[0]
    session.preflight(cfg)
    return Target(workload, t.world_size or max(cfg.gpus))


def base_candidate(cfg, facts, device: str, world_size: int):
    """The run config's own settings as a candidate: the value of every dimension that is off."""
    from scaling.collector.tune.space import Candidate
    from scaling.strategies import SINGLE, STRATEGIES
    from scaling.tune.model import AUTO_PRECISION

    t = cfg.training
    precision = AUTO_PRECISION[device] if t.precision == "auto" else t.precision
    common = dict(
        batch=facts.batch,
        precision=precision,
        activation_checkpointing=t.activation_checkpointing,
        compile=t.compile,
    )
    if world_size == 1:
        return Candidate(**common, strategy=SINGLE)
    strategy = STRATEGIES.get(t.strategy)
    return Candidate(
        **common, strategy=strategy.name, **{k: getattr(t, k) for k in strategy.options}
    )


def plan_space(cfg, target: Target, prep, trials, hooks):
    """(space, ctx, seconds the memory probes took, model facts): candidates, pruned with
    reasons."""
    from scaling.collector.tune.space import MemoryContext, SpaceContext, enumerate_space
    from scaling.tune.model import capacity_of, model_facts

    facts = model_facts(cfg, target.workload, prep.device)
    base = base_candidate(cfg, facts, prep.device, target.world_size)
    ctx = SpaceContext(prep.device, target.world_size, base, None)
    rough = enumerate_space(cfg.tune, ctx)  # device and model rule-outs only
    capacity, source = capacity_of(cfg, prep.device, prep.gang.metas, prep.snapshots)
    start = time.perf_counter()
    if capacity is not None:
        fits = probe_activations(rough.candidates, facts, trials, hooks)
        ctx.memory = MemoryContext(facts.shape, facts.optimizer, capacity, source,
                                   cfg.tune.memory_headroom, fits)  # fmt: skip
    else:
        hooks.notice(f"memory capacity {source}")
    space = enumerate_space(cfg.tune, ctx)
    trials.candidates = {c.id: c for c in space.candidates}
    return space, ctx, time.perf_counter() - start, facts


def probe_activations(candidates, facts, trials, hooks) -> dict:
    """Per activation key (precision, checkpointing, compile): the peaks of one step at the
    base batch and twice it, on one rank, fitted (memory.fit_activations). A key whose
    peaks do not fit (the batch did not set them) gets no fit: its estimate is then the
    static terms alone, a lower bound, and tune.json says so."""
    from scaling.collector.tune.memory import Sharding, fit_activations, forward_static
    from scaling.collector.tune.space import memory_precision

    fits = {}
    seen = {}
    for c in candidates:
        seen.setdefault(c.activation_key(), c)
    batches = (facts.batch, 2 * facts.batch)
    for key, c in seen.items():
        hooks.notice(f"memory: measuring a step's peak at batches {batches[0]} and "
                     f"{batches[1]} ({c.precision}, checkpointing {c.activation_checkpointing}"
                     f"{', compiled' if c.compile else ''})")  # fmt: skip
        probes = [trials.probe(c, b) for b in batches]
        bad = next((p for p in probes if p.get("status") != "ok"), None)
        if bad is not None:
            hooks.notice(f"memory: probe failed ({bad.get('status')}: {bad.get('error')}); "
                         "estimates for it are static terms only (a lower bound)")  # fmt: skip
            continue
        precision = memory_precision(c.precision)
        static = forward_static(facts.shape, facts.optimizer, precision, Sharding("single", 1))
        try:
            fits[key] = fit_activations(
                batches, tuple(int(p["peak_mem_bytes"]) for p in probes), probes[0]["mem_kind"],
                static, {"precision": c.precision, "activation_checkpointing":
                         c.activation_checkpointing, "compile": c.compile},
            )  # fmt: skip
        except ValueError as e:
            hooks.notice(f"memory: {e}; estimates for it are static terms only (a lower bound)")
    return fits


def search(cfg, space, ctx, trials, budget_s: float, hooks):
    from scaling.collector.tune.halving import successive_halving
    from scaling.collector.tune.halving_budget import schedule_of
    from scaling.collector.tune.judging import trial_judge
    from scaling.collector.tune.paired import paired_judge
    from scaling.collector.tune.space import departures

    by_id = {c.id: c for c in space.candidates}
    t = cfg.tune
    return successive_halving(
        list(by_id),
        trials,
        schedule_of(t),
        budget_s=budget_s,
        judge=trial_judge(t.threshold_pct, t.confidence),
        prefer=lambda cid: (departures(by_id[cid], ctx.base), list(by_id).index(cid)),
        on_progress=hooks.progress,
        paired=paired_judge(t.threshold_pct, t.confidence),
    )


def conclude(rundir_path, cfg, target: Target, space, ctx, result, meta: dict):
    """tune.json, best.toml (and nccl.env): returns (document, paths written)."""
    from scaling.collector.tune.result import tune_document
    from scaling.sinks.tune_files import write_tune
    from scaling.tune.best_config import best_toml

    doc = tune_document(result, space, ctx, cfg.tune, meta)
    best_text = None
    if result.winner:
        winner = next(c for c in space.candidates if c.id == result.winner)
        base = copy.deepcopy(cfg)
        base.training.scaling = "weak"  # the tuned batch is per rank
        row = next(r for r in doc["ranking"] if r["id"] == winner.id)
        figure = "n/a" if row["throughput"] is None else f"{row['throughput']:.4g} samples/s"
        header = [
            f"scaling tune: the fastest of {len(space.candidates)} candidates for "
            f"{target.workload} at world size {target.world_size} on {ctx.device}",
            f"winner {winner.id}: {figure}, from {doc['winner']['figure']}",
        ]
        best_text = best_toml(base, winner, target.workload, target.world_size, header)
    return doc, write_tune(rundir_path, doc, best_text)


def measure(cfg, target: Target, trials, session, hooks):
    """The start manifest, the probes, the search and the outputs; returns the Tuning. A
    failure ends it as "failed" with every trial's samples kept; an interrupt as
    "interrupted". `session` is the MeasuringSession the trials run in."""
    import traceback

    from scaling import interrupts
    from scaling.hardware.topology import manifest_topology
    from scaling.sweep import one_line
    from scaling.tune import Tuning
    from scaling.tune.partial import write_partial

    prep, rundir = trials.prep, session.rundir
    space = ctx = meta = None
    try:
        session.start_manifest(kind="tune", workload=target.workload,
                               world_size=target.world_size,
                               topology=manifest_topology(prep.snapshots),
                               synthetic_data=True)  # fmt: skip
        space, ctx, probe_s, facts = plan_space(cfg, target, prep, trials, hooks)
        if not space.candidates:
            raise NoCandidates(pruned_summary(space.pruned))
        budget = cfg.tune.budget - probe_s
        hooks.planned(rundir.path, plan_lines(cfg, target, space, ctx, probe_s, budget))
        meta = {"workload": target.workload, "preset": facts.preset, "trials": "real",
                "probe_s": probe_s, "run_dir": str(rundir.path)}  # fmt: skip
        result = search(cfg, space, ctx, trials, max(budget, 1.0), hooks)
        doc, outputs = conclude(rundir.path, cfg, target, space, ctx, result, meta)
        rundir.write_manifest(result={"winner": result.winner, "stop_reason": result.stop_reason})
        return Tuning(rundir.path, "ok", doc, outputs)
    except KeyboardInterrupt as e:
        why = interrupts.reason(e)
        hooks.notice(f"{why}: stopping the ranks; every trial's samples are kept")
        doc, outputs = write_partial(rundir, cfg, target, space, ctx, trials, why, meta or {})
        return Tuning(rundir.path, "interrupted", doc, outputs, error=why,
                      interrupt_code=interrupts.exit_code(e))  # fmt: skip
    except NoCandidates as e:
        return Tuning(rundir.path, "failed", error=str(e))
    except Exception as e:
        rundir.write_manifest(traceback=traceback.format_exc())
        trials.prep.gang.broken = True
        why = one_line(e)
        doc, outputs = write_partial(rundir, cfg, target, space, ctx, trials, why, meta or {})
        return Tuning(rundir.path, "failed", doc, outputs, error=why)


class NoCandidates(RuntimeError):
    """Every candidate was pruned: nothing to search (the reasons are in the message)."""


def pruned_summary(pruned) -> str:
    """One line: how many were pruned for what, and the first reason in full."""
    from collections import Counter

    kinds = Counter(reason.split(":", 1)[0] for _, reason in pruned)
    counts = ", ".join(f"{n} on {kind}" for kind, n in kinds.items())
    first = pruned[0][1] if pruned else "no candidates"
    return f"every candidate was pruned before running ({counts}); e.g. {first}"


def plan_lines(cfg, target: Target, space, ctx, probe_s: float, budget: float) -> list[str]:
    from scaling.collector.tune.halving_budget import plan_rungs, schedule_of, secs

    rungs = plan_rungs(len(space.candidates), schedule_of(cfg.tune))
    shape = ", ".join(f"{r['candidates']} x {r['rounds']}x{r['steps']}" for r in rungs)
    return [
        f"tuning {target.workload} at world size {target.world_size} on {ctx.device}: "
        f"{len(space.candidates)} candidates, {len(space.pruned)} pruned before running",
        f"memory: {space.memory_note}" + (f" (probes took {probe_s:.0f} s)" if probe_s else ""),
        f"budget {secs(cfg.tune.budget)}, {secs(max(budget, 0))} left for trials; rungs "
        f"(candidates x rounds x steps): {shape}",
    ]
