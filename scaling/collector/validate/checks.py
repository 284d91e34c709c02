"""The check judges assemble.py calls: each binds the [validate] thresholds to the shared rules.

    from scaling.collector.validate import checks
    verdicts = checks.judge_gemm(samples, precision="bf16", cfg=ValidateConfig())

Values are in each metric's unit (codes.METRICS): TFLOP/s for GEMM, GB/s (1e9 B/s) for the
rest. A Sample with value None (and error = why) becomes a NO_MEASUREMENT FAIL. Where a
sample already carries a minimum, peak or ceiling, it is kept; otherwise the public figure
for its GPU model fills it (config.validate.resolve), with its source in the evidence.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from scaling.collector.validate.codes import PASS, WARN
from scaling.collector.validate.outliers import Rules, Sample, judge_metric
from scaling.collector.validate.pairwise import judge_pairs, pair_samples
from scaling.collector.validate.verdicts import Verdict
from scaling.config.allreduce_bars import node_bar
from scaling.config.validate import ValidateConfig, resolve
from scaling.hardware.peaks import peak_flops


def rules(cfg: ValidateConfig, **fractions) -> Rules:
    return Rules(k=cfg.outlier_k, min_pct=cfg.outlier_min_pct, **fractions)


def _fill_minimum(samples: Iterable[Sample], cfg: ValidateConfig, key: str, gpus=None) -> None:
    for s in samples:
        if s.minimum is None:
            t = resolve(cfg, s.model, (gpus or {}).get(s.node))[key]
            s.minimum, s.minimum_source = t.value, t.source


def judge_gemm(samples: list[Sample], precision: str, cfg: ValidateConfig) -> list[Verdict]:
    """Dense GEMM TFLOP/s per GPU: fleet band and the fraction of the datasheet peak at
    `precision` (bf16 on GPU; fp32 on CPU, where no peak is listed and the rule is skipped)."""
    for s in samples:
        if s.peak is None:
            peak = peak_flops(s.model, precision)
            s.peak = None if peak is None else peak / 1e12
    return judge_metric("gemm", samples, rules(cfg, peak_fraction=cfg.gemm_min_peak_fraction))


def judge_membw(samples: list[Sample], cfg: ValidateConfig) -> list[Verdict]:
    _fill_minimum(samples, cfg, "membw_min_gbps")
    return judge_metric("membw", samples, rules(cfg))


def judge_transfer(check: str, samples: list[Sample], cfg: ValidateConfig) -> list[Verdict]:
    """check: h2d or d2h. Sample.ceiling: the GPU's PCIe ceiling (hardware.topology), GB/s."""
    if check not in ("h2d", "d2h"):
        raise ValueError(f"check {check!r} is not h2d or d2h")
    _fill_minimum(samples, cfg, "h2d_min_gbps")
    return judge_metric(check, samples, rules(cfg, ceiling_fraction=cfg.pcie_min_ceiling_fraction))


def judge_allreduce(
    samples: list[Sample], cfg: ValidateConfig, gpus_per_node: dict[str, int]
) -> list[Verdict]:
    """One sample per node: its all-GPU all_reduce busbw; Sample.ceiling: the node's link
    ceiling. The public minimum applies only to the node shape and the message size it was
    published for; at other sizes it is read from a public curve (config/allreduce_bars.py),
    and outside every curve none applies, as the evidence says."""
    for s in samples:
        if s.minimum is not None:
            continue
        if cfg.allreduce_min_busbw_gbps is not None:
            s.minimum, s.minimum_source = cfg.allreduce_min_busbw_gbps, "[validate] config"
            continue
        bar, why = node_bar(s.model, gpus_per_node.get(s.node), s.details.get("size_bytes"))
        s.minimum, s.minimum_source = (bar.value, bar.describe()) if bar else (None, why)
        s.details["bar"] = bar.to_dict() if bar else {"value": None, "why": why}
    for s in samples:
        s.fleet = s.fleet or f"{s.model} x{gpus_per_node.get(s.node)}"
    rule = rules(cfg, ceiling_fraction=cfg.allreduce_min_ceiling_fraction)
    return judge_metric("allreduce", samples, rule)


@dataclass
class NodeMatrix:
    """A node's GPU-pair bandwidth matrix (pairwise.pair_samples documents the fields)."""

    node: str
    matrix: list[list[float | None]]
    gpus: list[dict]
    link_class: list[list[str]] | None = None
    errors: dict[tuple[int, int], str] = field(default_factory=dict)


def judge_p2p(nodes: list[NodeMatrix], cfg: ValidateConfig) -> list[Verdict]:
    samples = []
    for m in nodes:
        model = m.gpus[0].get("model") if m.gpus else None
        t = resolve(cfg, model)["p2p_min_gbps"]
        samples += pair_samples(m.node, m.matrix, m.gpus, m.link_class, t.value, t.source, m.errors)
    return judge_pairs(samples, rules(cfg))


def judge_storage(samples: list[Sample], cfg: ValidateConfig) -> list[Verdict]:
    """Sequential read GB/s of the --storage path, one sample per node: WARN below the floor."""
    for s in samples:
        if s.minimum is None:
            s.minimum = cfg.storage_warn_below_gbps
            s.minimum_source = (
                "[validate] storage_warn_below_gbps: SATA-class, where NVMe is expected"
            )
    return judge_metric("storage", samples, rules(cfg))


def judge_aspm(node: str, gpu: int, uuid: str | None, state: str | None) -> Verdict:
    """PCIe ASPM on a GPU's link, as read from /sys (e.g. "L1", "L0s L1", "disabled")."""
    base = dict(check="pcie_aspm", scope="gpu", node=node, gpu=gpu, uuid=uuid)
    if state is None:
        return Verdict(**base, verdict=WARN, code="PCIE_ASPM_ENABLED",
                       evidence="ASPM state unknown (/sys link state not readable): not judged")  # fmt: skip
    if state.strip().lower() in ("", "disabled", "none", "off"):
        return Verdict(**base, verdict=PASS, evidence=f"ASPM {state.strip() or 'disabled'}")
    return Verdict(**base, verdict=WARN, code="PCIE_ASPM_ENABLED",
                   evidence=f"ASPM {state.strip()} on the GPU's link: exits add latency to every "
                   "small transfer; disable it (pcie_aspm=off, or the BIOS)")  # fmt: skip
