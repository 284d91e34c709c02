"""The rank actor: holds little state and runs module-level workload functions.

One actor per rank, created once and reused for every world size of a sweep.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import socket
from datetime import timedelta

import ray

from scaling.cluster import rendezvous
from scaling.hardware.gpu_identity import pci_bus_id


def rank_metadata(device: str) -> dict:
    """Who and where this rank is: node, host, pid, GPU identity, versions."""
    import torch

    ctx = ray.get_runtime_context()
    meta = {
        "node_id": ctx.get_node_id(),
        "node_ip": rendezvous.node_ip(),
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "device": "cpu",
        "gpu_index": None,
        "gpu_uuid": None,
        "gpu_pci_bus_id": None,
        "gpu_name": None,
        "torch": torch.__version__,
        "cuda": torch.version.cuda or "n/a",
        "nccl": "n/a",
        # What NCCL will actually read on this rank (set by --env or the node's environment).
        "nccl_env": {k: v for k, v in sorted(os.environ.items()) if k.startswith("NCCL_")},
    }
    if device == "cuda":
        ids = ray.get_gpu_ids()
        props = torch.cuda.get_device_properties(0)
        meta.update(
            device="cuda",
            gpu_index=int(ids[0]) if ids else 0,
            gpu_name=props.name,
            gpu_uuid=str(getattr(props, "uuid", "")) or None,
            gpu_pci_bus_id=pci_bus_id(props),
        )
        try:
            meta["nccl"] = ".".join(str(v) for v in torch.cuda.nccl.version())
        except Exception:
            meta["nccl"] = "unknown"
    return meta


def restore_priority() -> int:
    """Undo Ray's worker niceness (15 by default) for this thread and the threads it starts.

    Linux niceness is per thread and inherited at thread creation, so this runs before
    the process group (and gloo's/NCCL's threads) exist. Lowering niceness needs
    CAP_SYS_NICE on a cluster we did not start: then the rank stays niced, and the
    returned value lets the run say so instead of measuring silently at low priority.
    """
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, 0)
    return os.getpriority(os.PRIO_PROCESS, 0)


class RankActor:
    """A Ray actor wrapping one rank. Created through `ray.remote(...)` in gang.py."""

    def __init__(self, device: str, threads: int, env: dict[str, str]):
        import torch

        self.device = device
        self.nice = restore_priority()
        os.environ.update(env)
        if device == "cpu":
            # Ranks share the host's cores: one torch thread pool per rank sized to
            # its share, or intra-op threads oversubscribe and distort every time.
            torch.set_num_threads(max(1, threads))
        else:
            torch.cuda.set_device(0)  # Ray's CUDA_VISIBLE_DEVICES shows this rank one GPU
        self._store = None
        self._master = None

    def describe(self) -> dict:
        return rank_metadata(self.device) | {"nice": self.nice}

    def open_rendezvous(self, world_size: int, timeout_s: float) -> dict:
        """Run on the group's rank 0: bind the master store; returns its address."""
        host = rendezvous.node_ip()
        self._master = rendezvous.bind_master_store(host, world_size, timeout_s)
        return {"addr": host, "port": self._master["port"]}

    def init_group(self, env: dict[str, str], backend: str, timeout_s: float) -> dict:
        import torch.distributed as dist

        os.environ.update(env)
        restore_priority()  # in case Ray runs this call on another thread than __init__
        rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
        if rank == 0:
            store = self._master["store"]
        else:
            store = rendezvous.connect_store(
                env["MASTER_ADDR"], int(env["MASTER_PORT"]), world, timeout_s
            )
        dist.init_process_group(
            backend, store=store, rank=rank, world_size=world, timeout=timedelta(seconds=timeout_s)
        )
        self._store = store
        return {"rank": rank, "backend": dist.get_backend()}

    def run(self, target, spec: dict) -> dict:
        """Run a workload's rank side on this rank: "module:function" (imported here, so the
        driver never imports it) or a function Ray shipped (a workload registered outside
        scaling/workloads, e.g. in a test)."""
        if callable(target):
            return target(spec)
        module, sep, func = target.partition(":")
        if not sep:
            raise ValueError(f"refusing to run {target!r}: not 'module:function'")
        return getattr(importlib.import_module(module), func)(spec)

    def destroy_group(self) -> None:
        import torch.distributed as dist

        from scaling.workloads import groups

        groups.clear()
        if dist.is_initialized():
            dist.destroy_process_group()
        self._store = None
        self._master = None

    def env_view(self) -> dict:
        """The torchrun variables this rank sees (for checks and the manifest)."""
        keys = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "NODE_RANK", "MASTER_ADDR")
        return {k: os.environ.get(k) for k in keys} | {
            "node_id": ray.get_runtime_context().get_node_id()
        }

    def ping(self) -> int:
        return os.getpid()
