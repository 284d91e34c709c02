"""What a validation will run, stage by stage, and about how long it should take.

Printed before the first check starts. The time is an estimate, labelled so: the checks'
own durations (set by the level or [validate] check_seconds) plus an allowance per stage for
starting it, and transfer times at an assumed bandwidth (ASSUMED_GBPS, not a measurement).
A failing cluster takes longer: localisation adds rounds of group tests, and a rank that
does not answer costs the --timeout.
"""

from __future__ import annotations

from dataclasses import dataclass

from scaling.config.units import format_size
from scaling.workloads.checks import levels

ASSUMED_GBPS = {
    "cuda": {"node": 100.0, "pair": 20.0, "network": 10.0},
    "cpu": {"node": 1.0, "pair": 1.0, "network": 1.0},
}
"""Bandwidths the estimate assumes (GB/s): an estimate's inputs, not measurements."""
STAGE_S = 2.0
"""Allowance per stage for the calls to reach the ranks and the results to come back."""
HOST_S = 10.0
"""The per-node hardware probe (it imports torch to read the stack's versions)."""


@dataclass(frozen=True)
class Stage:
    name: str
    what: str
    seconds: float


def _comm_s(nbytes: int, gbps: float) -> float:
    iters = levels.COMM_ITERS["warmup"] + levels.COMM_ITERS["iters"]
    return iters * 2 * nbytes / (gbps * 1e9)


def stages(cfg, device: str, ranks_per_node: list[int]) -> list[Stage]:
    """The stages of one validation of these nodes (ranks per node), in run order."""
    v, lvl = cfg.validate, levels.level(cfg)
    secs, size, comm = (
        levels.seconds(cfg),
        levels.gemm_size(cfg, device),
        levels.comm_bytes(cfg, device),
    )
    bw = ASSUMED_GBPS[device]
    host = "doctor's checks, PCIe ASPM" + (f", storage read of {v.storage}" if v.storage else "")
    store_s = 2 * v.storage_bytes / 1e9 if v.storage else 0.0  # written, then read at ~1 GB/s
    precision = "bf16" if device == "cuda" else "fp32"
    out = [
        Stage("host", f"per node: {host}", HOST_S + store_s),
        Stage("gemm", f"per rank: GEMM {precision} {size}x{size} for {secs:g} s, clocks and "
              "temperature sampled", secs + STAGE_S),
        Stage("membw", f"per rank: device memory copy for {secs / 2:g} s", secs / 2 + STAGE_S),
    ]  # fmt: skip
    if device == "cuda":
        out.append(
            Stage(
                "host_copies",
                "per GPU: pinned H2D and D2H, one GPU per PCIe switch at a time, then all at once",
                4 * STAGE_S,
            )
        )
        if max(ranks_per_node, default=0) >= 2:
            out.append(
                Stage(
                    "peer_copy",
                    "per node: every GPU pair by copy-engine peer copy, one pair at a time",
                    2 * STAGE_S,
                )
            )
    burn = f"; burn {v.burn_minutes:g} min" if lvl.burn else ""
    burn_s = 60 * v.burn_minutes if lvl.burn else 0.0
    out.append(Stage("sdc", f"per rank: seeded matmul x{lvl.sdc_reps}, digests compared{burn}",
                     STAGE_S + burn_s))  # fmt: skip
    if max(ranks_per_node, default=0) >= 2:
        node_comm, what = comm, format_size(comm)
        if device == "cuda" and v.comm_bytes is None:  # validate/comm.py allreduce_bytes
            node_comm = 16 << 30  # the estimate takes the larger size
            what = (
                f"at its public bar's size (16G on 8x H100/H200) where memory holds it, else {what}"
            )
        out.append(Stage("allreduce", f"per node: all_reduce {what} over its ranks",
                         STAGE_S + _comm_s(node_comm, bw["node"])))  # fmt: skip
        if lvl.pairwise:
            pairs = max(k * (k - 1) // 2 for k in ranks_per_node)
            out.append(Stage("p2p", f"per node: {pairs} rank pairs, send/recv {format_size(comm)} "
                             "each way", pairs * (STAGE_S / 2 + 2 * _comm_s(comm, bw["pair"]) / 2)))  # fmt: skip
    if len(ranks_per_node) >= 2:
        tests = 3  # a reference round or two and the screen, on a healthy cluster
        out.append(Stage("inter_node", f"across {len(ranks_per_node)} nodes: {v.group_op} "
                         f"{format_size(comm)}, all ranks of each node (every rail); localisation "
                         "on a failure",
                         tests * (STAGE_S + _comm_s(comm, bw["network"]))))  # fmt: skip
    return out


def describe(level: str, device: str, ranks_per_node: list[int], planned: list[Stage]) -> list[str]:
    """The lines printed before the checks start."""
    ranks, nodes = sum(ranks_per_node), len(ranks_per_node)
    unit = "GPUs" if device == "cuda" else "CPU ranks (gloo)"
    total = sum(s.seconds for s in planned)
    lines = [
        f"validating {ranks} {unit} on {nodes} node{'s' if nodes != 1 else ''}, level {level}:"
    ]
    lines += [f"  {s.name:<12} {s.what}" for s in planned]
    lines.append(f"estimate: about {_duration(total)} for these checks on a healthy cluster, plus "
                 "the report (an estimate from the check durations and assumed bandwidths, "
                 "not a measurement)")  # fmt: skip
    return lines


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
