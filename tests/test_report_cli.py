"""`scaling report` and `scaling runs` through CliRunner (the report at the end of `scaling run`:
test_cli_run.py)."""

import json

import pytest
from click.testing import CliRunner

from scaling.cli import main
from tests.synthetic_runs import write_run


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def runs_dir(tmp_path):
    root = tmp_path / "runs"
    write_run(root / "20260101T000000Z-aaaaaa", training=False, world_sizes=(1, 2))
    write_run(root / "20260102T000000Z-bbbbbb")
    write_run(root / "20260103T000000Z-cccccc", status="interrupted", training=False)
    (root / "not-a-run").mkdir()
    return root


@pytest.mark.parametrize("cmd", ["report", "compare", "runs"])
def test_help_has_examples(cmd):
    r = invoke(cmd, "--help")
    assert r.exit_code == 0 and "Examples:" in r.output and f"scaling {cmd}" in r.output


def test_report_prints_paths(runs_dir):
    run = runs_dir / "20260102T000000Z-bbbbbb"
    r = invoke("report", run)
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [str(run / "report.md"), str(run / "report.html")]
    for name in ("report.md", "report.html", "summary.csv", "training.csv"):
        assert (run / name).exists(), name


def test_report_json(runs_dir):
    run = runs_dir / "20260102T000000Z-bbbbbb"
    r = invoke("report", run, "--json")
    assert r.exit_code == 0
    out = json.loads(r.stdout)
    assert out["report_html"] == str(run / "report.html") and out["partial"] is False
    assert str(run / "summary.parquet") in out["tables"]
    eff = {e["workload"]: e for e in out["headline"]["efficiency"]}
    assert eff["resnet50"]["world_size"] == 4 and 0.8 < eff["resnet50"]["efficiency"] < 0.85
    assert out["headline"]["busbw"]["note"] == "no ceiling: CPU/gloo"


def test_report_of_partial_run(runs_dir):
    run = runs_dir / "20260103T000000Z-cccccc"
    r = invoke("report", run)
    assert r.exit_code == 0
    assert r.stderr.startswith("partial run (status interrupted")
    assert r.stdout.splitlines() == [str(run / "report.md"), str(run / "report.html")]
    assert "PARTIAL RUN (status interrupted" in (run / "report.md").read_text()


def test_report_bad_input_is_one_line_exit_2(runs_dir, tmp_path):
    for path, msg in (
        (tmp_path / "missing", "no such run directory"),
        (runs_dir / "not-a-run", "not a run directory (no manifest.json or samples.jsonl)"),
    ):
        r = invoke("report", path)
        assert r.exit_code == 2
        assert r.stderr.strip() == f"Error: {path}: {msg}"
    (runs_dir / "not-a-run" / "manifest.json").write_text("{broken")
    r = invoke("report", runs_dir / "not-a-run")
    assert r.exit_code == 2 and "manifest.json is not valid JSON" in r.stderr


def test_report_warns_about_a_corrupt_line(runs_dir):
    run = runs_dir / "20260101T000000Z-aaaaaa"
    lines = (run / "samples.jsonl").read_text().splitlines(keepends=True)
    lines[4] = "garbage\n"
    (run / "samples.jsonl").write_text("".join(lines))
    r = invoke("report", run)
    assert r.exit_code == 0
    assert "samples.jsonl:5: skipped unreadable sample" in r.stderr
    assert "samples.jsonl:5: skipped unreadable sample" in (run / "report.md").read_text()


def test_report_skips_a_valid_json_line_with_a_wrongly_typed_field(runs_dir):
    run = runs_dir / "20260101T000000Z-aaaaaa"
    lines = (run / "samples.jsonl").read_text().splitlines(keepends=True)
    n = next(i for i, x in enumerate(lines) if '"type": "coll"' in x or '"type":"coll"' in x)
    rec = json.loads(lines[n])
    rec["time_s"] = "fast"  # valid JSON, wrong type: as corrupt as a torn line
    lines[n] = json.dumps(rec) + "\n"
    (run / "samples.jsonl").write_text("".join(lines))
    r = invoke("report", run)
    assert r.exit_code == 0, r.output
    assert f"samples.jsonl:{n + 1}: skipped sample with a wrongly typed field" in r.stderr


def test_every_reader_warns_about_the_same_damaged_lines(runs_dir):
    """report warned, compare, predict and runs said nothing: now all name the lines."""
    run, other = runs_dir / "20260101T000000Z-aaaaaa", runs_dir / "20260102T000000Z-bbbbbb"
    lines = (run / "samples.jsonl").read_text().splitlines(keepends=True)
    rec = json.loads(lines[6])
    lines[4], lines[6] = "garbage\n", json.dumps({**rec, "time_s": 1e999}) + "\n"
    (run / "samples.jsonl").write_text("".join(lines))
    for args in (["runs", "--runs-dir", runs_dir], ["compare", other, run],
                 ["predict", run, "--no-report", "--bootstrap", "0"], ["report", run]):  # fmt: skip
        r = invoke(*args)
        assert r.exit_code in (0, 2), r.output  # compare: 2, few points in common
        assert "samples.jsonl:5: skipped unreadable sample" in r.stderr, args
        assert "samples.jsonl:7: skipped sample: time_s is not finite" in r.stderr, args
        assert "2 of " in r.stderr and "lines skipped as damaged (lines 5, 7)" in r.stderr


@pytest.mark.parametrize("text", ["{torn", '{"targets": [16]}', "[]", "[" * 100000])
def test_report_warns_on_stderr_about_an_unreadable_predict_json(runs_dir, text):
    run = runs_dir / "20260101T000000Z-aaaaaa"
    (run / "predict.json").write_text(text)
    r = invoke("report", run)
    assert r.exit_code == 0, r.output
    (line,) = [x for x in r.stderr.splitlines() if "predict.json" in x]
    assert line.startswith("warning: predict.json could not be read") and "rerun" in line
    assert "predict.json could not be read" in (run / "report.md").read_text()


def test_runs_lists_readable_runs_and_warns_about_unreadable_ones(runs_dir):
    # A run whose table is 0 bytes still lists (its headline comes from the samples); a run
    # with a torn manifest is left out with a warning; neither hides the others.
    empty = runs_dir / "20260102T000000Z-bbbbbb"
    assert invoke("report", empty).exit_code == 0
    (empty / "summary.csv").write_text("")
    torn = runs_dir / "20260101T000000Z-aaaaaa"
    (torn / "manifest.json").write_text('{"status": "ok", ')
    r = invoke("runs", "--runs-dir", runs_dir, "--json")
    assert r.exit_code == 0, r.output
    assert [e["run"] for e in json.loads(r.stdout)] == [
        "20260103T000000Z-cccccc",
        "20260102T000000Z-bbbbbb",
    ]
    warnings = r.stderr.strip().splitlines()
    assert len(warnings) == 1 and warnings[0].startswith(f"warning: skipped unreadable run {torn}")
    assert "manifest.json is not valid JSON" in warnings[0]


def test_runs_lists_newest_first_with_headlines(runs_dir):
    r = invoke("runs", "--runs-dir", runs_dir, "--json")
    assert r.exit_code == 0, r.output
    listed = json.loads(r.stdout)
    assert [e["run"] for e in listed] == [
        "20260103T000000Z-cccccc",
        "20260102T000000Z-bbbbbb",
        "20260101T000000Z-aaaaaa",
    ]
    newest, full, small = listed
    assert newest["status"] == "interrupted" and newest["partial"] is True
    assert full["workloads"] == ["collectives", "resnet50", "transformer"]
    assert full["world_sizes"] == [1, 2, 4]
    assert "resnet50 eff 83% @4" in full["headline_text"]
    assert small["headline_text"] == [_busbw_line(small)]
    table = invoke("runs", "--runs-dir", runs_dir)
    assert table.exit_code == 0 and "20260102T000000Z-bbbbbb" in table.stdout
    assert "interrupted (partial)" in table.stdout


def _busbw_line(entry) -> str:
    b = entry["headline"]["busbw"]
    return f"all_reduce {b['busbw_gbps']:,.2f} GB/s @2×1M"


def test_runs_reads_stored_tables_when_present(runs_dir):
    run = runs_dir / "20260101T000000Z-aaaaaa"
    assert invoke("report", run).exit_code == 0
    (run / "samples.jsonl").unlink()  # the headline must now come from summary.csv
    listed = json.loads(invoke("runs", "--runs-dir", runs_dir, "--json").stdout)
    assert listed[-1]["headline"]["busbw"]["world_size"] == 2


def test_runs_bad_or_empty_dir(tmp_path):
    r = invoke("runs", "--runs-dir", tmp_path / "nope")
    assert (
        r.exit_code == 2
        and r.stderr.strip() == f"Error: {tmp_path / 'nope'}: no such runs directory"
    )
    r = invoke("runs", "--runs-dir", tmp_path)
    assert r.exit_code == 0 and r.stdout.strip() == f"no runs in {tmp_path}"


# The report at the end of a real `scaling run`: test_cli_run.py's
# test_run_two_world_sizes_two_ops asserts it on its run (one Ray run serves both).
