"""--repeats on real Ray actors and gloo groups: rounds interleaved across points, in samples."""

import json

import pytest
from click.testing import CliRunner

from scaling.cli import main
from scaling.collector.loaded_run import load_run
from scaling.collector.runsets import compare_sets

pytestmark = pytest.mark.slow

QUICK = """
repeats = 3
[collectives]
min_bytes = "1K"
max_bytes = "2K"
warmup = 1
iters = 2
[training]
warmup = 0
steps = 2
[transformer]
preset = "tiny"
batch = 2
"""


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_rounds_interleave_across_points_and_reach_compare(ray_local, tmp_path):
    cfg = tmp_path / "quick.toml"
    cfg.write_text(QUICK)
    out = tmp_path / "run"
    r = invoke("run", "--gpus", "1,2", "--workloads", "collectives,transformer",
               "--config", cfg, "--repeats", 2, "--out", out)  # fmt: skip
    assert r.exit_code == 0, r.output
    recs = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    timed = [x for x in recs if x["type"] in ("coll", "step")]
    assert {x["round"] for x in timed} == {0, 1}  # the CLI's --repeats 2 beats the file's 3
    for n in (1, 2):
        # in file order: round 0 of every point of this world size, then round 1
        seq = [(x["round"], x.get("op") or x["workload"], x.get("size_bytes"))
               for x in timed if x["world_size"] == n]  # fmt: skip
        rounds = [rnd for rnd, *_ in seq]
        assert rounds == sorted(rounds), n
        points = {(w, s) for _, w, s in seq}
        assert points == {("all_reduce", 1024), ("all_reduce", 2048), ("transformer", None)}
        for rnd in (0, 1):
            assert {(w, s) for q, w, s in seq if q == rnd} == points
    # each round of a collective point holds its own iterations of every rank
    one = [x for x in timed if x.get("op") == "all_reduce" and x["world_size"] == 2]
    assert sorted((x["round"], x["iter"], x["rank"]) for x in one if x["size_bytes"] == 1024) == [
        (rnd, it, rank) for rnd in (0, 1) for it in (0, 1) for rank in (0, 1)
    ]
    run = load_run(out)
    assert set(run.collectives["iters"]) == {4}  # 2 rounds x 2 iterations
    assert (run.training["status"] == "ok").all() and run.training["consistent"].all()
    # the run judged against itself (the collector; the CLI refuses one run on both sides):
    # one run per side cannot decide, nothing regresses
    c = compare_sets([run], [run])
    assert c.regressions == 0 and len(c.points) == 6
    assert set(c.points["verdict"]) == {"undecided"} and (c.points["delta_pct"] == 0).all()
