"""The library API: what the commands do, without a terminal. The CLI parses, calls these,
prints and sets the exit code; a notebook or a script calls them directly.

    from scaling import api
    from scaling.config import load_config

    result = api.run(load_config("configs/quick.toml"))   # measure; tables + report written
    result.status, result.failures(), result.run.collectives, result.report.html
    report = api.report("runs/20260101T120000Z-1a2b3c")   # (re)write tables and report
    diff, _ = api.compare(["runs/a1", "runs/a2"], ["runs/b1", "runs/b2"], ["runs"])
    api.runs("runs")                                        # past runs, newest first
    v = api.validate(load_config(overrides={"validate.level": "quick"}))   # accept or reject
    v.exit_code, v.result.verdicts, v.drain
    t = api.tune(load_config(overrides={"tune.workload": "resnet50", "tune.budget": "3m"}))
    t.exit_code, t.document["winner"], t.outputs               # tune.json, best.toml

Importing this module is cheap: torch, Ray and pandas are imported by the calls that need
them. Errors a user can fix are raised as ConfigError, ClusterError or NotARunDir (the CLI:
exit 2); NodesDiffer and GangError mean the run could not start (exit 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scaling.run_outcome import RunHooks, RunResult, Summary

if TYPE_CHECKING:
    from scaling.collector.loaded_run import Run
    from scaling.collector.runsets import SetComparison
    from scaling.config import RunConfig
    from scaling.tune import TuneHooks, Tuning
    from scaling.validate import ValidateHooks, Validation

__all__ = ["RunHooks", "RunResult", "Summary"]  # run's own types: api.RunResult etc. still work


def preflight(cfg: RunConfig) -> None:
    """What can be refused before Ray starts: the run directory (a new, writable one; never an
    earlier run), --device cuda with no GPU here, the sweep's memory. ConfigError (exit 2)."""
    from scaling import session
    from scaling.cluster import memory_fit

    session.preflight(cfg, lambda: memory_fit.check_local(cfg), faults=False)


def run(cfg: RunConfig, hooks: RunHooks | None = None, report: bool = True) -> RunResult:
    """Measure every point of cfg on a Ray gang, then summarize (tables, report).

    Samples go to the run directory as they arrive; a failed or interrupted sweep (Ctrl-C,
    SIGTERM, SIGHUP) keeps them and ends with status "failed" / "interrupted" instead of
    raising. An interrupt before measuring starts is raised (nothing was recorded); one during
    the clean-up or the report sets `interrupt_code` and keeps the status measuring ended with.
    """
    from scaling import interrupts, sweep
    from scaling.hardware.topology import manifest_topology
    from scaling.session import MeasuringSession

    hooks = hooks or RunHooks()
    preflight(cfg)
    with MeasuringSession(cfg, hooks, sweep.prepare, ranks=max(cfg.gpus)) as s:
        status = "failed"
        try:
            s.start_manifest(topology=manifest_topology(s.prep.snapshots), synthetic_data=True)
            steps = sweep.plan(cfg, s.prep.gang)
            hooks.planned(s.rundir.path, cfg.repeats * sum(len(st.points) for st in steps))
            status = sweep.run(cfg, s.prep, s.rundir, hooks.point, hooks.notice, steps)
        except KeyboardInterrupt as e:
            status = "interrupted"
            s.interrupted(e)
        finally:  # sweep.run recorded the error: the session keeps it
            s.stop(status, s.rundir.manifest.get("error"))
        path, code = s.rundir.path, s.code
        try:
            hooks.notice("writing the tables" + (" and the report" if report else ""))
            interrupts.stage("report")
            summary = summarize(path, report=report)
        except KeyboardInterrupt as e:  # the samples and the manifest are whole: say so
            why = f"{interrupts.reason(e)} while writing the tables and report"
            return RunResult(path, status, summary_error=why,
                             interrupt_code=code or interrupts.exit_code(e))  # fmt: skip
        except Exception as e:  # the samples are on disk: say so rather than lose the run
            return RunResult(path, status, summary_error=f"{type(e).__name__}: {e}",
                             interrupt_code=code)  # fmt: skip
    return RunResult(path, status, summary, interrupt_code=code)


def validate(cfg: RunConfig, hooks: ValidateHooks | None = None) -> Validation:
    """Validate the cluster (or this machine): check workloads on every rank, host checks on
    every node, the node's links, the localisation across nodes; judged into verdicts and
    written to validate.json, validate.junit.xml, validate.prom, bad_nodes.txt and the report.

    Bad input raises ConfigError before Ray starts, an impossible placement ClusterError (the
    CLI: exit 2). A rank or node that gives no measurement is a FAIL in the result, never an
    exception; an interrupt keeps what was measured (status "interrupted").
    """
    from scaling.session import MeasuringSession, write_report
    from scaling.validate import ValidateHooks, Validation
    from scaling.validate.conclude import conclude
    from scaling.validate.driver import measure_recorded, plan_lines
    from scaling.validate.placing import faults_seen, place, preflight

    hooks = hooks or ValidateHooks()
    preflight(cfg)
    with MeasuringSession(cfg, hooks, place) as s:
        status, error, records = "failed", None, []
        try:
            gang = s.prep.gang
            s.start_manifest(kind="validate", level=cfg.validate.level,
                             faults=faults_seen(gang.metas))  # fmt: skip
            hooks.planned(s.rundir.path, plan_lines(gang, cfg, s.prep.device))
            records, status, error = measure_recorded(cfg, gang, s.prep.device, s.rundir, hooks)
        except KeyboardInterrupt as e:
            status, error = "interrupted", s.interrupted(e)
        finally:
            s.stop(status, error)
    path, code = s.rundir.path, s.code
    if status == "interrupted":
        return Validation(path, status, error=error, interrupt_code=code)
    result, outputs, drain = conclude(path, records, cfg, status, error)
    s.rundir.write_manifest(result={"status": result.status, "counts": result.counts()})
    report, why = write_report(path)
    return Validation(path, status, result, outputs, drain, report, why, error=error,
                      interrupt_code=code)  # fmt: skip


def tune(cfg: RunConfig, hooks: TuneHooks | None = None) -> Tuning:
    """Find the fastest parallel strategy for one training workload at one world size: the
    memory model prunes what cannot fit, successive halving runs real training trials, the
    winner is rerun at full length; tune.json, best.toml and a report in the run directory.

    Bad input raises ConfigError before Ray starts, an impossible placement ClusterError (the
    CLI: exit 2). A candidate that fails or runs out of memory is recorded and the search goes
    on; an interrupt keeps every trial's samples (status "interrupted").
    """
    import copy

    from scaling import sweep
    from scaling.session import MeasuringSession, write_report
    from scaling.tune import TuneHooks, driver
    from scaling.tune.trials import Trials

    hooks = hooks or TuneHooks()
    target = driver.preflight(cfg)
    cfg = copy.deepcopy(cfg)
    cfg.gpus, cfg.workloads = [target.world_size], [target.workload]
    with MeasuringSession(cfg, hooks, sweep.prepare, ranks=target.world_size) as s:
        trials = Trials(cfg, s.prep, s.rundir, target.workload, target.world_size,
                        lambda: sweep.prepare(cfg))  # fmt: skip
        s.on_stop(trials.close)
        outcome = None
        try:
            outcome = driver.measure(cfg, target, trials, s, hooks)
        finally:
            s.stop(outcome.status if outcome else "failed",
                   outcome.error if outcome else "stopped")  # fmt: skip
    outcome.interrupt_code = outcome.interrupt_code or s.code
    outcome.report, outcome.report_error = write_report(s.rundir.path)  # a partial one says so
    return outcome


def summarize(run_dir: str | Path, report: bool = True) -> Summary:
    """Load a run through the collector, write its tables and (optionally) its report.

    The tables are written first and by the collector; a report that cannot be written is
    `report_error`, never a lost table.
    """
    from scaling.sinks.tables import write_tables

    loaded = load(run_dir)
    summary = Summary(loaded, write_tables(loaded))
    if report:
        from scaling.report import write_report

        try:
            summary.report = write_report(loaded)
        except Exception as e:
            summary.report_error = f"{type(e).__name__}: {e}"
    return summary


def report(run_dir: str | Path) -> Summary:
    """(Re)write a run's tables and its report.md / report.html from its samples."""
    return summarize(run_dir, report=True)


def load(run_dir: str | Path) -> Run:
    """A run directory through the collector; NotARunDir when it is none (or unreadable)."""
    from scaling.collector.load import ManifestError
    from scaling.collector.loaded_run import NotARunDir, load_run

    try:
        return load_run(run_dir)
    except ManifestError as e:
        raise NotARunDir(str(e)) from None


def compare(
    bases: list[str | Path],
    news: list[str | Path],
    history_dirs: list[str | Path] = (),
    threshold_pct: float = 5.0,
    confidence: float = 0.95,
    accept_shift: bool = False,
    damage: list[str] | None = None,
) -> tuple[SetComparison, list[str]]:
    """The new runs against the base runs, runs as the unit (collector/runsets.py); history:
    earlier runs like the first base run, found under history_dirs. Returns the comparison
    and a line per history run that could not be used. NothingToCompare when a run stands on
    both sides; `damage` receives every run's damaged-line warnings."""
    from itertools import combinations

    from scaling.collector.coverage import check_distinct
    from scaling.collector.history import find_history
    from scaling.collector.runsets import compare_sets

    for a, b in combinations([*bases, *news], 2):  # within a side too: a copy is no new evidence
        check_distinct(a, b)
    base, new = [load(p) for p in bases], [load(p) for p in news]
    if damage is not None:
        damage += [w for r in (*base, *new) for w in r.damage]
    history, skipped = find_history(base[0], list(history_dirs), exclude=[*bases, *news])
    result = compare_sets(base, new, history, threshold_pct, confidence, accept_shift)
    return result, skipped


@dataclass
class PastRun:
    path: Path
    manifest: dict
    headline: Any
    """The collector's Headline, from the stored tables (or the samples when there are none)."""
    partial: bool = False

    def to_dict(self) -> dict[str, Any]:
        cfg = self.manifest.get("config") or {}
        return {
            "run": self.path.name,
            "path": str(self.path),
            "started": self.manifest.get("started"),
            "status": self.manifest.get("status") or "unknown",
            "partial": self.partial,
            "workloads": cfg.get("workloads") or [],
            "world_sizes": cfg.get("gpus") or [],
            "headline": self.headline.to_dict(),
        }


def runs(runs_dir: str | Path, skipped: list[str] | None = None) -> list[PastRun]:
    """Past runs under runs_dir, newest first; NotARunDir when runs_dir does not exist.

    One unreadable run (a torn manifest, a 0-byte table) must not hide the others: it is left
    out, and `skipped` (when given) receives one line saying which and why.
    """
    from scaling.collector.load import ManifestError
    from scaling.collector.loaded_run import NotARunDir
    from scaling.rundir import MANIFEST, SAMPLES

    root = Path(runs_dir)
    if not root.is_dir():
        raise NotARunDir(f"{root}: no such runs directory")
    dirs = sorted(
        (p for p in root.iterdir() if (p / MANIFEST).exists() or (p / SAMPLES).exists()),
        key=lambda p: p.name,
        reverse=True,
    )
    listed = []
    for p in dirs:
        try:
            listed.append(_past_run(p, skipped))
        except ManifestError as e:
            if skipped is not None:
                skipped.append(f"skipped unreadable run {p}: {e}")
        except Exception as e:
            first = (str(e).strip().splitlines() or [""])[0]
            if skipped is not None:
                skipped.append(f"skipped unreadable run {p}: {type(e).__name__}: {first}")
    return listed


def _past_run(path: Path, damage: list[str] | None) -> PastRun:
    from scaling.collector.load import read_manifest
    from scaling.collector.loaded_run import partial_reason

    manifest = read_manifest(path)  # a torn manifest: runs() skips the run with a warning
    headline = _stored_headline(path, manifest, damage)
    return PastRun(path, manifest, headline, partial_reason(manifest) is not None)


def _stored_headline(path: Path, manifest: dict, damage: list[str] | None):
    """From the tables the collector wrote; from the samples (warnings to `damage`) without."""
    import pandas as pd

    from scaling.collector.headline import Headline, headline
    from scaling.collector.loaded_run import NotARunDir, partial_reason
    from scaling.rundir import SUMMARY, TRAINING

    def written(name: str) -> bool:
        return (path / name).exists() and (path / name).stat().st_size > 0

    if written(SUMMARY):
        coll = pd.read_csv(path / SUMMARY)
        train = pd.read_csv(path / TRAINING) if written(TRAINING) else pd.DataFrame()
        return headline(manifest, coll, train, partial_reason(manifest))
    try:
        run = load(path)
    except NotARunDir:
        return Headline()
    if damage is not None:
        damage += run.damage
    return run.headline
