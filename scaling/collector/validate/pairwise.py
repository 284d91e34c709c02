"""GPU pairs inside a node: a bandwidth matrix becomes link verdicts, and the GPU to blame.

The matrix is send/recv (check p2p) or copy-engine peer-copy (check peer_copy) bandwidth both ways between a node's GPUs (matrix[i][j]: GPU i to
GPU j, GB/s; None where it could not be measured; the diagonal is ignored). Each unordered
pair is judged on its slower direction, against the pairs of the same model and link class
on every node (outliers.judge_metric, check "p2p") and the per-model minimum.

When several pairs of a node are slow and one GPU is an endpoint of all of them, that GPU is
the fault, not the links (the NVIDIA cluster-readiness logic: the common element of every
failing test). It gets its own verdict, GPU_IN_EVERY_SLOW_PAIR; the pairs stay FAIL, marked
as explained by it.
"""

from __future__ import annotations

from collections import defaultdict

from scaling.collector.validate.codes import FAIL
from scaling.collector.validate.outliers import Rules, Sample, judge_metric
from scaling.collector.validate.verdicts import Verdict, is_missing


def pair_samples(
    node: str,
    matrix: list[list[float | None]],
    gpus: list[dict],
    link_class: list[list[str]] | None = None,
    minimum: float | None = None,
    minimum_source: str = "",
    errors: dict[tuple[int, int], str] | None = None,
) -> list[Sample]:
    """One Sample per unordered GPU pair (i < j), valued at the slower direction.

    gpus: the node's GPUs in matrix order ({index, uuid, model}); link_class: the
    `nvidia-smi topo -m` label per pair (NV18, PIX, SYS...), so NVLink pairs are compared
    with NVLink pairs only; errors: why a direction could not be measured.
    """
    errors = errors or {}
    out = []
    for i in range(len(gpus)):
        for j in range(i + 1, len(gpus)):
            there, back = matrix[i][j], matrix[j][i]
            lost = [(a, b) for a, b, v in ((i, j, there), (j, i, back)) if is_missing(v)]
            cls = link_class[i][j] if link_class else ""
            model = gpus[i].get("model")
            out.append(Sample(
                node=node, value=None if lost else min(there, back),
                gpu=gpus[i]["index"], uuid=gpus[i].get("uuid"), model=model,
                peer_node=node, peer_gpu=gpus[j]["index"],
                error="; ".join(errors.get(d, f"GPU{gpus[d[0]]['index']}->GPU{gpus[d[1]]['index']} not measured") for d in lost) or None,
                fleet=f"{model} {cls}".strip(), minimum=minimum, minimum_source=minimum_source,
                details={"forward_gbps": there, "backward_gbps": back, "link_class": cls,
                         "peer_uuid": gpus[j].get("uuid")},
            ))  # fmt: skip
    return out


def judge_pairs(samples: list[Sample], rules: Rules, check: str = "p2p") -> list[Verdict]:
    """Link verdicts for every pair, then one GPU verdict per node where a GPU is in every
    slow pair (two or more of them). check: p2p (send/recv) or peer_copy (copy engine)."""
    links = judge_metric(check, samples, rules)
    return links + every_slow_pair(links)


def every_slow_pair(links: list[Verdict]) -> list[Verdict]:
    slow: dict[str, list[Verdict]] = defaultdict(list)
    for v in links:
        if v.verdict == FAIL and v.code != "NO_MEASUREMENT":
            slow[v.node].append(v)
    found = []
    for node, pairs in slow.items():
        if len(pairs) < 2:
            continue  # one slow pair: the link itself is named
        common = set.intersection(*({p.gpu, p.peer_gpu} for p in pairs))
        if len(common) != 1:
            continue
        gpu = common.pop()
        names = ", ".join(f"GPU{p.gpu}<->GPU{p.peer_gpu}" for p in pairs)
        for p in pairs:
            p.details["explained_by_gpu"] = gpu
        uuids = [p.uuid for p in pairs if p.gpu == gpu]
        uuids += [p.details.get("peer_uuid") for p in pairs if p.peer_gpu == gpu]
        found.append(Verdict(
            check=pairs[0].check, verdict=FAIL, scope="gpu", node=node, gpu=gpu,
            uuid=next((u for u in uuids if u), None), model=pairs[0].model,
            code="GPU_IN_EVERY_SLOW_PAIR", unit=pairs[0].unit,
            value=min(p.value for p in pairs),
            evidence=f"GPU{gpu} is in all {len(pairs)} slow pairs of {node}: {names}",
            details={"slow_pairs": [[p.gpu, p.peer_gpu] for p in pairs]},
        ))  # fmt: skip
    return found
