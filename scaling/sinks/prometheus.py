"""validate.prom: the verdicts in Prometheus' text exposition format, dcgm-exporter style.

Copy (or link) it into node_exporter's `--collector.textfile.directory`: it is written
atomically, carries no sample timestamps (the textfile collector rejects them) and every
family keeps one label set (node_exporter refuses families whose label names differ).
Labels follow dcgm-exporter: `Hostname`, `gpu` (index), `UUID`, `modelName`; a GPU pair adds
`peer_gpu`, a node pair `peer_Hostname`; labels that do not apply are empty.

    scaling_validate_status{Hostname,gpu,UUID,modelName,peer_Hostname,peer_gpu,check,code}
        0 PASS, 1 WARN, 2 FAIL, per verdict (group verdicts: scaling_validate_findings)
    scaling_validate_<check>_<unit>{Hostname,gpu,UUID,modelName,peer_Hostname,peer_gpu}
        the measured figure, e.g. scaling_validate_gemm_tflops, scaling_validate_h2d_gbps
    scaling_validate_<check>_<unit>_threshold{...}   the bound it had to clear
    scaling_validate_node_healthy{Hostname}           1 unless a node/GPU verdict FAILs
    scaling_validate_findings{check,code,verdict}     count of WARN/FAIL verdicts
    scaling_validate_cluster_status                   0/1/2, the exit code's source
    scaling_validate_localization_tests (reference tests included), ..._reference_tests,
        ..._rounds, ..._seconds, ..._rings_tested, ..._rings_needed
    scaling_validate_timestamp_seconds                when the result was created
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path

from scaling.collector.validate.codes import FAIL, METRICS, SEVERITY
from scaling.collector.validate.verdicts import ValidateResult, Verdict
from scaling.rundir import write_atomic

VALIDATE_PROM = "validate.prom"
PREFIX = "scaling_validate"
SUBJECT_LABELS = ("Hostname", "gpu", "UUID", "modelName", "peer_Hostname", "peer_gpu")
UNIT_SUFFIX = {"TFLOP/s": "tflops", "GB/s": "gbps"}


def escape(value: str) -> str:
    """A label value as the text format needs it: backslash, double quote and newline escaped."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: dict[str, object]) -> str:
    inner = ",".join(f'{k}="{escape("" if v is None else v)}"' for k, v in pairs.items())
    return "{" + inner + "}"


def _subject(v: Verdict) -> dict[str, object]:
    peer_host = v.peer_node if v.peer_gpu is None else ""
    return dict(
        zip(SUBJECT_LABELS, (v.node, v.gpu, v.uuid, v.model, peer_host, v.peer_gpu), strict=True)
    )


class _Families:
    def __init__(self) -> None:
        self.order: list[str] = []
        self.meta: dict[str, str] = {}
        self.rows: dict[str, list[str]] = {}

    def add(self, name: str, help_: str, labels: dict[str, object], value: float) -> None:
        if name not in self.meta:
            self.order.append(name)
            self.meta[name], self.rows[name] = help_, []
        self.rows[name].append(f"{name}{_labels(labels) if labels else ''} {float(value):.10g}")

    def text(self) -> str:
        out = []
        for name in self.order:
            out += [f"# HELP {name} {self.meta[name]}", f"# TYPE {name} gauge", *self.rows[name]]
        return "\n".join(out) + "\n"


def metric_name(check: str) -> str:
    return f"{PREFIX}_{check}_{UNIT_SUFFIX[METRICS[check].unit]}"


def render(result: ValidateResult) -> str:
    fam = _Families()
    for v in result.verdicts:
        if v.scope == "group":
            continue
        fam.add(f"{PREFIX}_status", "Verdict per check: 0 PASS, 1 WARN, 2 FAIL.",
                {**_subject(v), "check": v.check, "code": v.code or ""}, SEVERITY[v.verdict])  # fmt: skip
    for v in result.verdicts:
        if v.check in METRICS and v.value is not None:
            m = METRICS[v.check]
            fam.add(metric_name(v.check), f"Measured {m.what}, {m.unit}.", _subject(v), v.value)
    for v in result.verdicts:
        if v.check in METRICS and v.value is not None and v.threshold is not None:
            fam.add(metric_name(v.check) + "_threshold", f"The bound {v.check} had to clear, "
                    f"{METRICS[v.check].unit}.", _subject(v), v.threshold)  # fmt: skip
    for host, verdict in sorted(result.node_verdicts().items()):
        fam.add(f"{PREFIX}_node_healthy", "1 unless a node or GPU verdict FAILs.",
                {"Hostname": host}, int(verdict != FAIL))  # fmt: skip
    _summary(fam, result)
    return fam.text()


def _summary(fam: _Families, result: ValidateResult) -> None:
    found = Counter((v.check, v.code, v.verdict) for v in result.verdicts if v.code)
    for (check, code, verdict), n in sorted(found.items()):
        fam.add(f"{PREFIX}_findings", "WARN and FAIL verdicts by check and code.",
                {"check": check, "code": code, "verdict": verdict}, n)  # fmt: skip
    fam.add(f"{PREFIX}_cluster_status", "Worst verdict: 0 PASS, 1 WARN, 2 FAIL.", {},
            SEVERITY[result.status])  # fmt: skip
    loc = result.localization
    if loc:
        fam.add(f"{PREFIX}_localization_tests", "Group tests the localisation ran, node-pair "
                "reference tests included.", {}, loc["tests"])  # fmt: skip
        if "reference_tests" in loc:  # absent from runs recorded before it was counted
            fam.add(f"{PREFIX}_localization_reference_tests", "Of those, node-pair reference "
                    "tests run to set the bar.", {}, loc["reference_tests"])  # fmt: skip
        if loc.get("rings_needed") and loc.get("op") != "all_to_all":  # ring screens only
            fam.add(f"{PREFIX}_localization_rings_tested", "Ring orders screened; every node "
                    "pair was ring neighbours in one when it equals rings_needed.", {},
                    loc["rings_tested"])  # fmt: skip
            fam.add(f"{PREFIX}_localization_rings_needed", "Ring orders that make every node "
                    "pair neighbours once: ceil((N-1)/2).", {}, loc["rings_needed"])  # fmt: skip
        fam.add(
            f"{PREFIX}_localization_rounds", "Rounds of concurrent group tests.", {}, loc["rounds"]
        )
        fam.add(
            f"{PREFIX}_localization_seconds", "Wall time of the localisation.", {}, loc["wall_s"]
        )
    if result.created:
        when = datetime.fromisoformat(result.created.replace("Z", "+00:00")).timestamp()
        fam.add(f"{PREFIX}_timestamp_seconds", "When the validation result was created.", {}, when)


def write(result: ValidateResult, run_dir: Path) -> Path:
    return write_atomic(Path(run_dir) / VALIDATE_PROM, render(result))
