"""Pinned host-to-device and device-to-host copies of the rank's own GPU (hardware/transfers).

256 MiB pinned copies, 4 per timed repeat, CUDA events on the copying stream: the figures the
collector judges against the GPU's PCIe ceiling and Azure NHC's per-model minimum. A CPU rank
has no device memory to copy to: it returns why, and validate lists the check as not run.
"""

from __future__ import annotations

from scaling.workloads.checks import SHARED, TABLE, levels
from scaling.workloads.checks import records as rank_records
from scaling.workloads.registry import Workload

TARGET = "scaling.workloads.checks.host_copies:run"
REPEATS = {"quick": 5, "standard": 20, "long": 20}


def plan(cfg, n: int) -> list[dict]:
    return [{"workload": "host_copies", "check": "host_copies", "world_size": n,
             "bytes": levels.HOST_COPY_BYTES, "repeats": REPEATS[cfg.validate.level]}]  # fmt: skip


def run(spec: dict) -> dict:
    from scaling.hardware.transfers import measure_host_copies
    from scaling.workloads.timing import rank_device

    if rank_device() != "cuda":
        return {"who": spec.get("who"), "skipped": "CPU rank: no host<->device copy to measure"}
    import torch

    from scaling.workloads.checks import device_name

    got = measure_host_copies(torch.cuda.current_device(), spec["bytes"], spec["repeats"])
    if not got["available"]:
        return {"who": spec.get("who"), "error": got["reason"]}
    return {"who": spec.get("who"), "h2d": got["h2d"], "d2h": got["d2h"],
            "bytes": spec["bytes"], "device_name": device_name("cuda")}  # fmt: skip


def figures(point: dict, res: dict):
    """One record per direction; the rates are per repeat already (GB/s from CUDA events)."""
    if "h2d" not in res:
        keep = {k: res[k] for k in ("skipped", "error") if k in res}
        return [("h2d", keep), ("d2h", keep)]
    return [(d, {"rounds": res[d], "bytes": res["bytes"], "device_name": res["device_name"]})
            for d in ("h2d", "d2h")]  # fmt: skip


def records(point: dict, group, results: list[dict]) -> list[dict]:
    return rank_records(point, group, results, figures)


WORKLOAD = Workload(
    name="host_copies", plan=plan, rank=TARGET, records=records, table=TABLE, shared=SHARED,
    default=False,
)  # fmt: skip
