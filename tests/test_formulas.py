import pytest

from scaling.collector.formulas import (
    algbw_gbps,
    busbw_factor,
    busbw_gbps,
    comm_overhead,
    mfu,
    strong_efficiency,
    weak_efficiency,
)


@pytest.mark.parametrize(
    "op,n,factor",
    [
        ("all_reduce", 2, 1.0),
        ("all_reduce", 8, 1.75),
        ("all_gather", 8, 0.875),
        ("reduce_scatter", 4, 0.75),
        ("all_to_all", 4, 0.75),
        ("broadcast", 8, 1.0),
        ("sendrecv", 2, 1.0),
    ],
)
def test_busbw_factor_matches_nccl_tests(op, n, factor):
    assert busbw_factor(op, n) == pytest.approx(factor)


def test_busbw_is_not_applicable_at_one_rank():
    for op in ("all_reduce", "all_gather", "broadcast"):
        assert busbw_factor(op, 1) is None
        assert busbw_gbps(op, 1, 1e9, 1.0) is None


def test_bandwidth_units_are_1e9_bytes():
    # nccl-tests: 1 GB moved in 1 s is 1 GB/s algbw; all_reduce at 8 ranks -> 1.75 busbw.
    assert algbw_gbps(1e9, 1.0) == pytest.approx(1.0)
    assert busbw_gbps("all_reduce", 8, 64 << 20, 0.01) == pytest.approx(
        (64 << 20) / 0.01 / 1e9 * 1.75
    )


def test_efficiency():
    # 8 GPUs doing 7.92x one GPU (H100 ResNet-50 anchor) -> 99% weak-scaling efficiency.
    assert weak_efficiency(20728.0, 8, 2616.0) == pytest.approx(20728 / (8 * 2616))
    assert strong_efficiency(8.0, 4, 2.5) == pytest.approx(0.8)


def test_comm_overhead():
    r = comm_overhead(t_ddp=0.12, t_local=0.10, t_comm=0.05)
    assert r["exposed_comm"] == pytest.approx(0.02)
    assert r["comm_fraction"] == pytest.approx(0.02 / 0.12)
    assert r["overlap"] == pytest.approx(0.6)
    assert comm_overhead(0.12, 0.10, None)["overlap"] is None


def test_mfu():
    assert mfu(989e12 * 0.5, 1.0, 989e12) == pytest.approx(0.5)
    assert mfu(1e12, 1.0, None) is None
