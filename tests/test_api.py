"""scaling.api without the CLI: run, report, compare and runs on a real gloo run."""

import pytest

from scaling import api
from scaling.collector.coverage import NothingToCompare
from scaling.collector.loaded_run import NotARunDir
from scaling.collector.runsets import compare_sets
from scaling.config import load_config

pytestmark = pytest.mark.slow


class Heard(api.RunHooks):
    def __init__(self):
        self.notices, self.points, self.planned_points, self.ended = [], [], None, False

    def notice(self, text):
        self.notices.append(text)

    def planned(self, run_dir, points):
        self.planned_points = points

    def point(self, point):
        self.points.append(point)

    def done(self):
        self.ended = True


def test_run_report_compare_runs(ray_local, tmp_path):
    cfg = load_config(
        overrides={"gpus": "1,2", "repeats": "1", "workloads": "collectives", "collectives.ops": "all_reduce,sendrecv",
                   "collectives.max_bytes": "4K", "collectives.iters": "2",
                   "out": str(tmp_path / "runs" / "a")}
    )  # fmt: skip
    heard = Heard()
    result = api.run(cfg, heard)
    assert result.status == "ok" and result.failures() == [] and heard.ended
    # planned once: the count the hooks heard is the number of points measured
    assert heard.planned_points == len(heard.points) == 3 + 2 * 3
    assert "sendrecv skipped at world size 1: a ring needs two ranks" in heard.notices
    assert set(result.run.collectives.op) == {"all_reduce", "sendrecv"}
    assert result.report.html.exists() and (result.path / "summary.csv").exists()

    summary = api.report(result.path)
    assert [p.name for p in summary.tables][:1] == ["summary.csv"]
    assert summary.to_dict()["report_html"] == str(result.path / "report.html")
    with pytest.raises(NothingToCompare):  # one run on both sides says nothing
        api.compare([result.path], [result.path])
    diff = compare_sets([result.run], [result.run])  # the judge itself: no change, undecided
    assert diff.regressions == 0 and len(diff.points) == len(result.run.collectives)
    assert [p.path for p in api.runs(tmp_path / "runs")] == [result.path]
    with pytest.raises(NotARunDir, match="no such run directory"):
        api.report(tmp_path / "nope")
