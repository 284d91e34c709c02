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
from scaling.config.bars import COPY_ENGINE, DEVICE_COPY, GIB, MIB, NCCL, SEND_RECV, Bar, Measure
from scaling.config.validate import Threshold, ValidateConfig, minimum
from scaling.hardware.hbm import hbm_row
from scaling.hardware.peaks import peak_flops

MEMBW_SIZES = (256 * MIB, 1024 * GIB)
"""The HBM bar holds for copies far past the L2 (50 MiB on H100, 126 MiB on B200)."""


def rules(cfg: ValidateConfig, **fractions) -> Rules:
    return Rules(k=cfg.outlier_k, min_pct=cfg.outlier_min_pct, **fractions)


def measure_of(check: str, s: Sample) -> Measure:
    """How a sample was measured, from what its record carries (bytes, at_once, ranks)."""
    d = s.details
    if check == "membw":
        return Measure("device_copy", DEVICE_COPY, d.get("bytes"), gpus=1, at_once=d.get("at_once"))
    if check in ("h2d", "d2h", "h2d_all", "d2h_all"):
        return Measure(check[:3], COPY_ENGINE, d.get("bytes"), gpus=1, at_once=d.get("at_once"))
    if check == "allreduce":
        method = "gloo" if str(d.get("transport") or "").startswith("gloo") else NCCL
        return Measure("all_reduce", method, d.get("size_bytes"), gpus=d.get("ranks"))
    if check == "peer_copy":
        method = "copy staged through host memory" if d.get("staged") else COPY_ENGINE
        return Measure("peer_copy", method, d.get("bytes"), gpus=2, at_once=2)
    return Measure("p2p", SEND_RECV, d.get("bytes"), gpus=2)


def _fill_minimum(samples: Iterable[Sample], cfg: ValidateConfig, key: str, check: str,
                  bar=None) -> None:  # fmt: skip
    """Each sample's minimum: the bar in force for how it was measured, with its source and,
    where the bar was left out, why (the evidence says "min rule not applied: ...")."""
    for s in samples:
        if s.minimum is not None:
            continue
        m = measure_of(check, s)
        t = bar(s.model, m) if bar else minimum(cfg, key, s.model, m)
        s.minimum, s.minimum_source = t.value, t.source
        if t.bar is not None:
            s.details["bar"] = t.bar.to_dict() | {"applied": t.not_applied is None,
                                                  "not_applied": t.not_applied}  # fmt: skip


def membw_bar(cfg: ValidateConfig):
    """The memory bar for one figure: [validate] membw_min_gbps, else the fraction of the
    datasheet HBM bandwidth. The check's figure counts each byte copied once; the memory
    reads and writes it, so the bar in the figure's terms is fraction x datasheet / 2."""

    def pick(model: str | None, m: Measure) -> Threshold:
        if cfg.membw_min_gbps is not None:
            return minimum(cfg, "membw_min_gbps", model, m)
        row = hbm_row(model)
        if row is None:
            return Threshold(None, f"no datasheet memory bandwidth for {model or 'this device'}")
        f = cfg.membw_min_peak_fraction
        value = f * row.gbps / 2
        bar = Bar("membw_min_gbps", tuple((n, value) for n in MEMBW_SIZES), row.source, "",
                  op="device_copy", method=DEVICE_COPY, gpus=1,
                  note=f"{f:g} x {row.gbps:g} GB/s ({row.label}, read + write) / 2: the copy's "
                  "figure counts each byte once ([validate] membw_min_peak_fraction, scaling's choice)")  # fmt: skip
        why = bar.unlike(m)
        if why:
            return Threshold(None, f"{bar.describe()}: not applied, {why}", bar, why)
        return Threshold(value, f"{f:g} x {row.label} {row.gbps:g} GB/s read+write, halved "
                         f"for a copy's bytes; {row.source}", bar)  # fmt: skip

    return pick


def judge_gemm(samples: list[Sample], precision: str, cfg: ValidateConfig) -> list[Verdict]:
    """Dense GEMM TFLOP/s per GPU: fleet band and the fraction of the datasheet peak at
    `precision` (bf16 on GPU; fp32 on CPU, where no peak is listed and the rule is skipped)."""
    for s in samples:
        if s.peak is None:
            peak = peak_flops(s.model, precision)
            s.peak = None if peak is None else peak / 1e12
    return judge_metric("gemm", samples, rules(cfg, peak_fraction=cfg.gemm_min_peak_fraction))


def membw_threshold(cfg: ValidateConfig, model: str | None) -> Threshold:
    """The memory bar for validate.json's by_model: as it stands for validate's 1 GiB copy."""
    return membw_bar(cfg)(model, Measure("device_copy", DEVICE_COPY, GIB, gpus=1))


def judge_membw(samples: list[Sample], cfg: ValidateConfig) -> list[Verdict]:
    _fill_minimum(samples, cfg, "membw_min_gbps", "membw", membw_bar(cfg))
    return judge_metric("membw", samples, rules(cfg))


def judge_transfer(check: str, samples: list[Sample], cfg: ValidateConfig) -> list[Verdict]:
    """check: h2d or d2h. Sample.ceiling: the GPU's PCIe ceiling (hardware.topology), GB/s."""
    if check not in ("h2d", "d2h", "h2d_all", "d2h_all"):
        raise ValueError(f"check {check!r} is not h2d or d2h")
    _fill_minimum(samples, cfg, "h2d_min_gbps", check)
    return judge_metric(check, samples, rules(cfg, ceiling_fraction=cfg.pcie_min_ceiling_fraction))


def judge_allreduce(
    samples: list[Sample], cfg: ValidateConfig, gpus_per_node: dict[str, int]
) -> list[Verdict]:
    """One sample per node: its all-GPU all_reduce busbw; Sample.ceiling: the node's link
    ceiling. The public minimum applies only to the node shape and the message size it was
    published for; at other sizes it is read from a public curve (config/allreduce_bars.py),
    and outside every curve none applies, as the evidence says. On gloo (CPU) no bar applies:
    the sources measured NCCL."""
    for s in samples:
        s.details.setdefault("ranks", gpus_per_node.get(s.node))

    def pick(model: str | None, m: Measure) -> Threshold:
        if cfg.allreduce_min_busbw_gbps is not None:
            return minimum(cfg, "allreduce_min_busbw_gbps", model, m)
        if m.method != NCCL:
            return Threshold(
                None, f"the public all_reduce bars are NCCL's; this run used {m.method}"
            )
        bar, why = node_bar(model, m.gpus, m.size_bytes)
        return Threshold(bar.value, bar.describe(), bar) if bar else Threshold(None, why)

    _fill_minimum(samples, cfg, "allreduce_min_busbw_gbps", "allreduce", bar=pick)
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
    bytes: int | None = None
    """Message or copy size of every pair's transfers."""
    staged: set[tuple[int, int]] = field(default_factory=set)
    """Peer copies that CUDA staged through host memory (no peer access): not copy-engine
    peer copies, so not held to an nvbandwidth bar."""


def judge_p2p(nodes: list[NodeMatrix], cfg: ValidateConfig, check: str = "p2p") -> list[Verdict]:
    """GPU pairs of each node. check p2p: NCCL/gloo send/recv, judged against the fleet only
    (the public pair bar is a copy-engine figure); check peer_copy: copy-engine peer copies,
    also held to the model's nvbandwidth bar where measured alike."""
    samples = []
    for m in nodes:
        for s in pair_samples(m.node, m.matrix, m.gpus, m.link_class, errors=m.errors):
            index = {g["index"]: i for i, g in enumerate(m.gpus)}
            pair = (index.get(s.gpu), index.get(s.peer_gpu))
            if pair in m.staged or pair[::-1] in m.staged:
                s.details["staged"] = True
            s.details["bytes"] = m.bytes
            samples.append(s)
    _fill_minimum(samples, cfg, "p2p_min_gbps", check)
    return judge_pairs(samples, rules(cfg), check)


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
