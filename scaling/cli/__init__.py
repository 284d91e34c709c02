"""The `scaling` command line: one click group; each subcommand lives in its own module."""

from __future__ import annotations

import click

from scaling import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="scaling")
def main() -> None:
    """Measure how training and collectives scale over 1..N GPUs (or CPU ranks).

    \b
    Examples:
      scaling run --gpus 1,2,4,8                 # the standard suite on this machine or cluster
      scaling run --gpus 1,2 --ops all_reduce,all_gather --max-bytes 16M
      scaling run --config configs/quick.toml    # CPU-sized run
    """


from scaling.cli.topo import doctor, topo  # noqa: E402

main.add_command(topo)
main.add_command(doctor)
