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

if TYPE_CHECKING:
    import pandas as pd

    from scaling.collector.loaded_run import Run
    from scaling.collector.runsets import SetComparison
    from scaling.config import RunConfig
    from scaling.report import ReportPaths
    from scaling.tune import TuneHooks, Tuning
    from scaling.validate import ValidateHooks, Validation


class RunHooks:
    """What a caller of `run` hears while it measures. Override what you need."""

    def notice(self, text: str) -> None:
        """A line for the user (a fallback to CPU, a skipped op, a warning)."""

    def planned(self, run_dir: Path, points: int) -> None:
        """The run directory exists and `points` points are planned; measuring starts."""

    def point(self, point: dict) -> None:
        """One point was measured and its samples are on disk."""

    def done(self) -> None:
        """Measuring ended (finished, failed or interrupted)."""


@dataclass
class Summary:
    """A run directory through the collector: its tables written, and optionally its report."""

    run: Run
    tables: list[Path]
    report: ReportPaths | None = None
    report_error: str | None = None
    """Why the report could not be written (the tables and samples are on disk)."""

    def to_dict(self) -> dict[str, Any]:
        """What `scaling report --json` prints."""
        run = self.run
        return {
            "run_dir": str(run.path),
            "report_md": str(self.report.markdown) if self.report else None,
            "report_html": str(self.report.html) if self.report else None,
            "tables": [str(p) for p in self.tables],
            "status": run.manifest.get("status"),
            "partial": run.partial,
            "partial_reason": run.partial_reason,
            "headline": run.headline.to_dict(),
            "warnings": run.warnings,
        }


@dataclass
class RunResult:
    path: Path
    status: str
    """ok | failed | interrupted: how the sweep ended (the manifest says why)."""
    summary: Summary | None = None
    """The collector's tables and the report; None when the samples could not be summarized."""
    summary_error: str | None = None
    interrupt_code: int | None = None
    """For an interrupted run, the exit code a shell expects: 130 Ctrl-C, 143 SIGTERM, 129 SIGHUP."""

    @property
    def manifest(self) -> dict:
        return self.summary.run.manifest if self.summary else {}

    @property
    def run(self) -> Run | None:
        return self.summary.run if self.summary else None

    @property
    def report(self) -> ReportPaths | None:
        return self.summary.report if self.summary else None

    def wrong(self) -> int:
        """Wrong elements over every checked collective point (nccl-tests #wrong)."""
        coll = self.run.collectives if self.run else None
        return 0 if coll is None or coll.empty else int(coll["wrong"].fillna(0).sum())

    def diverged(self) -> pd.DataFrame | None:
        """Training rows whose parameters differ across ranks after the measured steps."""
        t = self.run.training if self.run else None
        return None if t is None or t.empty else t[t["consistent"].eq(False)]

    def failures(self) -> list[tuple[str, str]]:
        """(what failed, detail) for each reason this run counts as failed; empty when good.
        An interrupted run is not a failure here (the CLI exits 130 for it)."""
        if self.status not in ("ok", "interrupted"):
            error = self.manifest.get("error")
            return [("run failed", f"{error} (samples measured so far are kept)")]
        out = []
        if self.wrong():
            out.append(("correctness check failed", f"{self.wrong()} wrong elements (see #wrong)"))
        diverged = self.diverged()
        if diverged is not None and not diverged.empty:
            where = ", ".join(
                f"{r.workload} at {r.world_size} ranks" for r in diverged.itertuples()
            )
            out.append(("consistency check failed", f"parameters differ across ranks ({where})"))
        return out


def preflight(cfg: RunConfig) -> None:
    """What can be refused before Ray starts: the run directory (a new, writable one; never an
    earlier run), --device cuda with no GPU here, the sweep's memory. ConfigError (exit 2)."""
    from scaling.cluster import memory_fit
    from scaling.cluster.local_device import check_cuda_here
    from scaling.config import ConfigError
    from scaling.rundir import check_run_path

    try:
        check_run_path(cfg.out, cfg.runs_dir)
        check_cuda_here(cfg.cluster.device, cfg.cluster.address)
        memory_fit.check_local(cfg)
    except ValueError as e:
        raise ConfigError(str(e)) from None


def run(cfg: RunConfig, hooks: RunHooks | None = None, report: bool = True) -> RunResult:
    """Measure every point of cfg on a Ray gang, then summarize (tables, report).

    Samples go to the run directory as they arrive; a failed or interrupted sweep (Ctrl-C,
    SIGTERM, SIGHUP) keeps them and ends with status "failed" / "interrupted" instead of
    raising. An interrupt before measuring starts is raised (nothing was recorded); one during
    the clean-up or the report sets `interrupt_code` and keeps the status measuring ended with.
    """
    from scaling import interrupts, sweep

    hooks = hooks or RunHooks()
    preflight(cfg)
    with interrupts.SignalsInterrupt() as signals:
        started, prep, rundir = sweep.start(cfg, hooks, signals)
        status, code = "failed", None
        try:
            for notice in prep.notices:
                hooks.notice(notice)
            steps = sweep.plan(cfg, prep.gang)
            hooks.planned(rundir.path, cfg.repeats * sum(len(s.points) for s in steps))
            status = sweep.run(cfg, prep, rundir, hooks.point, hooks.notice, steps)
        except KeyboardInterrupt as e:
            status, code = "interrupted", interrupts.exit_code(e)
            hooks.notice(f"{interrupts.reason(e)}: stopping the ranks; what was measured is kept")
        finally:
            hooks.done()
            code = sweep.stop(prep, started, rundir, status) or code
        try:
            hooks.notice("writing the tables" + (" and the report" if report else ""))
            interrupts.stage("report")
            summary = summarize(rundir.path, report=report)
        except KeyboardInterrupt as e:  # the samples and the manifest are whole: say so
            why = f"{interrupts.reason(e)} while writing the tables and report"
            return RunResult(rundir.path, status, summary_error=why,
                             interrupt_code=code or interrupts.exit_code(e))  # fmt: skip
        except Exception as e:  # the samples are on disk: say so rather than lose the run
            return RunResult(rundir.path, status, summary_error=f"{type(e).__name__}: {e}",
                             interrupt_code=code)  # fmt: skip
    return RunResult(rundir.path, status, summary, interrupt_code=code)


def validate(cfg: RunConfig, hooks: ValidateHooks | None = None) -> Validation:
    """Validate the cluster (or this machine): check workloads on every rank, host checks on
    every node, the node's links, the localisation across nodes; judged into verdicts and
    written to validate.json, validate.junit.xml, validate.prom, bad_nodes.txt and the report.

    Bad input raises ConfigError before Ray starts, an impossible placement ClusterError (the
    CLI: exit 2). A rank or node that gives no measurement is a FAIL in the result, never an
    exception; an interrupt keeps what was measured (status "interrupted").
    """
    from scaling import interrupts
    from scaling.cluster.connect import connect_ray, disconnect_ray
    from scaling.config import ConfigError
    from scaling.rundir import RunDir, RunDirError, new_run_path, utc_now
    from scaling.validate import ValidateHooks, Validation, session
    from scaling.validate.driver import plan_lines

    hooks = hooks or ValidateHooks()
    session.preflight(cfg)
    with interrupts.SignalsInterrupt() as signals:
        started = False
        try:
            started = connect_ray(cfg.cluster.address, on_notice=hooks.notice)
            signals.reinstall()  # ray.init installs a SIGTERM handler of its own
            gang, device, notices = session.place(cfg)
        except BaseException:
            disconnect_ray(started)
            raise
        try:
            rundir = RunDir(cfg.out or new_run_path(cfg.runs_dir))
        except RunDirError as e:
            gang.shutdown()
            disconnect_ray(started)
            raise ConfigError(str(e)) from None
        status, error, code, records = "failed", None, None, []
        try:
            for notice in notices:
                hooks.notice(notice)
            session.start_manifest(rundir, cfg, gang, device, notices)
            hooks.planned(rundir.path, plan_lines(gang, cfg, device))
            records, status, error = session.measure(cfg, gang, device, rundir, hooks)
        except KeyboardInterrupt as e:
            status, code, error = "interrupted", interrupts.exit_code(e), interrupts.reason(e)
            hooks.notice(f"{error}: stopping the ranks; what was measured is kept")
        finally:
            hooks.done()
            try:
                with interrupts.held():  # a first signal now waits for the record to be whole
                    gang.shutdown(grace_s=2.0 if status == "interrupted" else 10.0)
                    disconnect_ray(started)
                    rundir.write_manifest(status=status, error=error, ended=utc_now())
                    rundir.close()
            except KeyboardInterrupt as e:
                code = code or interrupts.exit_code(e)
    if status == "interrupted":
        return Validation(rundir.path, status, error=error, interrupt_code=code)
    result, outputs, drain = session.conclude(rundir.path, records, cfg, status, error)
    rundir.write_manifest(result={"status": result.status, "counts": result.counts()})
    report, why = session.write_report(rundir.path)
    return Validation(rundir.path, status, result, outputs, drain, report, why, error, code)


def tune(cfg: RunConfig, hooks: TuneHooks | None = None) -> Tuning:
    """Find the fastest parallel strategy for one training workload at one world size: the
    memory model prunes what cannot fit, successive halving runs real training trials, the
    winner is rerun at full length; tune.json, best.toml and a report in the run directory.

    Bad input raises ConfigError before Ray starts, an impossible placement ClusterError (the
    CLI: exit 2). A candidate that fails or runs out of memory is recorded and the search goes
    on; an interrupt keeps every trial's samples (status "interrupted").
    """
    import copy

    from scaling import interrupts, sweep
    from scaling.tune import TuneHooks, session
    from scaling.tune.trials import Trials

    hooks = hooks or TuneHooks()
    target = session.preflight(cfg)
    cfg = copy.deepcopy(cfg)
    cfg.gpus, cfg.workloads = [target.world_size], [target.workload]
    with interrupts.SignalsInterrupt() as signals:
        started, prep, rundir = sweep.start(cfg, hooks, signals)
        trials = Trials(cfg, prep, rundir, target.workload, target.world_size,
                        lambda: sweep.prepare(cfg))  # fmt: skip
        outcome = None
        try:
            outcome = session.measure(cfg, target, trials, rundir, hooks)
        finally:
            hooks.done()
            session.finish(trials, rundir, started, outcome)
    report, why = session.write_report(rundir)  # a partial tune's report says it is partial
    outcome.report, outcome.report_error = report, why
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
