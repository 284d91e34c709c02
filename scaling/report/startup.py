"""Start-up, report layer (collector/startup.py builds startup.csv): what each group cost to form.

The report's start-up section: what forming each process group cost (startup.csv).
"""

from __future__ import annotations

from scaling import format as f
from scaling.collector.loaded_run import Run
from scaling.report.document import Col, Section, Text, records_table

NOTE = (
    "Each phase is the slowest rank's (a group is ready when its last rank is): rendezvous "
    "(reaching rank 0's TCP store), init_process_group (on NCCL with device_id it creates the "
    "communicator), first collective (a one-element all_reduce: where a lazily initialised "
    "communicator is created); setup is the driver's wall time for the whole formation, Ray's "
    "calls included. One formation per group: a figure to read, not a distribution."
)


def section(run: Run) -> Section | None:
    """None when the run recorded no start-up (older runs, or no group was formed)."""
    table = run.startup
    if table.empty:
        return None
    s = Section("Communicator start-up", "startup")
    cols = [
        Col("world size", lambda r: str(r["world_size"])),
        Col("group", lambda r: str(r["group"])),
        Col("backend", lambda r: str(r["backend"])),
        Col("rendezvous ms", lambda r: f.ms(r["rendezvous_s"])),
        Col("init_process_group ms", lambda r: f.ms(r["init_s"])),
        Col("first collective ms", lambda r: f.ms(r["first_collective_s"])),
        Col("setup (driver) ms", lambda r: f.ms(r["setup_s"])),
        Col("slowest rank", lambda r: str(r["slowest_rank"])),
    ]
    s.blocks += records_table(table.to_dict(orient="records"), cols, "startup.csv", 3)
    s.blocks.append(Text(NOTE, "note"))
    return s
