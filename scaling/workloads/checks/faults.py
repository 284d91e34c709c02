"""Test hook read by ranks: SCALING_FAULTS plants real faults for `scaling validate` to find.

    SCALING_FAULTS="slow_compute:rank=2:factor=3;corrupt_matmul:rank=1;slow_comm:node=3:factor=4"

Items are separated by ";" (or ","); each is a kind and its selector, colon-separated:

- `slow_compute:<selector>:factor=F`  the rank's GEMM check takes F x as long: after the timed
  work the rank spins (F - 1) x what the work took, inside the timed region, keeping its
  core busy as a slower processor would (a sleep would hand the core to its neighbours and
  make them faster on a shared host);
- `corrupt_matmul:<selector>`         the seeded SDC matmul's result has one bit flipped
  (the lowest bit of its first element) before it is digested: a real wrong result;
- `slow_comm:<selector>:factor=F`     before each collective or transfer of a check, the rank
  sleeps (F - 1) x its previous one took, so every peer really waits for it inside the
  collective and the group's time grows F-fold.

Selectors: `rank=R` (the rank's position in validate's rank order, as validate.json and the
progress lines number ranks) or `node=N` (every rank of a node: its name in validate.json,
its hostname, or its index in validate's node order). Ranks read the variable from their
environment; `scaling validate` forwards the driver's own SCALING_FAULTS to every rank (so
does `--env SCALING_FAULTS=...`), and refuses a malformed one before Ray starts (exit 2).

A test hook, not a feature: nothing reads it unless it is set. Items of another kind (e.g.
`slow:...`, the `scaling run`/`compare` hook of issue 15) are left to their own reader.
"""

from __future__ import annotations

import os
import re
import socket
import time
from dataclasses import dataclass

ENV = "SCALING_FAULTS"
KINDS = ("slow_compute", "corrupt_matmul", "slow_comm")
FOREIGN = ("slow",)
"""Kinds another hook reads from the same variable; skipped here."""


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


def parse(text: str | None) -> list[Fault]:
    """The faults in `text`; ValueError naming the item that cannot be read."""
    out = []
    for item in filter(None, (p.strip() for p in re.split(r"[;,]", text or ""))):
        kind, *parts = item.split(":")
        if kind in FOREIGN:
            continue
        if kind not in KINDS:
            raise ValueError(
                f"{ENV}: unknown fault {kind!r} in {item!r} (known: {', '.join(KINDS)})"
            )
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

    def before_comm(self, last_s: float | None) -> None:
        """Before a collective or transfer: hold the peers up (factor - 1) x the last one."""
        if self.comm_factor > 1.0 and last_s:
            time.sleep((self.comm_factor - 1.0) * last_s)

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
    mine = [f for f in parse(text) if f.matches(who)]
    compute = comm = 1.0
    for f in mine:
        if f.kind == "slow_compute":
            compute *= f.factor
        elif f.kind == "slow_comm":
            comm *= f.factor
    return Planted(compute, any(f.kind == "corrupt_matmul" for f in mine), comm)
