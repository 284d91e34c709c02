"""The strategy registry (scaling/strategies.py) is the one list of parallel strategies: the
run config, `scaling tune`'s space, the memory model and the step bench all read it."""

from __future__ import annotations

import pytest

from scaling.collector.tune import memory
from scaling.collector.tune.space import SpaceContext, base_candidate, enumerate_space
from scaling.config import ConfigError, load_config
from scaling.config.tune import TuneConfig
from scaling.registry import UnknownName
from scaling.strategies import SINGLE, STRATEGIES, Strategy
from scaling.workloads.catalog import resolve

# A strategy of one's own, rank-side the same DDP class: enough for the driver's lists.
ZERO1 = Strategy("zero1", "scaling.workloads.training.strategy:DDPStrategy", ("bucket_cap_mb",))


def test_the_built_in_strategies_are_ddp_then_fsdp2():
    assert STRATEGIES.names() == ("ddp", "fsdp2")
    assert memory.STRATEGIES == (SINGLE, "ddp", "fsdp2")
    assert TuneConfig().strategies == ["ddp", "fsdp2"]


def test_a_registered_strategy_is_a_choice_of_training_and_tune():
    overrides = {"training.strategy": "zero1", "tune.strategies": ["ddp", "zero1"]}
    with pytest.raises(ConfigError, match="'zero1' is not one of ddp, fsdp2"):
        load_config(overrides={"training.strategy": "zero1"})
    with STRATEGIES.added(ZERO1):
        cfg = load_config(overrides=overrides)
        assert TuneConfig().strategies == ["ddp", "fsdp2", "zero1"]
    assert cfg.training.strategy == "zero1" and cfg.tune.strategies == ["ddp", "zero1"]
    with pytest.raises(ConfigError, match=r"unknown 'zero1' \(choose from ddp, fsdp2\)"):
        load_config(overrides={"tune.strategies": ["zero1"]})


def test_tune_searches_each_strategy_over_the_options_its_record_names():
    cfg = TuneConfig(
        dimensions=["strategy", "bucket_cap_mb", "reshard_after_forward"],
        strategies=["fsdp2", "zero1"],
        bucket_cap_mb=[5.0, 25.0],
        reshard_after_forward=[True, False],
    )
    ctx = SpaceContext("cpu", 2, base_candidate(8, "fp32", 2), None)
    with STRATEGIES.added(ZERO1):
        ids = sorted(c.id for c in enumerate_space(cfg, ctx).candidates)
    # zero1 varies bucket_cap_mb only (its id shows none: Candidate.id labels ddp's and
    # fsdp2's options), fsdp2 reshard_after_forward only: 1 + 2 candidates.
    assert ids == ["b8-fp32-fsdp2-keep", "b8-fp32-fsdp2-rs", "b8-fp32-zero1"]


def test_every_strategy_s_rank_class_answers_to_its_name():
    from scaling.workloads.training.strategy import make

    for record in STRATEGIES.values():
        assert resolve(record.rank).name == record.name
    with pytest.raises(UnknownName, match=r"unknown strategy 'zero3' \(known: ddp, fsdp2\)"):
        make({"strategy": "zero3"}, "cpu", 2, "fp32")


def test_fsdp2_precision_options_come_from_the_registry():
    import dataclasses

    from scaling.collector.tune.space import sharding_of
    from scaling.strategies import FSDP2_PARAM_DTYPES, FSDP2_REDUCE_DEFAULT, FSDP2_REDUCE_DTYPES
    from scaling.workloads.training import TrainingConfig, fsdp2

    reduce_choices = tuple(FSDP2_REDUCE_DTYPES)
    training = {f.name: f for f in dataclasses.fields(TrainingConfig)}["fsdp_reduce_dtype"]
    assert training.metadata["choices"] == reduce_choices and training.default == "float32"
    assert TuneConfig().fsdp_reduce_dtype == [FSDP2_REDUCE_DEFAULT]
    with pytest.raises(ConfigError, match="fsdp_reduce_dtype"):
        load_config(overrides={"training.fsdp_reduce_dtype": "float16"})
    # the rank's torch dtypes and the memory model's names are the same records
    assert [str(d) for d in fsdp2.REDUCE_DTYPES.values()] == [f"torch.{d}" for d in reduce_choices]
    assert set(fsdp2.PARAM_DTYPES) == set(FSDP2_PARAM_DTYPES)
    for precision in ("fp32", "bf16", "fp16"):
        for reduce, short in FSDP2_REDUCE_DTYPES.items():
            cand = dataclasses.replace(base_candidate(8, precision, 2), strategy="fsdp2",
                                       fsdp_reduce_dtype=reduce, reshard_after_forward=True)  # fmt: skip
            s = sharding_of(cand, 2)
            assert s.reduce_dtype == short
            assert s.param_dtype == (precision if precision in FSDP2_PARAM_DTYPES else None)
