"""best.toml: the winner as a file that `scaling run --config best.toml` runs as is.

The file holds the base run config's own settings (those that differ from the defaults,
never `out`: a rerun must not write into an earlier run, nor the [tune] section) with the
winner's options on top, at the tuned world size. Every option of a candidate has a key
in the run config's schema ([training], the workload's batch); one without would be a bug
here, and raises rather than write a best.toml that does not reproduce the winner.

    text = best_toml(base_cfg, winner, workload="resnet50", world_size=8, header=[...])
"""

from __future__ import annotations

import json
import math

from scaling.collector.tune.nccl_env import DEBUG_NOTE
from scaling.collector.tune.result import BEST_TOML
from scaling.collector.tune.space import Candidate
from scaling.config.loader import flatten, parsers
from scaling.config.schema import RunConfig, to_dict

# Here, beside the run config's schema it writes, not in the collector: best.toml is a run
# config, and the collector sits below the config's composition root (tests/test_floors.py).
NEVER = ("out",)
NEVER_SECTIONS = ("tune.",)


def option_keys(workload: str) -> dict[str, str]:
    """Candidate field -> the run config key that sets it."""
    return {
        "batch": f"{workload}.batch",
        "precision": "training.precision",
        "strategy": "training.strategy",
        "bucket_cap_mb": "training.bucket_cap_mb",
        "gradient_as_bucket_view": "training.gradient_as_bucket_view",
        "static_graph": "training.static_graph",
        "reshard_after_forward": "training.reshard_after_forward",
        "fsdp_reduce_dtype": "training.fsdp_reduce_dtype",
        "activation_checkpointing": "training.activation_checkpointing",
        "compile": "training.compile",
    }


def best_settings(base: RunConfig, winner: Candidate, workload: str, world_size: int) -> dict:
    """Dotted key -> value to write."""
    settable = parsers()
    flat = {k: v for k, v in flatten(to_dict(base), settable).items() if k in settable}
    defaults = flatten(to_dict(RunConfig()), settable)
    out = {
        k: v
        for k, v in flat.items()
        if v != defaults.get(k) and k not in NEVER and not k.startswith(NEVER_SECTIONS)
    }
    out["gpus"] = [world_size]
    out["workloads"] = [workload]
    for name, value in winner.settings().items():
        key = option_keys(workload).get(name)
        if key is None or value == "single":  # one rank: no strategy to write
            continue
        if key not in settable:
            raise ValueError(f"best.toml: the run config has no key {key} for {name}")
        out[key] = value
    if winner.nccl_env:
        out["cluster.env"] = {**dict(base.cluster.env), **dict(winner.nccl_env)}
    return out


def best_toml(
    base: RunConfig,
    winner: Candidate,
    workload: str,
    world_size: int,
    header: list[str] | None = None,
) -> str:
    """The text of best.toml."""
    settings = best_settings(base, winner, workload, world_size)
    lines = [f"# {h}" for h in header or []]
    lines.append(f"# scaling run --config {BEST_TOML}")
    if winner.nccl_env:
        lines.append(f"# cluster.env sets NCCL debugging variables. {DEBUG_NOTE}")
    return "\n".join(lines + _emit(settings)) + "\n"


def _emit(settings: dict) -> list[str]:
    top = {k: v for k, v in settings.items() if "." not in k}
    lines = [f"{k} = {_value(v)}" for k, v in top.items()]
    sections: dict[str, dict] = {}
    for k, v in settings.items():
        if "." in k:
            section, leaf = k.split(".", 1)
            sections.setdefault(section, {})[leaf] = v
    for section in sorted(sections, key=_section_order):
        lines += ["", f"[{section}]"]
        lines += [f"{k} = {_value(v)}" for k, v in sections[section].items()]
    return lines


def _section_order(name: str) -> tuple[int, str]:
    order = ["cluster", "collectives", "training"]
    return (order.index(name) if name in order else len(order), name)


def _value(v) -> str:
    """A TOML literal for the value types the schema holds."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"no TOML literal for {v!r} in a run config")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string: JSON's escapes are TOML's
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"no TOML literal for {type(v).__name__}")
