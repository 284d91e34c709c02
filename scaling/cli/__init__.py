"""The `scaling` command line: one click group; each command lives in its own module.

Commands are found by name in COMMANDS and imported only when needed, and no command module
imports torch, Ray or pandas at the top: `scaling --help` and the commands that only read
files start at once (tests/test_startup.py checks it). A new command is its module plus one
line in COMMANDS.
"""

from __future__ import annotations

import importlib

import click

from scaling import __version__
from scaling.cli.common import BadInput, OneLineErrors

__all__ = ["BadInput", "COMMANDS", "main"]

COMMANDS = {
    "run": "scaling.cli.run:run",
    "topo": "scaling.cli.topo:topo",
    "doctor": "scaling.cli.topo:doctor",
    "report": "scaling.cli.report:report",
    "compare": "scaling.cli.report:compare",
    "runs": "scaling.cli.report:runs",
    "predict": "scaling.cli.predict:predict",
    "validate": "scaling.cli.validate:validate",
    "tune": "scaling.cli.tune:tune",
    "import": "scaling.cli.import_logs:import_group",
}


class Commands(OneLineErrors):
    """The group: COMMANDS, each imported when it is run or listed."""

    def list_commands(self, ctx) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx, name: str):
        if name not in COMMANDS:
            return None
        module, _, attr = COMMANDS[name].partition(":")
        return getattr(importlib.import_module(module), attr)


@click.group(
    cls=Commands,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="scaling")
def main() -> None:
    """Measure how training and collectives scale over 1..N GPUs (or CPU ranks).

    \b
    Examples:
      scaling run --gpus 1,2,4,8                 # sweep world sizes on this machine or cluster
      scaling run --gpus 1,2 --ops all_reduce,all_gather --max-bytes 16M
      scaling run --config configs/quick.toml    # CPU-sized run
    """
