"""A recorded run directory -> validate's records, so `scaling validate --judge RUN_DIR` applies
validate's rules without measuring anything (no Ray, no torch).

    from scaling.collector.validate.recorded import judge_run
    result = judge_run("runs/imported", ValidateConfig(), created=utc_now())

- a `scaling validate` run: its own records (samples.jsonl, type "validate"), judged again
  with the thresholds given now;
- any other run (an imported nccl-tests log, a `scaling run`): each single-host all_reduce over
  all the host's GPUs becomes that node's all_reduce check, at one message size per fleet: the
  largest size every node of the fleet has where a public bar applies (allreduce_bars), else
  the largest shared size. Multi-host all_reduce curves are not a check validate makes: listed
  as not judged.

Checks the run never included are listed in the notes as "not run", not as missing
measurements: nothing was asked of them. A run that holds nothing any rule judges raises
NothingToJudge (the CLI: exit 2).
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import pandas as pd

from scaling.collector.collectives import _with_defaults
from scaling.collector.damaged import damaged_rows
from scaling.collector.load import _tolerant_records, read_manifest, read_samples
from scaling.collector.validate.assemble import assemble
from scaling.collector.validate.verdicts import ValidateResult
from scaling.config.allreduce_bars import node_bar
from scaling.config.units import format_bytes
from scaling.config.validate import ValidateConfig
from scaling.rundir import SAMPLES

VALIDATE_CHECKS = ("gemm", "membw", "h2d", "d2h", "sdc", "p2p", "allreduce", "inter_node",
                   "storage", "pcie_aspm", "doctor")  # fmt: skip
"""What `scaling validate` judges (README "Validate a new cluster")."""


class NothingToJudge(ValueError):
    """The run directory holds no measurement validate's rules apply to."""


def judge_run(run_dir: str | Path, cfg: ValidateConfig, created: str = "") -> ValidateResult:
    manifest = read_manifest(run_dir)
    samples = read_samples(run_dir)
    if samples.empty or "type" not in samples:
        raise NothingToJudge(f"{run_dir}: no samples to judge")
    if manifest.get("kind") == "validate":
        records = [r for r in _records(Path(run_dir)) if r.get("type") == "validate"]
        result = assemble(records, cfg, created=created)
        result.notes.insert(0, f"judged again from {run_dir} (recorded {manifest.get('started')}),"
                               " with the thresholds given now")  # fmt: skip
        return result
    records, notes = allreduce_records(samples, manifest)
    if not records:
        raise NothingToJudge(
            f"{run_dir}: nothing validate judges ({'; '.join(notes) or 'no all_reduce over one host'})"
        )
    result = assemble(records, cfg, created=created)
    ran = {"allreduce"}
    result.notes = ([f"judged from a recorded {manifest.get('kind') or 'run'} ({run_dir}): "
                     "nothing was measured now"] + notes + result.notes +
                    [f"{c}: not run (the recorded run did not include it)"
                     for c in VALIDATE_CHECKS if c not in ran])  # fmt: skip
    return result


def _records(run_dir: Path) -> list[dict]:
    """samples.jsonl as the records the driver wrote (a DataFrame would turn a rank that some
    records lack into 0.0); unreadable lines skipped with a warning, as everywhere."""
    path = run_dir / SAMPLES
    if not path.exists():
        return []
    # read_samples (judge_run's first read) has warned about the damaged lines already; the
    # same rules leave them out here
    records = _tolerant_records(path.read_bytes().split(b"\n"), [], {})
    bad = damaged_rows(pd.DataFrame.from_records(records)) if records else {}
    return [r for i, r in enumerate(records) if i not in bad]


def _absent(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _points(samples: pd.DataFrame, manifest: dict) -> dict:
    """(host, group) -> {model, ranks, time per size, wrong per size} of single-host
    all_reduce groups over all the host's GPUs (out-of-place rows only)."""
    ranks = manifest.get("ranks") or []
    if "op" not in samples:
        return {}
    coll = samples[(samples["type"].isin(("coll", "check"))) & (samples["op"] == "all_reduce")]
    coll = _with_defaults(coll)  # older and hand-written runs lack some point keys
    by_group: dict[str, dict] = {}
    for group, g in coll.groupby("group", sort=False):
        if str(group).endswith(":in-place"):
            continue
        host = _host(str(group), ranks)
        if host is None or int(g["nodes"].fillna(1).max()) != 1:
            continue
        # all the host's ranks (the largest world size), one dtype and timing: a `scaling run`
        # sweeps several, and a node's figure is one of them, never a mix
        g = g[g["ranks"] == g["ranks"].max()]
        g = g[g["dtype"] == _first(g["dtype"], "float32")]
        g = g[g["timing"] == _first(g["timing"], "pipelined")]
        timed = g[g["type"] == "coll"]
        # the op's time per iteration is the slowest rank's; the point's figure the median
        per_iter = timed.groupby(["size_bytes", "round", "iter"])["time_s"].max()
        times = per_iter.groupby(level=0).median().to_dict()
        checks = g[g["type"] == "check"]
        wrong = (
            checks.groupby("size_bytes")["wrong"].sum(min_count=1).to_dict()
            if "wrong" in checks
            else {}
        )
        models = [r.get("gpu_name") for r in ranks if r.get("hostname") == host]
        by_group[group] = {"host": host, "model": models[0] if models else None,
                           "ranks": int(timed["ranks"].max()), "times": times, "wrong": wrong,
                           "gpus": [r for r in ranks if r.get("hostname") == host]}  # fmt: skip
    return by_group


def _first(values: pd.Series, preferred: str) -> str:
    seen = list(dict.fromkeys(values.dropna()))
    return preferred if preferred in seen else seen[0]


def _host(group: str, ranks: list[dict]) -> str | None:
    if group.startswith("node:"):
        return group.removeprefix("node:")
    hosts = {r.get("hostname") for r in ranks}
    return next(iter(hosts)) if len(hosts) == 1 else None


def _size(nodes: list[dict], model: str | None, gpus: int) -> int | None:
    shared = set.intersection(*(set(n["times"]) for n in nodes))
    if not shared:
        return None
    barred = [s for s in shared if node_bar(model, gpus, int(s))[0] is not None]
    return int(max(barred or shared))


def allreduce_records(samples: pd.DataFrame, manifest: dict) -> tuple[list[dict], list[str]]:
    """Validate records (rank, node, allreduce) of each node's all-GPU all_reduce, and notes
    on what was not judged."""
    notes = []
    groups = _points(samples, manifest)
    if "op" in samples:
        spans = _with_defaults(
            samples[(samples["type"] == "coll") & (samples["op"] == "all_reduce")]
        )
        if not spans.empty and int(spans["nodes"].fillna(1).max()) > 1:
            notes.append("all_reduce over several hosts: not judged (validate judges each node's "
                         "all_reduce, and inter-node group tests it runs itself)")  # fmt: skip
    fleets = defaultdict(list)
    for g in groups.values():
        fleets[(g["model"], g["ranks"])].append(g)
    records, next_rank, index = [], 0, 0
    for (model, n), nodes in sorted(fleets.items(), key=str):
        size = _size(nodes, model, n)
        if size is None:
            notes.append(f"{model} x{n}: the nodes share no message size: not judged")
            continue
        notes.append(f"allreduce: {len(nodes)} node(s) of {n} x {model} judged at "
                     f"{format_bytes(size)} (the largest size all have"
                     f"{' with a public bar' if node_bar(model, n, size)[0] else ''})")  # fmt: skip
        for node in nodes:
            members = list(range(next_rank, next_rank + n))
            next_rank += n
            records += _node_records(node, members, size, index)
            index += 1
    return records, notes


def _node_records(node: dict, members: list[int], size: int, index: int) -> list[dict]:
    host, t = node["host"], float(node["times"][size])
    gpus = node["gpus"] or [{} for _ in members]
    out = [{"type": "validate", "check": "rank", "rank": r, "node": host, "node_index": index,
            "gpu": g.get("gpu_index", i), "uuid": g.get("uuid"), "model": node["model"],
            "device": "cuda"} for i, (r, g) in enumerate(zip(members, gpus, strict=False))]  # fmt: skip
    out.append({"type": "validate", "check": "node", "node": host, "node_index": index,
                "members": members, "model": node["model"], "device": "cuda"})  # fmt: skip
    wrong = node["wrong"].get(size)
    for i, r in enumerate(members):
        out.append({"type": "validate", "check": "allreduce", "rank": r, "node": host,
                    "group_id": f"node:{host}", "world_size": len(members), "times": [t],
                    "size_bytes": size, "ranks": len(members),
                    "wrong": None if i or _absent(wrong) else int(wrong)})  # fmt: skip
    return out
