"""Communicator start-up recorded by the real CLI on real gloo groups:
per world size in samples.jsonl and startup.csv, in the report, and in compare."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from click.testing import CliRunner
from rich.console import Console

from scaling.cli import main
from scaling.cli.compare_output import print_comparison
from scaling.collector.loaded_run import load_run
from scaling.collector.runsets import compare_sets

pytestmark = pytest.mark.slow
PHASES = ["rendezvous_s", "init_s", "first_collective_s", "setup_s"]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_run_records_start_up_per_world_size_and_compare_shows_it(ray_local, tmp_path):
    out = tmp_path / "run"
    r = invoke("run", "--gpus", "1,2", "--workloads", "collectives", "--ops", "all_reduce",
               "-b", "1K", "-e", "4K", "-w", "1", "-n", "2", "--repeats", "1",
               "--device", "cpu", "--out", out)  # fmt: skip
    assert r.exit_code == 0, r.output
    recs = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    per_rank = [x for x in recs if x["type"] == "startup"]
    assert sorted((x["world_size"], x["rank"]) for x in per_rank) == [(1, 0), (2, 0), (2, 1)]
    table = pd.read_csv(out / "startup.csv")
    assert table["world_size"].tolist() == [1, 2] and set(table["group"]) == {"world"}
    assert table["ranks"].tolist() == [1, 2] and set(table["backend"]) == {"gloo"}
    for phase in PHASES:
        assert (table[phase] > 0).all(), phase
    two = [x for x in per_rank if x["world_size"] == 2]
    # The group's figure is its slowest rank's; the driver's wall time holds the ranks' phases.
    assert table.loc[1, "init_s"] == max(x["init_s"] for x in two)
    assert (table["setup_s"] >= table["init_s"] + table["first_collective_s"]).all()
    report = (out / "report.md").read_text()
    assert "## Communicator start-up" in report and "init_process_group ms" in report

    # compare's start-up lines, the run against itself (the CLI refuses one run on both sides)
    text = io.StringIO()
    run = load_run(out)
    print_comparison(compare_sets([run], [run]), Console(file=text, width=200))
    lines = [x for x in text.getvalue().splitlines() if x.strip().startswith("world size")]
    assert "communicator start-up" in text.getvalue() and len(lines) == 2, text.getvalue()
    assert "(x1.00)" in lines[1] and lines[1].strip().startswith("world size 2: init")

    r = invoke("predict", out, "--gpus", "1024", "--bootstrap", "0")
    assert r.exit_code == 0, r.output
    # Two world sizes: no law over n (the collectives' rule), said in one line, no figure.
    assert "communicator start-up: n/a (start-up measured at 2 world size(s)" in r.output
    doc = json.loads((out / "predict.json").read_text())["startup"]
    assert doc["phases"] == {} and [m["world_size"] for m in doc["measured"]] == [1, 2]
    assert "communicator start-up: n/a" in (out / "report.md").read_text()
