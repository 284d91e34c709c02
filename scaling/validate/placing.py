"""What `api.validate` does before measuring: refuse bad input, then place the ranks (the
measuring session, scaling/session.py, calls `place` once Ray is up).

    preflight(cfg)              bad input, before Ray starts (ConfigError: exit 2)
    place(cfg)                  -> Prepared: the gang, its device and what to tell the user
    faults_seen(gang.metas)     where the SCALING_FAULTS test hook was set, for the manifest
"""

from __future__ import annotations

import os
from pathlib import Path

from scaling.workloads import faults


def preflight(cfg) -> None:
    """Refuse what can be refused before Ray starts; raises ConfigError naming the problem."""
    from scaling import session
    from scaling.config import ConfigError

    v = cfg.validate
    session.preflight(cfg)
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
    """Prepared (gang, device, notices): every GPU (or --gpus of them) on as few nodes as
    possible. The topology is probed later, as a stage of its own (driver.py)."""
    import ray

    from scaling.cluster.connect import ClusterError
    from scaling.cluster.gang import Gang, pick_device
    from scaling.sweep import Prepared

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
    return Prepared(gang, device, notices)


def faults_seen(metas: list[dict]) -> dict:
    """Where SCALING_FAULTS was set: the driver's environment and each rank's (by rank)."""
    ranks = {str(i): m["scaling_faults"] for i, m in enumerate(metas) if m.get("scaling_faults")}
    return {"driver": os.environ.get(faults.ENV) or None, "ranks": ranks}
