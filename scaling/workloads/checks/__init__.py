"""The check workloads of `scaling validate`: one module, one registered `Workload` each.

    gemm.py        dense GEMM throughput per rank (bf16 on GPU, fp32 on CPU), clock-event
                   reasons, temperature and PCIe generation sampled under the load (NVML)
    membw.py       device memory bandwidth: a large copy
    host_copies.py pinned H2D and D2H of the rank's GPU (hardware/transfers.py)
    sdc.py         the same seeded matmul on every rank, a bitwise digest per repetition
                   (the burn of level "long" repeats it for minutes)
    p2p.py         send/recv bandwidth of rank pairs, each direction (a node's GPU matrix)
    group_collective.py  an all_reduce over a given set of ranks, busbw (a node's GPUs; and the
                   inter-node group test of the localisation, all ranks of each node)

Each is an ordinary workload: `scaling run --workloads gemm,sdc` sweeps it like any other,
its samples land in checks.csv. `scaling validate` (scaling/validate/) calls the same rank
functions its own way: per rank, independently, with timeouts, so one stopped rank cannot
hold back the others' results. Every rank-side result is raw (times and the work done);
the collector turns them into figures and verdicts (scaling/collector/validate/).

The modules import no torch at the top: the rank side imports it inside the function, so
the registry (and `scaling run --help`) stays light. They share the [validate] section.
"""

from __future__ import annotations

from scaling.config.validate import ValidateConfig
from scaling.workloads.catalog import Table

SHARED = {"validate": ValidateConfig}
TABLE = Table(
    "checks",
    "checks.csv",
    "scaling.collector.validate.records:summarize",
    "scaling.collector.validate.records:CHECK_COLUMNS",
    tolerant=True,
)
RECORD = "validate"
"""The samples' "type" of a check result (collectives' "check" records are something else)."""


def who_in_group(group, index: int) -> dict:
    """A rank's identity from a sweep's group (validate passes its own in the spec)."""
    meta = group.metas[index] if group is not None and index < len(group.metas) else {}
    info = group.rank_info[index] if group is not None and hasattr(group, "rank_info") else {}
    gpu = meta.get("gpu_index")
    return {
        "rank": index,
        "node": meta.get("hostname"),
        "node_index": info.get("node_rank"),
        "gpu": gpu if isinstance(gpu, int) else info.get("local_rank", index),
        "uuid": meta.get("gpu_uuid"),
        "model": meta.get("gpu_name") or ("cpu" if meta.get("device") == "cpu" else None),
        "device": meta.get("device"),
    }


def records(point: dict, group, results: list[dict], figures=None) -> list[dict]:
    """One sample record per rank result (and per figure, for a check that measures two).

    figures(result) -> [(check, fields)]: how one rank result splits into records; default:
    the result itself under point["check"]. A non-member (member False) gives none.
    """
    out = []
    for i, res in enumerate(results):
        if not res or res.get("member") is False:
            continue
        who = res.get("who") or who_in_group(group, i)
        for check, fields in (figures or _whole)(point, res):
            out.append({"type": RECORD, "workload": point["workload"], "check": check,
                        "world_size": point.get("world_size"), **who, **fields})  # fmt: skip
    return out


def _whole(point: dict, res: dict):
    fields = {k: v for k, v in res.items() if k not in ("who", "member")}
    return [(point["check"], fields)]


def device_name(device: str) -> str:
    """The model the fleet rules group by: the GPU's name, or the CPU's model on CPU ranks."""
    if device == "cuda":
        import torch

        return torch.cuda.get_device_name(torch.cuda.current_device())
    from scaling.hardware.host import cpu_facts

    return str(cpu_facts()["cpu_model"])
