"""`scaling predict` through the real CLI: output, predict.json, the report section, bad input."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from scaling.cli import main
from tests.predict_runs import write_predict_run

ROOT = Path(__file__).resolve().parent.parent


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def run_dir(tmp_path):
    return write_predict_run(tmp_path / "run", world_sizes=(1, 2, 4, 8, 16))


def test_help_has_examples():
    r = invoke("predict", "--help")
    assert r.exit_code == 0 and "Examples:" in r.output and "scaling predict" in r.output
    assert "link=50GB/s" in r.output


def test_predict_prints_writes_json_and_report_section(run_dir):
    r = invoke("predict", run_dir, "--gpus", "32,128", "--bootstrap", "30")
    assert r.exit_code == 0, r.output
    assert "holdout: n=16 predicted from n=1, 2, 4, 8" in r.stdout
    assert "efficiency falls below" in r.stdout or "efficiency stays" in r.stdout
    doc = json.loads((run_dir / "predict.json").read_text())
    assert doc["schema"] == "scaling.predict/1" and doc["targets"] == [32, 128]
    md = (run_dir / "report.md").read_text()
    assert "## Predicted beyond what was measured" in md
    assert "report_files/predicted_efficiency.png" in md
    assert "Predicted beyond what was measured" in (run_dir / "report.html").read_text()


def test_report_has_no_prediction_section_before_predict(run_dir):
    assert invoke("report", run_dir).exit_code == 0
    assert "Predicted beyond" not in (run_dir / "report.md").read_text()


def test_json_and_what_if(run_dir):
    r = invoke("predict", run_dir, "--gpus", "64", "--what-if", "link=100GB/s", "--json",
               "--bootstrap", "0", "--no-report")  # fmt: skip
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    (t,) = doc["training"]
    assert doc["what_if"] == "link=100 GB/s"
    assert t["what_if"]["predictions"][0]["step_s"] < t["predictions"][0]["step_s"]
    assert not (run_dir / "report.md").exists()  # --no-report


@pytest.mark.parametrize(
    "args,message",
    [
        (["predict", "/no/such/run"], "no such run directory"),
        (["predict", "{run}", "--gpus", "8,x"], "--gpus: world size 'x' is not an integer"),
        (["predict", "{run}", "--gpus", "0"], "--gpus: world size must be >= 1"),
        (["predict", "{run}", "--what-if", "link=fast"], "--what-if 'link=fast'"),
        (["predict", "{run}", "--what-if", "warp=9"], "expected KEY=VALUE with KEY one of"),
        (["predict", "{run}", "--gpus-per-node", "0"], "--gpus-per-node"),
        (["predict", "{empty}"], "nothing to fit"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, run_dir, args, message):
    empty = write_predict_run(tmp_path / "empty", world_sizes=(1,), training=False)
    args = [a.format(run=run_dir, empty=empty) for a in args]
    r = invoke(*args)
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], r.stderr
    assert "Traceback" not in r.output


def test_predict_never_imports_torch_or_ray(run_dir):
    code = (
        "import sys\n"
        "from scaling.cli import main\n"
        "for args in (['predict', '--help'], ['predict', sys.argv[1], '--bootstrap', '5']):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit as e:\n"
        "        assert e.code in (0, None), e.code\n"
        "bad = [m for m in ('torch', 'ray') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    p = subprocess.run([sys.executable, "-c", code, str(run_dir)], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    assert (run_dir / "predict.json").exists()


def test_an_unreadable_predict_json_does_not_break_the_report(run_dir):
    (run_dir / "predict.json").write_text("{ not json")
    r = invoke("report", run_dir)
    assert r.exit_code == 0, r.output
    assert "predict.json could not be read" in (run_dir / "report.md").read_text()
