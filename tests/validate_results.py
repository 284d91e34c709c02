"""A hand-built validation result over 4 nodes x 4 H100 SXM, every judge fed synthetic figures.

Planted, and what each must yield:
- n1 GPU2 runs GEMM at 450 TFLOP/s against ~700: GEMM_BELOW_FLEET
- n2 GPU1 returns a different SDC digest: SDC_MISMATCH
- n3 GPU0 sends slowly to every other GPU of its node: GPU_IN_EVERY_SLOW_PAIR (+3 slow pairs)
- n0's storage reads at 0.5 GB/s: STORAGE_BELOW_MIN (a WARN)
- the path between n0 and n2 is bad: LINK_COMM_FAIL from the localisation (no node drained)
- n3 GPU3 gives no H2D figure: NO_MEASUREMENT
So bad_nodes.txt is n1, n2, n3, and the exit code is 1.
"""

from __future__ import annotations

import random

from scaling.collector.validate import checks
from scaling.collector.validate.health import doctor_verdicts
from scaling.collector.validate.internode import localization_verdicts
from scaling.collector.validate.localize import localize
from scaling.collector.validate.outliers import Sample
from scaling.collector.validate.sdc_compare import DigestSample, judge_sdc
from scaling.collector.validate.simulate import SimulatedCluster
from scaling.collector.validate.verdicts import ValidateResult
from scaling.config.validate import ValidateConfig, describe

H100 = "NVIDIA H100 80GB HBM3"
NODES = ["n0", "n1", "n2", "n3"]
GPUS = 4
BAD_NODES = ["n1", "n2", "n3"]


def gpu_list(node: str) -> list[dict]:
    return [{"index": g, "uuid": f"GPU-{node}-{g}", "model": H100} for g in range(GPUS)]


def _per_gpu(value, **kw) -> list[Sample]:
    return [
        Sample(node=n, gpu=g["index"], uuid=g["uuid"], model=H100, value=value(n, g["index"]), **kw)
        for n in NODES
        for g in gpu_list(n)
    ]


def _p2p(node: str) -> checks.NodeMatrix:
    m = [[None if i == j else 380.0 for j in range(GPUS)] for i in range(GPUS)]
    if node == "n3":
        for j in range(1, GPUS):
            m[0][j] = 120.0
    return checks.NodeMatrix(node, m, gpu_list(node))


def synthetic_result(seed: int = 0) -> ValidateResult:
    rng = random.Random(seed)
    cfg = ValidateConfig()
    jitter = lambda base: base * (1 + rng.uniform(-0.01, 0.01))  # noqa: E731
    gemm = _per_gpu(lambda n, g: 450.0 if (n, g) == ("n1", 2) else jitter(700.0))
    for s in gemm:
        s.rounds = [s.value * f for f in (0.99, 1.0, 1.01)]
        s.duration_s = 30.0
    h2d = _per_gpu(lambda n, g: None if (n, g) == ("n3", 3) else jitter(53.0), ceiling=63.0,
                   ceiling_label="PCIe Gen5 x16")  # fmt: skip
    h2d[-1].error = "rank 15 died (exit code -9)"
    digests = [DigestSample(n, g["index"], ["bb" if (n, g["index"]) == ("n2", 1) else "aa"] * 2,
                            g["uuid"], H100) for n in NODES for g in gpu_list(n)]  # fmt: skip
    allreduce = [Sample(node=n, model=H100, value=jitter(360.0), ceiling=450.0) for n in NODES]
    storage = [Sample(node=n, value=0.5 if n == "n0" else 3.4) for n in NODES]
    sim = SimulatedCluster(list(NODES), bad_links={frozenset(("n0", "n2"))})
    loc = localize(sim.nodes, sim, clock=sim.clock, timing="modelled")
    healthy = [{"check": "host_swap", "status": "PASS", "detail": "no swap in use"}]
    verdicts = (
        checks.judge_gemm(gemm, "bf16", cfg)
        + checks.judge_transfer("h2d", h2d, cfg)
        + judge_sdc(digests)
        + checks.judge_p2p([_p2p(n) for n in NODES], cfg)
        + checks.judge_allreduce(allreduce, cfg, {n: GPUS for n in NODES})
        + checks.judge_storage(storage, cfg)
        + [v for n in NODES for v in doctor_verdicts(n, healthy)]
        + localization_verdicts(loc)
    )
    return ValidateResult(
        verdicts,
        thresholds=describe(cfg, {H100: GPUS}),
        nodes=[{"hostname": n, "gpus": gpu_list(n)} for n in NODES],
        localization=loc.to_dict(),
        created="2026-03-01T12:00:00Z",
    )
