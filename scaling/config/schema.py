"""The run configuration: one dataclass per section, composed into RunConfig.

Each field's docstring is the documentation of the matching TOML key and of its CLI flag,
where there is one (`scaling run --help` shows it, with the default taken from the field).
Precedence is stated once, in `loader.py`: CLI > --config file > these defaults.

The root and [cluster] are declared here. Every other section belongs to a workload and is
declared in the workload's module (`[collectives]` in workloads/collectives, `[training]` in
workloads/training, `[resnet50]`, `[transformer]`); `sections()` finds them through the
workload registry, so a new workload brings its section without an edit here.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any

from scaling.config.fields import parse_env, setting
from scaling.config.units import parse_world_sizes


def _workloads():
    from scaling.workloads import catalog

    return catalog


def workload_names() -> tuple[str, ...]:
    return _workloads().names()


def default_workloads() -> list[str]:
    return [w.name for w in _workloads().WORKLOADS.values() if w.default]


def sections() -> dict[str, type]:
    """Section name -> dataclass of every registered workload, in registration order."""
    out: dict[str, type] = {}
    for w in _workloads().WORKLOADS.values():
        out.update(w.sections())
    return out


@dataclass
class ClusterConfig:
    """Where ranks run: the Ray cluster, placement and process-group setup."""

    address: str | None = None
    """Existing Ray cluster (auto or HOST:PORT); also $RAY_ADDRESS. Unset: a fresh local instance."""

    device: str = setting("auto", choices=("auto", "cuda", "cpu"))
    """auto: cuda when the Ray cluster has GPUs, else cpu (gloo). Or cuda, cpu."""

    placement: str = setting("pack", choices=("pack", "spread"))
    """pack: as few nodes as possible; spread: one rank per node while nodes suffice."""

    gpus_per_node: int | None = None
    """Ranks per node, to set the multi-node shape explicitly. Unset: Ray decides."""

    timeout_s: float = 300.0
    """Seconds allowed for placement, process-group init and each point."""

    env: dict[str, str] = setting(factory=dict, parse=parse_env)
    """Environment set on every rank before its process group starts (e.g. NCCL_DEBUG=INFO)."""

    strict: bool = False
    """Fail before measuring, rather than warn, when nodes differ in torch/NCCL/CUDA/GPU model or topology."""


@dataclass
class RunConfig:
    """Root of the configuration tree: the run, [cluster], and one section per workload."""

    gpus: list[int] = setting(factory=lambda: [1, 2], parse=parse_world_sizes)
    """World sizes to sweep, e.g. 1,2,4,8. On cpu these are gloo ranks."""

    workloads: list[str] = setting(factory=default_workloads, choices=workload_names)
    """Workloads to run, in order (comma list)."""

    out: str | None = None
    """Run directory. Unset: <runs_dir>/<UTC time>-<short id>/."""

    runs_dir: str = "runs"
    """Parent of generated run directories."""

    repeats: int = 3
    """Rounds per point: at each world size every point (collectives and training) is measured
    once per round, round after round, so drift hits all points alike; a run's figure per point
    is the median of its rounds. Warmup, iters and steps are per round. One count for the whole
    sweep (not per section) because the rounds interleave every workload's points. 3: `scaling
    compare` judges runs against the spread between runs (docs/compare.md), which more rounds
    inside one run do not shrink; the default suite (`scaling run --gpus 1,2`) took 46 s with
    3 against 98 s with 8 on the 2-core VM, and run sets of 5 at 3 rounds met compare's goals
    (README, Performance). 1: a quick look."""

    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    sections: dict[str, Any] = field(
        default_factory=lambda: {name: cls() for name, cls in sections().items()}, repr=False
    )
    """Each workload's section by name; read them as attributes: cfg.collectives, cfg.resnet50."""

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: a workload's section by its name.
        found = self.__dict__.get("sections", {})
        if name in found:
            return found[name]
        raise AttributeError(f"{type(self).__name__} has no section or field {name!r}")


def to_dict(cfg: RunConfig) -> dict[str, Any]:
    """Plain dict for the manifest: the root's keys, [cluster], then each section's."""
    out = {
        f.name: copy.deepcopy(getattr(cfg, f.name))
        for f in dataclasses.fields(cfg)
        if f.name not in ("cluster", "sections")
    }
    out["cluster"] = dataclasses.asdict(cfg.cluster)
    return out | {name: dataclasses.asdict(s) for name, s in cfg.sections.items()}
