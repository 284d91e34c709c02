"""The transport each group's collectives went over, and where it is slower than the hardware.

Sources, one per backend: gloo groups are TCP (the sweep's "group" records say "gloo/tcp");
NCCL groups are what NCCL itself logged when it connected its channels ("transport" records,
parsed on the ranks by scaling/cluster/nccl_log.py): P2P/IPC or P2P/CUMEM (GPU peer access
over NVLink or PCIe), SHM (through host memory), NET/IB, NET/Socket, plus NVLS and CollNet.

A transport slower than the link the hardware probe found is a warning, with its usual causes.
"""

from __future__ import annotations

import pandas as pd

KEYS = ["world_size", "group"]

# NCCL fell back to host memory or the network between GPUs of one node that have a direct path.
INTRA_CAUSES = (
    "peer access blocked (PCIe ACS or the IOMMU), container IPC limits (run with --ipc=host and "
    "a large /dev/shm), NCCL_P2P_DISABLE / NCCL_P2P_LEVEL, or per-process CUDA_VISIBLE_DEVICES"
)
# TCP sockets between nodes that have InfiniBand / RoCE.
INTER_CAUSES = (
    "NCCL_IB_DISABLE=1, RDMA devices not visible in the container (/dev/infiniband), "
    "a missing NCCL net plugin, or NCCL_IB_HCA / NCCL_SOCKET_IFNAME pointing elsewhere"
)


def group_transports(samples: pd.DataFrame) -> pd.DataFrame:
    """One row per (world size, group view): the transports its ranks used, joined by '+'."""
    if samples.empty or "type" not in samples:
        return pd.DataFrame(columns=KEYS + ["transport"])
    rows = {}
    nccl = samples[samples["type"] == "transport"]
    # Skipped when there are none: an older or hand-written file may lack "group" entirely.
    for key, recs in nccl.groupby(KEYS, sort=False) if not nccl.empty else ():
        used = sorted(
            {t for ts in recs["transports"] for t in (ts if isinstance(ts, list) else [])}
        )
        if used:
            rows[key] = "+".join(used)
    if "transport" in samples:
        groups = samples[(samples["type"] == "group") & samples["transport"].notna()]
        for r in groups.itertuples():
            rows.setdefault((r.world_size, r.group), r.transport)
    return pd.DataFrame(
        [{"world_size": k[0], "group": k[1], "transport": v} for k, v in rows.items()],
        columns=KEYS + ["transport"],
    )


def join_transport(table: pd.DataFrame, samples: pd.DataFrame) -> pd.DataFrame:
    """The summary with a `transport` column; 'single rank' where nothing crossed a link."""
    found = group_transports(samples)
    if found.empty:
        table["transport"] = None
    else:
        table = table.merge(found, on=KEYS, how="left")
    single = table["ranks"] == 1
    table.loc[single, "transport"] = "single rank"
    return table


def transport_warnings(summary: pd.DataFrame) -> list[str]:
    """A warning per group whose transport is slower than its probed link allows."""
    if summary.empty or "transport" not in summary or "link_class" not in summary:
        return []
    out = []
    views = summary.drop_duplicates(KEYS)
    for r in views.itertuples():
        transport, link = r.transport, r.link_class
        if not isinstance(transport, str) or not isinstance(link, str):
            continue
        used = set(transport.split("+"))
        where = f"world size {r.world_size}" + ("" if r.group == "world" else f" ({r.group} view)")
        direct = link.startswith("NV") or link.startswith("PCIe")
        if r.span == "intra-node" and direct and used & {"SHM", "NET/Socket", "NET/IB"}:
            slow = "+".join(sorted(used & {"SHM", "NET/Socket", "NET/IB"}))
            out.append(
                f"{where}: NCCL used {slow} where the hardware probe shows {link} between the "
                f"GPUs; likely causes: {INTRA_CAUSES}"
            )
        elif ("(IB)" in link or "(RoCE)" in link) and "NET/Socket" in used:
            out.append(
                f"{where}: NCCL used NET/Socket (TCP) where the hardware probe shows {link}; "
                f"likely causes: {INTER_CAUSES}"
            )
    return out
