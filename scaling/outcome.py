"""How a measuring command ended: one outcome type for run, validate and tune, and the exit code
a shell sees, decided here once.

    outcome = api.validate(cfg)           # or api.run(cfg), api.tune(cfg)
    outcome.status                        # ok | failed | interrupted (how the measuring ended)
    outcome.exit_code                     # 0 ok, 1 a failed check or no result, 128+n interrupted
    outcome.path, outcome.document        # the run directory; what --json prints

Each command's result (api.RunResult, validate.Validation, tune.Tuning) is an Outcome that adds
what only it has (the collector's tables, the verdicts, the ranking) and says, in
`judged_code`, what counts as a failure for it. The interrupted case is the same for all three:
128 + the signal (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP), whether the signal stopped the
measuring or came while the ranks were being put away.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OK, FAILED, BAD_INPUT, INTERRUPTED = 0, 1, 2, 130
"""The exit codes every command shares (INTERRUPTED: Ctrl-C; SIGTERM 143, SIGHUP 129)."""


@dataclass
class Outcome:
    path: Path
    """The run directory: samples, manifest and whatever the command wrote."""
    status: str
    """ok | failed | interrupted: how the measuring ended (the manifest says why)."""
    error: str | None = field(default=None, kw_only=True)
    """Why it failed or was interrupted, in one line."""
    interrupt_code: int | None = field(default=None, kw_only=True)
    """The exit code of a signal that stopped the measuring, or came while cleaning up."""

    @property
    def exit_code(self) -> int:
        if self.status == "interrupted" or self.interrupt_code:
            return self.interrupt_code or INTERRUPTED
        return self.judged_code()

    def judged_code(self) -> int:
        """The exit code when no signal came: the command's own judgement of its result."""
        return OK if self.status == "ok" else FAILED

    @property
    def document(self) -> dict[str, Any] | None:
        """What `--json` prints for this outcome; None when nothing was decided."""
        return None
