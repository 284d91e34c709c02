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

from scaling import __version__, rounds
from scaling.cluster.consistency import version_mismatches
from scaling.cluster.gang import Gang, pick_device
from scaling.cluster.node_probe import probe_nodes
from scaling.config import RunConfig, to_dict
from scaling.hardware.diagnose import compare_nodes
from scaling.hardware.topology import group_link, manifest_topology
from scaling.rundir import RunDir, utc_now
from scaling.workloads import collectives, resnet50, transformer

# workload name -> module with plan(cfg, n), TARGET and records(point, group, results)
WORKLOADS = {"collectives": collectives, "resnet50": resnet50, "transformer": transformer}


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


def plan_points(cfg: RunConfig, name: str, group) -> list[dict]:
    """A workload's points at one world size, plus its hierarchical view across nodes."""
    wl = WORKLOADS[name]
    points = wl.plan(cfg, len(group.layout))
    if hasattr(wl, "hierarchical"):
        points += wl.hierarchical(points, group)
    return points


def count_points(cfg: RunConfig, gang: Gang) -> int:
    points = sum(len(plan_points(cfg, w, gang.layout(n))) for n in cfg.gpus for w in cfg.workloads)
    return points * cfg.repeats


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
        topology=manifest_topology(prep.snapshots),
        notices=prep.notices,
        synthetic_data=True,
    )
    status, error = "ok", None
    try:
        for n in cfg.gpus:
            with gang.group(n, cfg.cluster.env) as group:
                rundir.append_samples(group_records(group, prep.snapshots))
                if "collectives" in cfg.workloads and n == 1 and "sendrecv" in cfg.collectives.ops:
                    on_notice("sendrecv skipped at world size 1: a ring needs two ranks")
                planned = [(w, p) for w in cfg.workloads for p in plan_points(cfg, w, group)]
                for rnd, (name, point) in rounds.interleave(planned, cfg.repeats):
                    wl = WORKLOADS[name]
                    results = gang.call(group.actors, "run", wl.TARGET, point)
                    rundir.append_samples(rounds.tag(wl.records(point, group, results), rnd))
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
