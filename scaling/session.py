"""One measuring session: the life cycle `run`, `validate` and `tune` share, written once.

    connect Ray -> place the ranks -> open the run directory -> write the start manifest
    -> measure (the command's own part) -> record how it ended -> stop the ranks and Ray

    with MeasuringSession(cfg, hooks, place=sweep.prepare, ranks=2) as s:
        try:
            s.start_manifest(kind="tune", workload="resnet50")   # + the placing notices
            ...measure on s.prep.gang, recording to s.rundir...
            status, error = "ok", None
        except KeyboardInterrupt as e:
            status, error = "interrupted", s.interrupted(e)
        finally:
            s.stop(status, error)     # hooks.done, ranks and Ray stopped, manifest ended, closed
    s.code                            # a signal that came while stopping (None: none)

Interrupts (scaling/interrupts.py) are routed from `__enter__` to `__exit__`: the first
SIGINT/SIGTERM/SIGHUP raises a KeyboardInterrupt in the body, later ones hurry the clean-up.
A signal while Ray starts or the ranks are placed propagates after what was started is
stopped (nothing was measured: the caller says so); while stopping, it is held until the
record is whole and kept in `code`. A run directory that cannot be opened is bad input
(ConfigError) and leaves nothing running.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from scaling import __version__, interrupts

if TYPE_CHECKING:
    from scaling.config import RunConfig
    from scaling.rundir import RunDir
    from scaling.sweep import Prepared


def preflight(cfg: RunConfig, *more: Callable[[], None], faults: bool = True) -> None:
    """What every measuring command refuses before Ray starts: a run directory that is an
    earlier run or cannot be written, --device cuda with no GPU here, a malformed SCALING_FAULTS
    (the test hook; `faults`), and the command's own `more` checks (each raises ValueError).
    Raises ConfigError (exit 2) naming the problem."""
    import os

    from scaling.cluster.local_device import check_cuda_here
    from scaling.config import ConfigError
    from scaling.rundir import check_run_path
    from scaling.workloads import faults as hook

    try:
        check_run_path(cfg.out, cfg.runs_dir)
        check_cuda_here(cfg.cluster.device, cfg.cluster.address)
        if faults:
            hook.check(os.environ.get(hook.ENV))
            hook.check(cfg.cluster.env.get(hook.ENV))
        for check in more:
            check()
    except ValueError as e:
        raise ConfigError(str(e)) from None


class MeasuringSession:
    """Owns Ray, the gang and the run directory for one command; see the module docstring."""

    def __init__(self, cfg: RunConfig, hooks, place: Callable[[RunConfig], Prepared],
                 ranks: int | None = None):  # fmt: skip
        """place(cfg) -> Prepared: picks the device and places the gang once Ray is up.
        ranks: announced ("placing 8 ranks") before placing, when known in advance."""
        self.cfg, self.hooks, self._place, self._ranks = cfg, hooks, place, ranks
        self.started = False
        self.prep: Prepared | None = None
        self.rundir: RunDir | None = None
        self.code: int | None = None
        self._signals = interrupts.SignalsInterrupt()
        self._on_stop: list[Callable[[], None]] = []
        self._stopped = False

    def __enter__(self) -> MeasuringSession:
        self._signals.__enter__()
        try:
            self._open()
        except BaseException:
            self._signals.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> bool:
        try:
            if not self._stopped:  # the body raised past its own handling: still put away
                self.stop("failed", "stopped")
        finally:
            self._signals.__exit__(*exc)
        return False

    def _open(self) -> None:
        from scaling.cluster.connect import connect_ray, disconnect_ray
        from scaling.config import ConfigError
        from scaling.rundir import RunDir, RunDirError, new_run_path

        cfg = self.cfg
        try:
            self.started = connect_ray(cfg.cluster.address, on_notice=self.hooks.notice)
            self._signals.reinstall()  # in case ray.init installed a SIGTERM handler of its own
            if self._ranks:
                n = self._ranks
                self.hooks.notice(f"placing {n} rank{'s' if n > 1 else ''}")
            self.prep = self._place(cfg)
        except BaseException:
            with interrupts.held():
                disconnect_ray(self.started)
            raise
        try:
            self.rundir = RunDir(cfg.out or new_run_path(cfg.runs_dir))
        except RunDirError as e:  # taken or unwritable since the check: nothing measured yet
            with interrupts.held():
                self.prep.gang.shutdown()
                disconnect_ray(self.started)
            raise ConfigError(str(e)) from None

    def start_manifest(self, kind: str | None = None, **extra) -> None:
        """Tell the user what placing found, and write the start manifest: what every command
        records (tool, config, device, ranks, host, Ray's nodes), its `kind` (none for run)
        and `extra` (the command's own fields: topology, level, workload, ...)."""
        import ray

        from scaling.config import to_dict
        from scaling.rundir import utc_now

        prep = self.prep
        for notice in prep.notices:
            self.hooks.notice(notice)
        self.rundir.write_manifest(
            tool={"name": "scaling", "version": __version__},
            **({"kind": kind} if kind else {}),
            status="running", started=utc_now(), ended=None, error=None,
            config=to_dict(self.cfg), device=prep.device, backend=prep.gang.backend,
            host=driver_host(), ray={"version": ray.__version__, "nodes": ray_nodes()},
            ranks=prep.gang.metas, notices=prep.notices, **extra,
        )  # fmt: skip

    def interrupted(self, e: KeyboardInterrupt, kept: str = "what was measured is kept") -> str:
        """A signal stopped the measuring: say so, keep its exit code; returns the reason."""
        why = interrupts.reason(e)
        self.code = interrupts.exit_code(e)
        self.hooks.notice(f"{why}: stopping the ranks; {kept}")
        return why

    def on_stop(self, close: Callable[[], None]) -> None:
        """Also call `close` when stopping, before the ranks are shut down (tune's trials)."""
        self._on_stop.append(close)

    def stop(self, status: str, error: str | None) -> None:
        """Measuring ended: record status, error and the end time, stop the ranks and Ray, close
        the run directory. Signals are held meanwhile; a first one lands in `code`."""
        from scaling.cluster.connect import disconnect_ray
        from scaling.rundir import RunDirError, utc_now

        if self._stopped:
            return
        self._stopped = True
        self.hooks.done()
        gang = self.prep.gang
        try:
            with interrupts.held():  # a first signal now waits for the record to be whole
                for close in self._on_stop:
                    try:
                        close()
                    except Exception:  # a broken group: the shutdown below kills the ranks
                        gang.broken = True
                # Recorded before the ranks and Ray are stopped: a driver killed outright in
                # that shutdown (SIGKILL, the OOM killer) still leaves how measuring ended,
                # not "running" (tests/test_end_record_sigkill.py). `run`'s sweep.run wrote
                # the same (with its traceback) as it returned, for callers without a session.
                try:
                    self.rundir.write_manifest(status=status, error=error, ended=utc_now())
                except RunDirError as e:
                    self.hooks.notice(f"could not record the end of the run in "
                                      f"{self.rundir.path}: {e}")  # fmt: skip
                interrupts.stage("shutdown")
                try:
                    gang.shutdown(grace_s=2.0 if status == "interrupted" else 10.0)
                    disconnect_ray(self.started)
                finally:
                    self.rundir.close()
        except KeyboardInterrupt as e:  # measuring had ended: its status stands, the exit says it
            self.code = self.code or interrupts.exit_code(e)


def driver_host() -> dict:
    """The driver's host, as the manifest records it."""
    import platform
    import socket

    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def ray_nodes() -> list[dict]:
    """Ray's view of the cluster, as the manifest records it."""
    import ray

    keep = ("NodeID", "NodeManagerAddress", "NodeManagerHostname", "Alive", "Resources")
    return [{k: n.get(k) for k in keep} for n in ray.nodes()]


def write_report(run_dir):
    """(report paths, None) or (None, why not): validate's and tune's report, written after the
    session; a report never costs the command's own outputs."""
    from scaling.collector.loaded_run import load_run
    from scaling.report import write_report as write
    from scaling.sinks.tables import write_startup

    try:
        run = load_run(run_dir)
        write_startup(run)  # startup.csv: what forming each group cost
        return write(run), None
    except Exception as e:
        return None, f"{type(e).__name__}: {e}"
