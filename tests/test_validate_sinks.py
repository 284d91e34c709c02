"""The sinks on a synthetic result: validate.json round trip, JUnit structure as Jenkins and
GitLab parse it, Prometheus text through prometheus_client's own parser, bad_nodes.txt and
the printed drain lines."""

from __future__ import annotations

import json
import shlex
import xml.etree.ElementTree as ET

import pytest
from prometheus_client.parser import text_string_to_metric_families

from scaling.collector.validate.codes import FAIL, PASS, WARN
from scaling.collector.validate.verdicts import ValidateResult, Verdict
from scaling.sinks import drain, junit, prometheus, validate_json, write_validation
from tests.validate_results import BAD_NODES, GPUS, NODES, synthetic_result


@pytest.fixture(scope="module")
def result() -> ValidateResult:
    return synthetic_result()


@pytest.fixture
def written(result, tmp_path):
    return result, write_validation(result, tmp_path), tmp_path


def test_every_sink_writes_its_file(written):
    _, paths, run_dir = written
    assert {p.name for p in paths.values()} == {
        "validate.json", "validate.junit.xml", "validate.prom", "bad_nodes.txt"
    }  # fmt: skip
    assert not [p for p in run_dir.iterdir() if p.name.endswith(".tmp")]


def test_validate_json_round_trips(written):
    result, paths, run_dir = written
    doc = json.loads(paths["json"].read_text())
    assert (doc["status"], doc["exit_code"]) == (FAIL, 1)
    assert doc["thresholds"]["by_model"]["NVIDIA H100 80GB HBM3"]["h2d_min_gbps"]["value"] == 48.0
    assert doc["localization"]["findings"][0]["code"] == "LINK_COMM_FAIL"
    back = validate_json.read(run_dir)
    assert [v.to_dict() for v in back.verdicts] == [v.to_dict() for v in result.verdicts]
    assert back.exit_code == 1


# -- JUnit -------------------------------------------------------------------------------------


def test_junit_has_the_structure_ci_servers_parse(written):
    result, paths, _ = written
    root = ET.parse(paths["junit"]).getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == NODES + ["cluster"]
    for s in suites:
        cases = s.findall("testcase")
        assert int(s.get("tests")) == len(cases) > 0
        assert int(s.get("failures")) == sum(c.find("failure") is not None for c in cases)
        assert s.get("errors") == s.get("skipped") == "0"
        assert float(s.get("time")) >= 0 and s.get("timestamp") == "2026-03-01T12:00:00"
        for c in cases:
            assert c.get("classname").startswith("scaling.validate.") and c.get("name")
            assert float(c.get("time")) >= 0
            children = {e.tag for e in c}
            assert children in ({"failure"}, {"system-out"})
            fail = c.find("failure")
            if fail is not None:
                assert fail.get("message") and fail.get("type") and fail.text
    assert int(root.get("tests")) == sum(int(s.get("tests")) for s in suites)
    assert int(root.get("failures")) == sum(int(s.get("failures")) for s in suites)


def test_junit_one_testcase_per_check_per_node(written):
    result, paths, _ = written
    root = ET.parse(paths["junit"]).getroot()
    cases = {
        (s.get("name"), c.get("name")) for s in root.iter("testsuite") for c in s.iter("testcase")
    }
    inside = {
        (v.node, v.check)
        for v in result.verdicts
        if v.scope != "group" and not (v.scope == "link" and v.peer_gpu is None)
    }
    assert {c for c in cases if c[0] != "cluster"} == inside
    failed = {(s.get("name"), c.get("name")) for s in root.iter("testsuite") for c in s.iter("testcase")
              if c.find("failure") is not None}  # fmt: skip
    assert failed == {("n1", "gemm"), ("n2", "sdc"), ("n3", "p2p"), ("n3", "h2d"),
                      ("cluster", "inter_node n0<->n2")}  # fmt: skip
    p2p = next(c for c in root.find("testsuite[@name='n3']") if c.get("name") == "p2p")
    failure = p2p.find("failure")
    assert "GPU_IN_EVERY_SLOW_PAIR" in failure.get("type") and "GPU0<->GPU3" in failure.text
    storage = next(c for c in root.find("testsuite[@name='n0']") if c.get("name") == "storage")
    assert storage.find("system-out").text.startswith("WARN STORAGE_BELOW_MIN")
    gemm_time = next(c for c in root.find("testsuite[@name='n0']") if c.get("name") == "gemm").get(
        "time"
    )
    assert float(gemm_time) == pytest.approx(30.0 * GPUS)


def test_junit_escapes_what_xml_cannot_hold(tmp_path):
    v = Verdict(check="gemm", verdict=FAIL, scope="gpu", node="a.b", gpu=0, code="GEMM_BELOW_FLEET",
                evidence='<&> "quoted"')  # fmt: skip
    path = junit.write(ValidateResult([v], nodes=[{"hostname": "a.b", "gpus": []}]), tmp_path)
    case = ET.parse(path).getroot().find("testsuite/testcase")
    assert case.get("classname") == "scaling.validate.a_b"
    assert '<&> "quoted"' in case.find("failure").text


# -- Prometheus --------------------------------------------------------------------------------


def families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_prometheus_text_parses_with_dcgm_style_labels(written):
    result, paths, _ = written
    fams = families(paths["prometheus"].read_text())
    for name, fam in fams.items():
        assert fam.type == "gauge" and fam.documentation
        label_sets = {tuple(sorted(s.labels)) for s in fam.samples}
        assert len(label_sets) == 1, name  # node_exporter rejects mixed label names
        assert all(s.timestamp is None for s in fam.samples)  # the textfile collector rejects them
    gemm = fams["scaling_validate_gemm_tflops"]
    assert len(gemm.samples) == len(NODES) * GPUS
    slow = next(s for s in gemm.samples if s.labels["Hostname"] == "n1" and s.labels["gpu"] == "2")
    assert slow.value == 450.0 and slow.labels["UUID"] == "GPU-n1-2"
    assert slow.labels["modelName"] == "NVIDIA H100 80GB HBM3"
    status = {
        (s.labels["Hostname"], s.labels["gpu"], s.labels["check"]): s
        for s in fams["scaling_validate_status"].samples
    }
    assert (
        status[("n1", "2", "gemm")].value == 2
        and status[("n1", "2", "gemm")].labels["code"] == "GEMM_BELOW_PEAK"
    )
    assert status[("n0", "", "storage")].value == 1
    link = next(
        s for s in fams["scaling_validate_status"].samples if s.labels["peer_Hostname"] == "n2"
    )
    assert (link.labels["Hostname"], link.labels["check"], link.value) == ("n0", "inter_node", 2)
    healthy = {s.labels["Hostname"]: s.value for s in fams["scaling_validate_node_healthy"].samples}
    assert healthy == {"n0": 1, "n1": 0, "n2": 0, "n3": 0}
    assert fams["scaling_validate_cluster_status"].samples[0].value == 2
    assert (
        fams["scaling_validate_localization_tests"].samples[0].value == result.localization["tests"]
    )
    assert fams["scaling_validate_timestamp_seconds"].samples[0].value == 1772366400.0
    thr = fams["scaling_validate_h2d_gbps_threshold"].samples[0]
    h2d = next(v for v in result.verdicts if v.check == "h2d")
    assert thr.value == pytest.approx(h2d.threshold) and h2d.threshold > 48.0  # the strictest bound


def test_prometheus_label_values_are_escaped():
    v = Verdict(check="storage", verdict=WARN, scope="node", node='we"ird\\host\nx', value=0.4,
                code="STORAGE_BELOW_MIN")  # fmt: skip
    fams = families(prometheus.render(ValidateResult([v])))
    (sample,) = fams["scaling_validate_storage_gbps"].samples
    assert sample.labels["Hostname"] == 'we"ird\\host\nx'


# -- draining ----------------------------------------------------------------------------------


def test_bad_nodes_file_and_drain_lines(written):
    result, paths, _ = written
    assert paths["bad_nodes"].read_text().splitlines() == BAD_NODES
    lines = drain.commands(result)
    commands = [shlex.split(line) for line in lines if not line.startswith("#")]
    scontrol = [c for c in commands if c[0] == "scontrol"]
    assert [c[2] for c in scontrol] == [f"NodeName={n}" for n in BAD_NODES]
    assert all(
        c[3] == "State=DRAIN" and c[4].startswith("Reason=scaling validate: ") for c in scontrol
    )
    assert ["kubectl", "cordon", "n2"] in commands
    taint = next(c for c in commands if c[:3] == ["kubectl", "taint", "nodes"] and c[3] == "n3")
    assert taint[4] == "scaling.validate/fault=GPU_IN_EVERY_SLOW_PAIR:NoSchedule"
    assert any(line.startswith("# n0<->n2: LINK_COMM_FAIL; no node drained") for line in lines)


def test_a_healthy_result_drains_nothing_and_exits_0(tmp_path):
    ok = [Verdict(check="gemm", verdict=PASS, scope="gpu", node="n0", gpu=0, value=700.0, unit="TFLOP/s"),
          Verdict(check="storage", verdict=WARN, scope="node", node="n0", code="STORAGE_BELOW_MIN")]  # fmt: skip
    result = ValidateResult(ok, nodes=[{"hostname": "n0", "gpus": []}])
    paths = write_validation(result, tmp_path)
    assert result.exit_code == 0
    assert paths["bad_nodes"].read_text() == ""
    assert (
        drain.commands(result) == [drain.commands(result)[0]]
        and "0 node(s)" in drain.commands(result)[0]
    )


def test_hostile_hostnames_are_quoted():
    v = Verdict(
        check="sdc", verdict=FAIL, scope="gpu", node="n1; rm -rf /", gpu=0, code="SDC_MISMATCH"
    )
    lines = drain.commands(ValidateResult([v], nodes=[{"hostname": "n1; rm -rf /", "gpus": []}]))
    assert shlex.split(lines[2]) == ["kubectl", "cordon", "n1; rm -rf /"]


def test_judging_and_writing_import_neither_torch_nor_ray():
    """The collector and sink layers run on recorded results anywhere (they import no torch and no Ray)."""
    import subprocess
    import sys

    modules = [
        "scaling.collector.validate.checks", "scaling.collector.validate.localize",
        "scaling.collector.validate.simulate", "scaling.collector.validate.internode",
        "scaling.collector.validate.baseline", "scaling.collector.validate.health",
        "scaling.collector.validate.assemble", "scaling.collector.validate.records",
        "scaling.workloads.checks.gemm", "scaling.workloads.faults", "scaling.validate.plan",
        "scaling.sinks.validate_json", "scaling.sinks.junit", "scaling.sinks.prometheus",
        "scaling.sinks.drain", "scaling.report.validate", "scaling.config.validate",
    ]  # fmt: skip
    probe = "import importlib, sys\n" + "".join(
        f"importlib.import_module({m!r})\n" for m in modules
    )
    probe += "print([m for m in ('torch', 'ray') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
