"""Silent data corruption: every rank computes the same seeded matmul; the result's bits are
digested, and the collector holds the digests of GPUs of one model against each other.

The inputs come from a seeded CPU generator (the same bits on every rank), cast to bf16 on GPU
(fp32 on CPU) and multiplied `reps` times; each result is hashed whole (SHA-256 of its bytes).
GPUs of one architecture with the same inputs and kernel produce the same bits (cuBLAS
documents bitwise reproducibility across runs on GPUs of the same architecture and SM count),
so a digest that differs from the majority is a wrong result.

The burn (level "long") keeps multiplying for burn_seconds and compares every product with
the first one bit for bit on the device (cheap: no copy), digesting only a product that
differs; NVML samples the GPU meanwhile, as under the GEMM check.
"""

from __future__ import annotations

import hashlib
import time

from scaling.workloads.catalog import Workload
from scaling.workloads.checks import SHARED, TABLE, levels, records

TARGET = "scaling.workloads.checks.sdc:run"


def plan(cfg, n: int) -> list[dict]:
    return [{"workload": "sdc", "check": "sdc", "world_size": n, "size": cfg.validate.gemm_size,
             "reps": levels.level(cfg).sdc_reps, "seed": levels.SDC_SEED}]  # fmt: skip


def bits(t):
    """The tensor's bits as integers of its width: compared, +0 and -0 differ, NaN equals NaN."""
    import torch

    ints = {2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()]
    return t.detach().contiguous().view(ints)


def digest(t) -> str:
    return hashlib.sha256(bits(t).cpu().numpy().tobytes()).hexdigest()


def run(spec: dict) -> dict:
    import torch

    from scaling.workloads import faults
    from scaling.workloads.checks import device_name
    from scaling.workloads.checks.gemm import sample_health
    from scaling.workloads.timing import rank_device, sync

    device = rank_device()
    n = spec.get("size") or levels.GEMM_SIZE[device]
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    g = torch.Generator().manual_seed(spec["seed"])
    a, b = (torch.randn(n, n, generator=g).to(device, dtype) for _ in range(2))
    planted = faults.planted(spec)

    def product():
        return planted.corrupt_result(a @ b)  # corrupt only under SCALING_FAULTS

    start = time.perf_counter()
    first = product()
    digests = [digest(first)] + [digest(product()) for _ in range(spec["reps"] - 1)]
    out = {"who": spec.get("who"), "digests": digests, "size": n, "seed": spec["seed"],
           "precision": "bf16" if device == "cuda" else "fp32", "stack": stack(device),
           "device_name": device_name(device), "duration_s": time.perf_counter() - start}  # fmt: skip
    if spec.get("burn_seconds"):
        burn, health = sample_health(device, lambda: _burn(product, first, spec, device, sync))
        out["burn"] = {**burn, "health": health}
    return out


def stack(device: str) -> dict:
    """The software that picks the matmul's kernel: torch, its CUDA and the cuBLAS loaded.
    GPUs are compared only within one stack (another cuBLAS may pick another kernel)."""
    import torch

    cuda = device == "cuda"
    return {"torch": torch.__version__, "cuda": torch.version.cuda if cuda else None,
            "cublas": cublas_version() if cuda else None}  # fmt: skip


def cublas_version() -> str | None:
    """cuBLAS's version: the pip wheel torch loads it from, else the loaded library's file name
    (libcublas.so.12.4.5.8), else None (unknown)."""
    from importlib import metadata

    for dist in ("nvidia-cublas-cu12", "nvidia-cublas-cu11", "nvidia-cublas"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    try:
        with open("/proc/self/maps") as f:
            names = {line.split()[-1].rsplit("/", 1)[-1] for line in f if "libcublas.so" in line}
    except OSError:
        return None
    found = sorted(n.split("libcublas.so.", 1)[1] for n in names if "libcublas.so." in n)
    return found[-1] if found else None


def _burn(product, first, spec: dict, device: str, sync) -> dict:
    """Multiply for burn_seconds; compare each product with the first, bit for bit, on device."""
    import torch

    reference = bits(first)
    products, differing, begin = 0, [], time.perf_counter()
    while time.perf_counter() - begin < spec["burn_seconds"]:
        c = product()
        products += 1
        if not torch.equal(bits(c), reference):
            differing.append(digest(c))
    sync(device)
    seconds = time.perf_counter() - begin
    n = first.shape[0]
    return {"products": products, "seconds": seconds, "differing": differing[:16],
            "mismatched": len(differing), "tflops": 2.0 * n**3 * products / seconds / 1e12}  # fmt: skip


WORKLOAD = Workload(
    name="sdc", plan=plan, rank=TARGET, records=records, table=TABLE, shared=SHARED,
    default=False,
)  # fmt: skip
