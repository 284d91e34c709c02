"""Test hook read by ranks: SCALING_FAULTS plants a known slowdown on one class of points.

    SCALING_FAULTS="slow:all_reduce@2=1.25"             all_reduce at world size 2, 25% slower
    SCALING_FAULTS="slow:transformer=1.1,slow:collectives@1=1.1"

Each item is slow:<what>[@<world size>]=<factor>; <what> is a collective op (all_reduce, ...),
"collectives" (every op) or a training workload (resnet50, transformer). Every timed iteration
or step of a matching point then really takes factor x as long: the rank busy-waits inside the
timed region for (factor - 1) x what the work took, so the run is slower the way a slower
machine is, noise included, rather than carrying relabelled numbers. CPU ranks only: on CUDA
the timed region is two GPU events, which a host-side wait does not stretch.

Ranks read it from their environment; pass it with `scaling run --env SCALING_FAULTS=...`.
benchmarks/compare_false_alarms.py uses it to measure how often `scaling compare` catches a
planted slowdown. Unset (the normal case), nothing changes.
"""

from __future__ import annotations

import os
import re
import time

from scaling.workloads.timing import CpuTimer

ENV = "SCALING_FAULTS"
_ITEM = re.compile(r"^slow:(?P<what>[a-z0-9_]+)(?:@(?P<n>\d+))?=(?P<factor>[0-9.]+)$")


def parse(text: str) -> list[tuple[str, int | None, float]]:
    """(what, world size or None, factor) per item; ValueError naming a malformed one."""
    out = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        m = _ITEM.match(item)
        if not m or float(m["factor"]) < 1.0:
            raise ValueError(
                f"{ENV}: cannot read {item!r} (expected slow:<op|collectives|workload>"
                "[@<world size>]=<factor >= 1>)"
            )
        out.append((m["what"], int(m["n"]) if m["n"] else None, float(m["factor"])))
    return out


def slowdown(point: dict, text: str | None = None) -> float:
    """The factor SCALING_FAULTS plants on this point (1.0: none)."""
    text = os.environ.get(ENV, "") if text is None else text
    names = {point.get("op"), point.get("workload")} | ({"collectives"} if "op" in point else set())
    factor = 1.0
    for what, n, f in parse(text):
        if what in names and (n is None or n == point.get("world_size")):
            factor *= f
    return factor


class _Stretched:
    """A CPU timer whose timed region lasts `factor` x the work inside it."""

    def __init__(self, timer, factor: float):
        self.timer, self.factor = timer, factor

    def start(self) -> None:
        self._t0 = time.perf_counter()
        self.timer.start()

    def stop(self) -> float:
        deadline = self._t0 + (time.perf_counter() - self._t0) * self.factor
        while time.perf_counter() < deadline:  # busy: a sleep overshoots by 50+ us
            pass
        return self.timer.stop()


def stretch(timer, point: dict):
    """The timer itself, or one stretched by the slowdown SCALING_FAULTS plants on this point."""
    factor = slowdown(point)
    if factor == 1.0:
        return timer
    if not isinstance(timer, CpuTimer):
        raise ValueError(f"{ENV} slowdowns work on CPU ranks only (GPU timing uses CUDA events)")
    return _Stretched(timer, factor)
