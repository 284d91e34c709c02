"""The sweep: world sizes x workloads on one actor gang, samples streamed to the run directory.

CLI -> RunConfig -> (this) connect Ray -> gang -> plan every point once -> per world size:
group -> workload points -> samples -> run dir. Aggregation happens afterwards, in the
collector. Workloads are found through the registry (scaling.workloads.registry).
"""

from __future__ import annotations

import platform
import socket
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import ray

from scaling import __version__
from scaling.cluster.consistency import version_mismatches
from scaling.cluster.gang import Gang, pick_device
from scaling.cluster.node_probe import probe_nodes
from scaling.config import RunConfig, to_dict
from scaling.hardware.diagnose import compare_nodes
from scaling.hardware.topology import group_link, manifest_topology
from scaling.rundir import RunDir, utc_now
from scaling.workloads.registry import Workload
from scaling.workloads.registry import get as get_workload


class NodesDiffer(RuntimeError):
    """--strict and the nodes differ in versions: a failed check (exit 1), not bad input."""


@dataclass
class Prepared:
    """A placed gang and what the run needs to know about it."""

    gang: Gang
    device: str
    notices: list[str] = field(default_factory=list)
    snapshots: dict[str, dict] = field(default_factory=dict)
    """node_id -> hardware snapshot (scaling.hardware.probe) of every node."""


def prepare(cfg: RunConfig) -> Prepared:
    """Pick the device and place the gang; raises ClusterError (exit 2) when it cannot."""
    device, notice = pick_device(cfg.cluster.device, max(cfg.gpus))
    notices = [notice] if notice else []
    gang = Gang(
        max(cfg.gpus),
        device,
        cfg.cluster.placement,
        cfg.cluster.gpus_per_node,
        cfg.cluster.timeout_s,
        cfg.cluster.env,
    )
    niced = sorted({m["nice"] for m in gang.metas if m.get("nice")})
    if niced:
        notices.append(
            f"warning: ranks run at nice {','.join(map(str, niced))} (Ray's worker_niceness) and "
            "could not be raised: timings on a busy host are inflated; start Ray with "
            "RAY_worker_niceness=0"
        )
    snapshots, node_checks = probe_topology(notices)
    mismatches = version_mismatches(gang.metas) + [
        f"{c['check']}: {c['detail']}" for c in node_checks if c["status"] != "PASS"
    ]
    if mismatches and cfg.cluster.strict:
        gang.shutdown()
        raise NodesDiffer("; ".join(mismatches) + " (--strict)")
    notices += [f"warning: {m}" for m in mismatches]
    return Prepared(gang, device, notices, snapshots)


def probe_topology(notices: list[str]) -> tuple[dict[str, dict], list[dict]]:
    """Every node's hardware snapshot and the cross-node comparison; a failed probe is a notice."""
    try:
        snapshots = probe_nodes()
    except Exception as e:  # the measurement does not depend on it: say so and go on
        notices.append(f"warning: topology probe failed, link ceilings unknown: {e}")
        return {}, []
    return snapshots, compare_nodes(snapshots)


def group_records(group, snapshots: dict[str, dict]) -> list[dict]:
    """One "group" record per (world size, group view): shape, span, link class and ceiling."""
    views = {"world": list(range(len(group.metas)))} | group.subgroups()
    out = []
    for name, ranks in views.items():
        link = group_link(
            snapshots,
            [
                {k: group.metas[r].get(k) for k in ("node_id", "gpu_index", "gpu_uuid")}
                for r in ranks
            ],
        )
        out.append(
            {
                "type": "group",
                "group": name,
                "world_size": len(group.metas),
                "ranks": len(ranks),
                "member_ranks": ranks,
                **link,
            }
        )
    return out


def host_facts() -> dict:
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


@dataclass
class WorldSize:
    """One step of the sweep, planned before anything runs."""

    n: int
    points: list[tuple[Workload, dict]]
    """(workload, point) in run order: each workload's points, in --workloads order."""
    notices: list[str]
    """What to tell the user at this world size (e.g. an op a single rank cannot run)."""


def plan(cfg: RunConfig, gang: Gang) -> list[WorldSize]:
    """Every point of the run, planned once: the progress count and the run read the same list."""
    steps = []
    for n in cfg.gpus:
        group = gang.planned_group(n)
        workloads = [get_workload(name) for name in cfg.workloads]
        points = [(w, p) for w in workloads for p in w.points(cfg, group)]
        steps.append(WorldSize(n, points, [x for w in workloads for x in w.notices(cfg, n)]))
    return steps


def run(
    cfg: RunConfig,
    prep: Prepared,
    rundir: RunDir,
    on_point: Callable[[dict], None] = lambda p: None,
    on_notice: Callable[[str], None] = lambda s: None,
    steps: list[WorldSize] | None = None,
) -> str:
    """Run every point of `steps` (default: plan(cfg, gang)); returns the final status. The
    manifest always records how it ended."""
    gang = prep.gang
    steps = plan(cfg, gang) if steps is None else steps
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
        topology=manifest_topology(prep.snapshots),
        notices=prep.notices,
        synthetic_data=True,
    )
    status, error = "ok", None
    try:
        for step in steps:
            with gang.group(step.n, cfg.cluster.env) as group:
                rundir.append_samples(group_records(group, prep.snapshots))
                for notice in step.notices:
                    on_notice(notice)
                for wl, point in step.points:
                    results = gang.call(group.actors, "run", wl.rank, wl.rank_spec(point))
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
