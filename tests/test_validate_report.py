"""The report's validation section, drawn from a recorded validate.json alone."""

from __future__ import annotations

from scaling.collector.validate import checks
from scaling.collector.validate.outliers import Sample
from scaling.collector.validate.verdicts import ValidateResult
from scaling.config.validate import ValidateConfig
from scaling.report import html, markdown, write_report
from scaling.report import validate as section_of
from scaling.report.document import Figure, Items, Table, Text
from scaling.sinks import validate_json, write_validation
from scaling.sinks.report_files import write_report_files
from tests.synthetic_runs import write_run
from tests.validate_results import synthetic_result


def blocks_of(s, kind):
    return [b for b in s.blocks if isinstance(b, kind)]


def test_section_holds_verdicts_plots_steps_and_thresholds(tmp_path):
    result = synthetic_result()
    validate_json.write(result, tmp_path)
    s = section_of.section(tmp_path)
    texts = " ".join(b.text for b in blocks_of(s, Text))
    assert "**FAIL** (exit code 1)" in texts and "8 FAIL over 4 nodes and 16 GPUs" in texts
    assert "exhaustive pairs: 9 group tests" in texts and "modelled" in texts
    (drain,) = blocks_of(s, Items)[:1]
    assert drain.items == [("fail", "nodes to drain (bad_nodes.txt): n1, n2, n3")]
    per_check, failures, steps, thresholds = blocks_of(s, Table)
    assert ["gemm", "dense matmul throughput per GPU", "15", "0", "1"] in per_check.rows
    codes = [r[1] for r in failures.rows]
    assert codes[-1] == "STORAGE_BELOW_MIN"  # FAILs first, then WARNs
    assert {"GEMM_BELOW_PEAK", "SDC_MISMATCH", "GPU_IN_EVERY_SLOW_PAIR", "LINK_COMM_FAIL",
            "NO_MEASUREMENT"} <= set(codes)  # fmt: skip
    lost = next(r for r in failures.rows if r[1] == "NO_MEASUREMENT")
    assert lost[5] == "n/a (not measured)"
    sdc = next(r for r in failures.rows if r[1] == "SDC_MISMATCH")
    assert sdc[5] == ""  # a digest has no figure; it was measured
    assert len(steps.rows) == result.localization["tests"]
    assert [
        "NVIDIA H100 80GB HBM3",
        "h2d_min_gbps",
        "Azure NHC conf/nd96isr_h100_v5.conf",
        "48.0",
    ] in thresholds.rows
    figures = blocks_of(s, Figure)
    assert [fig.name for fig in figures] == ["validate_gemm", "validate_p2p_0"]
    assert "on n3" in figures[1].caption and all(fig.png.startswith(b"\x89PNG") for fig in figures)


def test_pair_matrix_comes_from_link_verdicts():
    mats = section_of.pair_matrices(synthetic_result().verdicts)
    gpus, cells = mats["n3"]
    assert gpus == [0, 1, 2, 3]
    assert cells[(0, 1)] == (120.0, True) and cells[(1, 0)] == (380.0, True)
    assert cells[(1, 2)] == (380.0, False)


def test_a_large_fleet_is_drawn_sorted_not_as_bars():
    samples = [
        Sample(node=f"n{i // 8}", gpu=i % 8, model="cpu", value=100.0 + i % 5) for i in range(200)
    ]
    verdicts = checks.judge_gemm(samples, "fp32", ValidateConfig())
    fig = section_of.gemm_plot(verdicts)
    (ax,) = fig.axes
    assert ax.get_xlabel() == "200 GPUs, sorted by throughput" and not ax.containers  # no bars


def test_no_validate_json_no_section_and_a_broken_one_is_a_note(tmp_path):
    assert section_of.section(tmp_path) is None
    (tmp_path / "validate.json").write_text('{"schema": "something else"}')
    s = section_of.section(tmp_path)
    assert "could not be read" in s.blocks[0].text


def test_markdown_and_html_render_the_standalone_document(tmp_path):
    write_validation(synthetic_result(), tmp_path)
    doc = section_of.document(tmp_path)
    md = markdown.render(doc)
    page = html.render(doc)
    assert "## Cluster validation" in md and "GPU_IN_EVERY_SLOW_PAIR" in md
    # the renderer writes nothing; the sink writes every figure report.md links
    assert not (tmp_path / "report_files").exists()
    figures = markdown.figures(doc)
    assert "report_files/validate_gemm.png" in figures and "(report_files/validate_gemm.png)" in md
    write_report_files(tmp_path, md, page, figures)
    assert (tmp_path / "report_files" / "validate_gemm.png").read_bytes().startswith(b"\x89PNG")
    assert "Cluster validation" in page and "data:image/png;base64" in page


def test_a_run_report_gains_the_section_when_validate_json_exists(tmp_path):
    run_dir = write_run(tmp_path / "run", world_sizes=(1, 2), training=False)
    plain = write_report(run_dir).markdown.read_text()
    assert "Cluster validation" not in plain
    ok = ValidateResult(checks.judge_gemm([Sample(node="node0", gpu=None, model="cpu", value=0.2)], "fp32", ValidateConfig()),
                        nodes=[{"hostname": "node0", "gpus": []}])  # fmt: skip
    validate_json.write(ok, run_dir)
    md = write_report(run_dir).markdown.read_text()
    assert "## Cluster validation" in md and "**PASS** (exit code 0)" in md
    assert md.index("Cluster validation") < md.index("## Environment")


def test_validate_report_header_says_completed_and_shows_the_verdict(tmp_path):
    """The header read "status ok" above a FAIL verdict: the run completed; the verdict is FAIL."""
    import json

    run_dir = write_run(tmp_path / "v", world_sizes=(1,), training=False)
    write_validation(synthetic_result(), run_dir)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest.update(kind="validate", level="quick", result={"status": "FAIL", "counts": {}})
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    header = write_report(run_dir).markdown.read_text().splitlines()[2]
    assert "· completed · verdict FAIL ·" in header and "status ok" not in header
    manifest.update(status="interrupted")
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    assert "· status interrupted · verdict FAIL ·" in write_report(run_dir).markdown.read_text()
