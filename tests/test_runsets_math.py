"""The pieces of the run-level comparison: Student's t without scipy, and manifest diffs."""

import pytest

from scaling.collector import student
from scaling.collector.stack import differences, fingerprint


@pytest.mark.parametrize(
    ("q", "df", "table"),  # two-sided critical values from any t table
    [(0.975, 1, 12.706), (0.975, 4, 2.776), (0.975, 8, 2.306), (0.995, 30, 2.750),
     (0.9975, 10, 3.581), (0.975, 1000, 1.962)],
)  # fmt: skip
def test_t_quantiles_match_the_tables(q, df, table):
    assert student.quantile(q, df) == pytest.approx(table, abs=5e-4)
    assert student.two_sided_p(table, df) == pytest.approx(2 * (1 - q), rel=2e-3)


def test_t_p_values_are_one_at_zero_and_fall_with_t():
    assert student.two_sided_p(0.0, 5) == pytest.approx(1.0)
    ps = [student.two_sided_p(t, 6) for t in (0.5, 1, 2, 4, 8)]
    assert ps == sorted(ps, reverse=True) and ps[-1] < 1e-3
    with pytest.raises(ValueError):
        student.two_sided_p(1.0, 0)


def manifest(torch="2.5.0", env=None, iters=20, out="runs/a"):
    return {
        "ranks": [{"hostname": "n0", "torch": torch, "cuda": "12.4", "nccl": "2.21.5",
                   "gpu_name": "NVIDIA H100 80GB HBM3", "nccl_env": env or {}}],
        "ray": {"version": "2.40.0"}, "host": {"python": "3.11.7"}, "device": "cuda",
        "backend": "nccl", "config": {"out": out, "collectives": {"iters": iters}},
    }  # fmt: skip


def test_differences_name_the_stack_the_environment_and_the_config():
    assert differences([manifest()], [manifest(out="runs/b")]) == []  # where it was written
    diffs = differences([manifest()], [manifest("2.6.0", {"NCCL_ALGO": "Tree"}, iters=40)])
    lines = [d.line() for d in diffs]
    assert lines == ["torch: 2.5.0 -> 2.6.0", "nccl env: none set -> NCCL_ALGO=Tree",
                     "config collectives.iters: 20 -> 40"]  # fmt: skip
    assert [d.stack for d in diffs] == [True, True, False]
    # a side whose runs disagree lists both values
    mixed = differences([manifest(), manifest("2.6.0")], [manifest()])
    assert mixed[0].line() == "torch: 2.5.0 | 2.6.0 -> 2.5.0"


def test_fingerprint_ignores_where_a_run_was_written_only():
    assert fingerprint(manifest(out="runs/a")) == fingerprint(manifest(out="runs/b"))
    assert fingerprint(manifest()) != fingerprint(manifest(iters=40))
    assert fingerprint(manifest()) != fingerprint(manifest("2.6.0"))
