"""Absolute bars and how their figures were measured: a bar applies only to a like measurement.

    from scaling.config.bars import Bar, Measure, COPY_ENGINE
    bar = Bar("h2d_min_gbps", ((64 * MIB, 48.0), (512 * MIB, 48.0)), "Azure NHC ...", URL,
              op="h2d", method=COPY_ENGINE, gpus=1, at_once=1)
    bar.unlike(Measure("h2d", COPY_ENGINE, 256 * MIB, gpus=1, at_once=8))
    # -> "the source measured 1 GPU(s) at a time; this run measured 8 at once"

A public minimum is a figure someone measured one way: an op (all_reduce, h2d, peer_copy...),
a message size, a method (an NCCL collective, a copy-engine memcpy, a copy kernel), so many
GPUs on so many nodes, so many GPUs side by side. `Bar` records all of it; `Measure` says how
this run measured. `Bar.unlike(measure)` names the first difference (None when they are
alike), and validate then leaves the bar out and says so in the evidence, rather than judge
one method's figure by another's bar.

A bar's value may depend on the message size: `points` are (bytes, GB/s) from the source. One
point is a bar at one size; several are a curve, read at the measured size by interpolating
linearly in log2(size) between its neighbours, never outside the measured range. A flat
two-point curve is a figure that holds over a range of sizes (nvbandwidth's copies across the
buffer sizes its versions defaulted to).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from scaling.config.units import format_bytes

MIB, GIB = 1 << 20, 1 << 30

NCCL = "nccl"
"""An NCCL collective (nccl-tests' busbw)."""
COPY_ENGINE = "copy_engine"
"""cudaMemcpy on a copy engine: nvbandwidth's *_memcpy_ce tests, torch's pinned host<->device
copies and its device-to-device copy between two GPUs of one process (a peer copy)."""
SEND_RECV = "nccl_send_recv"
"""NCCL (or gloo) send/recv between two ranks, closed by an acknowledgement (validate's p2p)."""
DEVICE_COPY = "device_copy"
"""A copy inside one GPU's memory (torch's copy_, a kernel); its bar is a datasheet fraction."""
METHODS = (NCCL, COPY_ENGINE, SEND_RECV, DEVICE_COPY)


@dataclass(frozen=True)
class Measure:
    """How a figure was measured, in the terms a Bar records."""

    op: str
    method: str
    size_bytes: int | None
    gpus: int | None = None
    """GPUs taking part in one figure (1: one GPU's copies; 2: a pair; 8: a node's all_reduce)."""
    nodes: int = 1
    at_once: int | None = None
    """GPUs of a node measured side by side (host copies: 1 = one at a time). None: not known."""


@dataclass(frozen=True)
class Bar:
    """One absolute minimum with its source and the way the source measured it.

    A Bar is the source's figures as published: (size, GB/s) points, read between them by
    interpolation, and the conditions `unlike` checks. The node all_reduce bar is a different
    record, NodeBar (config/allreduce_bars.py): one value already chosen for the size this run
    measured, with how it was derived (a figure copied at its own size, or a curve's lower
    published neighbour x CURVE_MARGIN, never interpolated). One type for both would hold
    fields each leaves empty and two reading rules under one name, so they stay two.
    """

    key: str
    """The [validate] key it is the default of (h2d_min_gbps, allreduce_min_busbw_gbps...)."""
    points: tuple[tuple[int, float], ...]
    """(message bytes, GB/s) from the source, sizes ascending: one point or a curve."""
    source: str
    """Citation: the file, table or post the figure is read from."""
    url: str
    op: str
    method: str
    gpus: int | None
    """GPUs in one measurement of the source (None: any count)."""
    nodes: int = 1
    at_once: int | None = None
    """The source's GPUs side by side per node (None: not a condition of the bar)."""
    note: str = ""
    """What else the figure assumed (boosted clocks, a datasheet fraction and its source)."""

    def value_at(self, size: int | None) -> float | None:
        """The bar at a message size: a point, or interpolated inside the curve; else None."""
        if size is None or not self.points:
            return None
        sizes = [s for s, _ in self.points]
        if size < sizes[0] or size > sizes[-1]:
            return None
        for (s0, v0), (s1, v1) in zip(self.points, self.points[1:], strict=False):
            if s0 <= size <= s1:
                if s1 == s0:
                    return v0
                t = (math.log2(size) - math.log2(s0)) / (math.log2(s1) - math.log2(s0))
                return v0 + t * (v1 - v0)
        return self.points[0][1] if size == sizes[0] else None

    def sizes_text(self) -> str:
        lo, hi = self.points[0][0], self.points[-1][0]
        if self.op == ANY:
            return "any size"
        return format_bytes(lo) if lo == hi else f"{format_bytes(lo)}–{format_bytes(hi)}"

    def unlike(self, m: Measure | None) -> str | None:
        """Why this run's figure is not like the source's (None: alike, the bar applies)."""
        if self.op == ANY:
            return None
        if m is None:
            return "how this figure was measured is not recorded"
        if m.op != self.op:
            return f"the source measured {self.op}; this run measured {m.op}"
        if m.method != self.method:
            return f"the source measured with {self.method}; this run with {m.method}"
        if self.gpus is not None and m.gpus != self.gpus:
            return f"the source measured {self.gpus} GPU(s); this run {m.gpus}"
        if m.nodes != self.nodes:
            return f"the source measured {self.nodes} node(s); this run {m.nodes}"
        if self.at_once is not None and m.at_once != self.at_once:
            got = "an unknown number" if m.at_once is None else f"{m.at_once}"
            return (f"the source measured {self.at_once} GPU(s) of a node at a time; this run "
                    f"{got} at once")  # fmt: skip
        if self.value_at(m.size_bytes) is None:
            got = "an unknown size" if m.size_bytes is None else format_bytes(m.size_bytes)
            return f"the source measured at {self.sizes_text()}; this run at {got}"
        return None

    def describe(self) -> str:
        """One line for evidence: the figure, the op, size, method, GPUs, and the source."""
        value = self.points[0][1] if len(self.points) == 1 or _flat(self.points) else None
        figure = f"{value:g} GB/s" if value is not None else "a curve of GB/s by size"
        at_once = f", {self.at_once} at a time" if self.at_once else ""
        gpus = f"{self.gpus} GPU(s)" if self.gpus else "any GPUs"
        return (f"{figure}: {self.op} {self.sizes_text()}, {self.method}, {gpus}{at_once}, "
                f"{self.nodes} node(s); {self.source}")  # fmt: skip

    def to_dict(self) -> dict:
        d = asdict(self)
        d["points"] = [list(p) for p in self.points]
        return d


def _flat(points) -> bool:
    return len({v for _, v in points}) == 1


ANY = "any"
"""op and method of a bar the user set: it applies to whatever validate measured for its key."""


def from_config(key: str, value: float) -> Bar:
    """A [validate] override: the user's figure, applied to this run's measurement as it is."""
    return Bar(key, ((1, value), (1 << 62, value)), "[validate] config", "", op=ANY, method=ANY,
               gpus=None, note="set by the user: applied to the check as validate measures it")  # fmt: skip
