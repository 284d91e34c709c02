"""What a run ran on, from its manifest: the software stack, the hardware, the environment and
the configuration; a fingerprint of them, and the differences between two sets of runs.

    from scaling.collector.stack import describe, differences, fingerprint
    differences([base.manifest], [new.manifest])   # [Difference("torch", ...), ...]

`scaling compare` prints the differences before any point (a version bump explains a uniform
shift better than any statistic), and treats a run whose fingerprint equals the base's as
history: an earlier run of the same thing on the same machines, whose spread says how much
identical runs differ there.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

STACK = ("torch", "cuda", "nccl", "driver", "ray", "python", "gpu models", "nccl env")
"""Fields whose change can move every figure at once: a uniform shift that comes with one of
them is a regression even from single runs (the code or the machine changed, not the weather)."""

HARDWARE = ("device", "backend", "nodes", "hostnames")

# Where a run is written and how it is labelled say nothing about what it measured.
_CONFIG_IGNORED = ("out", "runs_dir", "tag", "label")


@dataclass(frozen=True)
class Difference:
    field: str
    base: str
    new: str
    stack: bool
    """A change of the software stack, the GPU models or the NCCL environment."""

    def line(self) -> str:
        return f"{self.field}: {self.base} -> {self.new}"

    def to_dict(self) -> dict:
        return {"field": self.field, "base": self.base, "new": self.new, "stack": self.stack}


def _ranks(manifest: dict) -> list[dict]:
    return [r for r in manifest.get("ranks") or [] if isinstance(r, dict)]


def _joined(values) -> str:
    found = sorted({str(v) for v in values if v not in (None, "", "n/a", "unknown")})
    return ", ".join(found) or "n/a"


def _driver(manifest: dict) -> str:
    drivers = []
    for node in (manifest.get("topology") or {}).values():
        nvml = ((node or {}).get("snapshot") or {}).get("nvml") or {}
        drivers.append(nvml.get("driver_version"))
    return _joined(drivers)


def _env(manifest: dict) -> str:
    """NCCL_* as the ranks saw it, and whatever --env set."""
    env = {}
    for r in _ranks(manifest):
        env.update(r.get("nccl_env") or {})
    cluster = ((manifest.get("config") or {}).get("cluster") or {}).get("env") or {}
    env.update(cluster if isinstance(cluster, dict) else {})
    return ", ".join(f"{k}={v}" for k, v in sorted(env.items())) or "none set"


def describe(manifest: dict) -> dict[str, str]:
    """The stack, hardware and environment fields of one run, each as one comparable string."""
    ranks = _ranks(manifest)
    host = manifest.get("host") or {}
    return {
        "torch": _joined(r.get("torch") for r in ranks),
        "cuda": _joined(r.get("cuda") for r in ranks),
        "nccl": _joined(r.get("nccl") for r in ranks),
        "driver": _driver(manifest),
        "ray": _joined([(manifest.get("ray") or {}).get("version")]),
        "python": _joined([host.get("python")]),
        "gpu models": _joined(r.get("gpu_name") for r in ranks),
        "nccl env": _env(manifest),
        "device": _joined([manifest.get("device")]),
        "backend": _joined([manifest.get("backend")]),
        "nodes": str(len({r.get("hostname") or r.get("node_ip") for r in ranks}) or "n/a"),
        "hostnames": _joined(r.get("hostname") for r in ranks),
    }


def _config(manifest: dict) -> dict:
    cfg = dict(manifest.get("config") or {})
    for key in _CONFIG_IGNORED:
        cfg.pop(key, None)
    return cfg


def fingerprint(manifest: dict) -> str:
    """A short hash of the config, hosts, GPU models and versions: equal fingerprints are runs
    of the same thing on the same machines."""
    text = json.dumps([describe(manifest), _config(manifest)], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _side(manifests: list[dict], key: str) -> str:
    values = sorted({describe(m)[key] for m in manifests})
    return values[0] if len(values) == 1 else " | ".join(values)


def _config_lines(cfg: dict, prefix: str = "") -> dict[str, str]:
    out = {}
    for k, v in cfg.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_config_lines(v, f"{name}."))
        else:
            out[name] = json.dumps(v, default=str)
    return out


def differences(base: list[dict], new: list[dict]) -> list[Difference]:
    """What differs between the two sides' manifests: stack and hardware fields first, then
    each config key whose value differs (a side with several values lists them all)."""
    out = []
    for key in (*STACK, *HARDWARE):
        b, n = _side(base, key), _side(new, key)
        if b != n:
            out.append(Difference(key, b, n, key in STACK))
    sides = [[_config_lines(_config(m)) for m in ms] for ms in (base, new)]
    keys = sorted({k for side in sides for lines in side for k in lines})
    for key in keys:
        b, n = ({lines.get(key, "unset") for lines in side} for side in sides)
        if b != n:
            out.append(Difference(f"config {key}", " | ".join(sorted(b)),
                                  " | ".join(sorted(n)), False))  # fmt: skip
    return out
