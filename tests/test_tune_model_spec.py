"""Tune's memory facts live on the workload's model spec (training.Model.memory): the shape
counted there is the model `setup` builds, and a training workload registered with one spec
is tunable with no other file touched."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from click.testing import CliRunner

from scaling.cli import main
from scaling.config.loader import load_config
from scaling.tune.model import model_facts
from scaling.workloads import catalog, training
from scaling.workloads.catalog import WORKLOADS
from scaling.workloads.training import training_workloads
from scaling.workloads.training.optimizer import OptimizerSpec
from scaling.workloads.training.shapes import ModelShape

TUNABLE = [w.name for w in WORKLOADS.values() if getattr(w.model, "memory", None)]
OPTIMIZER_CLASSES = {"sgd": torch.optim.SGD, "adamw": torch.optim.AdamW}


def test_the_built_in_training_workloads_are_tunable():
    assert set(TUNABLE) == {"resnet50", "transformer"} == set(training_workloads())


@pytest.mark.parametrize("name", TUNABLE)
def test_the_spec_counts_the_model_and_optimizer_setup_builds(name):
    wl = catalog.get(name)
    setup = catalog.resolve(wl.model.setup)
    built = setup(preset="tiny", spec={}, batch=2, global_batch=2, device="cpu", seed=0)
    shape, opt = wl.model.memory(wl.section(), "tiny", "cpu")
    assert shape.params == sum(p.numel() for p in built.model.parameters())
    assert shape.largest == max(p.numel() for p in built.model.parameters())
    optimizer = built.make_optimizer(built.model.parameters())
    assert isinstance(optimizer, OPTIMIZER_CLASSES[opt.name])
    assert opt.impl == "for-loop"  # torch's CPU default: neither foreach nor fused asked for
    assert not optimizer.defaults.get("foreach") and not optimizer.defaults.get("fused")


def test_model_facts_read_the_spec_and_the_config():
    cfg = load_config(overrides={"tune.workload": "transformer", "transformer.seq_len": 64})
    facts = model_facts(cfg, "transformer", "cuda")
    assert facts.preset == "gpt2-medium"  # auto on cuda
    assert facts.optimizer == OptimizerSpec("adamw", impl="fused")
    # gpt2-medium at 64 tokens: 24 blocks of 12 d^2 + 13 d, embeddings of 50257 + 64 positions
    d = 1024
    assert facts.shape.params == 24 * (12 * d * d + 13 * d) + (50257 + 64) * d + 2 * d


# A toy training workload: one registration, its memory facts on its model spec.
def _toy_memory(section, preset: str, device: str):
    return ModelShape("toy", units=(1000,) * 4, root=10, autocast=4000, largest=1000), (
        OptimizerSpec("sgd", impl="fused")
    )


@dataclasses.dataclass
class ToyTrainConfig:
    """A toy model."""

    preset: str = "small"
    batch: int | None = None


TOY = training.workload(
    "toytrain",
    ToyTrainConfig,
    {"small": {"batch": 4}},
    training.Model(setup="no.such.module:setup", memory=_toy_memory),
)


def test_a_registered_training_workload_is_tunable_from_its_spec_alone():
    with WORKLOADS.added(TOY):
        assert "toytrain" in training_workloads()
        cfg = load_config(overrides={"tune.workload": "toytrain"})
        facts = model_facts(cfg, "toytrain", "cpu")
        assert (facts.preset, facts.batch, facts.shape.params) == ("small", 4, 4010)
        assert facts.optimizer.name == "sgd"
    assert "toytrain" not in training_workloads()


def test_a_training_workload_without_memory_facts_is_refused_before_ray(tmp_path):
    import ray

    bare = dataclasses.replace(TOY, name="baretrain", model=training.Model(setup="x:setup"))
    was = ray.is_initialized()
    with WORKLOADS.added(bare):
        r = CliRunner().invoke(
            main, ["tune", "--workload", "baretrain", "--out", str(tmp_path / "t")]
        )
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "'baretrain' is not one of resnet50, transformer" in lines[0]
    assert ray.is_initialized() == was
