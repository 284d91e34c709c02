"""The SCALING_FAULTS test hook, validate's kinds: what it accepts, whom it hits, and that its
faults are real (a slowed region really lasts longer, a corrupted result differs bit for bit).
One variable carries `scaling run`'s `slow:` items too (tests/test_rounds.py): each reader
skips the other's."""

from __future__ import annotations

import time

import pytest
import torch

from scaling.workloads import faults
from scaling.workloads.faults import Fault, planted, planted_faults

WHO = {"rank": 2, "node": "gpu-07", "hostname": "gpu-07", "node_index": 3}


def test_one_variable_two_readers_each_skipping_the_others_items():
    text = "slow_compute:rank=2:factor=3;corrupt_matmul:rank=1, slow_comm:node=gpu-07:factor=4;slow:all_reduce@2=1.25"
    assert planted_faults(text) == [
        Fault("slow_compute", rank=2, factor=3.0),
        Fault("corrupt_matmul", rank=1),
        Fault("slow_comm", node="gpu-07", factor=4.0),
    ]
    assert faults.parse(text) == [("all_reduce", 2, 1.25)]  # scaling run's reader
    assert faults.slowdown({"op": "all_reduce", "world_size": 2}, text) == 1.25
    faults.check(text)
    assert planted_faults("") == [] and planted_faults(None) == []


@pytest.mark.parametrize(
    "text,needle",
    [
        ("melt_gpu:rank=1", "unknown fault 'melt_gpu'"),
        ("slow_compute:rank=1", "needs factor=F with F >= 1"),
        ("slow_compute:rank=1:factor=0.5", "needs factor=F with F >= 1"),
        ("slow_comm:node=a:factor=inf", "needs factor=F with F >= 1"),
        ("corrupt_matmul", "needs one selector"),
        ("corrupt_matmul:rank=1:node=a", "needs one selector"),
        ("corrupt_matmul:rank=x", "is not a rank number"),
        ("corrupt_matmul:rank=1:factor=2", "takes no factor"),
        ("slow_comm:where=1:factor=2", "cannot read 'where=1'"),
    ],
)
def test_a_malformed_item_is_named(text, needle):
    with pytest.raises(ValueError, match=needle):
        faults.check(text)


def test_selectors_match_rank_or_node_by_name_hostname_or_index():
    spec = {"who": WHO}
    assert planted(spec, "slow_compute:rank=2:factor=3").compute_factor == 3.0
    assert planted(spec, "slow_compute:rank=1:factor=3").compute_factor == 1.0
    for node in ("gpu-07", "3"):
        assert planted(spec, f"slow_comm:node={node}:factor=4").comm_factor == 4.0
    assert planted(spec, "slow_comm:node=2:factor=4").comm_factor == 1.0
    both = planted(
        spec, "corrupt_matmul:node=gpu-07;slow_comm:rank=2:factor=2;slow_comm:rank=2:factor=3"
    )
    assert both.corrupt and both.comm_factor == 6.0 and both.compute_factor == 1.0
    assert planted(spec, "") == faults.Planted()


def test_a_slowed_region_really_takes_factor_times_as_long():
    slow = faults.Planted(compute_factor=3.0)
    start = time.perf_counter()
    while time.perf_counter() - start < 0.05:
        pass
    slow.stretch_compute(start, lambda: None)
    took = time.perf_counter() - start
    assert took >= 3.0 * 0.05 * 0.95, took


def test_slow_comm_waits_before_the_next_transfer():
    start = time.perf_counter()
    faults.Planted(comm_factor=4.0).before_comm(0.02)
    assert time.perf_counter() - start >= 0.06 * 0.95
    start = time.perf_counter()
    faults.Planted(comm_factor=4.0).before_comm(None)  # nothing measured yet: no wait
    assert time.perf_counter() - start < 0.02


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_a_corrupted_result_differs_in_one_bit(dtype):
    result = torch.randn(8, 8).to(dtype)
    bad = faults.Planted(corrupt=True).corrupt_result(result)
    ints = torch.int16 if dtype == torch.bfloat16 else torch.int32
    diff = (bad.view(ints) ^ result.view(ints)).view(-1)
    assert int((diff != 0).sum()) == 1 and int(diff[0]) == 1
    assert faults.Planted().corrupt_result(result) is result
