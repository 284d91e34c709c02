"""The node all_reduce bar as a function of message size: a public minimum applies only at the
size it was measured at; elsewhere the bar is read from a public curve at that size.

    from scaling.config.allreduce_bars import node_bar
    bar, why = node_bar("NVIDIA H100 80GB HBM3", gpus_per_node=8, size_bytes=256 << 20)
    bar.value, bar.source, bar.describe()    # 369.4, the curve's URL, "... at 256 MiB ..."

NCCL all_reduce busbw of one 8-GPU node grows with the message size (NVLS on H100/H200 reaches
its plateau only past 1 GiB: NVIDIA/nccl-tests issue 290), so Azure NHC's 460 GB/s (H100) and
431 GB/s (H200), both measured at 16 GiB (`check_nccl_allreduce 460.0 1 16G`), fail healthy
nodes measured at 256 MiB. So:

- at the source's own size, the source's figure (SOURCE_BARS);
- at another size inside a public curve of the same GPU model and node shape (CURVES), the
  curve's busbw at that size (between two published sizes, the lower of the two: the curve is
  sampled, not interpolated) times CURVE_MARGIN;
- outside every curve: no absolute bar (None, with the reason for the evidence); the fleet
  and link-ceiling rules still judge.

Every bar records its source URL, op, size, method, GPUs and nodes (NodeBar.to_dict; why it
is not a config/bars.py Bar: its docstring), and validate.json carries them in the evidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from scaling.config.units import format_bytes

GiB = 1 << 30
MiB = 1 << 20


METHOD = "NCCL all_reduce busbw, nccl-tests all_reduce_perf (float sum, out-of-place)"


@dataclass(frozen=True)
class NodeBar:
    """The node all_reduce bar resolved at one message size: the value validate judges with,
    its source and how it was derived. Not a config/bars.py Bar: a Bar holds a source's
    figures over sizes and interpolates between them; a NodeBar is one figure for one size,
    chosen by node_bar's rules (the source's own size, or a curve sampled, not interpolated),
    and `derived` says which, for the evidence."""

    value: float
    source: str
    """URL of the public figure (or "[validate] config")."""
    op: str
    size_bytes: int | None
    method: str
    gpus: int
    nodes: int
    derived: str = ""
    """How the value follows from the source (empty: copied as published)."""

    def describe(self) -> str:
        size = "any size" if self.size_bytes is None else format_bytes(self.size_bytes)
        how = f"; {self.derived}" if self.derived else ""
        return (f"{self.op} at {size}, {self.gpus} GPUs x {self.nodes} node, {self.method}: "
                f"{self.source}{how}")  # fmt: skip

    def to_dict(self) -> dict:
        return {"value": self.value, "source": self.source, "op": self.op,
                "size_bytes": self.size_bytes, "method": self.method, "gpus": self.gpus,
                "nodes": self.nodes, "derived": self.derived}  # fmt: skip


@dataclass(frozen=True)
class Curve:
    pattern: str
    """Regular expression searched (case-insensitively) in the device name."""
    label: str
    gpus: int
    busbw: dict[int, float]
    """Message size (bytes) -> busbw (GB/s) as published."""
    source: str


AZURE = "https://github.com/Azure/azurehpc-health-checks/blob/main/conf"
H200 = r"\bH200\b(?!.*\bNVL\b)"
H100_SXM = r"\bH100\b.*\b(SXM|HBM3)"

SOURCE_BARS: tuple[tuple[str, NodeBar], ...] = (
    (H200, NodeBar(431.0, f"{AZURE}/nd96isr_h200_v5.conf (check_nccl_allreduce 431.0 1 16G)",
               "all_reduce", 16 * GiB, METHOD, 8, 1)),
    (H100_SXM, NodeBar(460.0, f"{AZURE}/nd96isr_h100_v5.conf (check_nccl_allreduce 460.0 1 16G)",
                   "all_reduce", 16 * GiB, METHOD, 8, 1)),
    (r"\bA100-SXM4\b", NodeBar(228.0, f"{AZURE}/nd96asr_v4.conf (check_nccl_allreduce 228.0 10 8G)",
                           "all_reduce", 8 * GiB, METHOD, 8, 1)),
)  # fmt: skip
"""Public minimums at the size their source measured (nccl-tests' 16G is 16 GiB)."""

CURVES: tuple[Curve, ...] = (
    Curve(H100_SXM, "8x H100 SXM, NVLS", 8,
          {128 * MiB: 383.0, 256 * MiB: 412.0, 512 * MiB: 432.0, 1 * GiB: 465.0,
           2 * GiB: 469.0, 4 * GiB: 474.0},
          "https://github.com/NVIDIA/nccl-tests/issues/290"),
    # tests/fixtures/public/stas00_8xh200_all_reduce.json holds the whole table (32 KiB up).
    Curve(H200, "8x H200, NVLS", 8,
          {128 * MiB: 411.21, 256 * MiB: 442.27, 512 * MiB: 455.82, 1 * GiB: 464.0,
           2 * GiB: 468.31, 4 * GiB: 473.1, 8 * GiB: 475.16, 16 * GiB: 480.7},
          "https://github.com/stas00/ml-engineering/blob/0cc3de50b2dd083c34d848a1dcb5bfe65fe3dace/"
          "network/benchmarks/README.md"),
)  # fmt: skip

CURVE_MARGIN = round(431.0 / 480.7, 3)
"""0.897: the fraction of a healthy public measurement that Azure's own bar asks for at the
same size (Azure's H200 431 GB/s over the public 8x H200 curve's 480.7 GB/s, both at 16 GiB).
A bar read from a curve keeps that margin below the curve, so a healthy node clears it with
the noise Azure allows and a node 30% slow does not."""


def _find(pattern_items, name: str):
    name = " ".join(name.split())
    return [x for x in pattern_items if re.search(x[0], name, re.IGNORECASE)]


def curve_value(curve: Curve, size_bytes: int) -> float | None:
    """busbw at a size inside the curve: the published figure, or the lower of the two
    published sizes around it; None outside the curve."""
    sizes = sorted(curve.busbw)
    if not sizes[0] <= size_bytes <= sizes[-1]:
        return None
    if size_bytes in curve.busbw:
        return curve.busbw[size_bytes]
    below = max(s for s in sizes if s < size_bytes)
    above = min(s for s in sizes if s > size_bytes)
    return min(curve.busbw[below], curve.busbw[above])


def table() -> dict:
    """Every bar and curve with its source, size and method: validate.json's
    thresholds.allreduce_bars (the by_model all_reduce figure applies only at its size)."""
    return {
        "at_source_size": [b.to_dict() | {"models": p} for p, b in SOURCE_BARS],
        "curves": [{"models": c.pattern, "label": c.label, "gpus": c.gpus, "nodes": 1,
                    "method": METHOD, "source": c.source,
                    "busbw_gbps": {str(k): v for k, v in sorted(c.busbw.items())}}
                   for c in CURVES],
        "curve_margin": CURVE_MARGIN,
        "outside": "no absolute bar; the fleet and link-ceiling rules still judge",
    }  # fmt: skip


def source_size(model: str | None, gpus_per_node: int) -> int | None:
    """The message size of the public minimum for this GPU model and node shape, if any: the
    size to measure at so that the figure applies as published."""
    bars = [b for _, b in _find(SOURCE_BARS, model or "") if b.gpus == gpus_per_node]
    return bars[0].size_bytes if bars and model else None


def node_bar(
    model: str | None, gpus_per_node: int | None, size_bytes: int | None
) -> tuple[NodeBar | None, str]:
    """(the bar, "") or (None, why no absolute bar applies) for one node's all_reduce."""
    if not model:
        return None, "GPU model unknown: no public bar"
    sources = [b for _, b in _find(SOURCE_BARS, model)]
    curves = [c for c in CURVES if re.search(c.pattern, " ".join(model.split()), re.IGNORECASE)]
    if not sources and not curves:
        return None, f"no public all_reduce figure for {model}"
    shape = sources[0].gpus if sources else curves[0].gpus
    if gpus_per_node != shape:
        return (
            None,
            f"the public figures for {model} are for {shape}-GPU nodes, not {gpus_per_node}",
        )
    if size_bytes is None:
        return None, "message size not recorded: a public bar applies only at its size"
    for bar in sources:
        if bar.size_bytes == size_bytes:
            return bar, ""
    for c in curves:
        at = curve_value(c, size_bytes)
        if at is not None:
            return NodeBar(round(at * CURVE_MARGIN, 1), c.source, "all_reduce", size_bytes, METHOD,
                       c.gpus, 1, f"{CURVE_MARGIN:g} x the public {c.label} curve's {at:g} GB/s "
                       f"at {format_bytes(size_bytes)} (CURVE_MARGIN: Azure's bar over the "
                       "public curve at Azure's 16 GiB)"), ""  # fmt: skip
    known = ", ".join(f"{format_bytes(b.size_bytes)} ({b.source.split(' ')[0]})" for b in sources)
    ranges = ", ".join(f"{format_bytes(min(c.busbw))}–{format_bytes(max(c.busbw))} ({c.label})"
                       for c in curves)  # fmt: skip
    return None, (f"measured at {format_bytes(size_bytes)}: public figures for {model} are at "
                  f"{known or 'no fixed size'}{'; curves cover ' + ranges if ranges else ''}: "
                  "no absolute bar at this size")  # fmt: skip
