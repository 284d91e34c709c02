from pathlib import Path

import pytest

from scaling.config import ConfigError, RunConfig, load_config
from scaling.config.loader import parsers
from scaling.config.schema import ClusterConfig
from scaling.workloads.collectives import CollectivesConfig
from scaling.workloads.resnet50 import ResNet50WorkloadConfig
from scaling.workloads.training import TrainingConfig
from scaling.workloads.transformer import TransformerWorkloadConfig

PARSERS = parsers()

CONFIGS = sorted((Path(__file__).parent.parent / "configs").glob("*.toml"))


def test_there_are_configs():
    names = {p.name for p in CONFIGS}
    assert {"quick.toml", "standard.toml"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_config_file_loads(path):
    cfg = load_config(path)
    assert isinstance(cfg, RunConfig)
    assert cfg.gpus and all(n >= 1 for n in cfg.gpus)


def test_defaults():
    cfg = load_config()
    assert cfg.gpus == [1, 2]
    assert cfg.collectives.ops == ["all_reduce"]
    assert cfg.collectives.min_bytes == 1024 and cfg.collectives.max_bytes == 64 << 20
    assert cfg.cluster.device == "auto" and cfg.cluster.placement == "pack"
    assert cfg.workloads == ["collectives", "resnet50", "transformer"]
    assert cfg.training.scaling == "weak" and cfg.training.precision == "auto"
    assert cfg.training.broadcast_buffers is False
    assert cfg.resnet50.preset == "auto" and cfg.transformer.preset == "auto"


@pytest.mark.parametrize(
    "overrides,needle",
    [
        ({"training.scaling": "medium"}, "'medium' is not one of weak, strong"),
        ({"training.precision": "fp8"}, "'fp8' is not one of"),
        ({"resnet50.batch": "0"}, "expected a positive integer"),
        ({"transformer.preset": "gpt5"}, "'gpt5' is not one of"),
        ({"training.bucket_cap_mb": "-1"}, "expected a positive number"),
    ],
)
def test_bad_training_values(overrides, needle):
    with pytest.raises(ConfigError, match=needle):
        load_config(overrides=overrides)


def test_precedence_cli_over_file_over_defaults(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('gpus = [1, 4]\n[collectives]\niters = 7\nmax_bytes = "2M"\n')
    cfg = load_config(f, {"collectives.iters": "3", "collectives.warmup": None})
    assert cfg.collectives.iters == 3  # CLI beats file
    assert cfg.collectives.max_bytes == 2 << 20  # file beats default
    assert cfg.gpus == [1, 4]
    assert cfg.collectives.warmup == 5  # untouched default (None = flag not given)


@pytest.mark.parametrize(
    "text,needle",
    [
        ("gpus = [1, 2\n", "malformed TOML"),
        ("bogus = 1\n", "unknown config key 'bogus'"),
        ("[collectives]\nopz = ['all_reduce']\n", "unknown config key 'collectives.opz'"),
        ("[collectives]\nops = ['all_reduce', 'allreduce']\n", "unknown 'allreduce'"),
        ('[collectives]\nmin_bytes = "4M"\nmax_bytes = "1M"\n', "min_bytes"),
        ("gpus = [0]\n", "world size must be >= 1"),
        ("[cluster]\ndevice = 'tpu'\n", "'tpu' is not one of"),
        ("[collectives]\ncheck = 'yes'\n", "expected true or false"),
    ],
)
def test_bad_files_name_the_problem(tmp_path, text, needle):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(f)
    assert needle in str(e.value)
    assert "\n" not in str(e.value).strip()


def test_missing_file():
    with pytest.raises(ConfigError, match="config file not found"):
        load_config("/nonexistent/x.toml")


def test_every_schema_field_is_settable_and_documented():
    import ast
    import inspect

    for section, cls in (
        ("", RunConfig),
        ("cluster.", ClusterConfig),
        ("collectives.", CollectivesConfig),
        ("training.", TrainingConfig),
        ("resnet50.", ResNet50WorkloadConfig),
        ("transformer.", TransformerWorkloadConfig),
    ):
        tree = ast.parse(inspect.getsource(inspect.getmodule(cls)))
        node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls.__name__)
        body = node.body
        for i, stmt in enumerate(body):
            if isinstance(stmt, ast.AnnAssign):
                name = stmt.target.id
                if name in ("cluster", "sections"):
                    continue
                assert f"{section}{name}" in PARSERS, f"{section}{name} has no parser"
                nxt = body[i + 1] if i + 1 < len(body) else None
                assert isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant), (
                    f"{name} lacks a docstring"
                )


def test_unknown_workload_is_a_config_error_before_anything_starts(tmp_path):
    f = tmp_path / "w.toml"
    f.write_text('workloads = ["collectives", "bert"]\n')
    with pytest.raises(ConfigError, match="unknown 'bert'"):
        load_config(f)


def test_config_workload_names_are_the_sweeps():
    from scaling.config.fields import choices_of, field_of
    from scaling.workloads.catalog import names

    assert set(choices_of(field_of(RunConfig, "workloads"))) == set(names())
