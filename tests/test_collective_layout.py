"""A collective's buffer layout lives on its record: the rank's buffers and the memory check
before a sweep both read it, so a new op with its own layout needs no second place."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from scaling.cluster import memory_fit
from scaling.workloads.collectives import ops, point_shape
from scaling.workloads.collectives.bench import Buffers


def allocated_bytes(op, count: int, dtype: str, n: int, rank: int = 0) -> int:
    """What a rank's Buffers really holds (one buffer when the output is the input)."""
    b = Buffers(op, count, getattr(torch, dtype), "cpu", rank, n)
    tensors = {id(t): t for t in (b.send, b.recv)}.values()
    return sum(t.numel() * t.element_size() for t in tensors)


@pytest.mark.parametrize("op", ops.names())
@pytest.mark.parametrize("n", [1, 3, 4])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_the_memory_check_counts_what_the_rank_allocates(op, n, dtype):
    size = 4096 + 12  # not a multiple of the chunks: the plan rounds it down
    count = point_shape(op, size, dtype, n)["count"]
    assert memory_fit.buffer_bytes(op, size, n, dtype) == allocated_bytes(op, count, dtype, n)


def test_in_place_ops_hold_one_buffer_and_the_others_two():
    count, n = 1024, 4
    assert ops.get("all_reduce").buffer_counts(count, n) == (count, 0)
    assert ops.get("all_gather").buffer_counts(count, n) == (count // n, count)
    assert ops.get("reduce_scatter").buffer_counts(count, n) == (count, count // n)
    assert ops.get("sendrecv").buffer_counts(count, n) == (count, count)


def test_a_registered_op_with_its_own_layout_is_sized_from_its_record():
    # A toy "gather to a chunk" op: its input a chunk, its output a chunk too; nothing but the
    # record says so, and the memory check follows it.
    toy = dataclasses.replace(ops.get("all_gather"), name="toy_chunks", send="chunk", recv="chunk")
    with ops.OPS.added(toy):
        count = point_shape("toy_chunks", 4096, "float32", 4)["count"]
        assert ops.get("toy_chunks").buffer_counts(count, 4) == (count // 4, count // 4)
        expected = allocated_bytes(toy, count, "float32", 4)
        assert memory_fit.buffer_bytes("toy_chunks", 4096, 4) == expected == 2 * 4096 // 4
    assert "toy_chunks" not in ops.OPS
