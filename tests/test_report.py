"""report.md / report.html: every section, self-contained, partial runs marked, no torch/ray."""

import base64
import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from scaling.collector.loaded_run import load_run
from scaling.hardware.probe import load_snapshot
from scaling.hardware.topology import manifest_topology
from scaling.report import write_report
from scaling.report.collectives import topology_matrices
from tests.synthetic_runs import write_run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECTIONS = [
    "Headline",
    "Environment",
    "Training scaling",
    "Where the step time goes",
    "Per-rank step time (stragglers)",
    "Collectives: bus bandwidth",
    "Topology",
    "Collectives detail",
]
FIGURES = ["throughput", "efficiency", "breakdown", "per_rank", "busbw"]
# What the run writes into the manifest for the recorded-format H100 fixture (8 GPUs, NVSwitch).
H100_TOPO = manifest_topology(
    {
        "node-a": load_snapshot(
            Path(__file__).parent / "fixtures" / "nvml" / "h100_sxm_8gpu_nvswitch.json"
        )
    }
)


@pytest.fixture
def cpu_run(tmp_path):
    return load_run(write_run(tmp_path / "cpu"))


def _html_images(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]


def test_every_section_plot_and_table(cpu_run):
    paths = write_report(cpu_run)
    md = paths.markdown.read_text()
    page = paths.html.read_text()
    for title in SECTIONS:
        assert f"## {title}" in md and f">{title}</h2>" in page, title
    for name in FIGURES:
        png = cpu_run.path / "report_files" / f"{name}.png"
        assert f"(report_files/{name}.png)" in md and png.read_bytes()[:4] == b"\x89PNG", name
    images = _html_images(page)
    assert len(images) == len(FIGURES) and all(i[:4] == b"\x89PNG" for i in images)
    # the headline: efficiency at the largest world size, busbw and its (missing) ceiling
    assert "scaling efficiency at 4 ranks 83.3%" in md
    assert "all_reduce float32 busbw at 4 ranks, 1M**: 1.01 GB/s; no ceiling: CPU/gloo" in md
    assert "**PASS** all 24 checked collective points exact (#wrong 0)" in md
    assert "**WARN** resnet50 at 4 ranks: straggler rank(s) 3" in md
    # environment facts and n/a with reasons
    for fact in ("none: 4 CPU ranks", "loopback (gloo): no link ceiling", "synthetic",
                 "cpu-small, tiny", "torch 2.5.0", "ray 2.40.0"):  # fmt: skip
        assert fact in md, fact
    assert "MFU: n/a (no peak FLOP/s for a CPU)" in md
    assert "n/a (1 rank)" in md  # busbw at one rank in the detail table
    assert "No GPUs in this run" in md
    # tables behind the plots: the 4-rank resnet50 row (80/s at 1 rank, 266.7/s at 4)
    assert re.search(
        r"\| resnet50 · cpu-small · fp32 · 8/rank · weak \| 4 \| ok \| 266\.7 \| 66\.7 \| 320\.0 \| 83\.3% \|",
        md,
    )


def test_html_is_self_contained(cpu_run):
    page = write_report(cpu_run).html.read_text()
    assert "<script" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "@import" not in page and "url(" not in page
    assert page.count("<table") >= 8


def test_partial_run_report_is_marked(tmp_path):
    run = load_run(write_run(tmp_path / "failed", status="failed"))
    paths = write_report(run)
    md, page = paths.markdown.read_text(), paths.html.read_text()
    banner = "PARTIAL RUN (status failed: RuntimeError: planted failure)"
    assert banner in md and banner in page
    assert "**FAIL** partial run" in md
    assert "## Collectives: bus bandwidth" in md  # what was measured is still reported


def test_collectives_only_run(tmp_path):
    run = load_run(write_run(tmp_path / "coll", training=False))
    md = write_report(run).markdown.read_text()
    assert "No training workloads in this run (collectives only)." in md
    assert "No per-rank step samples in this run." in md
    assert (tmp_path / "coll" / "report_files" / "busbw.png").exists()
    assert not (tmp_path / "coll" / "training.csv").exists()


def test_gpu_run_draws_ceilings_and_topology(tmp_path):
    run = load_run(write_run(tmp_path / "gpu", device="cuda", topology=H100_TOPO))
    # what the hardware probe adds to summary rows
    coll = run.collectives.assign(link_class="NV18", ceiling_gbps=450.0)
    coll["busbw_ceiling_ratio"] = coll["busbw_gbps"] / 450.0
    from scaling.collector.headline import headline

    run = dataclasses.replace(run, collectives=coll)
    run = dataclasses.replace(run, headline=headline(run.manifest, coll, run.training))
    paths = write_report(run)
    md = paths.markdown.read_text()
    assert "4 × NVIDIA H100 80GB HBM3" in md
    assert "2 ranks: NV18, ceiling 450 GB/s" in md
    assert re.search(r"GB/s; 0% of the NV18 ceiling \(450\.0 GB/s\)", md)
    assert "**WARN** all_reduce busbw at 4 ranks, 1M reaches only 0% of the NV18 ceiling" in md
    assert "| ceiling | 450.0 | 450.0 |" in md
    assert (tmp_path / "gpu" / "report_files" / "topology_0.png").exists()
    assert "| GPU0 | X | NV18 | NV18 | NV18 |" in md
    assert "MFU: n/a (peak FLOP/s unknown for this device)" in md
    assert len(_html_images(paths.html.read_text())) == len(FIGURES) + 1


@pytest.mark.parametrize(
    "topo,expected",
    [
        (None, []),
        ({"n1": {"hostname": "a", "matrix": [["X", "SYS"], ["SYS", "X"]]}}, ["a"]),
        ({"n2": {"matrix": [["X", "PIX"], ["PIX", "X"]]}, "n3": {"matrix": []}}, ["n2"]),
        ({"n4": {"hostname": "b", "matrix": [["X", "PIX"]]}}, []),  # not square: ignored
    ],
)
def test_topology_shapes(topo, expected):
    assert [name for name, _, _ in topology_matrices(topo)] == expected


def test_reports_never_import_torch_or_ray(tmp_path):
    run_dir = write_run(tmp_path / "r")
    code = (
        "import sys\n"
        "from scaling.report import write_report\n"
        f"write_report({str(run_dir)!r})\n"
        "bad = [m for m in ('torch', 'ray') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert (run_dir / "report.html").exists()
