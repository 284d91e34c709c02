"""Data-parallel training steps (DDP), measured as DESIGN.md defines scaling and comm overhead.

A point is one training workload (resnet50 | transformer, each its own module with presets,
`plan` and `setup`) at one world size. Driver side: `point_spec` (called by the workloads'
`plan`) and `records`. Rank side: `run_point`, which runs these stages on every rank:

  build    model and a synthetic batch (seeded per rank) on the device
  wrap     DistributedDataParallel (broadcasts rank 0's parameters), the optimizer
  probe    one step under no_sync() whose gradients are zeroed before the optimizer step:
           the memory of a real step and the optimizer state get allocated while no gradient
           all-reduce is in flight, and the parameters stay identical on every rank
  warmup   DDP steps, untimed
  ddp      measured DDP steps (t_ddp), NVML power sampled meanwhile; then the checksum
  local    measured steps under no_sync() (t_local: the same step without gradient sync)
  comm     the gradients' all-reduces alone, in DDP's own buckets (t_comm)
  compute  measured forward passes of each rank alone (the straggler check)

At world size 1 the model is not wrapped in DDP, and local, comm and compute are skipped:
one rank is measured as one trains on a single GPU (as NVIDIA's DeepLearningExamples and
nanoGPT do), so scaling efficiency includes everything DDP costs. On CPU a one-rank DDP
would add a fifth to a ResNet-50 step, copying gradients to and from a one-rank
all-reduce.

After every stage the ranks compare outcomes (all_gather_object). A rank that ran out of
memory frees what it holds and the point ends on every rank as "oom", so the sweep goes on;
any other failure is raised on every rank with the failing rank's message, instead of
leaving the others waiting in a collective until the timeout. That works where the
failing stage has no collective of its own (build, probe) or where every rank fails alike.
A rank failing alone inside DDP's collectives (wrap, warmup, ddp) leaves its peers in an
all-reduce it never joins, and the point fails as a whole; the probe step is there so that
running out of memory happens before that.

Weak scaling keeps the per-rank batch. Strong scaling splits the global batch (batch x the
largest world size of the run) among the ranks; where it does not divide, the first ranks
take one sample more.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import inspect
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from scaling.workloads import faults
from scaling.workloads.models import loss_fn
from scaling.workloads.power import PowerSampler
from scaling.workloads.timing import make_timer, sync

TARGET = "scaling.workloads.training:run_point"
WORKLOADS = ("resnet50", "transformer")
STAGES = ("build", "wrap", "probe", "warmup", "ddp", "local", "comm", "compute")
MULTI_RANK_STAGES = ("local", "comm", "compute")
# (warmup, measured steps) when the config leaves them unset: CPU steps are slow.
DEFAULT_STEPS = {"cpu": (2, 10), "cuda": (10, 50)}
AUTO_PRECISION = {"cpu": "fp32", "cuda": "bf16"}
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
DDP_OPTIONS = ("bucket_cap_mb", "gradient_as_bucket_view", "static_graph", "broadcast_buffers")


@dataclass
class ModelSetup:
    """What a workload module's `setup` hands the step bench: everything model-specific."""

    model: nn.Module
    make_optimizer: Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
    inputs: torch.Tensor
    targets: torch.Tensor
    flops_per_sample: float
    """Training FLOPs of one sample (forward + backward), from workloads/flops.py."""
    tokens_per_sample: int | None = None
    facts: dict = field(default_factory=dict)
    """Resolved shape facts for the samples (image_size, channels_last / seq_len, ...)."""


# ---------------------------------------------------------------- driver side


def point_spec(cfg, workload: str, n: int, **model) -> dict:
    """The spec of one training point: the [training] section plus the workload's own keys."""
    t = cfg.training
    return {
        "workload": workload,
        "world_size": n,
        "max_world_size": max(cfg.gpus),
        "scaling": t.scaling,
        "precision": t.precision,
        "warmup": t.warmup,
        "steps": t.steps,
        **{k: getattr(t, k) for k in DDP_OPTIONS},
        "seed": 0,
        **model,
    }


def records(point: dict, group, results: list[dict]) -> list[dict]:
    """Per-step, per-rank "step" samples of every phase, then one "train_point" per rank."""
    first = results[0]
    key = {
        "workload": point["workload"],
        "world_size": point["world_size"],
        "nodes": group.nodes,
        "preset": first["preset"],
        "scaling": first["scaling"],
        "precision": first["precision"],
    }
    out = []
    for rank, res in enumerate(results):
        for phase, times in res["times"].items():
            out.extend(
                {"type": "step", **key, "phase": phase, "step": i, "rank": rank, "time_s": t}
                for i, t in enumerate(times)
            )
    for rank, res in enumerate(results):
        facts = {k: v for k, v in res.items() if k != "times"}
        out.append({"type": "train_point", **key, **facts, "rank": rank})
    return out


# ---------------------------------------------------------------- rank side


def run_point(spec: dict) -> dict:
    """Measure one training point on this rank (the default process group is initialised)."""
    device = "cuda" if torch.cuda.is_available() and dist.get_backend() == "nccl" else "cpu"
    return StepBench(spec, device).run()


def split_batch(base: int, scaling: str, n: int, max_n: int, rank: int) -> tuple[int, int]:
    """(global batch, this rank's batch) for weak or strong scaling."""
    if scaling == "weak":
        return base * n, base
    total = base * max_n
    return total, total // n + (1 if rank < total % n else 0)


def is_oom(e: BaseException) -> bool:
    """CUDA's OutOfMemoryError, or an allocator's RuntimeError saying the same (CPU included)."""
    if isinstance(e, torch.cuda.OutOfMemoryError):
        return True
    text = str(e).lower()
    return isinstance(e, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text
    )


class StepBench:
    """One training point on one rank: the stages of the module docstring, in order."""

    def __init__(self, spec: dict, device: str):
        self.spec, self.device = spec, device
        self.rank, self.n = dist.get_rank(), dist.get_world_size()
        self.fault = spec.get("fault") or {}
        self.workload = _workload(spec["workload"])
        preset = spec["preset"]
        self.preset = self.workload.AUTO_PRESET[device] if preset == "auto" else preset
        precision = spec["precision"]
        self.precision = AUTO_PRECISION[device] if precision == "auto" else precision
        warmup, steps = DEFAULT_STEPS[device]
        self.warmup = warmup if spec["warmup"] is None else spec["warmup"]
        self.steps = steps if spec["steps"] is None else spec["steps"]
        base = spec.get("batch") or self.workload.PRESETS[self.preset]["batch"]
        self.global_batch, self.batch = split_batch(
            base, spec["scaling"], self.n, spec["max_world_size"], self.rank
        )
        self.timer = faults.stretch(make_timer(device), spec)  # no-op unless SCALING_FAULTS
        self.times: dict[str, list[float]] = {}
        self.facts: dict = {}
        self.setup: ModelSetup | None = None
        self.net: nn.Module | None = None  # what a step runs: DDP, or the bare model at n = 1
        self.opt: torch.optim.Optimizer | None = None
        self.scaler = None

    # -- orchestration

    def run(self) -> dict:
        _reset_peak_memory(self.device)
        for stage in STAGES:
            if self.n == 1 and stage in MULTI_RANK_STAGES:
                continue
            failure = None
            try:
                self._inject_fault(stage)
                getattr(self, f"_{stage}")()
            except Exception as e:
                failure = ("oom" if is_oom(e) else "error", f"{type(e).__name__}: {e}")
            if failure and failure[0] == "oom":
                self._free()  # before the exchange below, which itself needs a little memory
            outcomes: list = [None] * self.n
            dist.all_gather_object(outcomes, failure)
            failed = {r: f for r, f in enumerate(outcomes) if f}
            errors = {r: msg for r, (kind, msg) in failed.items() if kind == "error"}
            if errors:
                self._free()
                r, msg = next(iter(errors.items()))
                raise RuntimeError(
                    f"{self.spec['workload']} at world size {self.n}: rank {r} failed in "
                    f"{stage}: {msg.splitlines()[0] if msg else ''}"
                )
            if failed:
                self._free()
                return self._result("oom", stage=stage, oom_ranks=sorted(failed))
        result = self._result("ok")
        self._free()
        return result

    def _inject_fault(self, stage: str) -> None:
        """Test hooks (spec["fault"]): fail this rank in a stage, as OOM or as an error."""
        f = self.fault
        if f.get("oom_rank") == self.rank and stage == f.get("oom_stage", "probe"):
            raise torch.cuda.OutOfMemoryError(f"injected out of memory in {stage}")
        if f.get("error_rank") == self.rank and stage == f.get("error_stage", "build"):
            raise RuntimeError(f"injected failure in {stage}")

    def _result(self, status: str, stage: str | None = None, oom_ranks=()) -> dict:
        flops = self.facts.get("flops_per_sample")
        return {
            "status": status,
            "failed_stage": stage,
            "oom_ranks": list(oom_ranks),
            "workload": self.spec["workload"],
            "preset": self.preset,
            "scaling": self.spec["scaling"],
            "precision": self.precision,
            "batch": self.batch,
            "global_batch": self.global_batch,
            "warmup": self.warmup,
            "steps": self.steps,
            "device": self.device,
            "device_name": _device_name(self.device),
            "flops_per_step": None if flops is None else flops * self.batch,
            **{k: self.spec[k] for k in DDP_OPTIONS},
            **_peak_memory(self.device),
            **self.facts,
            "times": self.times,
        }

    def _free(self) -> None:
        self.setup = self.net = self.opt = self.scaler = None
        gc.collect()
        if self.device == "cuda":
            torch.cuda.empty_cache()

    # -- stages

    def _build(self) -> None:
        if self.device == "cpu" and self.precision == "fp16":
            # PyTorch's CPU fp16 convolution backward is ~50x slower than fp32 (10 s for a
            # tiny ResNet-50 step): a run would only time out.
            raise ValueError("precision fp16 is for GPUs; on CPU use bf16 or fp32")
        _set_math_modes(self.device, self.precision)
        seed = self.spec["seed"]
        torch.manual_seed(seed)  # the same initial weights on every rank
        self.setup = self.workload.setup(
            preset=self.preset,
            spec=self.spec,
            batch=self.batch,
            global_batch=self.global_batch,
            device=self.device,
            seed=seed + 1 + self.rank,  # different data per rank, so gradients differ
        )
        s = self.setup
        self.facts.update(
            s.facts,
            params=sum(p.numel() for p in s.model.parameters()),
            flops_per_sample=s.flops_per_sample,
            tokens_per_sample=s.tokens_per_sample,
        )

    def _wrap(self) -> None:
        spec = self.spec
        self.net = self.setup.model
        if self.n > 1:
            self.net = DDP(
                self.setup.model,
                device_ids=[torch.cuda.current_device()] if self.device == "cuda" else None,
                bucket_cap_mb=spec["bucket_cap_mb"],
                gradient_as_bucket_view=spec["gradient_as_bucket_view"],
                static_graph=spec["static_graph"],
                **_buffer_sync(spec["broadcast_buffers"]),
            )
        self.facts["ddp"] = self.n > 1
        self.opt = self.setup.make_optimizer(self.setup.model.parameters())
        self.scaler = torch.amp.GradScaler(self.device) if self.precision == "fp16" else None

    def _probe(self) -> None:
        if self.spec["static_graph"] and self.n > 1:
            # A static graph's first step must be a synced one (DDP records it); a zero
            # loss gives zero gradients, all-reduced like real ones.
            loss = self._loss() * 0
            (self.scaler.scale(loss) if self.scaler else loss).backward()
        else:
            with self._no_sync():
                loss = self._loss()
                (self.scaler.scale(loss) if self.scaler else loss).backward()
            # Zero gradients: the update then depends on the (identical) parameters
            # alone, so every rank stays in step though this step skipped the all-reduce.
            for p in self.setup.model.parameters():
                if p.grad is not None:
                    p.grad.zero_()
        self._update()
        sync(self.device)

    def _warmup(self) -> None:
        for _ in range(self.warmup):
            self._step(sync_grads=True)
        sync(self.device)

    def _ddp(self) -> None:
        with PowerSampler(_gpu_index(self.device)) as power:
            self.times["ddp"] = self._timed(lambda: self._step(sync_grads=True))
        self.facts.update(power.summary())
        if self.fault.get("diverge_rank") == self.rank:
            with torch.no_grad():
                next(self.setup.model.parameters()).view(-1)[0] += 1e-3
        total, bits = param_checksum(self.setup.model.parameters())
        self.facts.update(checksum_sum=total, checksum_bits=bits)

    def _local(self) -> None:
        self._step(sync_grads=False)  # untimed: the first no_sync step after synced ones
        self.times["local"] = self._timed(lambda: self._step(sync_grads=False))

    def _comm(self) -> None:
        buckets = grad_buckets(self.net)
        self.facts["bucket_bytes"] = [b.numel() * b.element_size() for b in buckets]

        def all_reduce_buckets() -> None:
            # Launched back to back and waited for together, as DDP's reducer does.
            works = [dist.all_reduce(b, async_op=True) for b in buckets]
            for w in works:
                w.wait()

        all_reduce_buckets()
        times = []
        for _ in range(self.steps):
            dist.barrier()
            sync(self.device)
            self.timer.start()
            all_reduce_buckets()
            times.append(self.timer.stop())
        self.times["comm"] = times

    def _compute(self) -> None:
        module = self.setup.model  # no DDP hooks: this rank's compute alone
        delay = self.fault.get("delay_s", 0.0) if self.fault.get("slow_rank") == self.rank else 0

        def forward() -> None:
            with torch.no_grad(), self._autocast():
                module(self.setup.inputs)
            if delay:
                time.sleep(delay)

        forward()
        self.times["compute"] = self._timed(forward)

    # -- one step

    def _autocast(self):
        dtype = AMP_DTYPES.get(self.precision)
        return torch.autocast(self.device, dtype=dtype) if dtype else contextlib.nullcontext()

    def _loss(self) -> torch.Tensor:
        with self._autocast():
            return loss_fn(self.net(self.setup.inputs), self.setup.targets)

    def _update(self) -> None:
        if self.scaler:
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            self.opt.step()

    def _step(self, sync_grads: bool) -> None:
        """One training step; without sync_grads DDP skips the gradient all-reduce."""
        self.opt.zero_grad(set_to_none=True)
        # no_sync must cover the forward too: DDP decides at forward time.
        with contextlib.nullcontext() if sync_grads else self._no_sync():
            loss = self._loss()
            (self.scaler.scale(loss) if self.scaler else loss).backward()
        self._update()

    def _no_sync(self):
        return self.net.no_sync() if isinstance(self.net, DDP) else contextlib.nullcontext()

    def _timed(self, fn: Callable[[], None]) -> list[float]:
        times = []
        for _ in range(self.steps):
            self.timer.start()
            fn()
            times.append(self.timer.stop())
        return times


# ---------------------------------------------------------------- helpers


def _workload(name: str):
    if name not in WORKLOADS:
        raise ValueError(f"unknown training workload {name!r} (known: {', '.join(WORKLOADS)})")
    return importlib.import_module(f"scaling.workloads.{name}")


def _buffer_sync(enabled: bool) -> dict:
    # torch 2.13 renamed broadcast_buffers to forward_sync_buffers (and warns on the old name).
    # The new one still syncs buffers once at construction, which is harmless here: every
    # rank builds the same model from the same seed.
    if "forward_sync_buffers" in inspect.signature(DDP.__init__).parameters:
        return {"forward_sync_buffers": enabled}
    return {"broadcast_buffers": enabled}


def _set_math_modes(device: str, precision: str) -> None:
    """Process-wide switches, set per point because the rank actor outlives points."""
    if device != "cuda":
        return
    # fp32 means FP32 on CUDA cores, as the peak table assumes; the other precisions let
    # whatever stays in FP32 under autocast use TF32.
    tf32 = precision != "fp32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = True  # fixed shapes: autotune convolutions in warmup


def grad_buckets(ddp: DDP) -> list[torch.Tensor]:
    """Zero tensors shaped like DDP's gradient buckets, in the order its reducer runs them.

    The reducer's own buckets (after its rebuild in the first synced steps) are the exact
    sizes the real step all-reduces; without that private API, buckets are rebuilt the way
    DDP first lays them out: reverse parameter order, bucket_cap_mb each.
    """
    try:
        return [b.buffer() for b in ddp.reducer._get_zeros_like_grad_buckets()]
    except (AttributeError, RuntimeError):
        return buckets_by_cap(list(ddp.module.parameters()), int(ddp.bucket_bytes_cap))


def buckets_by_cap(params: list[torch.Tensor], cap_bytes: int) -> list[torch.Tensor]:
    """Flat zero buckets of the parameters in reverse order, closed when they reach cap_bytes."""
    buckets, sizes, dtype, device, filled = [], [], None, None, 0
    for p in reversed([p for p in params if p.requires_grad]):
        if sizes and (filled >= cap_bytes or p.dtype != dtype):
            buckets.append(torch.zeros(sum(sizes), dtype=dtype, device=device))
            sizes, filled = [], 0
        sizes.append(p.numel())
        filled += p.numel() * p.element_size()
        dtype, device = p.dtype, p.device
    if sizes:
        buckets.append(torch.zeros(sum(sizes), dtype=dtype, device=device))
    return buckets


_INT_VIEW = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
_CHUNK = 1 << 22  # elements per checksum slice: bounds the temporary memory on the device
_MODULUS = 65521  # largest prime below 2**16: position weights 1..65521


@torch.no_grad()
def param_checksum(params: Iterable[torch.Tensor]) -> tuple[float, str]:
    """(float64 sum of all parameters, checksum of their bit patterns as 16 hex digits).

    The second figure weights each element's bits, read as an integer, by its position
    (mod 65521, plus 1), summed in wrapping int64: a changed bit or two swapped elements
    change it, and integer sums do not depend on reduction order, so equal parameters give
    equal checksums on any device. Compare that one; the float sum is for people. Hex,
    because a JSON reader may turn a 64-bit integer into a float and round it.
    """
    total = bits = None
    offset = 0
    for p in params:
        flat = p.detach().reshape(-1)
        ints = flat.view(_INT_VIEW[flat.element_size()])
        for start in range(0, flat.numel(), _CHUNK):
            part = ints[start : start + _CHUNK].long()
            pos = torch.arange(
                offset + start, offset + start + part.numel(), device=p.device, dtype=torch.int64
            )
            b = (part * (pos % _MODULUS + 1)).sum()
            s = flat[start : start + _CHUNK].double().sum()
            total = s if total is None else total + s
            bits = b if bits is None else bits + b
        offset += flat.numel()
    if total is None:
        return 0.0, f"{0:016x}"
    return float(total.item()), f"{int(bits.item()) & (2**64 - 1):016x}"


def _reset_peak_memory(device: str) -> None:
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        return
    # Writing 5 to clear_refs resets the peak RSS (VmHWM) to the current RSS (Linux >= 4.0).
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def _peak_memory(device: str) -> dict:
    """Peak memory of this point: CUDA allocator peak, or the process's peak RSS on CPU."""
    if device == "cuda":
        return {"peak_mem_bytes": int(torch.cuda.max_memory_allocated()), "mem_kind": "cuda"}
    try:
        with open("/proc/self/status") as fh:
            m = re.search(r"^VmHWM:\s+(\d+)\s+kB", fh.read(), re.MULTILINE)
        if m:
            return {"peak_mem_bytes": int(m.group(1)) * 1024, "mem_kind": "rss"}
    except OSError:
        pass
    import resource  # no /proc: the peak over the process's life, not this point alone

    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"peak_mem_bytes": int(kib) * 1024, "mem_kind": "rss_lifetime"}


def _device_name(device: str) -> str:
    return torch.cuda.get_device_name() if device == "cuda" else "cpu"


def _gpu_index(device: str) -> int | str | None:
    """How NVML should find this rank's GPU: its UUID (unambiguous), else an index.

    CUDA_VISIBLE_DEVICES holds CUDA ordinals (not NVML's PCI order) or UUIDs, so an index
    read from it can name another GPU; torch's device UUID cannot.
    """
    if device != "cuda":
        return None
    uuid = getattr(torch.cuda.get_device_properties(torch.cuda.current_device()), "uuid", None)
    if uuid:
        return str(uuid)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    return int(visible) if visible.isdigit() else torch.cuda.current_device()
