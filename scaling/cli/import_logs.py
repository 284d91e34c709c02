"""`scaling import nccl-tests LOG...`: other tools' output as a run directory. Reads files only:
no torch, no Ray."""

from __future__ import annotations

import click

from scaling.cli.common import BadInput


@click.group("import")
def import_group() -> None:
    """Turn another tool's output into a run directory that report, compare, predict and
    `validate --judge` read.

    \b
    Examples:
      scaling import nccl-tests node1.log node2.log --out runs/nccl-nodes
      scaling validate --judge runs/nccl-nodes
    """


@import_group.command("nccl-tests")
@click.argument("logs", nargs=-1, required=True, metavar="LOG...")
@click.option("--out", default=None, metavar="DIR",
              help="Run directory to create (must be new or empty). Default: runs/<UTC time>-<id>/.")  # fmt: skip
@click.option("--op", default=None, metavar="OP",
              help="The collective, for old text logs that do not name it (e.g. all_reduce).")  # fmt: skip
def nccl_tests(logs: tuple[str, ...], out: str | None, op: str | None) -> int:
    """Import nccl-tests output: text tables (old and new layouts, srun --label or mpirun
    --tag-output prefixes) and `-J` JSON files, one test per LOG.

    Each size's out-of-place row becomes a point of group "world" (its in-place row the
    group "world:in-place"; several logs of one shape: "node:HOST"), with the same
    summary.csv columns as `scaling run`. nccl-tests prints one mean time per size, so p90,
    p99, min and max are n/a, never invented. The GPUs and hosts come from the "Using
    devices" lines. docs/import.md maps every column.

    \b
    Examples:
      scaling import nccl-tests all_reduce.log --out runs/h100-node1
      scaling import nccl-tests h200.json                     # nccl-tests -J output
      scaling import nccl-tests old.log --op all_reduce       # a log that names no test
      scaling report runs/h100-node1 && scaling predict runs/h100-node1

    Exit status: 0 imported, 2 bad input (no table, unreadable file, --out holds a run).
    """
    from scaling.importers.nccl_tests import NcclTestsLogError, read_log
    from scaling.rundir import RunDirError, check_run_path, new_run_path

    if op is not None:
        from scaling.workloads.collectives import ops

        if op not in ops.names():
            raise BadInput(f"--op {op}: choose from {', '.join(ops.names())}")
    try:
        check_run_path(out, "runs")
        parsed = [read_log(path, op) for path in logs]
    except (NcclTestsLogError, ValueError) as e:
        raise BadInput(str(e)) from None
    from scaling import api
    from scaling.importers.run_dir import write_import

    try:
        path = write_import(parsed, out or new_run_path("runs"))
    except (RunDirError, ValueError) as e:
        raise BadInput(str(e)) from None
    summary = api.report(path)
    for log in parsed:
        hosts = ", ".join(log.hosts)
        click.echo(f"{log.path}: {log.op}, {len(log.rows) // 2 or len(log.rows)} sizes, "
                   f"{log.ranks} x {', '.join(log.models)} on {hosts}")  # fmt: skip
    for note in summary.run.manifest["imported"]["not_in_logs"]:
        click.echo(f"not in the logs: {note}", err=True)
    click.echo(f"run directory: {path}")
    if summary.report is not None:
        click.echo(f"report: {summary.report.html}")
    else:
        click.echo(f"warning: report not written ({summary.report_error})", err=True)
    return 0
