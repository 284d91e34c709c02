"""When a call on the ranks does not come back whole: which rank is to blame, in one line.

A rank killed with SIGKILL, stopped with SIGSTOP or failing on its own takes its peers down
with it: they error out of the collective they share ("connection closed by peer") or wait
in it until the process group's timeout. Those peers are symptoms. So the driver collects
every rank's outcome, gives the peers a few seconds to fail after the first error, and asks
the ranks that never answered for a heartbeat (answered by the actor's control thread even
while its main thread sits in a collective):

- a rank whose actor died is named first, with its pid, host and node;
- then a rank that neither finished nor answers a heartbeat (stopped, or hung holding the
  interpreter);
- then the first error that is not a peer's symptom;
- and if every unfinished rank is alive and busy, the point is slower than --timeout.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import ray

GRACE_S = 5.0
"""After the first error, how long the other ranks get to finish or fail on their own."""
POLL_S = 0.5
"""How often the wait for a call's results looks for a rank that failed."""
HEARTBEAT_S = 5.0
"""How long a rank gets to answer a heartbeat before it counts as hung."""

# What a rank raises when a peer vanished or stalled: the effect, never the cause.
PEER_SYMPTOMS = (
    "connection closed by peer",
    "connection reset by peer",
    "broken pipe",
    "timed out",
    "timeout",
    "communicator was aborted",
    "remote process exited",
    "socket closed",
    "read error",
    "write error",
)


class Relayed(Exception):
    """A rank's error as its node's relay saw it (relay.py): the error's first line as
    `explain` would quote it, and whether the rank died (its actor is gone)."""

    def __init__(self, line: str, died: bool):
        super().__init__(line)
        self.line, self.died = line, died

    def __reduce__(self):
        return Relayed, (self.line, self.died)


def relayed(e: BaseException) -> tuple[str, bool]:
    """What a relay sends back for a rank's error: (line, died), as Relayed takes them."""
    if _died(e):
        return (str(e).strip().splitlines() or [type(e).__name__])[0], True
    return _first_line(e), False


def _died(e: BaseException) -> bool:
    return isinstance(e, ray.exceptions.RayActorError) or getattr(e, "died", False) is True


@dataclass
class Outcome:
    results: list
    errors: dict[int, BaseException] = field(default_factory=dict)
    pending: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.pending


def collect(refs: list, limit_s: float, grace_s: float = GRACE_S, until: int = 0) -> Outcome:
    """Wait for every ref up to limit_s; after the first error, only grace_s more.

    One ray.wait over every outstanding ref per POLL_S, not one per ref: ray.wait costs time
    in the number of refs it is given, so waiting for one at a time cost N^2 per call (9.7 s
    of a point's driver time at 4,096 ranks, 2.7 s this way; docs/scale.md). An error is
    seen within POLL_S of its arrival, and its grace counts from then.
    until > 0: done as soon as refs[:until] are in and nothing failed; the others are only
    watched for an error (plan_run's leader mode: the followers' calls last the world size).
    """
    index = {ref: i for i, ref in enumerate(refs)}
    out = Outcome(results=[None] * len(refs))
    deadline = time.monotonic() + limit_s
    remaining = list(refs)
    needed = set(refs[:until])
    while remaining:
        left = deadline - time.monotonic()
        if left <= 0 or (until and not out.errors and needed.isdisjoint(remaining)):
            break
        if until and not out.errors:
            # wait for the needed refs only (all of them would hold their answer until POLL_S
            # is up), then take whatever else is in without waiting: one ray.wait over the
            # watched refs per poll, not one per ref that comes in (N^2, as above)
            first = [r for r in remaining if r in needed]
            ray.wait(first, num_returns=len(first), timeout=min(left, POLL_S))
            ready, remaining = ray.wait(remaining, num_returns=len(remaining), timeout=0)
        else:
            ready, remaining = ray.wait(
                remaining, num_returns=len(remaining), timeout=min(left, POLL_S)
            )
        try:  # one get for the batch; the per-ref path below only when one of them failed
            for ref, value in zip(ready, ray.get(ready), strict=True):
                out.results[index[ref]] = value
            continue
        except ray.exceptions.RayError:
            pass
        for ref in ready:
            try:
                out.results[index[ref]] = ray.get(ref)
            except ray.exceptions.RayError as e:
                if not out.errors:
                    deadline = min(deadline, time.monotonic() + grace_s)
                out.errors[index[ref]] = e
    out.pending = sorted(index[r] for r in remaining)
    return out


def heartbeats(actors: list, which: list[int], timeout_s: float = HEARTBEAT_S) -> dict:
    """index -> the rank's heartbeat ({pid, doing, for_s}), or None when it does not answer."""
    refs = {i: actors[i].heartbeat.remote() for i in which}
    ready, _ = ray.wait(list(refs.values()), num_returns=len(refs), timeout=timeout_s)
    answers = {}
    for i, ref in refs.items():
        try:
            answers[i] = ray.get(ref) if ref in ready else None
        except ray.exceptions.RayError:
            answers[i] = None
    return answers


def label(method: str, args: tuple) -> str:
    """What the ranks were doing, in the user's words: 'all_reduce 1M', 'resnet50', ..."""
    spec = args[1] if method == "run" and len(args) > 1 and isinstance(args[1], dict) else None
    if spec is None:
        return method
    if spec.get("label"):
        return str(spec["label"])
    if "op" in spec:
        from scaling.config.units import format_size

        group = "" if spec.get("group", "world") == "world" else f" ({spec['group']} view)"
        return f"{spec['op']} {format_size(int(spec.get('size_bytes', 0)))}{group}"
    return str(spec.get("workload") or method)


def _name(who: dict, i: int) -> str:
    rank = f"rank {who['rank']}" if who.get("rank") is not None else f"gang slot {i}"
    where = [f"pid {who['pid']}"] if who.get("pid") else []
    if who.get("hostname"):
        where.append(f"host {who['hostname']}")
    if who.get("node_id"):
        where.append(f"node {str(who['node_id'])[:8]}")
    return f"{rank} ({', '.join(where)})" if where else rank


def _first_line(e: BaseException) -> str:
    if isinstance(e, Relayed):
        return e.line
    cause = getattr(e, "cause", None)
    err = cause if isinstance(cause, BaseException) else e
    text = str(err).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(err).__name__}: {first}" if isinstance(err, Exception) else first


def _is_symptom(e: BaseException) -> bool:
    text = _first_line(e).lower()
    return any(s in text for s in PEER_SYMPTOMS)


def per_rank(
    outcome: Outcome, who: list[dict], alive: dict, what: str, limit_s: float
) -> dict[int, tuple[str, bool]]:
    """For calls that do not depend on each other (validate's per-rank checks): index -> (one
    line naming the rank and what happened, lost). A lost rank died, or did not finish in
    time (stopped, hung, or still busy): nothing more can be asked of it."""
    out = {}
    for i, e in outcome.errors.items():
        if _died(e):
            reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
            out[i] = (f"{_name(who[i], i)} died during {what} ({reason})", True)
        else:
            out[i] = (f"{what} failed on {_name(who[i], i)}: {_first_line(e)}", False)
    for i in outcome.pending:
        beat = alive.get(i)
        if beat is None:
            out[i] = (f"{_name(who[i], i)} did not finish {what} within {limit_s:.0f} s and does "
                      "not answer (stopped, or hung)", True)  # fmt: skip
        else:
            out[i] = (f"{_name(who[i], i)} did not finish {what} within {limit_s:.0f} s (alive, "
                      f"busy for {beat.get('for_s') or 0:.0f} s)", True)  # fmt: skip
    return out


def explain(outcome: Outcome, who: list[dict], alive: dict, what: str, limit_s: float) -> str:
    """One line: the culprit rank(s) and what happened to them (module docstring)."""
    died = [i for i, e in outcome.errors.items() if _died(e)]
    hung = [i for i in outcome.pending if alive.get(i) is None]
    busy = [i for i in outcome.pending if alive.get(i) is not None]
    failed = [i for i in outcome.errors if i not in died]
    waited = len(who) - len(died or hung)
    if died:
        names = "; ".join(_name(who[i], i) for i in died)
        reason = str(outcome.errors[died[0]]).strip().splitlines()[0]
        return f"{names} died during {what} ({reason})"
    if hung:
        names = "; ".join(_name(who[i], i) for i in hung)
        others = f"; {waited} other rank(s) waited for it" if waited > 0 else ""
        return (
            f"{names} did not finish {what} within {limit_s:.0f} s and does not answer "
            f"(stopped, or hung){others}"
        )
    if failed:
        causes = [i for i in failed if not _is_symptom(outcome.errors[i])] or failed
        i = causes[0]
        return f"{what} failed on {_name(who[i], i)}: {_first_line(outcome.errors[i])}"
    names = ", ".join(_name(who[i], i) for i in busy)
    longest = max((alive[i].get("for_s") or 0.0) for i in busy)
    return (
        f"{what} did not finish within {limit_s:.0f} s on {names} (alive, busy for up to "
        f"{longest:.0f} s): raise --timeout or measure smaller sizes"
    )
