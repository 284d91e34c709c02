"""The `scaling` command line: one click group; each subcommand lives in its own module."""

from __future__ import annotations

import importlib
import sys

import click

from scaling import __version__


class BadInput(click.ClickException):
    """A user error: one line on stderr, exit code 2, never a traceback."""

    exit_code = 2


class OneLineErrors(click.Group):
    """click prints usage blocks for parse errors; users asked for one line and exit 2."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as e:
            hint = f" (see '{e.ctx.command_path} --help')" if e.ctx else ""
            click.echo(f"Error: {e.format_message()}{hint}", err=True)
            sys.exit(2)
        except click.ClickException as e:
            e.show()
            sys.exit(e.exit_code)
        except click.exceptions.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) else 0)


# name -> "module:attribute". Commands load when called, so `scaling predict` (which only
# reads files) never imports the torch and ray that `scaling run` needs.
COMMANDS = {
    "run": "scaling.cli.run:run",
    "topo": "scaling.cli.topo:topo",
    "doctor": "scaling.cli.topo:doctor",
    "report": "scaling.cli.report:report",
    "compare": "scaling.cli.report:compare",
    "runs": "scaling.cli.report:runs",
    "predict": "scaling.cli.predict:predict",
}


class LazyCommands(OneLineErrors):
    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(
    cls=LazyCommands,
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
      scaling predict runs/<run> --gpus 64,256   # step time and efficiency beyond what was run
    """
