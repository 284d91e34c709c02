"""Measured copy bandwidth on this machine's GPUs, nvbandwidth-style, next to the link ceilings.

    scaling topo --transfers

H2D and D2H with pinned host memory, D2D within each GPU, and the P2P matrix
(GPU i -> GPU j, copy engine). Every figure is one direction, GB/s = 1e9 B/s:
bytes copied / time, timed with CUDA events, the median over repeats after
warmup copies. D2D reads and writes each byte, so its memory traffic is twice
the figure. Without a CUDA device, `measure_transfers` says why and measures
nothing.
"""

from __future__ import annotations

import statistics
from typing import Any

from scaling.hardware.link_warmup import cuda_absent_reason
from scaling.hardware.topology import node_group, pcie_link

MIB = 1 << 20


def _time_copies(
    torch: Any, dst: Any, src: Any, device: Any, copies: int, repeats: int, warmup: int
) -> list[float]:
    """GB/s of `copies` back-to-back dst.copy_(src) per repeat, timed on `device`'s current stream.

    torch runs a cross-device copy on the source device's current stream and
    makes the destination's stream wait for it, so events on the source stream
    bracket the whole copy.
    """
    nbytes = src.numel() * src.element_size()
    with torch.cuda.device(device):
        stream = torch.cuda.current_stream()
        for _ in range(warmup):
            dst.copy_(src, non_blocking=True)
        torch.cuda.synchronize(dst.device if dst.is_cuda else device)
        torch.cuda.synchronize(device)
        rates = []
        for _ in range(repeats):
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record(stream)
            for _ in range(copies):
                dst.copy_(src, non_blocking=True)
            end.record(stream)
            end.synchronize()  # a CPU-GPU sync point: the copies are done past here
            rates.append(nbytes * copies / (start.elapsed_time(end) / 1e3) / 1e9)
    if dst.is_cuda:
        torch.cuda.synchronize(dst.device)
    return rates


def _summary(rates: list[float]) -> dict[str, Any]:
    return {
        "gbps": round(statistics.median(rates), 2),
        "samples_gbps": [round(r, 2) for r in rates],
    }


def measure_transfers(
    size_bytes: int = 256 * MIB, repeats: int = 5, warmup: int = 2, copies: int = 4
) -> dict[str, Any]:
    """Measure H2D, D2H, D2D per GPU and the P2P matrix. {"available": False, "reason"} without CUDA."""
    reason = cuda_absent_reason()
    if reason is not None:
        return {"available": False, "reason": f"cannot measure transfers: {reason}"}
    import torch

    n = torch.cuda.device_count()
    devices = [torch.device("cuda", i) for i in range(n)]
    result: dict[str, Any] = {
        "available": True,
        "reason": None,
        "size_bytes": size_bytes,
        "repeats": repeats,
        "copies_per_repeat": copies,
        "devices": [],
        "h2d": [],
        "d2h": [],
        "d2d": [],
        "p2p": [[None] * n for _ in range(n)],
        "p2p_access": [[i == j for j in range(n)] for i in range(n)],
    }
    host = torch.empty(size_bytes, dtype=torch.uint8, pin_memory=True)
    buffers = []
    for d in devices:
        props = torch.cuda.get_device_properties(d)
        uuid = getattr(props, "uuid", None)
        result["devices"].append(
            {"torch_index": d.index, "name": props.name, "uuid": f"GPU-{uuid}" if uuid else None}
        )
        a = torch.empty(size_bytes, dtype=torch.uint8, device=d)
        b = torch.empty(size_bytes, dtype=torch.uint8, device=d)
        buffers.append((a, b))
        result["h2d"].append(_summary(_time_copies(torch, a, host, d, copies, repeats, warmup)))
        result["d2h"].append(_summary(_time_copies(torch, host, a, d, copies, repeats, warmup)))
        result["d2d"].append(_summary(_time_copies(torch, b, a, d, copies, repeats, warmup)))
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            # Without peer access the copy is staged through host memory: still
            # measured, and p2p_access says so.
            result["p2p_access"][i][j] = torch.cuda.can_device_access_peer(i, j)
            rates = _time_copies(
                torch, buffers[j][1], buffers[i][0], devices[i], copies, repeats, warmup
            )
            result["p2p"][i][j] = _summary(rates)
    del buffers, host
    torch.cuda.empty_cache()
    return result


def measure_host_copies(
    device_index: int,
    size_bytes: int = 256 * MIB,
    repeats: int = 5,
    warmup: int = 2,
    copies: int = 4,
) -> dict[str, Any]:
    """Pinned H2D and D2H of one GPU (a rank's own): {"h2d": [GB/s per repeat], "d2h": [...]}.
    {"available": False, "reason"} without CUDA."""
    reason = cuda_absent_reason()
    if reason is not None:
        return {"available": False, "reason": f"cannot measure host copies: {reason}"}
    import torch

    device = torch.device("cuda", device_index)
    host = torch.empty(size_bytes, dtype=torch.uint8, pin_memory=True)
    dev = torch.empty(size_bytes, dtype=torch.uint8, device=device)
    out = {
        "available": True, "reason": None, "size_bytes": size_bytes, "copies_per_repeat": copies,
        "h2d": _time_copies(torch, dev, host, device, copies, repeats, warmup),
        "d2h": _time_copies(torch, host, dev, device, copies, repeats, warmup),
    }  # fmt: skip
    del host, dev
    torch.cuda.empty_cache()
    return out


def _nvml_index(snapshot: dict[str, Any], uuid: str | None) -> int | None:
    for g in snapshot["gpus"]:
        if uuid and g["uuid"] == uuid:
            return g["index"]
    return None


def compare_to_ceilings(result: dict[str, Any], snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per measurement: measured GB/s, the theoretical ceiling and the ratio (None when unknown)."""
    if not result["available"]:
        return []
    index = [_nvml_index(snapshot, d["uuid"]) for d in result["devices"]]
    rows = []

    def row(test: str, where: str, measured: float, ceiling: float | None, link: str) -> None:
        ratio = round(measured / ceiling, 3) if ceiling else None
        rows.append(
            {
                "test": test,
                "where": where,
                "measured_gbps": measured,
                "ceiling_gbps": ceiling,
                "ratio": ratio,
                "link": link,
            }
        )

    for t, nv in enumerate(index):
        link = pcie_link(snapshot["gpus"][nv]) if nv is not None else None
        ceiling = link["gbps"] if link else None
        label = link["label"] if link else "unknown: torch device not matched to an NVML GPU"
        for test in ("h2d", "d2h"):
            row(test, f"cuda:{t}", result[test][t]["gbps"], ceiling, label)
        row(
            "d2d",
            f"cuda:{t}",
            result["d2d"][t]["gbps"],
            None,
            "device memory (no ceiling in the snapshot)",
        )
    for i, row_i in enumerate(result["p2p"]):
        for j, cell in enumerate(row_i):
            if cell is None:
                continue
            a, b = index[i], index[j]
            pair = node_group(snapshot, [a, b]) if a is not None and b is not None else None
            label = pair["link_class"] if pair else "unknown"
            if not result["p2p_access"][i][j]:
                label += " (no P2P: staged through host)"
            row(
                "p2p",
                f"cuda:{i}->cuda:{j}",
                cell["gbps"],
                pair["ceiling_gbps"] if pair else None,
                label,
            )
    return rows
