"""Real tune trials for the benchmarks: the gang, the run directory and the Trials callback
of `scaling tune` (scaling/tune/trials.py), set up and torn down in one place.

    with real_trials(cfg) as (trials, space, ctx):
        result = trials("b8-fp32-ddp-bk25", TrialBudget(1, 8, 1, 2, False))
"""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def real_trials(cfg):
    """(trials, space, ctx) for cfg's [tune] section on a local Ray; everything stopped after."""
    from scaling import sweep
    from scaling.cluster.connect import connect_ray, disconnect_ray
    from scaling.rundir import RunDir, new_run_path
    from scaling.tune import TuneHooks
    from scaling.tune import driver as session
    from scaling.tune.trials import Trials

    target = session.preflight(cfg)
    started = connect_ray(None)
    prep = sweep.prepare(cfg)
    rundir = RunDir(new_run_path(cfg.runs_dir))
    trials = Trials(cfg, prep, rundir, target.workload, target.world_size,
                    lambda: sweep.prepare(cfg))  # fmt: skip
    try:
        space, ctx, _, _ = session.plan_space(cfg, target, prep, trials, TuneHooks())
        print(f"{len(space.candidates)} candidates; samples in {rundir.path}")
        yield trials, space, ctx
    finally:
        trials.close()
        trials.prep.gang.shutdown()
        disconnect_ray(started)
        rundir.close()
