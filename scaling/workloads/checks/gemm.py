"""Dense GEMM throughput per rank, with the GPU's clocks, temperature and PCIe sampled under it.

Every rank multiplies two n x n matrices back to back for `seconds` (bf16 on GPU, fp32 on
CPU), in timed samples of k products each (k sized so a sample lasts about a tenth of the
check), after warmup. The collector's figure is 2·n³·k / time per sample, in TFLOP/s, and the
median over samples. On GPU an NVML sampler reads the GPU's clock-event reasons, temperature
and PCIe generation every 0.1 s meanwhile: a GPU that throttles (thermal, HW slowdown, power
brake) or whose link trains below its maximum under load shows it here, and `scaling doctor`'s
checks are judged on these readings.
"""

from __future__ import annotations

import time

from scaling.workloads.catalog import Workload
from scaling.workloads.checks import SHARED, TABLE, levels, records

TARGET = "scaling.workloads.checks.gemm:run"
WARMUP = 3


def plan(cfg, n: int) -> list[dict]:
    return [{"workload": "gemm", "check": "gemm", "world_size": n,
             "size": cfg.validate.gemm_size, "seconds": levels.seconds(cfg)}]  # fmt: skip


def sample_health(device: str, action):
    """Run action() while NVML samples the rank's GPU; (its result, health readings summary)."""
    if device != "cuda":
        return action(), {"available": False, "reason": "CPU rank: no GPU to read"}
    import torch

    from scaling.workloads.power import PowerSampler

    uuid = str(torch.cuda.get_device_properties(torch.cuda.current_device()).uuid)
    try:
        from scaling.hardware.nvml_readers import HealthReader
    except ImportError as e:
        return action(), {"available": False, "reason": f"NVML unavailable ({e})"}
    with PowerSampler(uuid, open_reader=HealthReader) as sampler:
        result = action()
    return result, summarize_health(sampler.readings)


def summarize_health(readings: list[dict]) -> dict:
    """Every clock-event bit seen (OR), the hottest and the highest link generation."""

    def seen(key):
        return [r[key] for r in readings if r.get(key) is not None]

    mask = 0
    for m in seen("clock_events"):
        mask |= m
    return {
        "available": bool(readings), "samples": len(readings),
        "clock_events": mask if seen("clock_events") else None,
        "temperature_max_c": max(seen("temperature_c"), default=None),
        "pcie_gen_max": max(seen("pcie_gen"), default=None),
    }  # fmt: skip


def run(spec: dict) -> dict:
    """Rank side: time the GEMM for spec["seconds"]; raw times and the FLOPs of each sample."""
    import torch

    from scaling.workloads import faults
    from scaling.workloads.checks import device_name
    from scaling.workloads.timing import make_timer, rank_device, sync

    device = rank_device()
    n = spec.get("size") or levels.GEMM_SIZE[device]
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    g = torch.Generator().manual_seed(0)
    a, b = (torch.randn(n, n, generator=g).to(device, dtype) for _ in range(2))
    planted = faults.planted(spec)
    start = time.perf_counter()
    for _ in range(WARMUP):
        a @ b
    sync(device)
    # A sample of k products lasts about a tenth of the check, so there are ~10 to judge.
    each = max((time.perf_counter() - start) / WARMUP, 1e-6)
    k = max(1, int(spec["seconds"] / 10 / each))
    timer = make_timer(device)

    def measure() -> list[float]:
        times, begin = [], time.perf_counter()
        while not times or time.perf_counter() - begin < spec["seconds"]:
            timer.start()
            t0 = time.perf_counter()
            for _ in range(k):
                a @ b
            planted.stretch_compute(t0, lambda: sync(device))  # no-op unless SCALING_FAULTS
            times.append(timer.stop())
        return times

    levels.wait_for_start(spec)
    times, health = sample_health(device, measure)
    return {"who": spec.get("who"), "times": times, "work": 2.0 * n**3 * k, "size": n,
            "precision": "bf16" if device == "cuda" else "fp32", "device_name": device_name(device),
            "health": health}  # fmt: skip


WORKLOAD = Workload(
    name="gemm", plan=plan, rank=TARGET, records=records, table=TABLE, shared=SHARED,
    default=False,
)  # fmt: skip
