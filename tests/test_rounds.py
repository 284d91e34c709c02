"""Rounds in the samples: round medians per point, and the tables with several rounds."""

import pandas as pd
import pytest

from scaling import round_order
from scaling.collector import collectives, training
from scaling.collector.rounds import as_lists, collective_rounds, training_rounds
from scaling.workloads import faults

POINT = dict(type="coll", workload="collectives", group="world", op="all_reduce", nodes=1,
             world_size=2, size_bytes=1_000_000, count=250_000, dtype="float32",
             timing="blocking")  # fmt: skip
# 2 ranks, 4 iterations; the slowest rank per iteration: 2, 4, 1, 3 ms (median 2.5 ms).
TIMES = {0: (1e-3, 2e-3), 1: (4e-3, 3e-3), 2: (1e-3, 1e-3), 3: (3e-3, 2e-3)}


def coll_records(scale=1.0, **extra):
    return [dict(POINT, iter=it, rank=r, time_s=t * scale, **extra)
            for it, ts in TIMES.items() for r, t in enumerate(ts)]  # fmt: skip


def test_interleave_is_round_after_round():
    order = list(round_order.interleave(["a", "b", "c"], 2))
    assert order == [(0, "a"), (0, "b"), (0, "c"), (1, "a"), (1, "b"), (1, "c")]
    assert round_order.tag([{"x": 1}], 3) == [{"x": 1, "round": 3}]


def test_round_figures_of_the_slowest_rank():
    samples = pd.DataFrame(coll_records(round=0) + coll_records(2.0, round=1))
    r = collective_rounds(samples, q=0.5)  # slowest per iteration 2, 4, 1, 3 ms: median 2.5
    assert list(r["time_s"]) == pytest.approx([2.5e-3, 5e-3])
    lists = as_lists(r, ["op", "world_size"])
    assert lists.iloc[0]["rounds"] == pytest.approx([2.5e-3, 5e-3])
    # the default figure is the 25th percentile: 1.75 ms (numpy's linear interpolation)
    assert list(collective_rounds(samples)["time_s"]) == pytest.approx([1.75e-3, 3.5e-3])
    # the summary's percentiles run over every iteration of every round
    row = collectives.summarize(samples).iloc[0]
    assert row.iters == 8 and row.time_p50_us == pytest.approx(3500)


def test_samples_without_round_are_one_round():
    r = collective_rounds(pd.DataFrame(coll_records()), q=0.5)
    assert list(r["round"]) == [0] and r["time_s"].iloc[0] == pytest.approx(2.5e-3)


def step_records(rnd, ddp_ms, checksum="aa"):
    key = dict(workload="transformer", preset="tiny", world_size=2, nodes=1, scaling="weak",
               precision="fp32", round=rnd)  # fmt: skip
    steps = [dict(key, type="step", phase="ddp", step=s, rank=r, time_s=(ddp_ms + r) * 1e-3)
             for s in range(3) for r in range(2)]  # fmt: skip
    points = [dict(key, type="train_point", rank=r, batch=8, global_batch=16, status="ok",
                   flops_per_step=1e9, peak_mem_bytes=100 + rnd, power_w=None,
                   checksum_bits=checksum if r == 0 else "aa")
              for r in range(2)]  # fmt: skip
    return steps + points


def test_training_rounds_and_one_row_per_point():
    samples = pd.DataFrame(step_records(0, 10) + step_records(1, 20))
    r = training_rounds(samples)
    assert list(r["time_s"]) == pytest.approx([11e-3, 21e-3])  # slowest rank: rank 1 (+1 ms)
    assert list(training_rounds(samples, q=0.5)["time_s"]) == pytest.approx([11e-3, 21e-3])
    t = training.summarize(samples).iloc[0]
    # facts of a rank are per point, not summed over rounds
    assert t.flops_per_step == pytest.approx(2e9) and t.peak_mem_bytes_max == 101
    assert t["consistent"] == True  # noqa: E712
    assert t.step_time_p50_s == pytest.approx(16e-3)  # over the 6 steps of both rounds


def test_parameters_that_differ_in_one_round_are_flagged():
    samples = pd.DataFrame(step_records(0, 10) + step_records(1, 10, checksum="bb"))
    t = training.summarize(samples).iloc[0]
    assert t["consistent"] == False  # noqa: E712
    assert "parameters differ across ranks" in t["flags"]


def test_planted_slowdown_matches_its_class():
    coll = {"op": "all_reduce", "world_size": 2}
    assert faults.slowdown(coll, "slow:all_reduce@2=1.25") == 1.25
    assert faults.slowdown(coll, "slow:all_reduce@4=1.25") == 1.0
    assert faults.slowdown(coll, "slow:collectives=1.1") == 1.1
    train = {"workload": "transformer", "world_size": 1}
    assert faults.slowdown(train, "slow:transformer=1.1,slow:all_reduce=2") == 1.1
    assert faults.slowdown(train, "") == 1.0
    with pytest.raises(ValueError, match="SCALING_FAULTS: cannot read 'slow:x=0.5'"):
        faults.slowdown(train, "slow:x=0.5")


def test_stretched_timer_really_takes_longer():
    import time

    from scaling.workloads.timing import CpuTimer

    timer = faults._Stretched(CpuTimer(), 1.5)
    timer.start()
    t_a = time.perf_counter()
    sum(range(100_000))
    t_b = time.perf_counter()
    # by construction: the timed region lasts at least 1.5 x the work inside it
    assert timer.stop() >= 1.5 * (t_b - t_a)
    assert faults.stretch(CpuTimer(), {"op": "all_reduce", "world_size": 2}).__class__ is CpuTimer


def test_repeats_config_key_and_flag(tmp_path):
    from click.testing import CliRunner

    from scaling.cli import main
    from scaling.config import ConfigError, load_config

    assert load_config().repeats == 3
    f = tmp_path / "c.toml"
    f.write_text("repeats = 4\n")
    assert load_config(f).repeats == 4
    assert load_config(f, {"repeats": "5"}).repeats == 5  # CLI beats file
    f.write_text("repeats = 0\n")
    with pytest.raises(ConfigError, match="bad value for repeats.*positive integer"):
        load_config(f)
    r = CliRunner().invoke(main, ["run", "--repeats", "0", "--out", str(tmp_path / "r")])
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()
