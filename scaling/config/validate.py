"""Validate, config layer (as cli/validate.py, report/validate.py): the [validate] section.

The [validate] section: the thresholds `scaling validate` judges with, and where each comes from.

    [validate]
    outlier_k = 3.0
    outlier_min_pct = 5.0
    gemm_min_peak_fraction = 0.5
    inter_node_min_fraction = 0.75

Every default is either a public figure, cited next to it, or scaling's own choice, said to
be one. Per-GPU-model minimums (MODEL_DEFAULTS) apply only to the node shape they were
published for; a field set here overrides them for every model. `resolve()` returns the
thresholds in force for one GPU model with the source of each, for validate.json.

The section also holds the run's shape (level, ranks, burn, storage, sizes). It is registered
with the config loader by the check workloads (scaling/workloads/checks), which share it as
[training] is shared, so `[validate]` in a TOML file and `scaling validate`'s flags set the
same fields.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields

from scaling.config.bars import COPY_ENGINE, GIB, MIB, NCCL, Bar, Measure, from_config
from scaling.config.fields import setting
from scaling.config.units import format_size, parse_size

LEVELS = ("quick", "standard", "long")
GROUP_OPS = ("all_to_all", "all_reduce")
SCALING_CHOICE = "scaling's default (not a public threshold)"


@dataclass
class ValidateConfig:
    """`scaling validate`: what it runs, and the thresholds it judges with."""

    level: str = setting("quick", choices=LEVELS)
    """quick (about a minute), standard (about 5) or long (standard plus a burn of burn_minutes);
    README "Validate a new cluster" lists what each runs."""

    gpus: int | None = None
    """Ranks to validate. Unset: every GPU of the cluster (without GPUs: one CPU rank per CPU
    Ray offers)."""

    burn_minutes: float = 10.0
    """level = "long": minutes of seeded bf16 matmul on every GPU, digests compared as it goes."""

    storage: str | None = None
    """A directory (a test file is written and read back with O_DIRECT) or a file (read with
    O_DIRECT) on every node: the storage that holds checkpoints and weights. Unset: not checked."""

    storage_bytes: int = setting(1 << 30, parse=parse_size, show=format_size)
    """Size of the test file written in a --storage directory."""

    check_seconds: float | None = None
    """Seconds each timed per-rank check runs (GEMM; memory and host copies take half). Unset:
    the level's (quick 5, standard 30)."""

    gemm_size: int | None = None
    """Matrix side of the GEMM and SDC checks. Unset: 8192 on GPU, 512 on CPU."""

    comm_bytes: int | None = setting(None, parse=parse_size, show=format_size)
    """Message size of the all_reduce, pairwise and inter-node checks. Unset: 256M on GPU,
    4M on CPU; except a GPU node's all_reduce, run at its public bar's own size (16G on
    8x H100/H200, 8G on 8x A100) when the GPU memory holds it (config/allreduce_bars.py)."""

    baseline: str | None = None
    """A known-good `scaling validate` run directory to judge against (--baseline)."""

    outlier_k: float = 3.0
    """k of the fleet band median ± k·MAD. MAD is scaled by 1.4826 so that k reads as standard
    deviations of normal noise (k = 3: about 0.1% of healthy GPUs below the band by chance,
    before the outlier_min_pct floor widens it). scaling's default."""

    outlier_min_pct: float = 5.0
    """The fleet band is never narrower than this % of the median: a GPU must be both k·MAD and
    5% off. SuperBench calls a node defective when it is more than 5% worse than the fleet P50."""

    gemm_min_peak_fraction: float = 0.5
    """FAIL a GPU whose dense GEMM throughput is below this fraction of its datasheet peak
    (scaling/hardware/peaks.py, the precision the check ran at). scaling's default: wide enough
    that a healthy GPU clears it at the shapes validate runs; a GPU stuck at low clocks does not."""

    allreduce_min_ceiling_fraction: float = 0.70
    """FAIL a node whose all-GPU all_reduce busbw is below this fraction of its link ceiling.
    Healthy ring all_reduce reaches 0.77–0.83 of the ceiling (reference figures, not measured here:
    8×A100 230 of 300, 8×H100 370 of 450, 4×RTX 4090 26 of 31.5 GB/s); 0.70 sits below the
    lowest with a margin."""

    pcie_min_ceiling_fraction: float = 0.75
    """FAIL a GPU whose pinned H2D or D2H copy is below this fraction of its PCIe ceiling.
    Azure NHC fails an H100 below 48 GB/s on a Gen5 x16 link (63 GB/s): 0.76 of the ceiling."""

    allreduce_min_busbw_gbps: float | None = None
    """Absolute all_reduce busbw minimum for a whole node (GB/s). Unset: the per-model figure
    (MODEL_DEFAULTS, 8-GPU nodes only), else none."""

    h2d_min_gbps: float | None = None
    """Absolute pinned host<->device copy minimum per GPU (GB/s). Unset: the per-model figure."""

    p2p_min_gbps: float | None = None
    """Absolute GPU-pair bandwidth minimum inside a node (GB/s). Unset: the per-model figure."""

    membw_min_gbps: float | None = None
    """Absolute device-memory copy bandwidth minimum per GPU (GB/s, bytes copied once). Unset:
    membw_min_peak_fraction of the GPU's datasheet HBM bandwidth (hardware/hbm.py)."""

    membw_min_peak_fraction: float = 0.70
    """FAIL a GPU whose device copy moves memory (read + write: twice the bytes copied) below
    this fraction of its datasheet HBM bandwidth. scaling's choice, not a published threshold
    and not calibrated on a GPU here: below the 0.75-0.77 healthy device-local copies reach in
    NVIDIA's p2pBandwidthLatencyTest (NVIDIA/nccl issue 1264, H100 SXM; NVIDIA/cuda-samples
    issue 311, A100), above a GPU 30% slow (docs/validate-thresholds.md)."""

    inter_node_min_busbw_gbps: float | None = None
    """busbw minimum (GB/s) for the inter-node group tests: an all_reduce of comm_bytes over all
    ranks of the tested nodes. Set it only from a figure measured that way. Unset: the healthy
    fraction of the network ceiling (every rail the ranks reach), else the fleet reference.
    (GCP's node-pair bars are all_gather at 2-8 GB, not this: docs/validate-fabric.md.)"""

    inter_node_min_fraction: float = 0.75
    """Without a minimum (inter_node_min_busbw_gbps) or a known network ceiling, a
    group test passes at this fraction of a reference measured first: the median over nodes
    of each node's best node-pair busbw. busbw does not depend on the group's size (nccl-tests'
    definition), so a healthy group reaches the pairs' figure within noise. scaling's default."""

    storage_warn_below_gbps: float = 1.5
    """WARN when the storage read bandwidth (--storage PATH) is below this (GB/s): SATA-class
    (~0.5 GB/s: SATA III's 6 Gb/s line) where NVMe (~3.5 GB/s, Gen3 x4) is expected."""

    baseline_threshold_pct: float = 5.0
    """--baseline: a change must exceed this % to count (SuperBench's 5% of the fleet P50)."""

    exhaustive_max_nodes: int = 8
    """Localisation tests every node pair only up to this many nodes; above, it bisects."""

    group_op: str = setting("all_to_all", choices=GROUP_OPS)
    """The collective of the inter-node group tests (docs/validate-localization.md).
    all_to_all: every rank sends to every other, so a group crosses every pair of its nodes,
    one screen proves every link and a bad link fails any group holding both ends.
    all_reduce: a ring, which crosses only neighbouring nodes; the search then screens
    ceil((N-1)/2) ring orders (ring_orders) to make every pair neighbours once."""

    ring_orders: int | None = None
    """group_op = "all_reduce" only: ring orders the localisation screens. Unset: all, ceil((N-1)/2), so every pair of nodes
    is neighbours in a tested ring (a bad link fails only rings where its ends are
    neighbours). Fewer is quicker, and a bad link between nodes never neighbours in a tested
    ring passes unseen; validate.json's localization.rings_tested and rings_needed say so."""

    def validate(self) -> None:
        """Range checks (the config loader calls this after every key is set)."""
        check(self)


@dataclass(frozen=True)
class ModelDefaults:
    pattern: str
    """Regular expression searched (case-insensitively) in the device name."""
    label: str
    bars: tuple[Bar, ...]
    """The published minimums for the model, each with how its source measured it (bars.py)."""

    def bar(self, key: str) -> Bar | None:
        return next((b for b in self.bars if b.key == key), None)


NHC = "https://github.com/Azure/azurehpc-health-checks"
NVBW_SIZES = (64 * MIB, 512 * MIB)
"""nvbandwidth's default buffer: 64 MiB up to v0.4, 512 MiB since. NHC runs it with the default,
so its copy bars hold across that range (copy-engine bandwidth is flat there)."""


def _nhc(conf: str, allreduce: tuple[float, int] | None, h2d: float, p2p: float | None):
    """Azure NHC's bars from one conf file. check_nccl_allreduce MIN 1 SIZE: nccl-tests
    all_reduce_perf busbw over the node's 8 GPUs at SIZE (-b SIZE -e SIZE, one process, -g 1 per
    rank: customTests/azure_nccl_allreduce.nhc). check_gpu_bw H2D P2P: nvbandwidth
    host_to_device_memcpy_ce, device_to_host_memcpy_ce and device_to_device_memcpy_read_ce,
    each GPU (pair) alone, graphics clocks locked to their maximum first
    (customTests/azure_gpu_bandwidth.nhc)."""
    source = f"Azure NHC conf/{conf}"
    boost = "nvbandwidth with graphics clocks boosted to max (NHC boost_gpu_clock)"
    out = []
    if allreduce:
        value, size = allreduce
        out.append(
            Bar(
                "allreduce_min_busbw_gbps",
                ((size, value),),
                source,
                NHC,
                op="all_reduce",
                method=NCCL,
                gpus=8,
                note="check_nccl_allreduce: nccl-tests all_reduce_perf busbw",
            )
        )
    for key, op in (("h2d_min_gbps", "h2d"), ("h2d_min_gbps", "d2h")):
        out.append(
            Bar(
                key,
                tuple((s, h2d) for s in NVBW_SIZES),
                source,
                NHC,
                op=op,
                method=COPY_ENGINE,
                gpus=1,
                at_once=1,
                note=f"check_gpu_bw: {boost}",
            )
        )
    if p2p is not None:
        out.append(
            Bar(
                "p2p_min_gbps",
                tuple((s, p2p) for s in NVBW_SIZES),
                source,
                NHC,
                op="peer_copy",
                method=COPY_ENGINE,
                gpus=2,
                at_once=2,
                note=f"check_gpu_bw: {boost}; device_to_device_memcpy_read_ce",
            )
        )
    return tuple(out)


# Azure NHC (github.com/Azure/azurehpc-health-checks), one conf file per VM size.
MODEL_DEFAULTS: tuple[ModelDefaults, ...] = (
    # conf/nd96isr_h200_v5.conf: check_nccl_allreduce 431.0 1 16G; check_gpu_bw 48 335.
    ModelDefaults(r"\bH200\b(?!.*\bNVL\b)", "8x H200 SXM (Azure ND H200 v5)",
                  _nhc("nd96isr_h200_v5.conf", (431.0, 16 * GIB), 48.0, 335.0)),
    # conf/nd96isr_h100_v5.conf: check_nccl_allreduce 460.0 1 16G; check_gpu_bw 48 335.
    ModelDefaults(r"\bH100\b.*\b(SXM|HBM3)", "8x H100 SXM (Azure ND H100 v5)",
                  _nhc("nd96isr_h100_v5.conf", (460.0, 16 * GIB), 48.0, 335.0)),
    # conf/nd96asr_v4.conf: check_nccl_allreduce 228.0 10 8G; check_cuda_bw 24 (H2D/D2H).
    ModelDefaults(r"\bA100-SXM4\b", "8x A100 SXM4 (Azure ND A100 v4)",
                  _nhc("nd96asr_v4.conf", (228.0, 8 * GIB), 24.0, None)),
)  # fmt: skip


@dataclass(frozen=True)
class Threshold:
    value: float | None
    source: str
    """Where the figure comes from (or why there is none, or why it was not applied)."""
    bar: Bar | None = None
    """The bar with how its source measured (None: no bar for this model)."""
    not_applied: str | None = None
    """Why the bar was left out: this run's measurement is not like the source's."""

    def to_dict(self) -> dict:
        d = {"value": self.value, "source": self.source}
        if self.bar is not None:
            d["bar"] = self.bar.to_dict()
        if self.not_applied:
            d["not_applied"] = self.not_applied
        return d


def model_defaults(device_name: str | None) -> ModelDefaults | None:
    if not device_name:
        return None
    name = " ".join(device_name.split())
    return next((m for m in MODEL_DEFAULTS if re.search(m.pattern, name, re.IGNORECASE)), None)


def model_bar(device_name: str | None, key: str, op: str | None = None) -> Bar | None:
    """The model's published bar for a key (and op, where a key has two: h2d and d2h)."""
    m = model_defaults(device_name)
    bars = [b for b in (m.bars if m else ()) if b.key == key and (op is None or b.op == op)]
    return bars[0] if bars else None


def minimum(cfg: ValidateConfig, key: str, device_name: str | None,
            measured: Measure | None, op: str | None = None) -> Threshold:  # fmt: skip
    """The bar in force for one measured figure: the [validate] value, else the model's bar
    when this run measured like its source, else none, with why."""
    override = getattr(cfg, key)
    if override is not None:
        return Threshold(override, "[validate] config", from_config(key, override))
    bar = model_bar(device_name, key, op or (measured.op if measured else None))
    if bar is None:
        return Threshold(None, "no public figure for this GPU model")
    why = bar.unlike(measured)
    if why:
        return Threshold(None, f"{bar.describe()}: not applied, {why}", bar, why)
    return Threshold(bar.value_at(measured.size_bytes), bar.describe(), bar)


def _pick(cfg: ValidateConfig, key: str, model: str | None, gpus: int | None) -> Threshold:
    """A bar's headline figure for validate.json's by_model (not tied to one measurement)."""
    if getattr(cfg, key) is not None:
        return Threshold(
            getattr(cfg, key), "[validate] config", from_config(key, getattr(cfg, key))
        )
    bar = model_bar(model, key)
    if bar is None:
        return Threshold(None, "no public figure for this GPU model")
    if bar.gpus and gpus is not None and bar.gpus != gpus and bar.op == "all_reduce":
        why = f"{bar.source} is for {bar.gpus}-GPU nodes"
        return Threshold(None, why, bar, why)
    return Threshold(bar.points[-1][1], bar.source, bar)


def resolve(
    cfg: ValidateConfig, device_name: str | None, gpus_per_node: int | None = None
) -> dict[str, Threshold]:
    """The absolute minimums published for one GPU model (and node shape), each with its bar:
    source, op, size, method, GPUs. Whether one applies to a figure is `minimum()`'s call."""
    keys = ("allreduce_min_busbw_gbps", "h2d_min_gbps", "p2p_min_gbps", "membw_min_gbps")
    out = {k: _pick(cfg, k, device_name, gpus_per_node) for k in keys}
    out["inter_node_min_busbw_gbps"] = inter_node_minimum(cfg)
    return out


def inter_node_minimum(cfg: ValidateConfig) -> Threshold:
    if cfg.inter_node_min_busbw_gbps is not None:
        return Threshold(cfg.inter_node_min_busbw_gbps, "[validate] config")
    return Threshold(None, "no minimum set: the network ceiling's healthy fraction, else the "
                     "fleet reference (docs/validate-fabric.md)")  # fmt: skip


def check(cfg: ValidateConfig) -> ValidateConfig:
    """Range checks no type can express; raises ValueError naming the key."""
    for name in (
        "outlier_k",
        "outlier_min_pct",
        "storage_warn_below_gbps",
        "baseline_threshold_pct",
    ):
        _positive(name, getattr(cfg, name))
    for name in ("gemm_min_peak_fraction", "allreduce_min_ceiling_fraction",
                 "pcie_min_ceiling_fraction", "inter_node_min_fraction",
                 "membw_min_peak_fraction"):  # fmt: skip
        value = getattr(cfg, name)
        _positive(name, value)
        if value > 1:
            raise ValueError(f"validate.{name} = {value}: a fraction must be at most 1")
    for f in fields(cfg):
        if f.name.endswith("_gbps") and getattr(cfg, f.name) is not None:
            _positive(f.name, getattr(cfg, f.name))
    if cfg.exhaustive_max_nodes < 2:
        raise ValueError("validate.exhaustive_max_nodes must be at least 2")
    if cfg.group_op not in GROUP_OPS:
        raise ValueError(
            f"validate.group_op = {cfg.group_op!r}: choose from {', '.join(GROUP_OPS)}"
        )
    if cfg.level not in LEVELS:
        raise ValueError(f"validate.level = {cfg.level!r}: choose from {', '.join(LEVELS)}")
    for name in ("burn_minutes", "check_seconds"):
        if getattr(cfg, name) is not None:
            _positive(name, getattr(cfg, name))
    return cfg


def _positive(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"validate.{name} = {value!r}: expected a number")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"validate.{name} = {value}: expected a positive finite number")


RUN_KEYS = ("level", "gpus", "burn_minutes", "storage", "storage_bytes", "check_seconds",
            "gemm_size", "comm_bytes", "baseline")  # fmt: skip
"""The run's shape; every other field is a threshold (validate.json lists those)."""
THRESHOLD_KEYS = tuple(f.name for f in fields(ValidateConfig) if f.name not in RUN_KEYS)


def describe(cfg: ValidateConfig, models: dict[str, int]) -> dict:
    """What validate.json records as "thresholds": the [validate] values, and per GPU model
    (model name -> GPUs per node) the absolute minimums in force with their sources."""
    return {
        "config": {f.name: getattr(cfg, f.name) for f in fields(cfg) if f.name in THRESHOLD_KEYS},
        "by_model": {
            model: {k: t.to_dict() for k, t in resolve(cfg, model, n).items()}
            for model, n in models.items()
        },
    }
