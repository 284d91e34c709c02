"""bad_nodes.txt and the lines an operator runs to take the bad nodes out of service.

bad_nodes.txt holds one hostname per line: every node with a FAIL verdict on the node itself,
one of its GPUs, or a GPU pair inside it. It is written even when empty, so a script can
always read it. A FAILing link between two nodes, or a group that could not be narrowed
down, drains no node: those are printed as comments, with what to check.

`commands()` gives the `scontrol update NodeName=... State=DRAIN Reason=...`, `kubectl
cordon` and `kubectl taint` lines. They are printed, never run: the hostnames Ray reports
may differ from Slurm NodeNames or Kubernetes node names, and draining is the operator's
decision.
"""

from __future__ import annotations

import shlex
from collections import defaultdict
from pathlib import Path

from scaling.collector.validate.codes import FAIL
from scaling.collector.validate.verdicts import ValidateResult
from scaling.rundir import write_atomic

BAD_NODES = "bad_nodes.txt"
TAINT_KEY = "scaling.validate/fault"


def bad_nodes(result: ValidateResult) -> list[str]:
    return sorted(host for host, verdict in result.node_verdicts().items() if verdict == FAIL)


def node_codes(result: ValidateResult) -> dict[str, list[str]]:
    """host -> its FAIL codes: those of the node and its GPUs before those of GPU pairs (a GPU
    in every slow pair is the diagnosis, its pairs the symptoms), then the most frequent."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    pair_codes: set[str] = set()
    bad = set(bad_nodes(result))
    for v in result.verdicts:
        if v.verdict == FAIL and v.node in bad and v.code:
            counts[v.node][v.code] += 1
            if v.scope == "link":
                pair_codes.add(v.code)
    order = lambda c: lambda code: (code in pair_codes, -c[code], code)  # noqa: E731
    return {h: sorted(c, key=order(c)) for h, c in counts.items()}


def write_bad_nodes(result: ValidateResult, run_dir: Path) -> Path:
    hosts = bad_nodes(result)
    return write_atomic(Path(run_dir) / BAD_NODES, "".join(f"{h}\n" for h in hosts))


def commands(result: ValidateResult) -> list[str]:
    """The drain lines, as text to print (never executed here)."""
    codes = node_codes(result)
    hosts = bad_nodes(result)
    lines = [f"# scaling validate: {len(hosts)} node(s) to drain. Printed, not run; Ray's "
             "hostnames may differ from Slurm or Kubernetes node names."]  # fmt: skip
    for host in hosts:
        first = codes.get(host, ["FAIL"])[0]
        reason = f"scaling validate: {','.join(codes.get(host, ['FAIL']))}"[:200]
        h = shlex.quote(host)
        lines += [
            f"scontrol update NodeName={h} State=DRAIN Reason={shlex.quote(reason)}",
            f"kubectl cordon {h}",
            f"kubectl taint nodes {h} {TAINT_KEY}={first}:NoSchedule --overwrite",
        ]
    for v in result.verdicts:
        if v.verdict == FAIL and v.scope == "link" and v.peer_gpu is None:
            lines.append(f"# {v.subject}: {v.code}; no node drained: check the path between them "
                         "(cables, switch ports, routes)")  # fmt: skip
        elif v.verdict == FAIL and v.scope == "group":
            lines.append(f"# {v.subject} ({', '.join(v.details.get('nodes', [])[:8])}): {v.code}; "
                         "no node drained: see its evidence in validate.json")  # fmt: skip
    return lines
