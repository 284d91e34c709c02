"""The sweep: world sizes x workloads on one actor gang, samples streamed to the run directory.

CLI -> RunConfig -> (this) connect Ray -> gang -> per world size: group -> workload
points -> samples -> run dir. Aggregation happens afterwards, in the collector.
"""

from __future__ import annotations

import platform
import socket
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import ray

from scaling import __version__
from scaling.cluster.gang import Gang, pick_device
from scaling.config import RunConfig, to_dict
from scaling.rundir import RunDir, utc_now
from scaling.workloads import collectives, resnet50, transformer

# workload name -> module with plan(cfg, n), TARGET and records(point, group, results)
WORKLOADS = {"collectives": collectives, "resnet50": resnet50, "transformer": transformer}


@dataclass
class Prepared:
    """A placed gang and what the run needs to know about it."""

    gang: Gang
    device: str
    notices: list[str] = field(default_factory=list)


def prepare(cfg: RunConfig) -> Prepared:
    """Pick the device and place the gang; raises ClusterError (exit 2) when it cannot."""
    for name in cfg.workloads:
        if name not in WORKLOADS:
            from scaling.config import ConfigError

            raise ConfigError(f"unknown workload {name!r} (choose from {', '.join(WORKLOADS)})")
    device, notice = pick_device(cfg.cluster.device)
    notices = []
    if notice:
        notices.append(f"{notice.replace('running ranks', f'running {max(cfg.gpus)} ranks')}")
    gang = Gang(
        max(cfg.gpus),
        device,
        cfg.cluster.placement,
        cfg.cluster.gpus_per_node,
        cfg.cluster.timeout_s,
        cfg.cluster.env,
    )
    return Prepared(gang, device, notices)


def host_facts() -> dict:
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def count_points(cfg: RunConfig) -> int:
    return sum(len(WORKLOADS[w].plan(cfg, n)) for n in cfg.gpus for w in cfg.workloads)


def run(
    cfg: RunConfig,
    prep: Prepared,
    rundir: RunDir,
    on_point: Callable[[dict], None] = lambda p: None,
    on_notice: Callable[[str], None] = lambda s: None,
) -> str:
    """Run every point; returns the final status. The manifest always records how it ended."""
    gang = prep.gang
    rundir.write_manifest(
        tool={"name": "scaling", "version": __version__},
        status="running",
        started=utc_now(),
        ended=None,
        error=None,
        config=to_dict(cfg),
        device=prep.device,
        backend=gang.backend,
        host=host_facts(),
        ray={"version": ray.__version__, "nodes": _ray_nodes()},
        ranks=gang.metas,
        notices=prep.notices,
        synthetic_data=True,
    )
    status, error = "ok", None
    try:
        for n in cfg.gpus:
            with gang.group(n, cfg.cluster.env) as group:
                for name in cfg.workloads:
                    wl = WORKLOADS[name]
                    if name == "collectives" and n == 1 and "sendrecv" in cfg.collectives.ops:
                        on_notice("sendrecv skipped at world size 1: a ring needs two ranks")
                    for point in wl.plan(cfg, n):
                        results = gang.call(group.actors, "run", wl.TARGET, point)
                        rundir.append_samples(wl.records(point, group, results))
                        on_point(point)
    except KeyboardInterrupt:
        status, error = "interrupted", "interrupted by the user (Ctrl-C)"
        raise
    except Exception as e:
        status, error = "failed", f"{type(e).__name__}: {e}"
        rundir.write_manifest(traceback=traceback.format_exc())
        return status
    finally:
        rundir.write_manifest(status=status, error=error, ended=utc_now())
    return status


def _ray_nodes() -> list[dict]:
    keep = ("NodeID", "NodeManagerAddress", "NodeManagerHostname", "Alive", "Resources")
    return [{k: n.get(k) for k in keep} for n in ray.nodes()]
