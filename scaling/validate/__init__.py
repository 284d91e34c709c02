"""`scaling validate`'s driver: places the ranks, runs the check workloads, localises, records.

    from scaling import api
    outcome = api.validate(load_config(overrides={"validate.level": "quick"}))
    outcome.exit_code, outcome.result.status, outcome.drain

- `plan.py`          what each level runs, and the time estimate printed before it starts
- `ranks.py`         who each rank is; calls that tolerate a stopped rank; who was lost
- `hosts.py`         per node: doctor's snapshot, PCIe ASPM, the --storage read (Ray tasks)
- `links.py`         the rank and node records: PCIe and link ceilings, GPU-pair classes
- `driver.py`        the stages in order, every result recorded as it arrives (the command
                     steps, as tune/driver.py holds tune's)
- `comm.py`          each node's all_reduce and GPU-pair matrix, in one process group
- `localization.py`  the inter-node group test and its bar, behind the adaptive search
- `placing.py`       refusals before Ray, and placing the ranks (scaling/session.py calls it)
- `conclude.py`      judging the records and writing every sink afterwards

What is measured lives in scaling/workloads/checks, how it is judged in
scaling/collector/validate, where it is written in scaling/sinks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scaling.outcome import Outcome


class ValidateHooks:
    """What a caller of `api.validate` hears while it runs. Override what you need."""

    def notice(self, text: str) -> None:
        """A line for the user (a fallback to CPU, a warning)."""

    def planned(self, run_dir: Path, lines: list[str]) -> None:
        """The ranks are placed: what will run and the time estimate; checks start next."""

    def stage(self, name: str, what: str) -> None:
        """A stage starts (host, gemm, membw, host_copies, sdc, allreduce, p2p, inter_node)."""

    def progress(self, name: str, done: int, total: int) -> None:
        """Part of a long stage is done."""

    def stage_done(self, name: str, seconds: float, failures: list[str]) -> None:
        """A stage ended; failures: one line per rank or node that gave no result."""

    def done(self) -> None:
        """Measuring ended (finished, failed or interrupted)."""


@dataclass
class Validation(Outcome):
    """What `api.validate` returns (scaling/outcome.py: status, exit_code, path, document)."""

    result: Any = None
    """The ValidateResult (collector/validate/verdicts.py); None when interrupted."""
    outputs: dict[str, Path] = field(default_factory=dict)
    """Sink name -> file: json, junit, prometheus, bad_nodes."""
    drain: list[str] = field(default_factory=list)
    """The scontrol/kubectl lines to take the bad nodes out: printed, never run."""
    report: Any = None
    report_error: str | None = None

    def judged_code(self) -> int:
        """0 everything passed (WARN allowed), 1 a FAIL (or no result)."""
        return 1 if self.result is None else self.result.exit_code

    @property
    def document(self) -> dict[str, Any]:
        """validate.json's content with the outputs and drain lines; the status alone without."""
        if self.result is None:
            return {"status": self.status, "exit_code": self.exit_code,
                    "run_dir": str(self.path), "error": self.error}  # fmt: skip
        return {"run_dir": str(self.path), **self.result.to_dict(),
                "outputs": {k: str(p) for k, p in self.outputs.items()},
                "drain": self.drain}  # fmt: skip
