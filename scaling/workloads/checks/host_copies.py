"""Pinned host-to-device and device-to-host copies of the rank's own GPU (hardware/transfers).

256 MiB pinned copies (cudaMemcpyAsync: a copy engine, as nvbandwidth's *_memcpy_ce), 4 per
timed repeat, CUDA events on the copying stream. The spec says how many GPUs of the node copy
side by side (`at_once`): validate runs them one at a time per PCIe switch, judged against
the GPU's PCIe ceiling and Azure NHC's one-GPU-at-a-time minimum, then all at once, recorded
as h2d_all and d2h_all (scaling/validate/copies.py). A CPU rank has no device memory to copy
to: it returns why, and validate lists the check as not run.
"""

from __future__ import annotations

from scaling.workloads.catalog import Workload
from scaling.workloads.checks import SHARED, TABLE, levels
from scaling.workloads.checks import records as rank_records

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
            "bytes": spec["bytes"], "device_name": device_name("cuda"),
            "at_once": spec.get("at_once"), "sharers": spec.get("sharers")}  # fmt: skip


def figures(point: dict, res: dict):
    """One record per direction; the rates are per repeat already (GB/s from CUDA events).
    Copies of every GPU at once are h2d_all and d2h_all: another measurement, another line."""
    names = ("h2d_all", "d2h_all") if point.get("all_at_once") else ("h2d", "d2h")
    if "h2d" not in res:
        keep = {k: res[k] for k in ("skipped", "error", "at_once", "sharers") if k in res}
        return [(names[0], keep), (names[1], keep)]
    extra = {k: res.get(k) for k in ("bytes", "device_name", "at_once", "sharers")}
    return [
        (name, {"rounds": res[d]} | extra) for name, d in zip(names, ("h2d", "d2h"), strict=True)
    ]


def records(point: dict, group, results: list[dict]) -> list[dict]:
    return rank_records(point, group, results, figures)


WORKLOAD = Workload(
    name="host_copies", plan=plan, rank=TARGET, records=records, table=TABLE, shared=SHARED,
    default=False,
)  # fmt: skip
