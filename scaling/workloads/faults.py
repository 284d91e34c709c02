"""Test hook read by ranks: SCALING_FAULTS plants real faults, for tests and benchmarks to find.

One variable, two readers: `scaling run`'s timers (a slowdown on a class of points, for
`scaling compare`) and `scaling validate`'s checks (a slow, corrupt or slowly communicating
rank). Items are separated by "," or ";"; an item a reader does not know is the other's, and
an item neither knows is an error naming it.

    SCALING_FAULTS="slow:all_reduce@2=1.25"             all_reduce at world size 2, 25% slower
    SCALING_FAULTS="slow:transformer=1.1,slow:collectives@1=1.1"
    SCALING_FAULTS="slow_compute:rank=2:factor=3;corrupt_matmul:rank=1;slow_comm:node=3:factor=4"

**For `scaling run` and `scaling tune`**: slow:<what>[@<world size>]=<factor>; <what> is a
collective op (all_reduce, ...), "collectives" (every op), a training workload (resnet50,
transformer) or a tune candidate's id (slow:b8-fp32-ddp-bk1=3: that candidate's trials).
Every timed iteration or step of a matching point then really takes factor x as long: the rank
busy-waits inside the timed region for (factor - 1) x what the work took, so the run is slower
the way a slower machine is, noise included, rather than carrying relabelled numbers. CPU
ranks only: on CUDA the timed region is two GPU events, which a host-side wait does not
stretch. benchmarks/compare_false_alarms.py uses it to measure how often `scaling compare`
catches a planted slowdown.

**For `scaling validate`** (scaling/workloads/checks), kind:<selector>[:factor=F]:

- `slow_compute:<selector>:factor=F`  the rank's GEMM check takes F x as long: after the timed
  work the rank spins (F - 1) x what the work took, inside the timed region, keeping its
  core busy as a slower processor would (a sleep would hand the core to its neighbours and
  make them faster on a shared host);
- `corrupt_matmul:<selector>`         the seeded SDC matmul's result has one bit flipped
  (the lowest bit of its first element) before it is digested: a real wrong result;
- `slow_comm:<selector>:factor=F`     before each collective or transfer of a check, the rank
  sleeps (F - 1) x its first transfer of that check took, so every peer really waits for
  it inside the collective and the group's time grows F-fold.

Selectors: `rank=R` (the rank's position in validate's rank order, as validate.json and the
progress lines number ranks) or `node=N` (every rank of a node: its name in validate.json,
its hostname, or its index in validate's node order).

Ranks read the variable from their environment: pass it with `--env SCALING_FAULTS=...`;
`scaling validate` also forwards the driver's own, and refuses a malformed one before Ray
starts (exit 2). Unset (the normal case), nothing changes: a test hook, not a feature.
"""

from __future__ import annotations

import os
import re
import socket
import time
from dataclasses import dataclass

from scaling.workloads.timing import CpuTimer

ENV = "SCALING_FAULTS"
_ITEM = re.compile(r"^slow:(?P<what>[a-z0-9_][a-z0-9_.-]*)(?:@(?P<n>\d+))?=(?P<factor>[0-9.]+)$")
KINDS = ("slow_compute", "corrupt_matmul", "slow_comm")
"""validate's kinds (the `slow:` items are `scaling run`'s)."""


def items(text: str | None) -> list[str]:
    return [p.strip() for p in re.split(r"[;,]", text or "") if p.strip()]


def _kind(item: str) -> str:
    return item.split(":", 1)[0]


def check(text: str | None) -> None:
    """Every item readable by one of the two readers; ValueError naming the first that is not
    (an unknown kind is named with every kind there is)."""
    planted_faults(text)
    parse(text)


def parse(text: str | None) -> list[tuple[str, int | None, float]]:
    """`scaling run`'s items: (what, world size or None, factor); ValueError naming a malformed
    one. validate's kinds are left to planted_faults."""
    out = []
    for item in items(text):
        if _kind(item) in KINDS:
            continue
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
    names = {point.get("op"), point.get("workload"), point.get("candidate")}
    names |= {"collectives"} if "op" in point else set()
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


# -- scaling validate's faults --------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    kind: str
    rank: int | None = None
    node: str | None = None
    factor: float = 1.0

    def matches(self, who: dict) -> bool:
        if self.rank is not None:
            return who.get("rank") == self.rank
        names = {str(who.get("node")), str(who.get("hostname")), str(who.get("node_index"))}
        return self.node in names


def planted_faults(text: str | None) -> list[Fault]:
    """validate's items in `text`; ValueError naming one that cannot be read (a kind neither
    reader knows included). The `slow:` items are `parse`'s."""
    out = []
    for item in items(text):
        kind, *parts = item.split(":")
        if kind == "slow":
            continue
        if kind not in KINDS:
            known = ", ".join(("slow", *KINDS))
            raise ValueError(f"{ENV}: unknown fault {kind!r} in {item!r} (known: {known})")
        keys = dict(_pair(item, p) for p in parts)
        out.append(_fault(item, kind, keys))
    return out


def _pair(item: str, part: str) -> tuple[str, str]:
    key, sep, value = part.partition("=")
    if not sep or key not in ("rank", "node", "factor") or not value:
        raise ValueError(
            f"{ENV}: cannot read {part!r} in {item!r} (expected rank=R, node=N or factor=F)"
        )
    return key, value


def _fault(item: str, kind: str, keys: dict[str, str]) -> Fault:
    if ("rank" in keys) == ("node" in keys):
        raise ValueError(f"{ENV}: {item!r} needs one selector, rank=R or node=N")
    if "rank" in keys and not keys["rank"].isdigit():
        raise ValueError(f"{ENV}: rank={keys['rank']!r} in {item!r} is not a rank number")
    factor = 1.0
    if kind.startswith("slow_"):
        try:
            factor = float(keys.get("factor", ""))
        except ValueError:
            factor = 0.0
        if not factor >= 1.0 or factor == float("inf"):
            raise ValueError(f"{ENV}: {item!r} needs factor=F with F >= 1")
    elif "factor" in keys:
        raise ValueError(f"{ENV}: {kind} takes no factor ({item!r})")
    rank = int(keys["rank"]) if "rank" in keys else None
    return Fault(kind, rank, keys.get("node"), factor)


def whoami(spec: dict) -> dict:
    """This rank as the selectors see it: validate passes it in the spec; under `scaling run`
    the torchrun variables and the hostname stand in."""
    who = dict(spec.get("who") or {})
    who.setdefault("rank", int(os.environ.get("RANK", "-1")))
    who.setdefault("node_index", int(os.environ.get("NODE_RANK", "-1")))
    who.setdefault("hostname", socket.gethostname())
    who.setdefault("node", who["hostname"])
    return who


@dataclass(frozen=True)
class Planted:
    """What SCALING_FAULTS plants on this rank (all neutral when it plants nothing)."""

    compute_factor: float = 1.0
    corrupt: bool = False
    comm_factor: float = 1.0

    def stretch_compute(self, started: float, sync) -> None:
        """Inside a timed region begun at perf_counter() == started: make it last factor x."""
        if self.compute_factor > 1.0:
            sync()  # the work must be done before its duration is known
            now = time.perf_counter()
            until = now + (self.compute_factor - 1.0) * (now - started)
            while time.perf_counter() < until:  # busy, as slower work would be
                pass

    def before_comm(self, base_s: float | None) -> None:
        """Before a collective or transfer: hold the peers up (factor - 1) x base_s, the rank's
        first transfer of the check (not slowed). Not its previous one: a rank that arrives
        late finds its peers waiting, so its own later transfers look short, and scaling by
        them shrinks the planted fault (in one CI run a pair with a node slowed 25x passed a
        bar at 10% of the reference)."""
        if self.comm_factor > 1.0 and base_s:
            time.sleep((self.comm_factor - 1.0) * base_s)

    def corrupt_result(self, result):
        """The result with one bit flipped (a copy), or the result itself."""
        if not self.corrupt:
            return result
        import torch

        bad = result.clone().contiguous()
        ints = {2: torch.int16, 4: torch.int32, 8: torch.int64}[bad.element_size()]
        bad.view(ints).view(-1)[0] ^= 1
        return bad


def planted(spec: dict, text: str | None = None) -> Planted:
    """The faults for the rank running `spec` (from $SCALING_FAULTS unless text is given)."""
    text = os.environ.get(ENV) if text is None else text
    if not text:
        return Planted()
    who = whoami(spec)
    mine = [f for f in planted_faults(text) if f.matches(who)]
    compute = comm = 1.0
    for f in mine:
        if f.kind == "slow_compute":
            compute *= f.factor
        elif f.kind == "slow_comm":
            comm *= f.factor
    return Planted(compute, any(f.kind == "corrupt_matmul" for f in mine), comm)
