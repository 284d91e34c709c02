"""Silent data corruption: the same seeded matmul on every GPU, compared bitwise across GPUs.

imbue's host validation runs a long bf16 matmul on every GPU and compares the results
exactly: GPUs of one model given the same inputs and the same kernel must produce the same
bits. Each rank reports a digest (a hash of the result's bytes) per repetition; here:

- a GPU whose own repetitions differ is unstable: FAIL (SDC_UNSTABLE);
- among GPUs of one model, the digest held by a strict majority is the reference, and every
  GPU with another digest FAILs (SDC_MISMATCH): the odd one out;
- without a strict majority (two GPUs that disagree, or a split fleet) every GPU of the
  model FAILs with SDC_NO_MAJORITY: the results are not reproducible, and which GPU is wrong
  cannot be told;
- a lone GPU of its model has nothing to compare with: WARN (SDC_NOT_COMPARED);
- a GPU that returned no digest FAILs (NO_MEASUREMENT).

Digests are compared per model and software stack (torch, CUDA, cuBLAS): different
architectures, or another cuBLAS build, may legitimately pick other kernels and round
differently. A model whose GPUs run on more than one stack gets one WARN, SDC_MIXED_STACKS,
naming the stacks and how many GPUs run each: its GPUs were compared within each stack only.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from scaling.collector.validate.codes import FAIL, PASS, WARN
from scaling.collector.validate.verdicts import Verdict, missing


@dataclass
class DigestSample:
    node: str
    gpu: int | None
    digests: list[str] | None
    """One digest per repetition of the seeded matmul; None or [] when none came back."""
    uuid: str | None = None
    model: str | None = None
    error: str | None = None
    duration_s: float | None = None
    stack: dict | None = None
    """{torch, cuda, cublas} versions the rank ran (None: not recorded, e.g. an older run)."""

    @property
    def group(self) -> tuple:
        st = self.stack or {}
        return (self.model or "unknown model", st.get("torch"), st.get("cuda"), st.get("cublas"))


def stack_text(group: tuple) -> str:
    _, torch, cuda, cublas = group
    return f"torch {torch or '?'}, CUDA {cuda or 'n/a'}, cuBLAS {cublas or 'n/a'}"


def judge_sdc(samples: list[DigestSample]) -> list[Verdict]:
    """One verdict per sample, in order; then one SDC_MIXED_STACKS WARN per mixed model."""
    own: dict[int, str | None] = {}  # sample index -> its one digest (None: unstable/missing)
    by_model: dict[tuple, list[int]] = defaultdict(list)
    for i, s in enumerate(samples):
        distinct = set(s.digests or [])
        own[i] = distinct.pop() if len(distinct) == 1 else None
        if own[i] is not None:
            by_model[s.group].append(i)
    verdicts = []
    for i, s in enumerate(samples):
        base = _identity(s)
        if not s.digests:
            verdicts.append(missing(base, s.error or "no digest returned"))
        elif own[i] is None:
            shown = ", ".join(_short(d) for d in sorted(set(s.digests)))
            verdicts.append(Verdict(**base, verdict=FAIL, code="SDC_UNSTABLE",
                                    evidence=f"{len(s.digests)} repetitions gave {len(set(s.digests))} different digests: {shown}",
                                    details={"digests": s.digests}))  # fmt: skip
        else:
            group = [own[j] for j in by_model[s.group]]
            v = _vote(base, own[i], group)
            v.details["stack"] = stack_text(s.group)
            verdicts.append(v)
    return verdicts + mixed_stacks(samples)


def mixed_stacks(samples: list[DigestSample]) -> list[Verdict]:
    """A WARN per GPU model whose GPUs run different torch/CUDA/cuBLAS builds."""
    stacks: dict[str, dict[tuple, list[DigestSample]]] = defaultdict(lambda: defaultdict(list))
    for s in samples:
        if s.stack:
            stacks[s.model or "unknown model"][s.group].append(s)
    out = []
    for model, groups in stacks.items():
        if len(groups) < 2:
            continue
        named = "; ".join(f"{stack_text(g)} on {len(m)} GPU(s) ({', '.join(sorted({x.node for x in m}))})"
                          for g, m in sorted(groups.items(), key=lambda kv: -len(kv[1])))  # fmt: skip
        nodes = sorted({x.node for m in groups.values() for x in m})
        out.append(Verdict(check="sdc", verdict=WARN, scope="group", model=model,
                           code="SDC_MIXED_STACKS", details={"nodes": nodes,
                           "stacks": [stack_text(g) for g in groups]},
                           evidence=f"{model}: {len(groups)} software stacks, digests compared "
                           f"within each only: {named}"))  # fmt: skip
    return out


def _vote(base: dict, digest: str, group: list[str]) -> Verdict:
    counts = Counter(group)
    n = len(group)
    top, top_n = counts.most_common(1)[0]
    details = {"digest": digest, "digests_in_model": dict(counts), "gpus_compared": n}
    if n == 1:
        return Verdict(**base, verdict=WARN, code="SDC_NOT_COMPARED", details=details,
                       evidence=f"digest {_short(digest)}; the only GPU of its model that returned one")  # fmt: skip
    if top_n * 2 <= n:
        spread = ", ".join(f"{_short(d)} x{c}" for d, c in counts.most_common())
        return Verdict(**base, verdict=FAIL, code="SDC_NO_MAJORITY", details=details,
                       evidence=f"no digest held by a majority of {n} GPUs: {spread}")  # fmt: skip
    if digest != top:
        return Verdict(**base, verdict=FAIL, code="SDC_MISMATCH", details=details,
                       evidence=f"digest {_short(digest)} differs from {_short(top)} of {top_n} of {n} GPUs")  # fmt: skip
    return Verdict(**base, verdict=PASS, details=details,
                   evidence=f"digest {_short(digest)} matches {top_n} of {n} GPUs bit for bit")  # fmt: skip


def _identity(s: DigestSample) -> dict:
    return dict(check="sdc", scope="gpu", node=s.node, gpu=s.gpu, uuid=s.uuid, model=s.model,
                duration_s=s.duration_s)  # fmt: skip


def _short(digest: str) -> str:
    return digest[:12]
