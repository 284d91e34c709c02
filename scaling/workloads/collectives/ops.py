"""The collectives the sweep measures: one `Collective` record per op, the only place an op
is described (as nccl-tests describes each op in one `testColl` struct).

A record holds the op's
- buffer layout: whether each rank's buffers are n chunks (the count must divide by n),
  and the send and receive sizes (a count, a chunk, or in place); `buffer_counts(count, n)`
  turns it into elements, for the rank that allocates and the check that it fits;
- call: the torch.distributed call, run on the rank;
- expected: the exact result this rank holds afterwards, in closed form;
- largest: the largest value of that result at n ranks: its exactness limit (where it passes
  the dtype's exact-integer range the check is skipped, never a false alarm);
- busbw: the nccl-tests bus-bandwidth factor at n ranks (docs/formulas.md);
- redop: the reduction label nccl-tests prints;
- min_ranks: the fewest ranks the op makes sense on, and why.

The config's choices (--ops), --help, the planner, the rank-side runner, the collector's
busbw and the terminal's redop column all read these records. Adding an op is one
`register(Collective(...))`, here or in any module imported before the run.

Records import no torch (the config and the collector read them): `call` and `expected`
receive the rank's `Buffers` (bench.py), which carries torch.distributed as `b.dist`, the
group (`b.pg`, `b.rank`, `b.n`, `b.global_rank(r)`), the tensors (`b.send`, `b.recv`, `b.count`,
`b.chunk`) and the input pattern: `b.pattern(r, start, length)` is what rank r's input holds
at global elements start..start+length, `b.pattern_sum(start, length)` its sum over the ranks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scaling.registry import Registry

PATTERN_MAX = 7
"""Inputs are the integers 1..PATTERN_MAX (bench.pattern): exact in every dtype below."""


@dataclass(frozen=True)
class DType:
    name: str
    elsize: int
    """Bytes per element."""
    exact: int
    """Largest integer the dtype holds exactly (2 ** significand bits)."""


DTYPES = {
    d.name: d
    for d in (DType("float32", 4, 2**24), DType("bfloat16", 2, 2**8), DType("float16", 2, 2**11))
}


def _one_input(n: int) -> int:
    return PATTERN_MAX


def _sum_of_inputs(n: int) -> int:
    return PATTERN_MAX * n


@dataclass(frozen=True)
class Collective:
    name: str
    call: Callable[[Any], None]
    """Rank side: run the op once on Buffers b (b.send -> b.recv within b.pg)."""
    expected: Callable[[Any], Any]
    """Rank side: the tensor b.recv must equal afterwards, exactly."""
    busbw: Callable[[int], float]
    """nccl-tests' bus-bandwidth factor at n >= 2 ranks (busbw = algbw x factor)."""
    chunked: bool = False
    """Buffers hold n chunks of count / n: the element count is rounded to a multiple of n."""
    send: str = "count"
    """Each rank's input: "count" elements, or its "chunk" (count / n)."""
    recv: str = "in place"
    """The output: "in place" (the input buffer), "count" or "chunk" elements."""
    largest: Callable[[int], int] = _one_input
    """The largest value `expected` holds at n ranks: the exactness limit of the check."""
    redop: str = "none"
    """The reduction nccl-tests prints in its redop column."""
    min_ranks: int = 1
    why_min_ranks: str = ""
    """Why fewer ranks cannot run it (the notice when a world size is skipped)."""

    @property
    def in_place(self) -> bool:
        """The output is the input buffer (nccl-tests' in-place mode): one buffer, not two."""
        return self.recv == "in place"

    def chunk(self, count: int, n: int) -> int:
        """Elements of one rank's chunk: count / n for a chunked op, else the whole count."""
        return count // n if self.chunked else count

    def buffer_counts(self, count: int, n: int) -> tuple[int, int]:
        """(send, recv) elements one rank allocates for `count` elements over n ranks; recv is
        0 in place. The rank's Buffers (bench.py) and the memory check before a sweep
        (cluster/memory_fit.py) both size from this."""
        sizes = {"count": count, "chunk": self.chunk(count, n)}
        return sizes[self.send], 0 if self.in_place else sizes[self.recv]

    def skip_reason(self, n: int) -> str | None:
        """Why the op is not planned at n ranks, or None when it is."""
        if n < self.min_ranks:
            return f"{self.name} skipped at world size {n}: {self.why_min_ranks}"
        return None


OPS: Registry[Collective] = Registry("collective")
register = OPS.register


def get(name: str) -> Collective:
    return OPS.get(name)


def names() -> tuple[str, ...]:
    return OPS.names()


def _newer(dist, name: str, old: str):
    # torch 2.13 renamed all_gather_into_tensor / reduce_scatter_tensor; older releases
    # only have the old names.
    return getattr(dist, name, None) or getattr(dist, old)


def _ring(b) -> None:
    # Post both sides at once: a blocking send-then-recv deadlocks in a ring.
    d, r, n = b.dist, b.rank, b.n
    reqs = d.batch_isend_irecv(
        [
            d.P2POp(d.isend, b.send, b.global_rank((r + 1) % n), b.pg),
            d.P2POp(d.irecv, b.recv, b.global_rank((r - 1) % n), b.pg),
        ]
    )
    for q in reqs:
        q.wait()


register(
    Collective(
        name="all_reduce",
        call=lambda b: b.dist.all_reduce(b.send, group=b.pg),
        expected=lambda b: b.pattern_sum(0, b.count),
        busbw=lambda n: 2.0 * (n - 1) / n,
        largest=_sum_of_inputs,
        redop="sum",
    )
)
register(
    Collective(
        name="all_gather",
        call=lambda b: _newer(b.dist, "all_gather_single", "all_gather_into_tensor")(
            b.recv, b.send, group=b.pg
        ),
        # chunk j was filled by rank j from global offset j * chunk
        expected=lambda b: b.cat([b.pattern(j, j * b.chunk, b.chunk) for j in range(b.n)]),
        busbw=lambda n: (n - 1) / n,
        chunked=True,
        send="chunk",
        recv="count",
    )
)
register(
    Collective(
        name="reduce_scatter",
        call=lambda b: _newer(b.dist, "reduce_scatter_single", "reduce_scatter_tensor")(
            b.recv, b.send, group=b.pg
        ),
        expected=lambda b: b.pattern_sum(b.rank * b.chunk, b.chunk),
        busbw=lambda n: (n - 1) / n,
        chunked=True,
        recv="chunk",
        largest=_sum_of_inputs,
        redop="sum",
    )
)
register(
    Collective(
        name="broadcast",
        call=lambda b: b.dist.broadcast(b.send, src=b.global_rank(0), group=b.pg),
        expected=lambda b: b.pattern(0, 0, b.count),
        busbw=lambda n: 1.0,
    )
)
register(
    Collective(
        name="all_to_all",
        call=lambda b: b.dist.all_to_all_single(b.recv, b.send, group=b.pg),
        expected=lambda b: b.cat([b.pattern(j, b.rank * b.chunk, b.chunk) for j in range(b.n)]),
        busbw=lambda n: (n - 1) / n,
        chunked=True,
        recv="count",
    )
)
register(
    Collective(
        name="sendrecv",
        call=_ring,
        expected=lambda b: b.pattern((b.rank - 1) % b.n, 0, b.count),
        busbw=lambda n: 1.0,
        recv="count",
        min_ranks=2,
        why_min_ranks="a ring needs two ranks",
    )
)
