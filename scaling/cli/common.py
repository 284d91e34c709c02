"""What every command shares: one-line errors, the console, JSON output, the schema's
options, and how the end of a run reports its report.

Importing this is cheap (click only): rich and the API are imported when used, so
`scaling --help` and the commands that only read files start at once.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click


class BadInput(click.ClickException):
    """A user error: one line on stderr, exit code 2, never a traceback."""

    exit_code = 2


class OneLineErrors(click.Group):
    """click prints usage blocks for parse errors; users asked for one line and exit 2."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        from scaling import interrupts

        # From launch to exit, the first SIGINT/SIGTERM/SIGHUP is one interrupt (exit 128 + N,
        # one line) and later ones never raise (scaling/interrupts.py).
        previous = interrupts.install()
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as e:
            hint = f" (see '{e.ctx.command_path} --help')" if e.ctx else ""
            click.echo(f"Error: {e.format_message()}{hint}", err=True)
            rv = 2
        except click.ClickException as e:
            e.show()
            rv = e.exit_code
        except (click.exceptions.Abort, KeyboardInterrupt) as e:
            # Before a command handles it itself (while it imports torch, say); click wraps
            # the interrupt in Abort, and interrupts knows which signal it was.
            e = e if isinstance(e, KeyboardInterrupt) else e.__cause__ or KeyboardInterrupt()
            click.echo(f"{interrupts.reason(e)} before starting: nothing was recorded", err=True)
            rv = interrupts.exit_code(e)
        finally:
            interrupts.finished(previous)
        sys.exit(rv if isinstance(rv, int) else 0)


def console(file=None):
    """A rich console; off a terminal (logs, CI, pipes) 140 columns, not rich's 80."""
    from rich.console import Console

    file = file or sys.stdout
    probe = Console(file=file)
    # soft_wrap: a message is one line however long; tables still fit the width.
    width = None if probe.is_terminal else 140
    return Console(file=file, highlight=False, soft_wrap=True, width=width)


def echo_json(obj: Any) -> None:
    """One JSON document on stdout: NaN as null, never as NaN."""
    from scaling.format import json_safe

    click.echo(json.dumps(json_safe(obj), default=str, allow_nan=False))


def echo_warnings(lines: list[str]) -> None:
    """Warnings a command read (damaged sample lines, files it could not use): on stderr."""
    for line in lines:
        click.echo(f"warning: {line}", err=True)


def bad_input(e: Exception) -> BadInput:
    """A user-fixable error from the API (ConfigError, ClusterError, NotARunDir) as exit 2."""
    return BadInput(str(e))


class SchemaOption(click.Option):
    """An option documented by a schema field: its help (with the default and choices) is
    the field's declaration, read when help is shown, so choices a registry gained after
    this module was imported are listed too."""

    def __init__(self, *decls, schema: tuple, **kw):
        self.schema = schema  # (section dataclass, field name, default as shown, note)
        super().__init__(*decls, **kw)

    @property
    def help(self) -> str:
        from scaling.config.fields import help_text

        return help_text(*self.schema)

    @help.setter
    def help(self, value) -> None:
        pass  # the field's declaration is the help


def schema_option(cls: type, name: str, *decls: str, shown=..., also=None, **kw):
    """A click option whose help (with the default) comes from a schema field's declaration.

    The value stays a string (default None = not given): the config loader parses it, so
    errors read the same from the CLI and from a TOML file. shown: the default as the help
    shows it (default: the field's own; None: none). also: a note added to the help.
    """
    kw.setdefault("default", None)
    return click.option(*decls, cls=SchemaOption, schema=(cls, name, shown, also), **kw)


def report_outcome(summary, err) -> dict | None:
    """The end of `scaling run`: where the report is, or why it is not (the run still counts;
    its samples and tables are on disk). Returns the report paths for --json."""
    if summary.report is None:
        err.print(
            f"[yellow]warning:[/] report not written ({summary.report_error}); "
            f"retry with: scaling report {summary.run.path}"
        )
        return None
    err.print(f"report: {summary.report.html}")
    return {"report_md": str(summary.report.markdown), "report_html": str(summary.report.html)}


def call_placing(call, err, doing: str):
    """Call an API function that connects Ray and places ranks (validate, tune): bad input
    and impossible placements exit 2, ranks that could not start exit 1, and an interrupt
    before anything was measured exits with its signal's code. Returns (outcome, None), or
    (None, exit code) after saying why."""
    from scaling.cluster.connect import ClusterError
    from scaling.cluster.gang import GangError
    from scaling.config import ConfigError

    try:
        return call(), None
    except (ConfigError, ClusterError) as e:
        raise BadInput(str(e)) from None
    except GangError as e:  # ranks failed to start: nothing was measured
        raise click.ClickException(f"could not start the ranks: {e}") from None
    except KeyboardInterrupt as e:  # while Ray started or ranks were placed
        from scaling import interrupts

        err.print(f"{interrupts.reason(e)} before {doing}: nothing was recorded")
        return None, interrupts.exit_code(e)
