"""`scaling --help` and the commands that only read files import neither torch nor Ray.

Each case runs the real CLI in a fresh interpreter and lists the heavy modules it imported
(the way test_report.py checks the report library). Timing goals live in
benchmarks/cli_startup.py, never in a test.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.synthetic_runs import write_run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEAVY = ("torch", "ray", "pandas", "matplotlib")
PROBE = f"""
import json, sys
from scaling.cli import main
try:
    main(sys.argv[1:])
except SystemExit as e:
    code = e.code
print(json.dumps({{"code": code, "imported": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""


def imported(*args) -> dict:
    p = subprocess.run(
        [sys.executable, "-c", PROBE, *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "args",
    [["--help"], ["run", "--help"], ["report", "--help"], ["compare", "--help"],
     ["runs", "--help"], ["topo", "--help"], ["doctor", "--help"], ["validate", "--help"],
     ["--version"]],
    ids=lambda a: " ".join(a),
)  # fmt: skip
def test_help_imports_nothing_heavy(args):
    got = imported(*args)
    assert got == {"code": 0, "imported": []}


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    write_run(root / "20260101T000000Z-aaaaaa")
    write_run(root / "20260102T000000Z-bbbbbb", seed=1)
    return root


def test_commands_on_existing_runs_import_no_torch_or_ray(runs_dir):
    a, b = sorted(runs_dir.iterdir())
    for args in (
        ["report", a],
        ["report", a, "--json"],
        ["compare", a, b],
        ["runs", "--runs-dir", runs_dir],
    ):
        got = imported(*args)
        assert got["code"] in (0, 1), args  # compare exits 1 on a regression
        assert not {"torch", "ray"} & set(got["imported"]), (args, got)
    assert (a / "report.html").exists() and (a / "summary.csv").exists()
