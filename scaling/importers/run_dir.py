"""nccl-tests logs -> a run directory that report, compare, predict and validate --judge read.

    from scaling.importers.run_dir import write_import
    path, notes = write_import([read_log("node1.log")], "runs/imported")

What maps to what (docs/import.md has the table):

- each row's out-of-place block is a `coll` sample of group "world" (several logs at the same
  op, dtype and world size: group "node:HOST", or the log's file name when it spans nodes);
  the in-place block is the same point in group "<group>:in-place". predict reads "world".
- time_s is nccl-tests' mean time of the size (one sample, iter 0, `averaged_iters` = the
  log's iterations x aggregation), timing "pipelined": nccl-tests times its iterations back
  to back and divides (docs/formulas.md), which is scaling's pipelined timing. The collector leaves
  p90/p99/min/max n/a for such samples: nccl-tests did not print them.
- #wrong is a `check` record of rank 0 (nccl-tests prints the sum over ranks); N/A or null
  (validation off) is wrong = null, i.e. n/a, never 0.
- the "Using devices" lines become the manifest's ranks (hostname, GPU index, bus id, model).

Nothing here measures: the manifest says kind "import", names every source file, and lists
what the logs did not contain.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

from scaling import __version__
from scaling.importers.nccl_tests import ParsedLog
from scaling.rundir import RunDir, utc_now
from scaling.workloads.catalog import record_key
from scaling.workloads.collectives import POINT_KEYS

SOURCE = "nccl-tests"


def group_names(logs: list[ParsedLog]) -> list[str]:
    """Each log's group: "world" unless two logs share op, dtype and world size."""
    keys = [(log.op, log.rows[0].dtype, log.ranks) for log in logs]
    shared = Counter(keys)
    names = []
    for log, key in zip(logs, keys, strict=True):
        if shared[key] == 1:
            names.append("world")
        elif len(log.hosts) == 1:
            names.append(f"node:{log.hosts[0]}")
        else:
            names.append(f"log:{Path(log.path).name}")
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ValueError(f"two logs are the same test of the same host ({dup}); import them "
                         "into separate run directories")  # fmt: skip
    return names


def samples(log: ParsedLog, group: str) -> list[dict]:
    """The log's rows as sample records (rank 0 holds the point's figures, as nccl-tests)."""
    n, nodes = log.ranks, len(log.hosts)
    span = "inter-node" if nodes > 1 else "intra-node"
    shape = f"{n} = {nodes} node{'s' if nodes > 1 else ''} × {n // nodes}"
    averaged = log.settings.get("iters", 0) * max(log.settings.get("agg iters", 1), 1) or None
    out = []
    for r in log.rows:
        # The workload's declared keys, so an imported point is keyed like a measured one.
        values = {"group": f"{group}:in-place" if r.in_place else group, "op": log.op,
                  "world_size": n, "ranks": n, "nodes": nodes, "span": span, "shape": shape,
                  "size_bytes": r.size_bytes, "count": r.count, "dtype": r.dtype,
                  "timing": "pipelined"}  # fmt: skip
        point = {"workload": "collectives", **record_key(POINT_KEYS, values), "round": 0}
        out.append({"type": "coll", **point, "iter": 0, "rank": 0, "time_s": r.time_us * 1e-6,
                    "time_is_mean": True, "averaged_iters": averaged, "source": SOURCE,
                    "printed_busbw_gbps": r.busbw_gbps})  # fmt: skip
        out.append({"type": "check", **point, "rank": 0, "wrong": r.wrong})
    return out


def _ranks(log: ParsedLog) -> list[dict]:
    return [{"rank": d.rank, "hostname": d.host, "node_id": d.host, "gpu_index": d.device,
             "gpu_name": d.model, "pci_bus_id": d.bus, "pid": d.pid, "device": "cuda",
             "source": Path(log.path).name} for d in log.devices]  # fmt: skip


def _sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def manifest(logs: list[ParsedLog], groups: list[str]) -> dict:
    sizes = [r.size_bytes for log in logs for r in log.rows]
    first = logs[0].settings
    missing = list(dict.fromkeys(m for log in logs for m in log.missing))
    missing += [
        "torch, CUDA and NCCL versions of the ranks, topology, link ceilings: the logs do not "
        "record them (NCCL_DEBUG=VERSION lines are not read)",
    ]
    return {
        "tool": {"name": "scaling", "version": __version__},
        "kind": "import",
        "status": "ok",
        "started": utc_now(),
        "ended": utc_now(),
        "error": None,
        "device": "cuda",
        "backend": "nccl",
        "imported": {
            "from": SOURCE,
            "logs": [
                {
                    "path": str(Path(log.path).resolve()),
                    "sha256": _sha256(log.path),
                    "format": log.format,
                    "version": log.version,
                    "op": log.op,
                    "ranks": log.ranks,
                    "hosts": log.hosts,
                    "models": log.models,
                    "group": g,
                    "settings": log.settings,
                    "avg_busbw_gbps": log.avg_busbw_gbps,
                }
                for log, g in zip(logs, groups, strict=True)
            ],  # fmt: skip
            "not_in_logs": missing,
        },
        "config": {
            "gpus": sorted({log.ranks for log in logs}),
            "collectives": {
                "ops": sorted({log.op for log in logs}),
                "dtypes": sorted({r.dtype for log in logs for r in log.rows}),
                "min_bytes": min(sizes),
                "max_bytes": max(sizes),
                "factor": None,
                "warmup": first.get("warmup iters"),
                "iters": first.get("iters"),
                "timing": "pipelined (nccl-tests: iterations back to back, mean time)",
            },
        },  # fmt: skip
        "ranks": [r for log in logs for r in _ranks(log)],
        "notices": [
            f"imported from {SOURCE}: {Path(log.path).name} ({log.op}, {log.ranks} "
            f"GPUs on {len(log.hosts)} host{'s' if len(log.hosts) > 1 else ''})"
            for log in logs
        ],  # fmt: skip
        "warnings": [f"not in the imported logs: {m}" for m in missing],
    }


def write_import(logs: list[ParsedLog], out: str | Path) -> Path:
    """Write the run directory (RunDir refuses one that already holds a run)."""
    groups = group_names(logs)
    rundir = RunDir(out)
    try:
        rundir.append_samples(rec for log, g in zip(logs, groups, strict=True)
                              for rec in samples(log, g))  # fmt: skip
        rundir.write_manifest(**manifest(logs, groups))
    finally:
        rundir.close()
    return rundir.path
