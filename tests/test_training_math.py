"""The training collector's figures against hand-computed values, and rank-side helpers."""

import math
import time

import pandas as pd
import pytest
import torch

from scaling.collector.training import TRAINING_COLUMNS, summarize
from scaling.workloads.power import PowerSampler
from scaling.workloads.training.bench import split_batch
from scaling.workloads.training.checksum import param_checksum
from scaling.workloads.training.peak_memory import is_oom
from scaling.workloads.training.strategy import buckets_by_cap

H100 = "NVIDIA H100 80GB HBM3"


def point(workload, n, *, ranks, scaling="weak", precision="fp32", preset="tiny", **facts):
    """Samples of one point. ranks: per rank a dict of phase -> step times, plus overrides."""
    key = {
        "workload": workload,
        "world_size": n,
        "nodes": 1,
        "preset": preset,
        "scaling": scaling,
        "precision": precision,
    }
    out = []
    for rank, r in enumerate(ranks):
        for phase in ("ddp", "local", "comm", "compute"):
            for i, t in enumerate(r.get(phase, [])):
                out.append(
                    {"type": "step", **key, "phase": phase, "step": i, "rank": rank, "time_s": t}
                )
        rec = {
            "type": "train_point",
            **key,
            "rank": rank,
            "status": "ok",
            "batch": 8,
            "global_batch": 8 * n,
            "flops_per_step": 8e9,
            "tokens_per_sample": None,
            "device_name": "cpu",
            "peak_mem_bytes": 1000,
            "checksum_bits": "00000000000000aa",
            "power_w": None,
            "gpu_util_pct": None,
            **facts,
        }
        rec.update({k: v for k, v in r.items() if k not in ("ddp", "local", "comm", "compute")})
        out.append(rec)
    return out


def table(*points):
    return summarize(pd.DataFrame([rec for p in points for rec in p]))


def row(t, workload, n):
    return t[(t.workload == workload) & (t.world_size == n)].iloc[0]


RESNET_1 = point("resnet50", 1, ranks=[{"ddp": [0.10, 0.12, 0.11]}])
RESNET_2 = point(
    "resnet50",
    2,
    ranks=[
        {
            "ddp": [0.20, 0.22, 0.21],
            "local": [0.15, 0.16, 0.15],
            "comm": [0.08, 0.07, 0.09],
            "compute": [0.05] * 3,
        },
        {
            "ddp": [0.21, 0.20, 0.25],
            "local": [0.14, 0.17, 0.16],
            "comm": [0.08, 0.08, 0.08],
            "compute": [0.05] * 3,
            "peak_mem_bytes": 1250,
        },
    ],
)


def test_weak_scaling_comm_overhead_and_step_percentiles():
    t = table(RESNET_1, RESNET_2)
    assert list(t.columns) == TRAINING_COLUMNS
    one, two = row(t, "resnet50", 1), row(t, "resnet50", 2)

    assert one.t_ddp_s == pytest.approx(0.11) and one.efficiency == pytest.approx(1.0)
    assert one.samples_per_s == pytest.approx(8 / 0.11)
    # one rank trains without DDP: nothing exposed, overlap not applicable
    assert one.t_local_s == pytest.approx(0.11) and one.comm_fraction == 0
    assert math.isnan(one.overlap) and math.isnan(one.t_comm_s)

    # slowest rank per step: ddp [0.21, 0.22, 0.25], local [0.15, 0.17, 0.16], comm [.08 .08 .09]
    assert two.step_time_p50_s == pytest.approx(0.22) and two.t_ddp_s == pytest.approx(0.22)
    assert two.step_time_p90_s == pytest.approx(0.22 + 0.8 * 0.03)
    assert two.step_time_p99_s == pytest.approx(0.22 + 0.98 * 0.03)
    assert two.t_local_s == pytest.approx(0.16) and two.t_comm_s == pytest.approx(0.08)
    assert two.exposed_comm_s == pytest.approx(0.06)
    assert two.comm_fraction == pytest.approx(0.06 / 0.22)
    assert two.overlap == pytest.approx(1 - 0.06 / 0.08)

    assert two.global_batch == 16 and two.batch_per_rank == 8
    assert two.samples_per_s == pytest.approx(16 / 0.22)
    assert two.samples_per_s_per_gpu == pytest.approx(8 / 0.22)
    # weak: throughput(2) / (2 * throughput(1)) = (16/0.22) / (2 * 8/0.11) = 0.5
    assert two.efficiency == pytest.approx(0.5)
    assert two.flops_per_step == 16e9
    assert two.achieved_tflops == pytest.approx(16e9 / 0.22 / 1e12)
    assert math.isnan(two.mfu)  # no peak for a CPU
    assert math.isnan(two.tokens_per_s) and math.isnan(two.tokens_per_s_per_gpu)
    assert two.peak_mem_bytes_max == 1250 and two.mem_balance == pytest.approx(1.25)
    assert math.isnan(two.power_w) and math.isnan(two.samples_per_s_per_w)
    assert two.status == "ok" and two.consistent == True  # noqa: E712 (numpy bool)
    assert two.straggler_ranks == "" and two["flags"] == ""


def test_strong_scaling_tokens_mfu_and_power():
    f = 8 * 1e9  # FLOPs per rank-step
    common = dict(scaling="strong", precision="bf16", preset="gpt2-small", device_name=H100)
    one = point(
        "transformer",
        1,
        ranks=[{"ddp": [0.4] * 3, "batch": 16, "global_batch": 16, "flops_per_step": 2 * f}],
        tokens_per_sample=128,
        **common,
    )
    ranks = [
        {
            "ddp": [0.25] * 3,
            "local": [0.2] * 3,
            "comm": [0.1] * 3,
            "compute": [0.1] * 3,
            "global_batch": 16,
            "power_w": p,
            "gpu_util_pct": u,
        }
        for p, u in ((300.0, 90.0), (320.0, 95.0))
    ]
    two = point("transformer", 2, ranks=ranks, tokens_per_sample=128, flops_per_step=f, **common)
    r = row(table(one, two), "transformer", 2)
    assert r.scaling == "strong" and r.efficiency == pytest.approx(0.4 / (2 * 0.25))
    assert r.samples_per_s == pytest.approx(64) and r.tokens_per_s == pytest.approx(64 * 128)
    assert r.tokens_per_s_per_gpu == pytest.approx(32 * 128)
    assert r.mfu == pytest.approx(2 * f / 0.25 / (2 * 989e12))
    assert r.achieved_tflops == pytest.approx(2 * f / 0.25 / 1e12)
    assert r.overlap == pytest.approx(1 - 0.05 / 0.1)
    assert r.power_w == pytest.approx(620) and r.samples_per_s_per_w == pytest.approx(64 / 620)
    assert r.gpu_util_pct == pytest.approx(92.5)


def test_no_world_size_one_is_flagged():
    r = table(RESNET_2).iloc[0]
    assert math.isnan(r.efficiency) and "no world size 1 in this run" in r["flags"]


def test_straggler_and_divergence_flags():
    ranks = [
        {"ddp": [0.2] * 3, "local": [0.1] * 3, "comm": [0.2] * 3, "compute": [c] * 3}
        for c in (0.050, 0.051, 0.070)
    ]
    ranks[2]["checksum_bits"] = "00000000000000ab"
    r = table(RESNET_1, point("resnet50", 3, ranks=ranks)).iloc[1]
    assert r.straggler_ranks == "2" and "straggler rank 2" in r["flags"]
    assert r.consistent == False  # noqa: E712
    assert "parameters differ across ranks" in r["flags"] and "rank 2 vs rank 0" in r["flags"]
    assert len(r["flags"].split(";")) == 2
    # 1.05x the median is within the 1.10 threshold
    ranks[2]["compute"] = [0.0535] * 3
    assert table(point("resnet50", 3, ranks=ranks)).iloc[0].straggler_ranks == ""


def test_oom_point_and_its_baseline():
    oom = point(
        "resnet50",
        1,
        ranks=[{"status": "oom", "oom_ranks": [0], "failed_stage": "probe"}],
        batch=512,
    )
    t = table(oom, RESNET_2)
    one, two = row(t, "resnet50", 1), row(t, "resnet50", 2)
    assert one.status == "oom" and one.batch_per_rank == 512
    assert "out of memory at batch 512 per rank (rank 0 in probe)" in one["flags"]
    assert math.isnan(one.t_ddp_s) and pd.isna(one.consistent)
    assert two.status == "ok" and math.isnan(two.efficiency)
    assert "world size 1 ran out of memory" in two["flags"]


def test_empty_and_collectives_only_samples():
    assert list(summarize(pd.DataFrame()).columns) == TRAINING_COLUMNS
    coll = pd.DataFrame([{"type": "coll", "workload": "collectives", "time_s": 1.0}])
    assert summarize(coll).empty


def test_split_batch():
    assert split_batch(8, "weak", 4, 8, 3) == (32, 8)
    assert split_batch(8, "strong", 4, 8, 3) == (64, 16)
    # 24 over 5 ranks: 5, 5, 5, 5, 4
    assert [split_batch(8, "strong", 5, 3, r)[1] for r in range(5)] == [5, 5, 5, 5, 4]


def test_param_checksum_sees_any_change_and_permutation():
    torch.manual_seed(0)
    a = [torch.randn(3, 4), torch.randn(5)]
    b = [t.clone() for t in a]
    assert param_checksum(a) == param_checksum(b)
    b[1][0] = torch.nextafter(b[1][0], torch.tensor(1e9))  # one ulp
    assert param_checksum(a)[1] != param_checksum(b)[1]
    swapped = [a[0].clone(), a[1].flip(0)]
    assert param_checksum(swapped)[0] == pytest.approx(param_checksum(a)[0])
    assert param_checksum(swapped)[1] != param_checksum(a)[1]


def test_buckets_by_cap_reverse_order_and_cap():
    params = [torch.zeros(100, requires_grad=True) for _ in range(5)]  # 400 bytes each
    sizes = [b.numel() for b in buckets_by_cap(params, cap_bytes=800)]
    assert sizes == [200, 200, 100] and sum(sizes) == 500


def test_is_oom():
    assert is_oom(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert is_oom(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried"))
    assert not is_oom(RuntimeError("shape mismatch"))
    assert not is_oom(ValueError("out of memory"))


def test_power_sampler_means_and_no_nvml():
    readings = iter([{"power_w": 100.0, "util_pct": 50.0}, {"power_w": 200.0, "util_pct": 70.0}])
    with PowerSampler(0, read=lambda i: next(readings, None), period_s=0.01) as s:
        while len(s.readings) < 2:
            time.sleep(0.005)
    assert s.summary() == {"power_w": 150.0, "gpu_util_pct": 60.0, "power_samples": 2}
    with PowerSampler(None) as s:  # CPU rank: nothing to read
        pass
    assert s.summary() == {"power_w": None, "gpu_util_pct": None, "power_samples": 0}


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--scaling", "medium"], "bad value for training.scaling"),
        (["--precision", "fp8"], "'fp8' is not one of auto, fp32, tf32, bf16, fp16"),
        (["--batch", "0"], "bad value for resnet50.batch"),
    ],
)
def test_bad_training_flags_are_one_line_exit_2(args, needle, tmp_path):
    from click.testing import CliRunner

    from scaling.cli import main

    r = CliRunner().invoke(main, ["run", *args, "--out", str(tmp_path / "r")])
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], r.stderr
    assert not (tmp_path / "r").exists()


def test_power_sampler_opens_its_reader_once_for_all_readings():
    # NVML is opened when sampling starts and closed when it ends, never per reading:
    # the sampler runs inside timed steps.
    events = []

    class Reader:
        def __enter__(self):
            events.append("open")
            return self

        def read(self):
            events.append("read")
            return {"power_w": 300.0, "util_pct": 90.0}

        def __exit__(self, *exc):
            events.append("close")

    with PowerSampler("GPU-x", period_s=0.005, open_reader=lambda gpu: Reader()) as s:
        while len(s.readings) < 5:
            time.sleep(0.005)
    assert events[0] == "open" and events[-1] == "close"
    assert events.count("open") == 1 and events.count("close") == 1
    assert events.count("read") >= 5 and s.summary()["power_w"] == 300.0
