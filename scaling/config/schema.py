"""The run configuration: one dataclass per section, composed into RunConfig.

Each field's docstring is the documentation of the matching TOML key (and CLI
flag, where there is one). Precedence is stated once, in `loader.py`:
CLI > --config file > these defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WORKLOADS = ("collectives", "resnet50", "transformer")
OPS = ("all_reduce", "all_gather", "reduce_scatter", "broadcast", "all_to_all", "sendrecv")
DTYPES = ("float32", "bfloat16", "float16")
DEVICES = ("auto", "cuda", "cpu")
PLACEMENTS = ("pack", "spread")
TIMINGS = ("blocking", "pipelined")
PRECISIONS = ("auto", "fp32", "tf32", "bf16", "fp16")
SCALINGS = ("weak", "strong")
RESNET50_PRESETS = ("auto", "tiny", "imagenet")
TRANSFORMER_PRESETS = ("auto", "tiny", "gpt2-small", "gpt2-medium", "1.3b")


@dataclass
class ClusterConfig:
    """Where ranks run: the Ray cluster, placement and process-group setup."""

    address: str | None = None
    """Ray cluster to join ("auto" or HOST:PORT). Unset: $RAY_ADDRESS, else a fresh local instance."""

    device: str = "auto"
    """auto | cuda | cpu. auto: cuda when the Ray cluster has GPUs, else cpu (gloo)."""

    placement: str = "pack"
    """pack: as few nodes as possible; spread: one rank per node."""

    gpus_per_node: int | None = None
    """Ranks per node, to set the shape explicitly (multi-node). Unset: Ray decides."""

    timeout_s: float = 300.0
    """Seconds allowed for placement, process-group init and each collective."""

    env: dict[str, str] = field(default_factory=dict)
    """Environment set on every rank before the process group starts (e.g. NCCL_DEBUG)."""

    strict: bool = False
    """Fail, rather than warn, when nodes differ in versions or topology."""


@dataclass
class CollectivesConfig:
    """The collectives sweep, measured the way nccl-tests measures."""

    ops: list[str] = field(default_factory=lambda: ["all_reduce"])
    """Collectives to sweep: all_reduce, all_gather, reduce_scatter, broadcast, all_to_all, sendrecv."""

    min_bytes: int = 1 << 10
    """Smallest message size S in bytes (nccl-tests -b). TOML/CLI accept 1K, 64M, 1G."""

    max_bytes: int = 64 << 20
    """Largest message size S in bytes (nccl-tests -e)."""

    factor: int = 2
    """Multiply the size by this between points (nccl-tests -f)."""

    dtypes: list[str] = field(default_factory=lambda: ["float32"])
    """Element types: float32, bfloat16, float16."""

    warmup: int = 5
    """Untimed iterations per point (nccl-tests -w)."""

    iters: int = 20
    """Timed iterations per point (nccl-tests -n). Percentiles are taken over these."""

    timing: str = "blocking"
    """blocking: barrier before each op, one sample per op. pipelined: `pipeline_depth` ops back to back, one sync."""

    pipeline_depth: int = 10
    """Ops per sample with timing = "pipelined" (the sample is time / depth)."""

    check: bool = True
    """Verify every result exactly and count wrong elements (nccl-tests #wrong)."""


@dataclass
class TrainingConfig:
    """How a DDP training step is measured; shared by the resnet50 and transformer workloads."""

    scaling: str = "weak"
    """weak: fixed per-rank batch (the default). strong: fixed global batch = batch x largest world size, split among ranks."""

    precision: str = "auto"
    """auto | fp32 | tf32 | bf16 | fp16 (autocast; fp16 adds a GradScaler, GPU only). auto: bf16 on cuda, fp32 on cpu."""

    warmup: int | None = None
    """Untimed DDP steps before measuring. Unset: 2 on cpu, 10 on cuda."""

    steps: int | None = None
    """Measured steps per phase (DDP, no_sync, all-reduce alone, forward). Unset: 10 on cpu, 50 on cuda."""

    bucket_cap_mb: float = 25.0
    """DDP gradient bucket size in MiB (DDP's bucket_cap_mb); the all-reduce-alone timing uses DDP's own buckets."""

    gradient_as_bucket_view: bool = False
    """DDP gradient_as_bucket_view: gradients are views into the buckets (no copy, less memory)."""

    static_graph: bool = False
    """DDP static_graph: the graph is the same every step, so DDP may skip some bookkeeping."""

    broadcast_buffers: bool = False
    """Sync buffers (BatchNorm statistics) from rank 0 before every forward, as DDP does by default."""


@dataclass
class ResNet50WorkloadConfig:
    """Data-parallel ResNet-50 v1.5 training on synthetic images; SGD with momentum and weight decay."""

    preset: str = "auto"
    """auto | tiny (32 px images, batch 8: CPU-sized) | imagenet (224 px, batch 256). auto: tiny on cpu, imagenet on cuda."""

    batch: int | None = None
    """Images per rank and step (weak scaling); unset: the preset's."""

    image_size: int | None = None
    """Image height and width in pixels; unset: the preset's."""

    channels_last: bool = True
    """Run in channels_last (NHWC) memory format, which tensor cores prefer."""


@dataclass
class TransformerWorkloadConfig:
    """Data-parallel GPT-style decoder training on synthetic tokens; AdamW."""

    preset: str = "auto"
    """auto | tiny (CPU-sized) | gpt2-small | gpt2-medium | 1.3b. auto: tiny on cpu, gpt2-medium on cuda."""

    batch: int | None = None
    """Sequences per rank and step (weak scaling); unset: the preset's (tiny 8, gpt2-small 16, gpt2-medium 8, 1.3b 4)."""

    seq_len: int | None = None
    """Tokens per sequence; unset: the preset's context (tiny 128, gpt2 1024, 1.3b 2048)."""


@dataclass
class RunConfig:
    """Root of the configuration tree."""

    gpus: list[int] = field(default_factory=lambda: [1, 2])
    """World sizes to sweep (--gpus 1,2,4,8). On cpu these are gloo ranks."""

    workloads: list[str] = field(default_factory=lambda: ["collectives", "resnet50", "transformer"])
    """Workloads to run, in order: collectives, resnet50, transformer."""

    out: str | None = None
    """Run directory. Unset: <runs_dir>/<UTC time>-<short id>/."""

    runs_dir: str = "runs"
    """Parent of generated run directories."""

    repeats: int = 8
    """Rounds per point: at each world size every point (collectives and training) is measured
    once per round, round after round, so drift hits all points alike and `scaling compare` can
    test a change against round-to-round noise. Warmup, iters and steps are per round. One
    count for the whole sweep (not per section) because the rounds interleave every workload's
    points. 8: compare's confidence covers all points of a comparison at once, so a sweep of
    28-40 points needs 7 rounds to decide anything, and 8 leave room for noise. 1: a quick look
    whose comparisons are undecided."""

    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    collectives: CollectivesConfig = field(default_factory=CollectivesConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    resnet50: ResNet50WorkloadConfig = field(default_factory=ResNet50WorkloadConfig)
    transformer: TransformerWorkloadConfig = field(default_factory=TransformerWorkloadConfig)
