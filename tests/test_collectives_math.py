"""Pure parts of the collectives workload: sizes, shapes and the exact-check patterns."""

import pytest
import torch

from scaling.workloads.collectives import message_sizes, point_shape
from scaling.workloads.collectives.bench import Buffers, count_wrong, pattern, pattern_sum


def test_message_sizes_like_nccl_tests():
    assert message_sizes(1024, 8192, 2) == [1024, 2048, 4096, 8192]
    assert message_sizes(1024, 1024, 2) == [1024]
    assert message_sizes(1024, 5000, 4) == [1024, 4096]


def test_point_shape_rounds_chunked_ops_to_rank_multiples():
    s = point_shape("all_gather", 1000, "float32", 3)
    assert s["count"] % 3 == 0 and s["size_bytes"] == s["count"] * 4 <= 1000
    assert point_shape("all_reduce", 1000, "float32", 3)["count"] == 250
    assert point_shape("all_reduce", 1024, "bfloat16", 2)["count"] == 512
    # never zero elements: one per rank at minimum
    assert point_shape("all_to_all", 4, "float32", 8)["count"] == 8


@pytest.mark.parametrize("n", [1, 2, 3, 7, 8, 15, 64])
def test_pattern_sum_closed_form_equals_brute_force(n):
    brute = sum(pattern(r, 5, 100, torch.int64, "cpu") for r in range(n))
    assert torch.equal(pattern_sum(n, 5, 100, torch.int64, "cpu"), brute)


def test_pattern_is_rank_dependent_small_integers():
    a, b = pattern(0, 0, 50, torch.float32, "cpu"), pattern(1, 0, 50, torch.float32, "cpu")
    assert not torch.equal(a, b)
    assert a.min() >= 1 and a.max() <= 7


def test_count_wrong_counts_each_differing_element():
    exp = pattern(0, 0, 10, torch.float32, "cpu")
    got = exp.clone()
    assert count_wrong(got, exp) == 0
    got[3] += 1
    got[7] = float("nan")
    assert count_wrong(got, exp) == 2


def test_exactness_limits():
    # bf16 holds integers exactly only up to 256: an all_reduce of 1..7 over 64 ranks could reach 448.
    assert Buffers("all_reduce", 8, torch.bfloat16, "cpu", 0, 36).exact()
    assert not Buffers("all_reduce", 8, torch.bfloat16, "cpu", 0, 64).exact()
    assert Buffers("all_gather", 64, torch.bfloat16, "cpu", 0, 64).exact()


@pytest.mark.parametrize(
    "rank,start,length", [(0, 0, 1), (1, 5, 100), (6, 13, 7), (9, 1 << 20, 30), (2, 3, 0)]
)
def test_pattern_tiles_the_definition_exactly(rank, start, length):
    # Element i holds (i + 3 rank) mod 7 + 1, built without an int64 index tensor.
    i = torch.arange(start, start + length, dtype=torch.int64)
    want = ((i + 3 * rank) % 7 + 1).to(torch.bfloat16)
    got = pattern(rank, start, length, torch.bfloat16, "cpu")
    assert got.dtype == torch.bfloat16 and torch.equal(got, want)
