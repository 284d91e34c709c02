"""The checks `scaling validate` judges and the stable fault codes its verdicts carry.

A fault code names *what* was found, the same way from run to run, so scripts, alerts and
tickets can key on it (Azure NHC's FaultCode is the model). Codes are never renamed; a new
finding gets a new code. PASS verdicts carry no code.

Metric checks share one rule set (see `outliers.py`), so their codes follow one pattern:

- `<PREFIX>_BELOW_FLEET`   FAIL  below the fleet band: median - max(k*MAD, min_pct% of median)
- `<PREFIX>_ABOVE_FLEET`   WARN  above the band (the fleet may be the slow one, or the timing odd)
- `<PREFIX>_BELOW_MIN`     FAIL  below the per-model public minimum (Azure NHC, GCP scanner)
- `<PREFIX>_BELOW_PEAK`    FAIL  below the minimum fraction of the datasheet peak (GEMM)
- `<PREFIX>_BELOW_CEILING` FAIL  below the healthy fraction of the link's ceiling

Which of these a check can raise is listed in METRICS; `CODES` holds every code with its
meaning, and the README's table is checked against it by a test.
"""

from __future__ import annotations

from dataclasses import dataclass

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"
VERDICTS = (PASS, WARN, FAIL)
SEVERITY = {PASS: 0, WARN: 1, FAIL: 2}

SCOPES = ("node", "gpu", "link", "group")
"""node: a host; gpu: one GPU; link: two GPUs of a node, or two nodes; group: nodes that fail
together and could not be narrowed down (or a failure that did not repeat)."""


@dataclass(frozen=True)
class Metric:
    prefix: str
    """The fault-code prefix (GEMM -> GEMM_BELOW_FLEET)."""
    unit: str
    scope: str
    what: str
    criteria: tuple[str, ...]
    """Which rules judge it: fleet, min, peak, ceiling."""
    higher_is_better: bool = True
    below_min_verdict: str = FAIL


METRICS: dict[str, Metric] = {
    "gemm": Metric(
        "GEMM", "TFLOP/s", "gpu", "dense matmul throughput per GPU", ("fleet", "peak")
    ),
    "membw": Metric("MEMBW", "GB/s", "gpu", "device memory bandwidth (a large copy)", ("fleet", "min")),
    "h2d": Metric("H2D", "GB/s", "gpu", "host-to-device pinned copy", ("fleet", "min", "ceiling")),
    "d2h": Metric("D2H", "GB/s", "gpu", "device-to-host pinned copy", ("fleet", "min", "ceiling")),
    "h2d_all": Metric("H2D_ALL", "GB/s", "gpu", "host-to-device pinned copy, every GPU of the "
                      "node at once", ("fleet", "ceiling")),
    "d2h_all": Metric("D2H_ALL", "GB/s", "gpu", "device-to-host pinned copy, every GPU of the "
                      "node at once", ("fleet", "ceiling")),
    "p2p": Metric("P2P", "GB/s", "link", "GPU pair bandwidth inside a node", ("fleet", "min")),
    "peer_copy": Metric("PEER_COPY", "GB/s", "link", "GPU pair copy-engine peer copy inside a "
                        "node, one pair at a time", ("fleet", "min")),
    "allreduce": Metric(
        "ALLREDUCE", "GB/s", "node", "all-GPU all_reduce busbw of one node", ("fleet", "min", "ceiling")
    ),
    "storage": Metric(
        "STORAGE", "GB/s", "node", "sequential read of the checkpoint/weights storage", ("min",),
        below_min_verdict=WARN,
    ),
}  # fmt: skip

_RULE_MEANING = {
    "fleet": ("BELOW_FLEET", FAIL, "below the fleet band (median - max(k*MAD, min_pct% of median))"),
    "fleet_high": ("ABOVE_FLEET", WARN, "above the fleet band: the rest may be slow, or the timing odd"),
    "min": ("BELOW_MIN", None, "below the configured or per-model public minimum"),
    "peak": ("BELOW_PEAK", FAIL, "below the minimum fraction of the datasheet peak"),
    "ceiling": ("BELOW_CEILING", FAIL, "below the healthy fraction of the link ceiling"),
}  # fmt: skip


def rule_suffix(rule: str) -> str:
    """BELOW_FLEET for fleet, ABOVE_FLEET for fleet_high, BELOW_MIN, BELOW_PEAK, BELOW_CEILING."""
    return _RULE_MEANING[rule][0]


def metric_code(check: str, rule: str) -> str:
    """GEMM_BELOW_FLEET for ("gemm", "fleet"); rule is fleet, fleet_high, min, peak, ceiling."""
    return f"{METRICS[check].prefix}_{rule_suffix(rule)}"


def metric_rules(check: str) -> list[str]:
    """The rules that can fail a metric check: its criteria, plus fleet_high with fleet."""
    m = METRICS[check]
    return list(m.criteria) + (["fleet_high"] if "fleet" in m.criteria else [])


def _metric_codes() -> dict[str, tuple[str, str]]:
    codes = {}
    for check, m in METRICS.items():
        for rule in metric_rules(check):
            suffix, verdict, meaning = _RULE_MEANING[rule]
            verdict = verdict or m.below_min_verdict
            codes[metric_code(check, rule)] = (verdict, f"{m.what}: {meaning}")
    return codes


# The doctor checks (scaling/hardware/diagnose.py) folded into validate as HEALTH_<CHECK>.
DOCTOR_CHECKS = (
    "nvidia_driver", "host_swap", "pcie_width", "pcie_generation", "nvlink", "clock_events",
    "ecc", "row_remapping", "gpu_memory_in_use", "nvml_errors", "nodes_torch", "nodes_nccl",
    "nodes_cuda_runtime", "nodes_driver", "nodes_cuda_driver", "nodes_gpus", "nodes_topology",
    "ib_ports",
)  # fmt: skip


def doctor_code(check: str) -> str:
    return f"HEALTH_{check.upper()}"


FIXED_CODES: dict[str, tuple[str, str]] = {
    "NO_MEASUREMENT": (FAIL, "the measurement could not be taken: a rank died or hung, a node did "
                       "not answer, a value is missing. Never a silent pass"),
    "SDC_MISMATCH": (FAIL, "the seeded matmul's bitwise digest differs from the majority of "
                     "GPUs of the same model (silent data corruption)"),
    "SDC_NO_MAJORITY": (FAIL, "the digests disagree and no digest has a strict majority: "
                        "corruption, but which GPU cannot be told"),
    "SDC_UNSTABLE": (FAIL, "the same GPU gave different digests for the same seeded matmul"),
    "SDC_NOT_COMPARED": (WARN, "only one GPU of this model: nothing to compare the digest with"),
    "GPU_IN_EVERY_SLOW_PAIR": (FAIL, "this GPU is an endpoint of every slow pair of its node: "
                               "the GPU (or its link) is the fault, not the pairs"),
    "NODE_COMM_FAIL": (FAIL, "inter-node: the node failed group tests with two different "
                       "known-good buddies"),
    "LINK_COMM_FAIL": (FAIL, "inter-node: two nodes fail together (twice) while each passes "
                       "with others: the path between them"),
    "COMM_UNLOCALISED": (FAIL, "inter-node: a group fails repeatably but no node or pair could "
                         "be named (no known-good buddy, several faults, or load-dependent)"),
    "NODE_COMM_UNRESOLVED": (WARN, "inter-node: the node was in a failing group that could not "
                             "be narrowed down; not proven bad"),
    "COMM_INTERMITTENT": (WARN, "inter-node: a group failed once and passed when repeated"),
    "COMM_WRONG_RESULT": (FAIL, "an all_reduce returned wrong elements (nccl-tests' #wrong): "
                          "corrupted data on a link or in a GPU"),
    "PCIE_ASPM_ENABLED": (WARN, "PCIe ASPM (link power saving) is enabled on the GPU's link: "
                          "a latency source"),
    "SDC_MIXED_STACKS": (WARN, "GPUs of one model run different torch, CUDA or cuBLAS builds: "
                         "their digests are compared only within each stack"),
    "FAULTS_PLANTED": (WARN, "SCALING_FAULTS (the fault-injection hook) was set on the driver "
                       "or a node: the figures include planted faults"),
    "BASELINE_REGRESSION": (FAIL, "worse than the baseline run beyond both runs' spread"),
    "BASELINE_UNDECIDED": (WARN, "the comparison with the baseline could not decide (too few "
                           "rounds, or rounds too spread)"),
}  # fmt: skip


def _doctor_codes() -> dict[str, tuple[str, str]]:
    return {
        doctor_code(c): ("WARN/FAIL", f"`scaling doctor` check {c} (its verdict is kept)")
        for c in DOCTOR_CHECKS
    }


CODES: dict[str, tuple[str, str]] = {**FIXED_CODES, **_metric_codes(), **_doctor_codes()}
"""code -> (the verdict it comes with, what it means)."""


def worst(verdicts) -> str:
    """The most severe of some PASS/WARN/FAIL strings (PASS when there are none)."""
    return max(verdicts, key=SEVERITY.__getitem__, default=PASS)
