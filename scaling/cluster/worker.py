"""The rank actor: holds little state and runs module-level workload functions.

One actor per rank, created once and reused for every world size of a sweep.

GPU visibility follows Ray Train (`share_cuda_visible_devices`): Ray gives each actor its
own GPU through CUDA_VISIBLE_DEVICES, but a process that sees one GPU cannot open CUDA IPC
to its neighbours, and NCCL then falls back to copying through host memory. So CUDA is not
touched until the gang has told every rank which GPUs its node's ranks hold
(`select_device`); each rank then sees all of them and picks its own by Ray's id.

`heartbeat` runs in its own concurrency group, so the driver can ask a rank that is busy
in a collective whether it is alive and what it is doing: a rank that cannot answer (stopped,
hung with the interpreter locked) is the culprit of a point that never finishes.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import socket
import time
from datetime import timedelta

import ray

from scaling.cluster import nccl_log, rendezvous
from scaling.hardware.gpu_identity import pci_bus_id
from scaling.hardware.nvml_readers import index_of as nvml_index
from scaling.workloads.timing import DEVICE_ENV

CONTROL_GROUP = "control"


def rank_metadata() -> dict:
    """Who and where this rank is, without touching CUDA (see the module docstring)."""
    import torch

    ctx = ray.get_runtime_context()
    ids = [str(i) for i in ray.get_gpu_ids()]
    return {
        "node_id": ctx.get_node_id(),
        "node_ip": rendezvous.node_ip(),
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "device": "cpu",
        "ray_gpu_ids": ids,
        "ray_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "gpu_index": _as_index(ids[0]) if ids else None,
        "gpu_uuid": None,
        "gpu_pci_bus_id": None,
        "gpu_name": None,
        "torch": torch.__version__,
        "cuda": torch.version.cuda or "n/a",
        "nccl": "n/a",
        # What NCCL will actually read on this rank (set by --env or the node's environment).
        "nccl_env": {k: v for k, v in sorted(os.environ.items()) if k.startswith("NCCL_")},
        # The fault-injection hook as this rank sees it (--env, the driver's, or the node's own
        # environment): a run with planted faults says so (manifest, validate.json).
        "scaling_faults": os.environ.get("SCALING_FAULTS") or None,
    }


def _as_index(gpu_id: str) -> int | str:
    return int(gpu_id) if gpu_id.isdigit() else gpu_id


def visible_order(ids: list[str]) -> list[str]:
    """The node's GPU ids as CUDA_VISIBLE_DEVICES lists them: numeric ids in numeric order."""
    unique = set(ids)
    return sorted(unique, key=lambda i: (0, int(i), "") if i.isdigit() else (1, 0, i))


def choose_device(
    own: list[str], node_gpu_ids: list[str], cuda, environ=os.environ, nvml=nvml_index
) -> dict:
    """Which CUDA device this rank uses, and its identity; runs before CUDA initialises.

    own: Ray's GPU id(s) for this rank; node_gpu_ids: every id the gang holds on the node.
    The rank sees all of them (the module docstring) and picks its own by position.
    CUDA_DEVICE_ORDER=PCI_BUS_ID makes CUDA read those ids in PCI order, which is NVML's:
    without it CUDA numbers the fastest GPU first, and Ray's id 3 could open another GPU than
    the one doctor, the topology and ASPM call GPU 3. gpu_index is then NVML's index of the
    GPU actually opened (found by UUID), so one GPU has one number in every table.
    """
    visible = visible_order(node_gpu_ids)
    environ["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
    environ["CUDA_VISIBLE_DEVICES"] = ",".join(visible)
    index = visible.index(own[0]) if own and own[0] in visible else 0
    chosen: dict = {"visible_devices": visible, "cuda_device": index}
    if cuda.is_available():
        bind_device(cuda, index)
        chosen |= cuda_identity(cuda)
        index_nvml = nvml(chosen["gpu_uuid"]) if chosen["gpu_uuid"] else None
        if index_nvml is not None:
            chosen["gpu_index"] = index_nvml
    return chosen


def bind_device(cuda, index: int | None):
    """Make the rank's own GPU current on this thread; returns it as a torch.device."""
    import torch

    if index is None:  # not placed by choose_device (cannot happen on a gang's CUDA rank)
        index = cuda.current_device()
    cuda.set_device(index)
    return torch.device("cuda", index)


def first_collective(backend: str, cuda_device: int | None) -> float:
    """Seconds of a one-element all_reduce, to its completion: on NCCL without eager init this
    is where the communicator is created."""
    import torch
    import torch.distributed as dist

    on_gpu = backend == "nccl"
    device = torch.device("cuda", cuda_device or 0) if on_gpu else torch.device("cpu")
    x = torch.ones(1, device=device)
    start = time.perf_counter()
    dist.all_reduce(x)
    if on_gpu:
        torch.cuda.synchronize(device)  # the op is queued, not done, when all_reduce returns
    return time.perf_counter() - start


def cuda_identity(cuda) -> dict:
    """The current CUDA device (torch.cuda) as NVML knows it (name, UUID, PCI bus id) and
    NCCL's version."""
    props = cuda.get_device_properties(cuda.current_device())
    out = {
        "device": "cuda",
        "gpu_name": props.name,
        "gpu_uuid": str(getattr(props, "uuid", "")) or None,
        "gpu_pci_bus_id": pci_bus_id(props),
        # validate sizes the node all_reduce by it (the public bar's own size when it fits)
        "gpu_total_bytes": int(props.total_memory),
    }
    try:
        out["nccl"] = ".".join(str(v) for v in cuda.nccl.version())
    except Exception:
        out["nccl"] = "unknown"
    return out


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
        os.environ[DEVICE_ENV] = device  # what the workloads measure on (timing.rank_device)
        # NCCL reads its debug settings once per process: set them before any communicator.
        self.nccl = nccl_log.Capture(os.environ) if device == "cuda" else None
        if device == "cpu":
            # Ranks share the host's cores: one torch thread pool per rank sized to
            # its share, or intra-op threads oversubscribe and distort every time.
            torch.set_num_threads(max(1, threads))
        self.cuda_device: int | None = None
        self._store = None
        self._master = None
        self._doing: tuple[str, float] | None = None
        self._plan: tuple[str, list] | None = None  # (the plan's object id, its points)
        self._done: dict = {"plan": None, "start": 0, "results": [], "nccl": []}

    def describe(self) -> dict:
        return rank_metadata() | {"nice": self.nice, "device": self.device}

    def select_device(self, node_gpu_ids: list[str]) -> dict:
        """See every GPU the gang holds on this node; use this rank's own (Ray's id)."""
        import torch

        chosen = choose_device([str(i) for i in ray.get_gpu_ids()], node_gpu_ids, torch.cuda)
        self.cuda_device = chosen["cuda_device"]
        return chosen

    def open_rendezvous(self, world_size: int, timeout_s: float, host: str) -> dict:
        """Run on the group's rank 0: bind the master store on `host`; returns its address."""
        start = time.perf_counter()
        self._master = rendezvous.bind_master_store(host, world_size, timeout_s)
        self._master["bind_s"] = time.perf_counter() - start
        return {"addr": host, "port": self._master["port"]}

    def init_group(self, env: dict[str, str], backend: str, timeout_s: float) -> dict:
        """Join the group; returns its rank and this rank's start-up times (startup_timing.py)."""
        import torch.distributed as dist

        if self.nccl:
            self.nccl.keep(os.environ, env)  # the transport capture survives a user's NCCL_DEBUG
        else:
            os.environ.update(env)
        restore_priority()  # in case Ray runs this call on another thread than __init__
        rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
        start = time.perf_counter()
        if rank == 0:
            store, rendezvous_s = self._master["store"], self._master["bind_s"]
        else:
            store = rendezvous.connect_store(
                env["MASTER_ADDR"], int(env["MASTER_PORT"]), world, timeout_s
            )
            rendezvous_s = time.perf_counter() - start
        extra = self._group_options(backend)
        self._doing = ("init_process_group", time.monotonic())
        start = time.perf_counter()
        dist.init_process_group(
            backend,
            store=store,
            rank=rank,
            world_size=world,
            timeout=timedelta(seconds=timeout_s),
            **extra,
        )
        init_s = time.perf_counter() - start
        self._doing = ("first collective", time.monotonic())
        first_s = first_collective(backend, self.cuda_device)
        self._doing = None
        self._store = store
        times = {"rendezvous_s": rendezvous_s, "init_s": init_s, "first_collective_s": first_s}
        return {"rank": rank, "backend": dist.get_backend(), "startup": times}

    def _group_options(self, backend: str) -> dict:
        """init_process_group's device_id on NCCL: the communicator is bound to this rank's GPU
        and created now, not at the first op. Ray may run this call on another thread than
        select_device's, and the current device is per thread: the rank's own device is named,
        never whatever current_device() says on this thread."""
        if backend != "nccl":
            return {}
        import torch

        return {"device_id": bind_device(torch.cuda, self.cuda_device)}

    def run(self, target, spec: dict) -> dict:
        """Run a workload's rank side on this rank: "module:function" (imported here, so the
        driver never imports it) or a function Ray shipped (a workload registered outside
        scaling/workloads, e.g. in a test)."""
        if self.cuda_device is not None:
            import torch

            if torch.cuda.is_available():
                bind_device(torch.cuda, self.cuda_device)  # the current device is per thread
        self._doing = (
            spec.get("label") or str(getattr(target, "__name__", target)),
            time.monotonic(),
        )
        try:
            if callable(target):
                return target(spec)
            module, sep, func = target.partition(":")
            if not sep:
                raise ValueError(f"refusing to run {target!r}: not 'module:function'")
            return getattr(importlib.import_module(module), func)(spec)
        finally:
            self._doing = None

    def run_points(self, plan: list, start: int, stop: int) -> dict:
        """Run points start..stop of this world size's plan, in order, in this one call.

        plan: [ObjectRef] of the plan, a list of (target, spec), put in the object store once
        per world size (cluster/plan_run.py); every rank holds the same list, so the ranks meet
        in the same collectives. The ref is wrapped in a list so that Ray does not resolve it
        for every call: the plan is fetched once, at the first call that names it.
        Returns {"plan": its object id, "start", "results": one result per point, "nccl": what NCCL logged during
        each point (None on gloo), "seconds": this rank's time in the chunk (the pace of the
        next, without the driver's part)}; `finished` answers the points done so far. In
        plan_run's leader mode every rank but 0 gets the whole plan (0..len) in one call.
        """
        ref = plan[0]
        if self._plan is None or self._plan[0] != ref.hex():
            self._plan = (ref.hex(), ray.get(ref))
        self._done = {"plan": ref.hex(), "start": start, "results": [], "nccl": []}
        t0 = time.perf_counter()
        for target, spec in self._plan[1][start:stop]:
            result = self.run(target, spec)
            # nccl before results: `finished` reads len(results) from another thread
            self._done["nccl"].append(self.nccl.read_new() if self.nccl else None)
            self._done["results"].append(result)
        return self._done | {"seconds": time.perf_counter() - t0}

    @ray.method(concurrency_group=CONTROL_GROUP)
    def finished(self) -> dict:
        """The points of the current (or last) run_points call done so far, answered while it
        runs: what an interrupted or failed chunk still hands to the run directory."""
        done = self._done
        k = len(done["results"])
        return done | {"results": done["results"][:k], "nccl": done["nccl"][:k]}

    def nccl_links(self) -> dict | None:
        """NCCL's INIT log lines since the last call, parsed (None on gloo ranks)."""
        return self.nccl.read_new() if self.nccl else None

    def destroy_group(self) -> None:
        import torch.distributed as dist

        from scaling.workloads import subgroups

        subgroups.clear()
        if dist.is_initialized():
            dist.destroy_process_group()
        self._store = None
        self._master = None
        self._plan = None

    def env_view(self) -> dict:
        """The torchrun variables this rank sees (for checks and the manifest)."""
        keys = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "NODE_RANK", "MASTER_ADDR")
        return {k: os.environ.get(k) for k in keys} | {
            "node_id": ray.get_runtime_context().get_node_id(),
            "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "CUDA_DEVICE_ORDER": os.environ.get("CUDA_DEVICE_ORDER"),
        }

    @ray.method(concurrency_group=CONTROL_GROUP)
    def heartbeat(self) -> dict:
        """Answered while another call runs: alive, and what it is doing for how long."""
        doing = self._doing
        return {
            "pid": os.getpid(),
            "doing": doing[0] if doing else None,
            "for_s": time.monotonic() - doing[1] if doing else None,
        }

    def ping(self) -> int:
        return os.getpid()
