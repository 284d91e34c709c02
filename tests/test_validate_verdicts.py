"""The verdict model on synthetic figures: the fleet rule, peaks, minimums and ceilings, SDC
majority vote, the GPU in every slow pair, missing measurements, doctor checks, the config
and the --baseline seam."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import pytest

from scaling.collector.validate import checks
from scaling.collector.validate.baseline import against_baseline
from scaling.collector.validate.codes import (
    CODES,
    DOCTOR_CHECKS,
    FAIL,
    FIXED_CODES,
    METRICS,
    PASS,
    WARN,
    metric_code,
    metric_rules,
    rule_suffix,
)
from scaling.collector.validate.health import doctor_verdicts
from scaling.collector.validate.outliers import (
    MAD_TO_SIGMA,
    Sample,
    fleet_band,
)
from scaling.collector.validate.sdc_compare import DigestSample, judge_sdc
from scaling.collector.validate.verdicts import ValidateResult, Verdict
from scaling.config.validate import ValidateConfig, check, resolve
from scaling.hardware.across_nodes import compare_nodes
from scaling.hardware.diagnose import diagnose
from scaling.hardware.probe import load_snapshot

H100 = "NVIDIA H100 80GB HBM3"
NVML_FIXTURES = Path(__file__).parent / "fixtures" / "nvml"


def gemm_fleet(values, model=H100, node="n0"):
    return [
        Sample(node=node, gpu=i, uuid=f"GPU-{i}", model=model, value=v)
        for i, v in enumerate(values)
    ]


# -- the fleet rule --------------------------------------------------------------------------


def test_band_is_median_plus_minus_k_mad_with_a_floor():
    values = [100, 101, 99, 100, 102, 98, 100, 40]
    b = fleet_band(values, k=3, min_pct=0.0)
    mad = 1.0  # |x - 100|: 0,1,1,0,2,2,0,60 -> median 1
    assert (b.median, b.mad) == (100.0, mad)
    assert b.low == pytest.approx(100 - 3 * MAD_TO_SIGMA * mad)
    wide = fleet_band(values, k=3, min_pct=5.0)
    assert (wide.low, wide.high) == (95.0, 105.0) and wide.set_by == "the 5% floor"
    assert fleet_band([1.0, 2.0], 3, 5) is None  # two values cannot say which one is odd


def test_slow_gpu_fails_against_the_fleet_fast_one_warns():
    rng = random.Random(1)
    values = [700 * (1 + rng.uniform(-0.01, 0.01)) for _ in range(16)]
    values[3], values[9] = 500.0, 900.0
    verdicts = checks.judge_gemm(gemm_fleet(values), "bf16", ValidateConfig())
    by_gpu = {v.gpu: v for v in verdicts}
    assert by_gpu[3].verdict == FAIL and by_gpu[3].code == "GEMM_BELOW_FLEET"
    assert by_gpu[9].verdict == WARN and by_gpu[9].code == "GEMM_ABOVE_FLEET"
    assert [v.gpu for v in verdicts if v.verdict == PASS] == [
        i for i in range(16) if i not in (3, 9)
    ]
    assert by_gpu[3].threshold == pytest.approx(by_gpu[3].details["fleet"]["low"])
    assert "fleet of 16" in by_gpu[3].evidence and "below the fleet band" in by_gpu[3].evidence


def test_whole_fleet_slow_is_caught_by_the_peak_fraction():
    # every H100 at ~300 TFLOP/s: the fleet agrees, the datasheet (989 dense bf16) does not
    verdicts = checks.judge_gemm(gemm_fleet([300, 301, 299, 300]), "bf16", ValidateConfig())
    assert {v.code for v in verdicts} == {"GEMM_BELOW_PEAK"}
    assert verdicts[0].threshold == pytest.approx(0.5 * 989)
    ok = checks.judge_gemm(gemm_fleet([700, 701, 699, 700]), "bf16", ValidateConfig())
    assert {v.verdict for v in ok} == {PASS}


def test_fleets_are_per_model_and_cpu_has_no_peak():
    samples = gemm_fleet([700, 700, 700]) + gemm_fleet([0.2, 0.21, 0.19], model="cpu", node="c")
    verdicts = checks.judge_gemm(samples, "fp32", ValidateConfig())
    assert {v.verdict for v in verdicts} == {PASS}
    cpu = verdicts[-1]
    assert "peak rule not applied: no datasheet peak for cpu" in cpu.evidence
    assert cpu.details["fleet"]["n"] == 3


def test_small_fleet_skips_the_fleet_rule_and_says_so():
    (v, _) = checks.judge_gemm(gemm_fleet([100.0, 700.0], model="cpu"), "fp32", ValidateConfig())
    assert v.verdict == PASS and "needs 3" in v.evidence


def test_thresholds_are_configurable():
    values = [100, 100, 100, 100, 93]
    strict = ValidateConfig(outlier_min_pct=5.0)
    loose = ValidateConfig(outlier_min_pct=10.0)
    assert checks.judge_gemm(gemm_fleet(values, "cpu"), "fp32", strict)[-1].verdict == FAIL
    assert checks.judge_gemm(gemm_fleet(values, "cpu"), "fp32", loose)[-1].verdict == PASS
    low_peak = ValidateConfig(gemm_min_peak_fraction=0.25)
    assert {v.verdict for v in checks.judge_gemm(gemm_fleet([300] * 4), "bf16", low_peak)} == {PASS}


def test_a_measurement_that_could_not_be_taken_fails():
    samples = gemm_fleet([700, 700, 700]) + [
        Sample(
            node="n1", gpu=0, model=H100, value=None, error="rank 8 did not answer within 300 s"
        ),
        Sample(node="n1", gpu=1, model=H100, value=float("nan")),
    ]
    verdicts = checks.judge_gemm(samples, "bf16", ValidateConfig())
    assert [v.code for v in verdicts[3:]] == ["NO_MEASUREMENT", "NO_MEASUREMENT"]
    assert all(v.verdict == FAIL for v in verdicts[3:])
    assert "rank 8 did not answer" in verdicts[3].evidence
    assert ValidateResult(verdicts).exit_code == 1


def test_transfers_against_public_minimum_and_pcie_ceiling():
    cfg = ValidateConfig()
    alone = {"bytes": 256 << 20, "at_once": 1}  # as validate's host-copy rounds record them
    samples = [Sample(node="n0", gpu=i, model=H100, value=v, ceiling=63.0, ceiling_label="PCIe Gen5 x16",
                      details=dict(alone)) for i, v in enumerate([53.0, 54.0, 53.5, 44.0])]  # fmt: skip
    verdicts = checks.judge_transfer("h2d", samples, cfg)
    assert [v.verdict for v in verdicts] == [PASS, PASS, PASS, FAIL]
    assert verdicts[3].code == "H2D_BELOW_MIN"  # NHC's 48 GB/s comes first
    assert "Azure NHC conf/nd96isr_h100_v5.conf" in verdicts[3].evidence
    assert verdicts[3].details["bar"]["method"] == "copy_engine"
    # All GPUs at once is not how NHC measured: its bar is left out, and the evidence says so.
    crowd = [
        Sample(node="n0", gpu=0, model=H100, value=40.0, details={"bytes": 256 << 20, "at_once": 8})
    ]
    (v,) = checks.judge_transfer("h2d", crowd, cfg)
    assert v.verdict == PASS and "min rule not applied" in v.evidence and "8 at once" in v.evidence
    x8 = [Sample(node="n0", gpu=0, model="NVIDIA A10", value=11.0, ceiling=31.5)]
    (v,) = checks.judge_transfer("d2h", x8, cfg)  # a Gen4 x8-class figure on a x16 link
    assert v.code == "D2H_BELOW_CEILING" and v.threshold == pytest.approx(0.75 * 31.5)
    with pytest.raises(ValueError):
        checks.judge_transfer("p2p", x8, cfg)


def test_node_allreduce_minimum_only_for_the_published_node_shape():
    cfg, at_16g = ValidateConfig(), {"size_bytes": 16 << 30}  # Azure's size: its 460 applies
    samples = [
        Sample(node=f"n{i}", model=H100, value=v, ceiling=450.0, details=dict(at_16g))
        for i, v in enumerate([470, 472, 450])
    ]
    full = checks.judge_allreduce(samples, cfg, {"n0": 8, "n1": 8, "n2": 8})
    assert full[2].code == "ALLREDUCE_BELOW_MIN" and full[2].threshold == 460.0
    samples = [
        Sample(node=f"n{i}", model=H100, value=v, ceiling=450.0, details=dict(at_16g))
        for i, v in enumerate([470, 472, 450])
    ]
    half = checks.judge_allreduce(samples, cfg, {"n0": 4, "n1": 4, "n2": 4})
    assert half[2].verdict == PASS and "are for 8-GPU nodes, not 4" in half[2].evidence
    # At validate's 256 MiB the 16 GiB bar is not applied: the public curve's 412 GB/s there,
    # with Azure's margin below its own curve (a healthy node reads ~440 there)
    small = [Sample(node=f"n{i}", model=H100, value=v, details={"size_bytes": 256 << 20})
             for i, v in enumerate([440.0, 300.0])]  # fmt: skip
    ok, bad = checks.judge_allreduce(small, cfg, {"n0": 8, "n1": 8})
    assert ok.verdict == PASS and ok.threshold == pytest.approx(0.897 * 412, abs=0.1)
    assert bad.code == "ALLREDUCE_BELOW_MIN" and "nccl-tests/issues/290" in bad.evidence
    # gloo (CPU ranks) is not what the public bars measured
    gloo = [Sample(node="n0", model=H100, value=1.0,
                   details={"size_bytes": 16 << 30, "transport": "gloo"})]  # fmt: skip
    (g,) = checks.judge_allreduce(gloo, cfg, {"n0": 8})
    assert g.threshold is None and "NCCL's; this run used gloo" in g.evidence
    slow = [Sample(node="n0", model="NVIDIA A10", value=100.0, ceiling=300.0)]
    assert checks.judge_allreduce(slow, cfg, {"n0": 4})[0].code == "ALLREDUCE_BELOW_CEILING"


def test_storage_slow_is_a_warning():
    samples = [Sample(node="n0", value=0.52), Sample(node="n1", value=3.4)]
    a, b = checks.judge_storage(samples, ValidateConfig())
    assert (a.verdict, a.code, b.verdict) == (WARN, "STORAGE_BELOW_MIN", PASS)
    assert ValidateResult([a, b]).exit_code == 0


def test_aspm():
    assert checks.judge_aspm("n0", 0, None, "disabled").verdict == PASS
    v = checks.judge_aspm("n0", 1, None, "L0s L1")
    assert (v.verdict, v.code) == (WARN, "PCIE_ASPM_ENABLED")


# -- silent data corruption -----------------------------------------------------------------


def digests(values, model=H100, node="n0"):
    return [DigestSample(node=node, gpu=i, model=model, digests=d) for i, d in enumerate(values)]


def test_sdc_odd_one_out_fails():
    verdicts = judge_sdc(digests([["aa"] * 3, ["aa"] * 3, ["bb"] * 3, ["aa"] * 3]))
    assert [v.verdict for v in verdicts] == [PASS, PASS, FAIL, PASS]
    assert verdicts[2].code == "SDC_MISMATCH" and "3 of 4" in verdicts[2].evidence


def test_sdc_without_majority_fails_every_gpu_of_the_model():
    verdicts = judge_sdc(digests([["aa"], ["bb"]]))
    assert {v.code for v in verdicts} == {"SDC_NO_MAJORITY"}
    verdicts = judge_sdc(digests([["aa"], ["aa"], ["bb"], ["bb"]]))
    assert {v.code for v in verdicts} == {"SDC_NO_MAJORITY"}


def test_sdc_unstable_missing_and_alone():
    verdicts = judge_sdc(
        digests([["aa", "ab"], ["aa"], ["aa"], None])
        + digests([["zz"]], "NVIDIA A100-SXM4-80GB", "n1")
    )
    assert [v.code for v in verdicts] == [
        "SDC_UNSTABLE",
        None,
        None,
        "NO_MEASUREMENT",
        "SDC_NOT_COMPARED",
    ]
    assert [v.verdict for v in verdicts] == [FAIL, PASS, PASS, FAIL, WARN]


def test_sdc_compares_within_a_model_only():
    verdicts = judge_sdc(digests([["aa"], ["aa"]]) + digests([["cc"], ["cc"], ["cc"]], "cpu", "c"))
    assert {v.verdict for v in verdicts} == {PASS}


# -- GPU pairs --------------------------------------------------------------------------------


def matrix(n, value=380.0, slow=(), slow_value=150.0, missing=()):
    m = [[None if i == j else value for j in range(n)] for i in range(n)]
    for i, j in slow:
        m[i][j] = slow_value
    for i, j in missing:
        m[i][j] = None
    return m


def gpus(n):
    return [{"index": i, "uuid": f"GPU-{i}", "model": H100} for i in range(n)]


def test_the_gpu_in_every_slow_pair_is_named():
    slow = [(3, j) for j in range(8) if j != 3]  # GPU3 sends slowly to everyone
    verdicts = checks.judge_p2p(
        [checks.NodeMatrix("n0", matrix(8, slow=slow), gpus(8))], ValidateConfig()
    )
    links = [v for v in verdicts if v.scope == "link"]
    assert len(links) == 28
    assert sorted((v.gpu, v.peer_gpu) for v in links if v.verdict == FAIL) == sorted(
        (min(3, j), max(3, j)) for j in range(8) if j != 3
    )
    (gpu,) = [v for v in verdicts if v.scope == "gpu"]
    assert (gpu.gpu, gpu.code, gpu.uuid) == (3, "GPU_IN_EVERY_SLOW_PAIR", "GPU-3")


def test_a_single_slow_pair_names_the_link_only():
    verdicts = checks.judge_p2p(
        [checks.NodeMatrix("n0", matrix(8, slow=[(1, 2)]), gpus(8))], ValidateConfig()
    )
    failed = [v for v in verdicts if v.verdict == FAIL]
    assert [(v.scope, v.gpu, v.peer_gpu) for v in failed] == [("link", 1, 2)]
    assert failed[0].code in ("P2P_BELOW_MIN", "P2P_BELOW_FLEET")
    assert failed[0].details["forward_gbps"] == 150.0


def test_pairs_compare_within_their_link_class_and_missing_pairs_fail():
    cls = [["NV18" if (i < 2) == (j < 2) else "SYS" for j in range(4)] for i in range(4)]
    m = matrix(4, missing=[(0, 3)])
    for i in range(4):
        for j in range(4):
            if i != j and cls[i][j] == "SYS" and m[i][j] is not None:
                m[i][j] = 20.0  # PCIe across sockets: slow, and that is its class
    cfg = ValidateConfig(p2p_min_gbps=10.0)
    verdicts = checks.judge_p2p([checks.NodeMatrix("n0", m, gpus(4), cls)], cfg)
    failed = [(v.gpu, v.peer_gpu, v.code) for v in verdicts if v.verdict == FAIL]
    assert failed == [(0, 3, "NO_MEASUREMENT")]


# -- doctor, the result, the config ------------------------------------------------------------


def test_doctor_checks_keep_their_status():
    checks_ = [
        {"check": "pcie_width", "status": "FAIL", "detail": "GPU2: trained at x8 of max x16", "advice": "reseat", "gpus": [2]},
        {"check": "host_swap", "status": "PASS", "detail": "no swap in use", "advice": "", "gpus": []},
    ]  # fmt: skip
    a, b = doctor_verdicts("n0", checks_)
    assert (a.verdict, a.code, a.details["gpus"]) == (FAIL, "HEALTH_PCIE_WIDTH", [2])
    assert (b.verdict, b.code) == (PASS, None)


def test_every_doctor_check_has_a_documented_code():
    """Run the real diagnose() on the NVML fixtures: every check it names maps to a code."""
    snaps = {p.stem: load_snapshot(p) for p in sorted(NVML_FIXTURES.glob("*.json"))}
    seen = set()
    for name, snap in snaps.items():
        for v in doctor_verdicts(name, diagnose(snap)):
            seen.add(v.check)
    for v in doctor_verdicts("all", compare_nodes(snaps)):
        seen.add(v.check)
    assert len(seen) >= 15
    assert seen <= set(DOCTOR_CHECKS)


def test_result_round_trips_and_sets_the_exit_code():
    ok = Verdict(check="gemm", verdict=PASS, scope="gpu", node="n0", gpu=0, value=1.0)
    warn = Verdict(check="storage", verdict=WARN, scope="node", node="n0", code="STORAGE_BELOW_MIN")
    bad = Verdict(check="sdc", verdict=FAIL, scope="gpu", node="n1", gpu=2, code="SDC_MISMATCH")
    nodes = [{"hostname": "n0", "gpus": []}, {"hostname": "n1", "gpus": []}]
    assert ValidateResult([ok, warn], nodes=nodes).exit_code == 0
    result = ValidateResult([ok, warn, bad], nodes=nodes, created="2026-01-01T00:00:00Z")
    assert (result.status, result.exit_code) == (FAIL, 1)
    assert result.node_verdicts() == {"n0": WARN, "n1": FAIL}
    doc = json.loads(json.dumps(result.to_dict()))
    back = ValidateResult.from_dict(doc)
    assert [v.to_dict() for v in back.verdicts] == doc["verdicts"]
    assert doc["counts"] == {PASS: 1, WARN: 1, FAIL: 1}
    with pytest.raises(ValueError, match="schema"):
        ValidateResult.from_dict({"schema": "other"})


def test_a_non_pass_verdict_needs_a_known_code():
    with pytest.raises(ValueError, match="code"):
        Verdict(check="gemm", verdict=FAIL, scope="gpu", node="n0", code="MADE_UP")
    with pytest.raises(ValueError, match="verdict"):
        Verdict(check="gemm", verdict="OK", scope="gpu", node="n0")


def test_codes_cover_every_rule_of_every_metric():
    assert metric_code("gemm", "peak") == "GEMM_BELOW_PEAK" and "GEMM_BELOW_PEAK" in CODES
    assert "STORAGE_BELOW_MIN" in CODES and CODES["STORAGE_BELOW_MIN"][0] == WARN
    assert "MEMBW_BELOW_PEAK" not in CODES  # no peak table for memory bandwidth


def test_config_defaults_resolve_with_sources():
    cfg = check(ValidateConfig())
    t = resolve(cfg, H100, 8)
    assert (
        t["allreduce_min_busbw_gbps"].value,
        t["h2d_min_gbps"].value,
        t["p2p_min_gbps"].value,
    ) == (460.0, 48.0, 335.0)
    assert "nd96isr_h100_v5" in t["h2d_min_gbps"].source
    assert resolve(cfg, "NVIDIA H200", 8)["allreduce_min_busbw_gbps"].value == 431.0
    assert resolve(cfg, "NVIDIA H200 NVL", 8)["h2d_min_gbps"].value is None
    assert resolve(cfg, "NVIDIA H100 PCIe", 8)["h2d_min_gbps"].value is None
    assert resolve(cfg, "NVIDIA A100-SXM4-40GB", 8)["allreduce_min_busbw_gbps"].value == 228.0
    assert resolve(cfg, "cpu", 2)["h2d_min_gbps"].source == "no public figure for this GPU model"
    assert (
        resolve(ValidateConfig(h2d_min_gbps=20.0), H100)["h2d_min_gbps"].source
        == "[validate] config"
    )
    minimum = resolve(ValidateConfig(inter_node_min_busbw_gbps=60.0), H100)
    assert minimum["inter_node_min_busbw_gbps"].to_dict() == {
        "value": 60.0,
        "source": "[validate] config",
    }
    unset = resolve(ValidateConfig(), H100)["inter_node_min_busbw_gbps"]
    assert unset.value is None and "docs/validate-fabric.md" in unset.source


def test_the_gcp_fabric_presets_are_gone_and_a_config_naming_one_is_refused(tmp_path):
    # GCP's bars are node-pair all_gather at 2-8 GB; the group tests are all_reduces over
    # 2..N nodes: unlike measurements, so no preset applies them (docs/validate-fabric.md).
    from click.testing import CliRunner

    from scaling.cli import main

    cfg = tmp_path / "gcp.toml"
    cfg.write_text('[validate]\nfabric = "gcp-a3"\n')
    r = CliRunner().invoke(main, ["validate", "--config", str(cfg), "--out", str(tmp_path / "r")])
    assert r.exit_code == 2 and "unknown config key 'validate.fabric'" in r.output
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "bad",
    [dict(outlier_k=0), dict(gemm_min_peak_fraction=1.5), dict(inter_node_min_busbw_gbps=0.0),
     dict(h2d_min_gbps=-1.0), dict(exhaustive_max_nodes=1), dict(outlier_min_pct=float("inf"))],
)  # fmt: skip
def test_config_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="validate."):
        check(ValidateConfig(**bad))


# -- the baseline seam -------------------------------------------------------------------------


@dataclass
class StandIn:
    """A stand-in for collector/judge.py's judge, for this seam's test only: medians, no statistics."""

    verdict: str
    reason: str


def median_judge(base, new, threshold_pct=5.0):
    if len(base) < 2 or len(new) < 2:
        return StandIn("undecided", "too few rounds")
    ratio = sorted(new)[len(new) // 2] / sorted(base)[len(base) // 2]
    return StandIn(
        "regression" if ratio > 1 + threshold_pct / 100 else "same", f"ratio {ratio:.3f}"
    )


def test_baseline_pairs_figures_and_judges_times():
    def result(gemm_rounds, extra=()):
        vs = [Verdict(check="gemm", verdict=PASS, scope="gpu", node="n0", gpu=i, value=sum(r) / len(r),
                      unit="TFLOP/s", rounds=list(r)) for i, r in enumerate(gemm_rounds)]  # fmt: skip
        return ValidateResult(vs + list(extra))

    base = result([[700, 702, 698], [700, 701, 699], [700, 700, 700]])
    new = result([[700, 703, 699], [600, 598, 601], [700, 700]], extra=[
        Verdict(check="membw", verdict=PASS, scope="gpu", node="n0", gpu=0, value=3000.0)])  # fmt: skip
    cmp = against_baseline(new, base, median_judge)
    by_gpu = {v.gpu: v for v in cmp.verdicts}
    assert by_gpu[0].verdict == PASS
    assert (by_gpu[1].verdict, by_gpu[1].code) == (FAIL, "BASELINE_REGRESSION")  # slower throughput
    assert by_gpu[1].check == "gemm_vs_baseline" and by_gpu[1].threshold == pytest.approx(700.0)
    assert cmp.matched == 3 and cmp.only_current == ["n0 GPU0 membw"] and cmp.only_baseline == []
    one_round = against_baseline(result([[700]]), result([[650]]), median_judge)
    assert (
        one_round.verdicts[0].code == "BASELINE_UNDECIDED" and one_round.verdicts[0].verdict == WARN
    )


def test_validate_docs_list_every_fault_code():
    # The fault-code tables moved with the manual from the README to docs/validate.md.
    section = (Path(__file__).parent.parent / "docs" / "validate.md").read_text()
    for code in CODES:
        if code.startswith("HEALTH_"):
            continue
        if code in FIXED_CODES:
            assert f"| `{code}` |" in section, code
    for name, m in METRICS.items():
        suffixes = ", ".join(rule_suffix(r) for r in metric_rules(name))
        assert (
            f"| `{m.prefix}_*` | {name} | {m.scope} | {m.unit} | {m.what} | {suffixes} |" in section
        )
    assert "| `HEALTH_<CHECK>` |" in section
