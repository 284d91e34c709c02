"""Rank side of the training workloads (as collectives/bench.py is of collectives): one point.

The training step bench (rank side): one training point, measured on every rank.

A point is one training workload (its model: resnet50.py, transformer.py) at one world
size; the figures are defined in docs/formulas.md. `run_point` runs these stages on every
rank, the parallel wrapping coming from the point's strategy (strategy.py: DDP, or FSDP2 in
fsdp2.py; both first apply activation checkpointing and torch.compile to the blocks):

  build    model and a synthetic batch (seeded per rank) on the device
  wrap     the strategy: DistributedDataParallel (broadcasts rank 0's parameters) or
           fully_shard per block and on the root; then the optimizer, over what the
           strategy left (FSDP2: the shards)
  probe    one step under no_sync() whose gradients are zeroed before the optimizer step:
           the memory of a real step and the optimizer state get allocated while no gradient
           all-reduce is in flight, and the parameters stay identical on every rank
           (FSDP2, and DDP's static graph: a synced step of zero loss instead)
  warmup   real steps, untimed
  ddp      measured real steps (t_ddp), NVML power sampled meanwhile; then the step's
           peak memory and the checksum (of the whole parameters: FSDP2 gathers them)
  local    measured steps under no_sync() (t_local: the same step without gradient sync;
           FSDP2: without any collective, see fsdp2.py)
  comm     the step's collectives alone (t_comm), as the strategy lists them: DDP's
           all-reduces in its own buckets, FSDP2's per-block all-gathers and reduce-scatters
  compute  measured forward passes of each rank alone (the straggler check)

At world size 1 the model is not wrapped, whatever the strategy, and local, comm and
compute are skipped: one rank is measured as one trains on a single GPU (as NVIDIA's
DeepLearningExamples and nanoGPT do), so scaling efficiency includes everything the
strategy costs. On CPU a one-rank DDP would add a fifth to a ResNet-50 step, copying
gradients to and from a one-rank all-reduce.

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
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import nn

from scaling.hardware.gpu_identity import nvml_key
from scaling.workloads import catalog, faults
from scaling.workloads.models import loss_fn
from scaling.workloads.power import PowerSampler
from scaling.workloads.timing import make_timer, rank_device, sync
from scaling.workloads.training import STEP_OPTIONS, strategy
from scaling.workloads.training.checksum import param_checksum
from scaling.workloads.training.peak_memory import is_oom, peak, reset_peak

STAGES = ("build", "wrap", "probe", "warmup", "ddp", "local", "comm", "compute")
MULTI_RANK_STAGES = ("local", "comm", "compute")
# (warmup, measured steps) when the config leaves them unset: CPU steps are slow.
DEFAULT_STEPS = {"cpu": (2, 10), "cuda": (10, 50)}
AUTO_PRECISION = {"cpu": "fp32", "cuda": "bf16"}
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class ModelSetup:
    """What a workload's `setup` hands the step bench: everything model-specific."""

    model: nn.Module
    make_optimizer: Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
    inputs: torch.Tensor
    targets: torch.Tensor
    flops_per_sample: float
    """Training FLOPs of one sample (forward + backward), from workloads/flops.py."""
    tokens_per_sample: int | None = None
    facts: dict = field(default_factory=dict)
    """Resolved shape facts for the samples (image_size, channels_last / seq_len, ...)."""


def run_point(spec: dict) -> dict:
    """Measure one training point on this rank (the default process group is initialised)."""
    device = rank_device()
    return StepBench(spec, device).run()


def split_batch(base: int, scaling: str, n: int, max_n: int, rank: int) -> tuple[int, int]:
    """(global batch, this rank's batch) for weak or strong scaling."""
    if scaling == "weak":
        return base * n, base
    total = base * max_n
    return total, total // n + (1 if rank < total % n else 0)


class StepBench:
    """One training point on one rank: the stages of the module docstring, in order."""

    def __init__(self, spec: dict, device: str):
        # The model and presets come with the spec (the driver's registry, see the training
        # workloads' rank_spec); a spec built by hand names a built-in workload.
        if "model" not in spec:
            known = catalog.get(spec["workload"])
            spec = {**spec, "model": known.model, "presets": known.presets}
        self.spec, self.device = spec, device
        self.model, presets = spec["model"], spec["presets"]
        self.rank, self.n = dist.get_rank(), dist.get_world_size()
        self.fault = spec.get("fault") or {}
        preset = spec["preset"]
        self.preset = self.model.auto_preset[device] if preset == "auto" else preset
        precision = spec["precision"]
        self.precision = AUTO_PRECISION[device] if precision == "auto" else precision
        warmup, steps = DEFAULT_STEPS[device]
        self.warmup = warmup if spec["warmup"] is None else spec["warmup"]
        # The default measures about as many steps over all rounds as one round used to
        # (each round builds the model again, which is the round's real cost): at least 3
        # per round, so each round still has a figure of its own.
        rounds = max(1, int(spec.get("rounds") or 1))
        self.steps = max(3, -(-steps // rounds)) if spec["steps"] is None else spec["steps"]
        base = spec.get("batch") or presets[self.preset]["batch"]
        self.global_batch, self.batch = split_batch(
            base, spec["scaling"], self.n, spec["max_world_size"], self.rank
        )
        self.strategy = strategy.make(spec, device, self.n, self.precision)
        self.timer = faults.stretch(make_timer(device), spec)  # no-op unless SCALING_FAULTS
        self.times: dict[str, list[float]] = {}
        self.facts: dict = {}
        self.setup: ModelSetup | None = None
        self.net: nn.Module | None = None  # what a step runs: the strategy's wrapped model
        self.opt: torch.optim.Optimizer | None = None
        self.scaler = None

    # -- orchestration

    def run(self) -> dict:
        reset_peak(self.device)
        skip = set(self.spec.get("skip_stages") or ())  # tune's short trials: ddp alone
        for stage in STAGES:
            if (self.n == 1 and stage in MULTI_RANK_STAGES) or stage in skip:
                continue
            failure = None
            try:
                self._inject_fault(stage)
                getattr(self, f"_{stage}")()
            except Exception as e:
                failure = ("oom" if is_oom(e) else "error", f"{type(e).__name__}: {e}")
            if failure and failure[0] == "oom":
                self._free()  # before the exchange below, which itself needs a little memory
            failed = self._exchange(failure)
            if failed:
                self._free()
                self._raise_errors(stage, failed)
                return self._result("oom", stage=stage, oom_ranks=sorted(failed))
        result = self._result("ok")
        self._free()
        return result

    def _exchange(self, failure) -> dict[int, tuple[str, str]]:
        """Every rank's outcome of the stage: rank -> (kind, message) for those that failed."""
        outcomes: list = [None] * self.n
        dist.all_gather_object(outcomes, failure)
        return {r: f for r, f in enumerate(outcomes) if f}

    def _raise_errors(self, stage: str, failed: dict[int, tuple[str, str]]) -> None:
        errors = {r: msg for r, (kind, msg) in failed.items() if kind == "error"}
        if errors:
            r, msg = next(iter(errors.items()))
            raise RuntimeError(
                f"{self.spec['workload']} at world size {self.n}: rank {r} failed in "
                f"{stage}: {msg.splitlines()[0] if msg else ''}"
            )

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
            **{k: self.spec.get(k) for k in STEP_OPTIONS},
            **peak(self.device),
            **self.facts,
            "times": self.times,
        }

    def _free(self) -> None:
        self.setup = self.net = self.opt = self.scaler = None
        self.strategy.release()
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
        self.setup = catalog.resolve(self.model.setup)(
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
        self.net = self.strategy.wrap(self.setup.model)
        self.facts.update(self.strategy.facts())
        # After wrapping: FSDP2 replaces the parameters by their shards (DTensors).
        self.opt = self.setup.make_optimizer(self.net.parameters())
        self.scaler = torch.amp.GradScaler(self.device) if self.precision == "fp16" else None

    def _probe(self) -> None:
        if self.strategy.probe_synced:
            # A synced step instead (DDP's static graph must record one, FSDP2 would gather
            # every parameter at once without sync): a zero loss gives zero gradients,
            # communicated like real ones.
            loss = self._loss() * 0
            (self.scaler.scale(loss) if self.scaler else loss).backward()
        else:
            with self.strategy.no_sync():
                loss = self._loss()
                (self.scaler.scale(loss) if self.scaler else loss).backward()
            # Zero gradients: the update then depends on the (identical) parameters
            # alone, so every rank stays in step though this step skipped the all-reduce.
            for p in self.net.parameters():
                if p.grad is not None:
                    p.grad.zero_()
        self._update()
        sync(self.device)

    def _warmup(self) -> None:
        for _ in range(self.warmup):
            self._step(sync_grads=True)
        sync(self.device)

    def _ddp(self) -> None:
        with PowerSampler(nvml_key(self.device)) as power:
            self.times["ddp"] = self._timed(lambda: self._step(sync_grads=True))
        self.facts.update(power.summary())
        # The training step's peak, before the stages that only measure parts of it
        # (FSDP2's local steps hold every parameter gathered).
        self.facts.update(peak(self.device))
        if self.fault.get("diverge_rank") == self.rank:
            with torch.no_grad():
                p = next(self.net.parameters())
                (p.to_local() if hasattr(p, "to_local") else p).view(-1)[0] += 1e-3
        total, bits = param_checksum(self.strategy.full_params())
        self.facts.update(checksum_sum=total, checksum_bits=bits)

    def _local(self) -> None:
        self._step(sync_grads=False)  # untimed: the first no_sync step after synced ones
        self.times["local"] = self._timed(lambda: self._step(sync_grads=False))

    def _comm(self) -> None:
        collectives, facts = self.strategy.comm()
        self.facts.update(facts)
        collectives()
        times = []
        for _ in range(self.steps):
            dist.barrier()
            sync(self.device)
            self.timer.start()
            collectives()
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

        with self.strategy.alone():  # FSDP2: parameters gathered once, then no collective
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
        """One training step; without sync_grads the strategy skips the gradient sync."""
        self.opt.zero_grad(set_to_none=True)
        with contextlib.nullcontext() if sync_grads else self.strategy.no_sync():
            loss = self._loss()
            (self.scaler.scale(loss) if self.scaler else loss).backward()
        self._update()

    def _timed(self, fn: Callable[[], None]) -> list[float]:
        times = []
        for _ in range(self.steps):
            self.timer.start()
            fn()
            times.append(self.timer.stop())
        return times


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


def _device_name(device: str) -> str:
    return torch.cuda.get_device_name() if device == "cuda" else "cpu"
