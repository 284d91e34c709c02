"""The parts of `api.validate` around the measuring: refusals before Ray, placing the ranks,
the manifest, and judging and writing the outputs afterwards.

    preflight(cfg)                    bad input, before Ray starts (ConfigError: exit 2)
    place(cfg)                        -> the gang, its device and what to tell the user
    measure(cfg, gang, ...)           the stages (driver.py), records in samples.jsonl
    conclude(run_dir, records, cfg)   -> the ValidateResult, written to every sink and the report
"""

from __future__ import annotations

import os
import platform
import socket
import traceback
from pathlib import Path

from scaling import __version__
from scaling.workloads import faults


def preflight(cfg) -> None:
    """Refuse what can be refused before Ray starts; raises ConfigError naming the problem."""
    from scaling.cluster.local_device import check_cuda_here
    from scaling.config import ConfigError
    from scaling.rundir import check_run_path

    v = cfg.validate
    try:
        check_run_path(cfg.out, cfg.runs_dir)
        check_cuda_here(cfg.cluster.device, cfg.cluster.address)
        faults.check(os.environ.get(faults.ENV))
        faults.check(cfg.cluster.env.get(faults.ENV))
    except ValueError as e:
        raise ConfigError(str(e)) from None
    local = not (cfg.cluster.address or os.environ.get("RAY_ADDRESS"))
    if v.storage and local and not Path(v.storage).exists():
        raise ConfigError(f"--storage {v.storage}: no such file or directory")
    if v.baseline:
        read_baseline(v.baseline)


def read_baseline(path: str):
    from scaling.config import ConfigError
    from scaling.sinks.validate_json import read

    try:
        return read(path)
    except (OSError, ValueError, KeyError, TypeError) as e:
        why = getattr(e, "strerror", None) or str(e).splitlines()[0]
        raise ConfigError(f"--baseline {path}: not a readable validate run ({why})") from None


def rank_env(cfg) -> dict[str, str]:
    """[cluster] env, plus the driver's own SCALING_FAULTS (the test hook) when it has one."""
    env = dict(cfg.cluster.env)
    if os.environ.get(faults.ENV) and faults.ENV not in env:
        env[faults.ENV] = os.environ[faults.ENV]
    return env


def place(cfg):
    """(gang, device, notices): every GPU (or --gpus of them) on as few nodes as possible."""
    import ray

    from scaling.cluster.connect import ClusterError
    from scaling.cluster.gang import Gang, pick_device

    resources = ray.cluster_resources()
    device, _ = pick_device(cfg.cluster.device, 0)
    offered = int(resources.get("GPU" if device == "cuda" else "CPU", 0))
    size = cfg.validate.gpus or offered
    if size < 1:
        raise ClusterError(f"the Ray cluster offers no {'GPU' if device == 'cuda' else 'CPU'}")
    notices = []
    if device == "cpu":
        notices.append(f"no GPUs in the Ray cluster: validating {size} CPU ranks with gloo "
                       "(GEMM fp32; no host copies)")  # fmt: skip
    gang = Gang(size, device, "pack", cfg.cluster.gpus_per_node, cfg.cluster.timeout_s,
                rank_env(cfg))  # fmt: skip
    return gang, device, notices


def start_manifest(rundir, cfg, gang, device: str, notices: list[str]) -> None:
    import ray

    from scaling.config import to_dict
    from scaling.rundir import utc_now

    keep = ("NodeID", "NodeManagerAddress", "NodeManagerHostname", "Alive", "Resources")
    rundir.write_manifest(
        tool={"name": "scaling", "version": __version__}, kind="validate", status="running",
        started=utc_now(), ended=None, error=None, config=to_dict(cfg), device=device,
        backend=gang.backend, level=cfg.validate.level,
        host={"hostname": socket.gethostname(), "platform": platform.platform(),
              "python": platform.python_version()},
        ray={"version": ray.__version__, "nodes": [{k: n.get(k) for k in keep} for n in ray.nodes()]},
        ranks=gang.metas, notices=notices, faults=faults_seen(gang.metas),
    )  # fmt: skip


def faults_seen(metas: list[dict]) -> dict:
    """Where SCALING_FAULTS was set: the driver's environment and each rank's (by rank)."""
    ranks = {str(i): m["scaling_faults"] for i, m in enumerate(metas) if m.get("scaling_faults")}
    return {"driver": os.environ.get(faults.ENV) or None, "ranks": ranks}


def measure(cfg, gang, device: str, rundir, hooks):
    """(records, status, error): the stages; a stage that raises ends the run as failed with
    what was recorded kept. An interrupt propagates (KeyboardInterrupt)."""
    from scaling.hardware.topology import manifest_topology
    from scaling.validate.driver import Recorder
    from scaling.validate.driver import measure as run_stages

    rec = Recorder(rundir)

    def on_snapshots(snapshots):
        rundir.write_manifest(topology=manifest_topology(snapshots))

    try:
        ranks = run_stages(gang, cfg, device, rec, hooks, on_snapshots)
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


def conclude(run_dir: Path, records: list[dict], cfg, status: str, error: str | None):
    """Judge the records, compare with the baseline, write every sink and the report."""
    from scaling.collector.validate.assemble import assemble
    from scaling.collector.validate.baseline import against_baseline, paired
    from scaling.collector.validate.verdicts import missing
    from scaling.rundir import utc_now
    from scaling.sinks import drain, write_validation

    result = assemble(records, cfg.validate, created=utc_now())
    if status != "ok":  # the stages stopped early: what was not measured must not pass
        result.verdicts.append(
            missing(dict(check="validate", scope="group"), f"the validation stopped early: {error}")
        )
        result.notes.append(f"the validation stopped early: {error}")
    if cfg.validate.baseline:
        from functools import partial

        from scaling.collector.judge import judge

        base = read_baseline(cfg.validate.baseline)
        pct, family = cfg.validate.baseline_threshold_pct, len(paired(result, base))
        cmp = against_baseline(result, base, partial(judge, threshold_pct=pct, family=family))
        result.verdicts += cmp.verdicts
        result.baseline = cmp.summary(cfg.validate.baseline) | {
            "judge": f"scaling.collector.judge: threshold {pct:g}%, {family} figures judged together"
        }
    outputs = write_validation(result, run_dir)
    return result, outputs, drain.commands(result)


def write_report(run_dir: Path):
    """(report paths, None) or (None, why not): the report never costs the verdicts."""
    from scaling.collector.loaded_run import load_run
    from scaling.report import write_report as write
    from scaling.sinks.tables import write_startup

    try:
        run = load_run(run_dir)
        write_startup(run)  # startup.csv: what forming each group cost
        return write(run), None
    except Exception as e:
        return None, f"{type(e).__name__}: {e}"
