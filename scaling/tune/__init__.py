"""`scaling tune`'s driver: places the ranks, measures the memory model's activations, runs
the successive-halving search on real training trials, writes tune.json and best.toml.

    from scaling import api
    from scaling.config import load_config
    t = api.tune(load_config(overrides={"tune.workload": "resnet50", "gpus": [2],
                                        "tune.budget": "3m"}))
    t.document["winner"], t.outputs, t.exit_code

- `model.py`    the tuned model's shape and optimizer, and the memory a rank may use
- `trials.py`   one candidate's training point on the gang, round after round
- `best_config.py`  best.toml: the winner as a `scaling run --config` file (it reads the
  run config's schema, so it sits here, above the collector)
- `driver.py`   refusals before Ray, the probes and the space, the search, the outputs (in
                the measuring session, scaling/session.py)

What is decided lives in scaling/collector/tune (pure python: the memory model, the space,
successive halving, the judge, tune.json and the name of best.toml).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scaling.outcome import Outcome


class TuneHooks:
    """What a caller of `api.tune` hears while it runs. Override what you need."""

    def notice(self, text: str) -> None:
        """A line for the user (a fallback to CPU, a memory probe, a warning)."""

    def planned(self, run_dir: Path, lines: list[str]) -> None:
        """The space is known (candidates, pruned); the search starts next."""

    def progress(self, p) -> None:
        """A search event (collector/tune/halving_types.Progress): what is tried, the current best."""

    def done(self) -> None:
        """Measuring ended (finished, failed or interrupted)."""


@dataclass
class Tuning(Outcome):
    """What `api.tune` returns (scaling/outcome.py: status, exit_code, path, document)."""

    document: dict | None = None
    """tune.json's content; None when nothing was decided (interrupted or failed early)."""
    outputs: list[Path] = field(default_factory=list)
    report: Any = None
    report_error: str | None = None

    def judged_code(self) -> int:
        """0 a winner, 1 no winner (every trial failed) or the measuring failed."""
        if self.status != "ok" or not self.document or not self.document.get("winner"):
            return 1
        return 0
