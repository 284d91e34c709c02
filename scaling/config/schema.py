"""The run configuration: one dataclass per section, composed into RunConfig.

Each field's docstring is the documentation of the matching TOML key (and CLI
flag, where there is one). Precedence is stated once, in `loader.py`:
CLI > --config file > these defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field

OPS = ("all_reduce", "all_gather", "reduce_scatter", "broadcast", "all_to_all", "sendrecv")
DTYPES = ("float32", "bfloat16", "float16")
DEVICES = ("auto", "cuda", "cpu")
PLACEMENTS = ("pack", "spread")
TIMINGS = ("blocking", "pipelined")


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
class RunConfig:
    """Root of the configuration tree."""

    gpus: list[int] = field(default_factory=lambda: [1, 2])
    """World sizes to sweep (--gpus 1,2,4,8). On cpu these are gloo ranks."""

    workloads: list[str] = field(default_factory=lambda: ["collectives"])
    """Workloads to run, in order."""

    out: str | None = None
    """Run directory. Unset: <runs_dir>/<UTC time>-<short id>/."""

    runs_dir: str = "runs"
    """Parent of generated run directories."""

    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    collectives: CollectivesConfig = field(default_factory=CollectivesConfig)
