"""The CUDA path through scaling's own code: skipped, with the reason, where torch sees no GPU.

benchmarks/gpu/check.sh runs these on the device machine (`pytest -m gpu tests/test_gpu.py`):
CUDA-event timing, live NVML reads, the PCIe probe under load, H2D/D2H copies against the
probed ceiling, NCCL at world size 1, bf16 training steps of both workloads and the power
sampler. Figures are bounded by physics (a copy cannot beat its link), never by a speed goal.
"""

from __future__ import annotations

import time

import pytest
import torch
import torch.distributed as dist

from scaling.config import load_config
from scaling.hardware.link_warmup import cuda_absent_reason

REASON = cuda_absent_reason()
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(REASON is not None, reason=f"needs CUDA: {REASON}"),
]
MIB = 1 << 20


def torch_uuid(index: int = 0) -> str:
    """How NVML names torch's device `index` ("GPU-<uuid>")."""
    return f"GPU-{torch.cuda.get_device_properties(index).uuid}"


def nvml_gpu(snapshot: dict, uuid: str) -> dict:
    found = [g for g in snapshot["gpus"] if g["uuid"] == uuid]
    assert found, f"torch's {uuid} is not among NVML's {[g['uuid'] for g in snapshot['gpus']]}"
    return found[0]


@pytest.fixture(scope="module")
def nccl_world_of_one(tmp_path_factory):
    """A one-rank NCCL default group in this process, as a rank actor has at world size 1."""
    torch.cuda.set_device(0)
    store = dist.FileStore(str(tmp_path_factory.mktemp("nccl") / "store"), 1)
    dist.init_process_group(
        "nccl", store=store, rank=0, world_size=1, device_id=torch.device("cuda", 0)
    )
    yield
    dist.destroy_process_group()


def test_cuda_event_timer_brackets_the_queued_work():
    from scaling.workloads.timing import CudaTimer, make_timer

    timer = make_timer("cuda")
    assert isinstance(timer, CudaTimer)
    a = torch.randn(4096, 4096, device="cuda")
    a @ a
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    timer.start()
    for _ in range(40):
        a @ a
    gpu_s = timer.stop()
    wall_s = time.perf_counter() - t0
    assert torch.cuda.current_stream().query(), "stop() must wait for the work it timed"
    # The launches return at once; only events on the stream see the matmuls themselves.
    assert 0.5 * wall_s < gpu_s <= wall_s * 1.01 + 1e-4, (gpu_s, wall_s)


def test_nvml_reads_the_gpu_torch_uses():
    from scaling.hardware.nvml import read_gpus
    from scaling.hardware.nvml_readers import read_power_util

    snap = read_gpus()
    assert snap["nvml"]["available"], snap["nvml"]["reason"]
    assert snap["nvml"]["driver_version"] != "unknown"
    gpu = nvml_gpu(snap, torch_uuid())
    assert gpu["name"] == torch.cuda.get_device_name(0)
    assert gpu["memory"]["total_bytes"] >= torch.cuda.get_device_properties(0).total_memory
    assert isinstance(gpu["pcie"]["max_gen"], int) and gpu["pcie"]["max_gen"] >= 3
    assert gpu["pcie"]["max_width"] in (1, 2, 4, 8, 16, 32)
    reading = read_power_util(torch_uuid())
    assert reading is not None, "NVML gave no power/utilisation reading"
    assert reading["power_w"] > 0 and 0 <= reading["util_pct"] <= 100


def test_probe_under_load_judges_the_pcie_generation():
    from scaling.hardware.probe import probe
    from scaling.hardware.topology import pcie_link

    snap = probe(load=True, load_seconds=2.0)
    assert snap["load"]["ran"], snap["load"]["reason"]
    gpu = nvml_gpu(snap, torch_uuid())
    gen = gpu["pcie"]["curr_gen_under_load"]
    assert isinstance(gen, int) and 1 <= gen <= gpu["pcie"]["max_gen"], gpu["pcie"]
    link = pcie_link(gpu)
    assert link["gen_judged"] and link["gen"] == gen and link["gbps"] > 0, link


def test_h2d_d2h_copies_against_the_probed_ceiling():
    from scaling.hardware.probe import probe
    from scaling.hardware.transfers import compare_to_ceilings, measure_transfers

    result = measure_transfers(size_bytes=64 * MIB, repeats=3, warmup=1, copies=2)
    assert result["available"], result["reason"]
    h2d, d2h, d2d = (result[k][0]["gbps"] for k in ("h2d", "d2h", "d2d"))
    # Pinned copies over any PCIe x16 link exceed 1 GB/s; device memory beats any host link.
    assert h2d > 1 and d2h > 1 and d2d > max(h2d, d2h), (h2d, d2h, d2d)
    rows = compare_to_ceilings(result, probe(load=True))
    for test in ("h2d", "d2h"):
        row = next(r for r in rows if r["test"] == test and r["where"] == "cuda:0")
        assert row["ceiling_gbps"], row
        # A copy cannot beat the link's theoretical rate: above it, the probed ceiling is wrong.
        assert 0 < row["ratio"] <= 1.05, row


def test_nccl_collectives_at_world_size_one(nccl_world_of_one):
    from scaling.workloads.catalog import get
    from scaling.workloads.collectives.bench import run_point

    assert dist.get_backend() == "nccl"
    cfg = load_config(
        overrides={"gpus": "1", "collectives.max_bytes": "16M", "collectives.iters": 5}
    )
    wl = get("collectives")
    points = wl.plan(cfg, 1)
    assert points
    for point in points:
        spec = wl.rank_spec(point)
        out = run_point(spec)
        assert out["wrong"] == 0, spec
        assert len(out["times"]) == 5 and all(t > 0 for t in out["times"]), spec


@pytest.mark.parametrize(
    "workload, batch, preset",
    [("resnet50", 32, "imagenet"), ("transformer", 2, "gpt2-medium")],
)
def test_bf16_training_step_at_world_size_one(nccl_world_of_one, workload, batch, preset):
    from scaling.hardware.peaks import peak_flops
    from scaling.workloads.catalog import get
    from scaling.workloads.training.bench import run_point

    wl = get(workload)
    cfg = load_config(
        overrides={
            "gpus": "1",
            "training.precision": "bf16",
            "training.warmup": 2,
            "training.steps": 3,
            f"{workload}.batch": batch,
        }
    )
    res = run_point(wl.rank_spec(wl.plan(cfg, 1)[0]))  # preset "auto": the GPU preset on cuda
    assert res["status"] == "ok", res.get("failed_stage")
    assert (res["device"], res["precision"], res["preset"]) == ("cuda", "bf16", preset)
    assert res["device_name"] == torch.cuda.get_device_name()
    if workload == "resnet50":
        assert res["channels_last"] is True and res["image_size"] == 224
    assert len(res["times"]["ddp"]) == 3 and all(t > 0 for t in res["times"]["ddp"])
    assert res["mem_kind"] == "cuda" and res["peak_mem_bytes"] > 0
    # The power sampler ran during the measured steps and NVML answered it.
    assert res["power_samples"] >= 1 and res["power_w"] > 0, res
    assert res["flops_per_step"] > 0
    if peak_flops(res["device_name"], "bf16") is None:
        pytest.fail(f"no bf16 peak for {res['device_name']!r}: MFU would be n/a on this GPU")


def test_power_sampler_reads_while_the_gpu_works():
    from scaling.workloads.power import PowerSampler

    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    with PowerSampler(str(torch.cuda.get_device_properties(0).uuid), period_s=0.05) as power:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 1.5:
            for _ in range(10):
                a @ a
            torch.cuda.synchronize()
    s = power.summary()
    assert s["power_samples"] >= 10, s
    assert s["power_w"] > 0 and s["gpu_util_pct"] > 0, s
