"""Each workload declares its point keys once (Workload.point_keys); the records, the
collector's tables, the round figures compare judges and the nccl-tests importer all read
that declaration, so a new key is one line in it plus its value in the plan."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from scaling.collector import collectives as coll_table
from scaling.collector import rounds
from scaling.collector import training as train_table
from scaling.collector.loaded_run import load_run
from scaling.collector.points import run_points
from scaling.config.loader import load_config
from scaling.importers.nccl_tests import read_log
from scaling.importers.run_dir import samples as imported_samples
from scaling.workloads import catalog, collectives
from scaling.workloads.catalog import WORKLOADS, PointKey, key_names, record_key
from tests.synthetic_runs import write_run

COLL = key_names(collectives.WORKLOAD.point_keys)
TRAIN = key_names(catalog.get("transformer").point_keys)


class TwoNodes:
    """What records and views ask of a group (cluster/gang.py): 4 ranks on 2 nodes."""

    nodes, span, shape = 2, "inter-node", "4 = 2 nodes × 2"

    def subgroups(self):
        return {"intra": [0, 1], "inter": [0, 2]}


def test_every_reader_has_the_declared_keys_in_the_declared_order():
    assert coll_table.POINT_KEYS == COLL
    assert coll_table.SUMMARY_COLUMNS[: len(COLL)] == COLL
    assert train_table.POINT_KEYS == TRAIN
    assert train_table.TRAINING_COLUMNS[: len(TRAIN)] == TRAIN
    empty = pd.DataFrame()
    assert list(rounds.collective_rounds(empty).columns) == COLL + rounds.ROUND_COLUMNS
    assert list(rounds.training_rounds(empty).columns) == TRAIN + rounds.ROUND_COLUMNS
    # every training workload shares one declaration (one training.csv)
    trainers = [w for w in WORKLOADS.values() if "training" in w.shared]
    assert trainers and all(key_names(w.point_keys) == TRAIN for w in trainers)


def test_every_planned_point_and_view_gives_every_declared_key():
    cfg = load_config(overrides={"collectives.ops": ["all_reduce", "all_gather"]})
    group = TwoNodes()
    points = collectives.plan(cfg, 4)
    points += collectives.views(points, group)
    results = [{"times": [1e-5, 2e-5], "wrong": 0}] * 4
    for p in points:
        for rec in collectives.records(p, group, results):
            assert set(COLL) <= set(rec), sorted(set(COLL) - set(rec))
    recs = collectives.records(points[-1], group, results)
    assert {r["group"] for r in recs} == {"inter"} and recs[0]["nodes"] == 2


def test_records_from_hand_built_points_take_the_declared_defaults():
    point = {"op": "all_reduce", "world_size": 2, "size_bytes": 64, "count": 16,
             "dtype": "float32", "timing": "blocking"}  # fmt: skip
    rec = record_key(collectives.POINT_KEYS, point)
    assert (rec["group"], rec["ranks"], rec["nodes"], rec["span"]) == ("world", 2, 1, "intra-node")
    assert rec["shape"] == "2 = 1 node × 2"


def test_a_declared_key_no_point_gives_fails_at_once_and_a_default_fills_it():
    keys = (*collectives.POINT_KEYS, PointKey("toy_algo"))
    point = collectives.plan(load_config(), 2)[0]
    with pytest.raises(KeyError, match="toy_algo"):
        record_key(keys, point)
    keys = (*collectives.POINT_KEYS, PointKey("toy_algo", default="ring"))
    assert record_key(keys, point)["toy_algo"] == "ring"
    assert record_key(keys, {**point, "toy_algo": "tree"})["toy_algo"] == "tree"


def test_old_sample_files_get_every_declared_default_in_the_summary():
    old = pd.DataFrame(
        [{"type": "coll", "op": "all_reduce", "world_size": 2, "dtype": "float32",
          "size_bytes": 64, "count": 16, "timing": "blocking", "iter": i, "rank": r,
          "time_s": 1e-5 * (1 + i)} for i in range(3) for r in range(2)]
    )  # fmt: skip
    table = coll_table.summarize(old)
    row = table.iloc[0]
    declared = {k.name: k for k in collectives.POINT_KEYS}
    for name in ("group", "nodes", "span"):
        assert row[name] == declared[name].default
    assert (row["ranks"], row["shape"]) == (2, "2 = 1 node × 2")
    assert len(table) == 1 and row["iters"] == 3


def test_compare_has_one_point_per_summary_row(tmp_path):
    run = load_run(write_run(tmp_path / "a", world_sizes=(1, 2), ops=("all_reduce",)))
    coll = run_points(run).query("kind == 'collective'")
    # compare's points are keyed on the declared keys: no two rows merged, none lost
    assert len(coll) == len(run.collectives) > 0
    assert coll["rounds"].map(len).min() >= 1


def test_imported_nccl_tests_points_carry_the_declared_keys():
    log = read_log("tests/fixtures/nccl_tests/h100_issue290.log", op="all_reduce")
    recs = imported_samples(log, "imported")
    assert recs and all(set(COLL) <= set(r) for r in recs)


def test_training_records_carry_the_declared_keys_with_the_ranks_resolved_values():
    from scaling.workloads import training

    cfg = load_config(overrides={"workloads": ["transformer"]})
    point = catalog.get("transformer").plan(cfg, 2)[0]
    assert point["preset"] == "auto"
    result = {"preset": "tiny", "precision": "fp32", "scaling": point["scaling"],
              "workload": "transformer", "times": {"ddp": [0.1, 0.2]}}  # fmt: skip
    recs = training.records(point, TwoNodes(), [result, result])
    assert recs and all(set(TRAIN) <= set(r) for r in recs)
    assert {(r["preset"], r["precision"], r["nodes"], r["world_size"]) for r in recs} == {
        ("tiny", "fp32", 2, 2)
    }


# A worked example of docs/extending.md's "A point key", in a fresh interpreter so the key is
# in the declaration before any reader imports it (as a key written into POINT_KEYS is):
# the two places a key takes, then the file-only path every reader runs (records -> the run
# directory -> summary.csv -> `scaling compare`), with nothing else edited.
NEW_KEY = """
import json, sys
from pathlib import Path
from scaling.workloads import collectives
from scaling.workloads.catalog import PointKey

# place 1: one PointKey line in the workload's declaration, where its column should go
keys = list(collectives.POINT_KEYS)
keys.insert(keys.index(next(k for k in keys if k.name == "timing")), PointKey("algo"))
collectives.POINT_KEYS = collectives.WORKLOAD.point_keys = tuple(keys)
# place 2: its value in plan
planned = collectives.WORKLOAD.plan
collectives.WORKLOAD.plan = lambda cfg, n: [
    {**p, "algo": a} for p in planned(cfg, n) for a in ("ring", "tree")
]

from click.testing import CliRunner
from pathlib import Path

import pandas as pd
import tests.synthetic_runs as synthetic
from scaling.cli import main
from scaling.collector.damaged import sample_fields
from scaling.config.loader import load_config
from scaling.sinks.tables import write_tables
from scaling.collector.loaded_run import load_run

CFG = load_config(overrides={"collectives.ops": ["all_reduce"], "collectives.min_bytes": 1024,
                             "collectives.max_bytes": 4096, "collectives.factor": 4})

class OneNode:  # what Workload.points and records ask of cluster/gang.py's Group
    def __init__(self, n):
        self.rank_info, self.nodes, self.span = [{}] * n, 1, "intra-node"
        self.shape = f"{n} = 1 node × {n}"
    def subgroups(self):
        return {}

def measured(rd, n, ops, iters, slow, noise, rng, tag):  # the rank side, faked: tree 2x ring
    for p in collectives.WORKLOAD.points(CFG, OneNode(n)):
        t = 1e-5 * (2 if p["algo"] == "tree" else 1) * slow
        res = [{"times": [t * (1 + rng.uniform(0, noise)) for _ in range(iters)], "wrong": 0}]
        rd.append_samples({**r, **tag} for r in collectives.records(p, OneNode(n), res * n))

synthetic._write_collectives = measured
runs = [synthetic.write_run(Path(sys.argv[1]) / name, world_sizes=(1, 2), ops=("all_reduce",),
                            training=False, slow=slow, rounds=3, seed=i)
        for i, (name, slow) in enumerate((("a", 1.0), ("b", 1.3)))]
write_tables(load_run(runs[0]))
summary = pd.read_csv(runs[0] / "summary.csv")
compared = CliRunner().invoke(main, ["compare", str(runs[0]), str(runs[1])])
collectives.WORKLOAD.plan = planned  # a plan that does not give the declared key
try:
    collectives.WORKLOAD.points(CFG, OneNode(2))
    missing = None
except ValueError as e:
    missing = str(e)
print(json.dumps({
    "columns": list(summary.columns),
    "rows": summary[["algo", "world_size", "size_bytes"]].values.tolist(),
    "checked_as_text": "algo" in sample_fields().names,
    "compare": compared.output, "compare_code": compared.exit_code, "missing": missing,
}))
"""


def test_a_new_point_key_takes_its_declaration_and_its_value_in_plan(tmp_path):
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", NEW_KEY, str(tmp_path)], capture_output=True,
                          text=True, timeout=120, cwd=Path(__file__).parent.parent)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    columns = got["columns"]
    assert columns[: len(COLL) + 1] == COLL[:-1] + ["algo", "timing"]  # its declared place
    # one row per algo at every size and world size: the summary groups by the key
    assert sorted(map(tuple, got["rows"])) == sorted(
        (a, n, s) for a in ("ring", "tree") for n in (1, 2) for s in (1024, 4096)
    )
    assert got["checked_as_text"]  # the sample reader checks the key's kind
    # compare pairs and labels the points by it: ring and tree never merge
    assert got["compare_code"] in (0, 1), got["compare"]
    for algo in ("ring", "tree"):
        assert f"all_reduce float32 2 ranks 4K algo={algo}" in got["compare"], got["compare"]
    assert (
        got["missing"]
        == "workload 'collectives' planned a point without its declared point key 'algo'"
    )
