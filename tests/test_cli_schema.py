"""The CLI is generated from the schema: no default or choice list is written twice.

Every `scaling run` flag is a schema field; its help shows that field's default and choices;
its value reaches the loader under that field's key. The registries are the only lists of
ops and workloads.
"""

import re
from pathlib import Path

import click
import pytest

from scaling.cli.report import runs
from scaling.cli.run import FLAGS, field_for_key, overrides, run
from scaling.config.fields import choices_of, show_default
from scaling.config.fields import field_of as field
from scaling.config.loader import keys, load_config
from scaling.config.schema import RunConfig
from scaling.workloads.catalog import names
from scaling.workloads.collectives import ops

SCALING = Path(__file__).resolve().parent.parent / "scaling"
OWN = {"config_path", "as_json", "judge_dir", "help"}  # options that are not config keys


def options(command: click.Command) -> dict[str, click.Option]:
    return {p.name: p for p in command.params if isinstance(p, click.Option)}


def test_every_run_option_is_a_schema_key():
    settable = keys()
    by_dest = {f.dest: f for f in FLAGS}
    for name, opt in options(run).items():
        if name in OWN:
            continue
        flag = by_dest[name]
        assert set(flag.keys) <= set(settable), flag
        # the CLI types no default: unset options are None and the schema decides
        assert opt.default in (None, ()) or opt.is_flag and opt.default is None, name
    assert {f.dest for f in FLAGS} == set(options(run)) - OWN


@pytest.mark.parametrize("flag", FLAGS, ids=lambda f: f.decls[0])
def test_help_shows_the_schema_default_and_choices(flag):
    opt = options(run)[flag.dest]
    cls, name = field_for_key(flag.keys[0])
    f = field(cls, name)
    shown = re.search(r"\[default: (.*)\]$", opt.help)
    if flag.kind == "switch":
        on, off = flag.decls[0].split("/")
        assert shown.group(1) == (on if f.default else off).removeprefix("--")
    elif flag.kind == "flag" or show_default(f) is None:
        assert shown is None, opt.help
    else:
        assert shown.group(1) == show_default(f), opt.help
    for choice in choices_of(f) or ():
        assert choice in opt.help


def test_every_validate_option_is_a_schema_key():
    from scaling.cli.validate import FLAGS as VALIDATE_FLAGS
    from scaling.cli.validate import validate

    settable, opts = keys(), options(validate)
    assert {f.dest for f in VALIDATE_FLAGS} == set(opts) - OWN
    for flag in VALIDATE_FLAGS:
        assert set(flag.keys) <= set(settable), flag
        opt = opts[flag.dest]
        assert opt.default in (None, ()), flag
        f = field(*field_for_key(flag.keys[0]))
        shown = re.search(r"\[default: (.*)\]$", opt.help)
        assert (shown.group(1) if shown else None) == show_default(f), opt.help
        for choice in choices_of(f) or ():
            assert choice in opt.help


def test_choices_come_from_the_registries():
    assert choices_of(field(RunConfig, "workloads")) == names()
    cfg = load_config()
    assert choices_of(field(type(cfg.collectives), "ops")) == ops.names()
    for op in ops.names():
        assert op in options(run)["collectives__ops"].help


def test_flags_reach_their_keys():
    values = {f.dest: None for f in FLAGS} | {"collectives__ops": "all_gather", "cluster__env": ()}
    got = overrides(values)
    assert got["collectives.ops"] == "all_gather" and got["cluster.env"] is None
    batch = next(f for f in FLAGS if f.decls == ("--batch",))
    assert set(batch.keys) == {"resnet50.batch", "transformer.batch"}  # every section with one
    cfg = load_config(overrides=overrides({**values, "resnet50__batch": "3"}))
    assert cfg.resnet50.batch == 3 and cfg.transformer.batch == 3


def test_runs_dir_default_is_the_schemas():
    opt = options(runs)["runs_dir"]
    assert opt.default is None and opt.help.endswith(f"[default: {RunConfig().runs_dir}]")


def test_no_hand_typed_defaults_or_op_lists():
    """`[default: ...]` is written by one function; op names live in their records."""
    for path in SCALING.rglob("*.py"):
        text = path.read_text()
        if path.name != "fields.py":
            assert "[default:" not in text, path
        if path.name != "ops.py":
            assert not re.search(r'"all_gather",\s*"reduce_scatter"', text), path
