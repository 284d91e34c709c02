"""validate.junit.xml: one testcase per check per node, so Jenkins and GitLab show the verdicts.

The structure CI servers parse (Jenkins' JUnit plugin, GitLab's junit report):

    <testsuites name="scaling validate" tests failures errors skipped time>
      <testsuite name="<node>" tests failures errors skipped time timestamp hostname>
        <testcase classname="scaling.validate.<node>" name="<check>" time>
          <failure type="<CODE>" message="<first line>">every GPU/link line</failure>
          <system-out>...</system-out>
        </testcase>
      </testsuite>
      <testsuite name="cluster">   inter-node links and groups, one testcase each
    </testsuites>

A check judged per GPU or per GPU pair is one testcase for the node: it fails when any of its
GPUs or pairs FAILs, and lists them all. JUnit has no "warning": a WARN is a passing testcase
whose system-out starts with WARN and the code, so it is visible without failing the build.
A NO_MEASUREMENT verdict is a failure, never "skipped".
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

from scaling.collector.validate.codes import FAIL, PASS, WARN, worst
from scaling.collector.validate.verdicts import ValidateResult, Verdict
from scaling.rundir import write_atomic

JUNIT_XML = "validate.junit.xml"
CLUSTER = "cluster"


def _suite_of(v: Verdict) -> str:
    inside = v.scope in ("node", "gpu") or (v.scope == "link" and v.peer_gpu is not None)
    return v.node if v.node and inside else CLUSTER


def _case_name(v: Verdict, suite: str) -> str:
    return v.check if suite != CLUSTER else f"{v.check} {v.subject}" + (
        f" ({', '.join(v.details.get('nodes', [])[:4])}{'...' if len(v.details.get('nodes', [])) > 4 else ''})"
        if v.scope == "group" else ""
    )  # fmt: skip


def _line(v: Verdict) -> str:
    return f"{v.verdict} {v.subject}" + (f" [{v.code}]" if v.code else "") + f": {v.evidence}"


def build(result: ValidateResult) -> ET.Element:
    cases: dict[str, dict[str, list[Verdict]]] = defaultdict(lambda: defaultdict(list))
    for n in result.nodes:
        cases[n["hostname"]]  # every node gets a suite, even one with no verdict
    for v in result.verdicts:
        suite = _suite_of(v)
        cases[suite][_case_name(v, suite)].append(v)
    root = ET.Element("testsuites", name="scaling validate")
    totals = defaultdict(float)
    for suite_name, by_case in cases.items():
        suite = _suite(root, suite_name, by_case, result.created)
        for key in ("tests", "failures", "time"):
            totals[key] += float(suite.get(key))
    root.set("tests", str(int(totals["tests"])))
    root.set("failures", str(int(totals["failures"])))
    root.set("errors", "0")
    root.set("skipped", "0")
    root.set("time", f"{totals['time']:.3f}")
    return root


def _suite(root, name: str, by_case: dict[str, list[Verdict]], created: str) -> ET.Element:
    suite = ET.SubElement(root, "testsuite", name=name)
    failures, time_s = 0, 0.0
    for case_name, verdicts in by_case.items():
        case_time = sum(v.duration_s or 0.0 for v in verdicts)
        time_s += case_time
        case = ET.SubElement(
            suite, "testcase", classname=f"scaling.validate.{name.replace('.', '_')}",
            name=case_name, time=f"{case_time:.3f}",
        )  # fmt: skip
        status = worst(v.verdict for v in verdicts)
        lines = [_line(v) for v in sorted(verdicts, key=_order)]
        if status == FAIL:
            failures += 1
            bad = [v for v in verdicts if v.verdict == FAIL]
            codes = sorted({v.code for v in bad})
            message = f"{len(bad)} FAIL: {_line(bad[0])}"[:500]
            ET.SubElement(case, "failure", type=",".join(codes), message=message).text = "\n".join(
                lines
            )
        else:
            out = ET.SubElement(case, "system-out")
            head = (
                "WARN " + ",".join(sorted({v.code for v in verdicts if v.verdict == WARN}))
                if status == WARN
                else PASS
            )
            out.text = "\n".join([head, *lines])
    suite.set("tests", str(len(by_case)))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", "0")
    suite.set("time", f"{time_s:.3f}")
    if created:
        suite.set("timestamp", created.removesuffix("Z"))
    if name != CLUSTER:
        suite.set("hostname", name)
    return suite


def _order(v: Verdict) -> tuple:
    return (
        {FAIL: 0, WARN: 1, PASS: 2}[v.verdict],
        v.gpu if v.gpu is not None else -1,
        v.peer_gpu or 0,
    )


def write(result: ValidateResult, run_dir: Path) -> Path:
    root = build(result)
    ET.indent(root)
    text = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
    return write_atomic(Path(run_dir) / JUNIT_XML, text)
