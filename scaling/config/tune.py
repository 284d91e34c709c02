"""The [tune] section: what `scaling tune` searches, and how long it may take.

Each searched dimension has its own key holding the values to try; `dimensions` switches
dimensions on and off. A dimension that is off is held at the run config's own value
([training], [resnet50], [transformer]), so a [tune] section can sit in an ordinary run
config file. Phase 2 registers these keys with the loader (`TUNE_PARSERS`) and adds
`RunConfig.tune`; until then `read_tune_section(path)` reads the section on its own.

    [tune]
    dimensions = ["batch", "precision", "bucket_cap_mb", "gradient_as_bucket_view"]
    bucket_cap_mb = [5, 25, 100]
    budget = "10m"
    target_memory = "80G"
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from scaling.config.loader import (
    ConfigError,
    _bool,
    _choice,
    _choices,
    _optional,
    _positive_float,
    _positive_int,
)
from scaling.config.schema import WORKLOADS
from scaling.config.units import _UNITS, format_size, parse_size

DIMENSIONS = (
    "batch",
    "precision",
    "strategy",
    "bucket_cap_mb",
    "gradient_as_bucket_view",
    "static_graph",
    "reshard_after_forward",
    "fsdp_reduce_dtype",
    "activation_checkpointing",
    "compile",
    "nccl",
)
TUNE_PRECISIONS = ("auto", "fp32", "tf32", "bf16", "fp16")
DEVICE_PRECISIONS = {"cuda": ("bf16", "fp16", "tf32", "fp32"), "cpu": ("fp32", "bf16")}
"""What precision "auto" tries on each device: tf32 and fp16 are GPU modes (fp16's CPU
convolution backward is ~50x slower than fp32, see workloads/training.py)."""
TUNE_STRATEGIES = ("ddp", "fsdp2")
REDUCE_DTYPES = ("float32", "bfloat16")
NCCL_ALGOS = ("Ring", "Tree", "CollnetDirect", "CollnetChain", "NVLS", "NVLSTree", "PAT")
NCCL_PROTOS = ("LL", "LL128", "Simple")
TRAINING_WORKLOADS = tuple(w for w in WORKLOADS if w != "collectives")


@dataclass
class TuneConfig:
    """What to search and within which limits."""

    workload: str | None = None
    """The training workload to tune (resnet50, transformer). Unset: the run config's only one."""

    world_size: int | None = None
    """World size the strategy is tuned at. Unset: the largest of --gpus."""

    dimensions: list[str] = field(
        default_factory=lambda: [
            "batch",
            "precision",
            "strategy",
            "bucket_cap_mb",
            "gradient_as_bucket_view",
            "reshard_after_forward",
        ]
    )
    """Dimensions searched: batch, precision, strategy, bucket_cap_mb, gradient_as_bucket_view,
    static_graph, reshard_after_forward, fsdp_reduce_dtype, activation_checkpointing, compile,
    nccl. The others keep the run config's value."""

    batches: list[int] | None = None
    """Per-rank batches to try. Unset: the preset's batch and `batch_doublings` doublings;
    those the memory model says cannot fit are pruned."""

    batch_doublings: int = 3
    """With batches unset: how many times to double the preset's batch (3: x1, x2, x4, x8)."""

    precisions: list[str] = field(default_factory=lambda: ["auto"])
    """fp32, tf32, bf16, fp16, or auto: bf16, fp16, tf32, fp32 on GPU; fp32, bf16 on CPU."""

    strategies: list[str] = field(default_factory=lambda: ["ddp", "fsdp2"])
    """ddp (DistributedDataParallel) and/or fsdp2 (fully_shard per block)."""

    bucket_cap_mb: list[float] = field(default_factory=lambda: [1.0, 5.0, 25.0, 50.0, 100.0, 200.0])
    """DDP bucket sizes in MiB (DDP's default is 25)."""

    gradient_as_bucket_view: list[bool] = field(default_factory=lambda: [False, True])
    """DDP: gradients as views into the buckets (one gradient copy less)."""

    static_graph: list[bool] = field(default_factory=lambda: [False, True])
    """DDP static_graph."""

    reshard_after_forward: list[bool] = field(default_factory=lambda: [True, False])
    """FSDP2: free each block's gathered parameters after forward (True) or keep them (False)."""

    fsdp_reduce_dtype: list[str] = field(default_factory=lambda: ["float32"])
    """FSDP2 MixedPrecisionPolicy reduce_dtype (param_dtype follows the precision)."""

    activation_checkpointing: list[int] = field(default_factory=lambda: [0, 1])
    """0: none; N: checkpoint every N blocks."""

    compile: list[bool] = field(default_factory=lambda: [False, True])
    """torch.compile the model (GPU only; pruned on CPU)."""

    nccl_algo: list[str] = field(default_factory=lambda: ["Ring", "Tree"])
    """NCCL_ALGO candidates (an NCCL debugging variable: recommended only beyond noise)."""

    nccl_proto: list[str] = field(default_factory=lambda: ["LL", "LL128", "Simple"])
    """NCCL_PROTO candidates (debugging variable)."""

    nccl_channels: list[int] = field(default_factory=list)
    """NCCL_MIN_NCHANNELS = NCCL_MAX_NCHANNELS candidates (debugging variables); empty: none."""

    nccl_buffsize: list[int] = field(default_factory=list)
    """NCCL_BUFFSIZE candidates in bytes, e.g. ["4M", "16M"] (debugging variable); empty: none."""

    nccl_size_ranges: list[str] = field(default_factory=lambda: ["1K-64K", "64K-16M", "16M-1G"])
    """Message-size ranges, each judged on its own: an NCCL setting wins per range."""

    budget_s: float = 600.0
    """Trial time the search may spend, seconds ("10m", "90s" in TOML: `budget`)."""

    target_memory: int | None = None
    """Plan for this much memory per rank (e.g. "80G") instead of the device's own."""

    memory_headroom: float = 0.10
    """Share of the memory a plan leaves free (CUDA context, NCCL, fragmentation)."""

    eta: int = 2
    """Successive halving keeps 1/eta of the candidates per rung."""

    finalists: int = 2
    """Candidates given the full measurement."""

    first_steps: int = 1
    first_rounds: int = 4
    """The short trial every candidate gets: rounds x measured steps."""

    full_steps: int = 8
    full_rounds: int = 8
    """The full measurement (finalists, the winner's rerun): rounds x measured steps."""

    confirm: bool = True
    """Rerun the winner at full length and report that figure."""

    seed: int = 0
    """Seeds the sample of candidates when the budget cannot try them all."""


_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*$", re.IGNORECASE)


def parse_duration(v: Any) -> float:
    """--budget 10m -> 600.0 seconds; a bare number is seconds."""
    if isinstance(v, bool):
        raise ValueError(f"not a duration: {v!r}")
    m = _DURATION_RE.match(str(v))
    if not m:
        raise ValueError(f"not a duration: {v!r} (expected e.g. 90s, 10m, 1.5h)")
    seconds = float(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[(m.group(2) or "s").lower()]
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"duration must be positive, got {v!r}")
    return seconds


_MEM_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(I?B)?\s*$", re.IGNORECASE)


def parse_memory(text: str | int) -> int:
    """--target-memory 80G -> bytes. K/M/G/T are binary (GiB), decimals allowed: 79.6G."""
    if isinstance(text, bool):
        raise ValueError(f"not a memory size: {text!r}")
    if isinstance(text, int):
        if text <= 0:
            raise ValueError(f"memory size must be positive, got {text}")
        return text
    m = _MEM_RE.match(str(text))
    if not m:
        raise ValueError(f"not a memory size: {text!r} (expected e.g. 80G, 79.6G, 512M)")
    value = int(float(m.group(1)) * _UNITS[m.group(2).upper()])
    if value <= 0:
        raise ValueError(f"memory size must be positive, got {text!r}")
    return value


def _list_of(parse):
    def parse_list(v: Any) -> list:
        items = v if isinstance(v, list) else [v]
        if not items:
            raise ValueError("empty list")
        out = [parse(i) for i in items]
        return list(dict.fromkeys(out))

    return parse_list


def _nonneg_int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ValueError(f"expected a non-negative integer, got {v!r}")
    return v


def _fraction(v: Any) -> float:
    x = float(v) if not isinstance(v, bool) else math.nan
    if not 0.0 <= x < 1.0:
        raise ValueError(f"expected a fraction in [0, 1), got {v!r}")
    return x


@dataclass(frozen=True)
class SizeRange:
    """Message sizes lo..hi bytes, both included (an NCCL setting is judged per range)."""

    lo: int
    hi: int

    @property
    def label(self) -> str:
        return f"{format_size(self.lo)}-{format_size(self.hi)}"

    def __contains__(self, size: int) -> bool:
        return self.lo <= size <= self.hi


_RANGE_RE = re.compile(r"^\s*([0-9]+[KMGT]?)\s*-\s*([0-9]+[KMGT]?)\s*$", re.IGNORECASE)


def parse_size_range(text: str) -> SizeRange:
    """ "64K-16M" -> SizeRange(65536, 16777216): both ends included, binary units."""
    m = _RANGE_RE.match(str(text))
    if not m:
        raise ValueError(f"not a size range: {text!r} (expected e.g. 64K-16M)")
    lo, hi = parse_size(m.group(1)), parse_size(m.group(2))
    if lo > hi:
        raise ValueError(f"size range {text!r} ends below its start")
    return SizeRange(lo, hi)


def _size_range(v: Any) -> str:
    parse_size_range(v)
    return str(v)


def _eta(v: Any) -> int:
    n = _positive_int(v)
    if n < 2:
        raise ValueError(f"eta must be >= 2, got {v!r}")
    return n


TUNE_PARSERS: dict[str, Any] = {
    "tune.workload": _optional(_choice(TRAINING_WORKLOADS)),
    "tune.world_size": _optional(_positive_int),
    "tune.dimensions": _choices(DIMENSIONS),
    "tune.batches": _optional(_list_of(_positive_int)),
    "tune.batch_doublings": _nonneg_int,
    "tune.precisions": _choices(TUNE_PRECISIONS),
    "tune.strategies": _choices(TUNE_STRATEGIES),
    "tune.bucket_cap_mb": _list_of(_positive_float),
    "tune.gradient_as_bucket_view": _list_of(_bool),
    "tune.static_graph": _list_of(_bool),
    "tune.reshard_after_forward": _list_of(_bool),
    "tune.fsdp_reduce_dtype": _choices(REDUCE_DTYPES),
    "tune.activation_checkpointing": _list_of(_nonneg_int),
    "tune.compile": _list_of(_bool),
    "tune.nccl_algo": _choices(NCCL_ALGOS),
    "tune.nccl_proto": _choices(NCCL_PROTOS),
    "tune.nccl_channels": _list_of(_positive_int),
    "tune.nccl_buffsize": _list_of(parse_size),
    "tune.nccl_size_ranges": _list_of(_size_range),
    "tune.budget": parse_duration,
    "tune.target_memory": _optional(parse_memory),
    "tune.memory_headroom": _fraction,
    "tune.eta": _eta,
    "tune.finalists": _positive_int,
    "tune.first_steps": _positive_int,
    "tune.first_rounds": _positive_int,
    "tune.full_steps": _positive_int,
    "tune.full_rounds": _positive_int,
    "tune.confirm": _bool,
    "tune.seed": _nonneg_int,
}
"""One parser per [tune] key; phase 2 passes them to loader.register(). `budget` sets
budget_s (the file says "10m", the config holds seconds)."""

_FIELD = {"budget": "budget_s"}


def tune_config(flat: dict[str, Any], source: str) -> TuneConfig:
    """A TuneConfig from dotted "tune.*" keys; unknown keys and bad values are ConfigErrors."""
    cfg = TuneConfig()
    for key, raw in flat.items():
        parser = TUNE_PARSERS.get(key)
        if parser is None:
            raise ConfigError(f"unknown config key {key!r} in {source}")
        try:
            value = parser(raw)
        except ValueError as e:
            raise ConfigError(f"bad value for {key} in {source}: {e}") from None
        name = key.split(".", 1)[1]
        setattr(cfg, _FIELD.get(name, name), value)
    return validate_tune(cfg)


def validate_tune(cfg: TuneConfig) -> TuneConfig:
    """Cross-field checks no single key can make."""
    if cfg.first_steps > cfg.full_steps or cfg.first_rounds > cfg.full_rounds:
        raise ConfigError(
            "the short trial cannot be longer than the full measurement "
            f"(first {cfg.first_rounds} x {cfg.first_steps}, full {cfg.full_rounds} x "
            f"{cfg.full_steps} rounds x steps)"
        )
    return cfg


def read_tune_section(path: str | Path) -> TuneConfig:
    """The [tune] section of a TOML file (defaults where it has none)."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read config file {p}: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"malformed TOML in {p}: {e}") from None
    section = data.get("tune", {})
    if not isinstance(section, dict):
        raise ConfigError(f"[tune] in {p} must be a table")
    return tune_config({f"tune.{k}": v for k, v in section.items()}, str(p))


def to_dict(cfg: TuneConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)
