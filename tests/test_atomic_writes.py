"""Every file writer goes through the run directory's one atomic write: a write that fails
leaves the old file (or none) and no temporary behind, and says why in one line."""

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from scaling.cli import main
from tests.predict_runs import write_predict_run

ROOT = Path(__file__).resolve().parent.parent

# A real failing write: the file-size limit (RLIMIT_FSIZE) makes write() fail with EFBIG once
# the temporary passes 4 KiB, after it was created. SIGXFSZ would kill the process instead.
_FAIL_WRITE = """
import json, resource, signal, sys
from pathlib import Path
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
from scaling.rundir import RunDirError, write_atomic
from scaling.sinks.tune_files import write_tune
out = Path(sys.argv[1])
results = []
for write in (lambda: write_atomic(out / "kept.txt", "x" * 100_000),
              lambda: write_tune(out / "tune", {"trials": ["x" * 100_000]}, None)):
    try:
        write()
        results.append("written")
    except RunDirError as e:
        results.append(str(e))
print(json.dumps(results))
"""


def _temporaries(where: Path) -> list[str]:
    return sorted(p.name for p in where.rglob("*") if p.name.endswith(".tmp"))


def test_a_write_that_fails_leaves_no_temporary_and_the_old_file(tmp_path):
    (tmp_path / "kept.txt").write_text("old\n")
    (tmp_path / "tune").mkdir()
    p = subprocess.run([sys.executable, "-c", _FAIL_WRITE, str(tmp_path)], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert p.returncode == 0, p.stderr
    results = json.loads(p.stdout)
    assert len(results) == 2
    for msg in results:
        assert msg.startswith("cannot write ") and "\n" not in msg, msg
    assert "kept.txt" in results[0] and "tune.json" in results[1]
    assert (tmp_path / "kept.txt").read_text() == "old\n"
    assert not (tmp_path / "tune" / "tune.json").exists()
    assert _temporaries(tmp_path) == []


def test_predict_that_cannot_write_says_so_in_one_line(tmp_path):
    run_dir = write_predict_run(tmp_path / "run", world_sizes=(1, 2, 4))
    (run_dir / "predict.json").mkdir()  # the rename onto it fails after the temporary exists
    r = CliRunner().invoke(main, ["predict", str(run_dir), "--gpus", "16", "--bootstrap", "10"])
    assert r.exit_code == 1, r.output
    assert "cannot write predict.json" in r.output and "Traceback" not in r.output
    assert _temporaries(run_dir) == []
