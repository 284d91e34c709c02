"""Which transport NCCL actually chose, read from NCCL's own INIT log.

A busbw figure means little if NCCL quietly went through host memory (SHM) or TCP sockets
where the hardware has NVLink, PCIe peers or InfiniBand. NCCL says what it chose when it
connects each channel, one line per connection, under the INIT debug subsystem:

    host:pid:tid [0] NCCL INFO Channel 00/0 : 0[0] -> 1[1] via P2P/CUMEM/read
    host:pid:tid [3] NCCL INFO Channel 05 : 11[3] -> 12[4] via SHM/direct/direct
    host:pid:tid [7] NCCL INFO Channel 14/0 : 15[7] -> 0[0] [send] via NET/Socket/0
    host:pid:tid [0] NCCL INFO Channel 07/0 : 0[0] -> 8[0] [send] via NET/IBext_v8/7/GDRDMA
    host:pid:tid [1] NCCL INFO 4 coll channels, 4 collnet channels, 2 nvls channels, ...

Ranks in "a[x] -> b[y]" are the communicator's ranks. `parse` turns lines into links and a
transport class per link (P2P/IPC, P2P/CUMEM, SHM, NET/IB, NET/Socket, ...), plus whether
NVLS or CollNet were set up.

`Capture` is the rank side: NCCL reads its debug settings once per process, so the rank
actor sets them before any communicator exists. NCCL then writes to a file this rank reads
after each group and point; `keep` holds these settings when a group's env is applied
again (the user's --env included). The user's own NCCL_DEBUG output stays where they asked for it:
in their NCCL_DEBUG_FILE if they named one (read, never moved), else on the rank's stdout,
which this module prints the new lines to (filtered to the level they asked for), as NCCL
would have.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
import tempfile
from collections.abc import Iterable, MutableMapping
from pathlib import Path

_LINK = re.compile(
    r"NCCL INFO (?:Channel|Ring) \d+(?:/\d+)? : (\d+)\[[^\]]*\] -> (\d+)\[[^\]]*\]"
    r"(?: \[(send|receive)\])? via (\S+)"
)
_CHANNELS = re.compile(
    r"NCCL INFO (\d+) coll channels, (?:(\d+) collnet channels, )?(\d+) nvls channels"
)
# NVLS heads are chosen and NVLS buffers set up only where NVLink SHARP will be used.
_NVLS = re.compile(r"NCCL INFO NVLS (?:comm 0x|Head )")
_COLLNET = re.compile(
    r"NCCL INFO (?:Connected (?:all )?collnet|CollNet \w+ .*(?:SHARP|Chain))", re.I
)
_COMM = re.compile(
    r"comm (0x[0-9a-f]+) rank (\d+) nranks (\d+) cudaDev (\d+)\b.*?busId ([0-9a-fA-F]+)"
    r"(?: commId (0x[0-9a-f]+))? - Init COMPLETE"
)
_SETTINGS = ("NCCL_DEBUG", "NCCL_DEBUG_FILE", "NCCL_DEBUG_SUBSYS")
_LEVELS = {"VERSION": ("NCCL version",), "WARN": ("NCCL WARN", "NCCL version")}


def transport_class(via: str) -> str:
    """'P2P/CUMEM/read' -> 'P2P/CUMEM', 'SHM/direct/direct' -> 'SHM', 'NET/IBext_v8/7/GDRDMA'
    -> 'NET/IB', 'NET/Socket/0' -> 'NET/Socket'."""
    parts = via.split("/")
    kind = parts[0].upper()
    if kind == "SHM":
        return "SHM"
    if kind == "P2P" and len(parts) > 1:
        return f"P2P/{parts[1]}"
    if kind == "NET" and len(parts) > 1:
        name = parts[1]
        # Plugin names carry versions (IBext_v8): the class is what the user can act on.
        if name.upper().startswith("IB"):
            name = "IB"
        return f"NET/{name}"
    return via


def parse(lines: Iterable[str]) -> dict:
    """Links, transport classes, NVLS/CollNet use and completed communicators in NCCL log lines."""
    links, comms = [], []
    nvls = collnet = False
    for line in lines:
        m = _LINK.search(line)
        if m:
            src, dst, direction, via = m.groups()
            links.append(
                {
                    "src": int(src),
                    "dst": int(dst),
                    "direction": direction,
                    "via": via,
                    "transport": transport_class(via),
                }
            )
            continue
        m = _CHANNELS.search(line)
        if m:
            # "collnet channels" is counted whether or not CollNet runs; NVLS channels are not.
            nvls = nvls or int(m.group(3)) > 0
            continue
        if _NVLS.search(line):
            nvls = True
        elif _COLLNET.search(line):
            collnet = True
        m = _COMM.search(line)
        if m:
            comms.append({"rank": int(m.group(2)), "nranks": int(m.group(3)), "bus_id": m.group(5)})
    transports = sorted({x["transport"] for x in links})
    if nvls:
        transports.append("NVLS")
    if collnet:
        transports.append("CollNet")
    return {
        "links": links,
        "transports": transports,
        "nvls": nvls,
        "collnet": collnet,
        "comms": comms,
    }


class Capture:
    """Point NCCL's debug log at a file this rank reads (see the module docstring)."""

    def __init__(self, environ: MutableMapping[str, str]):
        level = environ.get("NCCL_DEBUG", "").upper()
        user_file = environ.get("NCCL_DEBUG_FILE")
        self.echo = level if level and not user_file else None
        self.own = not user_file
        if user_file:
            # NCCL expands %h (host) and %p (pid) in the name.
            self.path = Path(
                user_file.replace("%h", os.uname().nodename).replace("%p", str(os.getpid()))
            )
        else:
            # Named, not created: NCCL creates it when a communicator first logs, so a rank
            # that never uses NCCL leaves nothing behind.
            name = f"scaling-nccl-{os.getpid()}-{secrets.token_hex(4)}.log"
            self.path = Path(tempfile.gettempdir()) / name
            environ["NCCL_DEBUG_FILE"] = str(self.path)
        if level not in ("INFO", "TRACE"):
            environ["NCCL_DEBUG"] = "INFO"
        subsys = environ.get("NCCL_DEBUG_SUBSYS")
        if subsys is None and not level:
            environ["NCCL_DEBUG_SUBSYS"] = "INIT"  # just what this module reads
        elif subsys is not None and not subsys.startswith("^"):
            wanted = {s.strip().upper() for s in subsys.split(",")}
            if not wanted & {"INIT", "ALL"}:
                environ["NCCL_DEBUG_SUBSYS"] = subsys + ",INIT"
        # What NCCL must read at its first communicator for this capture to work.
        self.settings = {k: environ[k] for k in _SETTINGS if k in environ}
        self._fh = None
        self._partial = ""

    def keep(self, environ: MutableMapping[str, str], env: dict[str, str]) -> None:
        """Apply a group's env (the user's --env again, tune's NCCL settings, torchrun's
        variables) without undoing the capture: NCCL reads its debug settings once, at the
        first communicator, so a NCCL_DEBUG=WARN re-applied here would silence the INIT lines
        the transport column comes from. The user's level still decides what they see
        (`echo`, fixed when the rank started)."""
        environ.update(env)
        environ.update(self.settings)

    def read_new(self) -> dict:
        """Parse what NCCL wrote since the last call; echo it where the user asked for it."""
        if self._fh is None:
            if not self.path.exists():
                return parse([])
            self._fh = self.path.open("r", encoding="utf-8", errors="replace")
        text = self._partial + self._fh.read()
        if text and self.own and self.path.exists():
            # NCCL has the file open (it wrote to it) and this rank reads it through its own
            # handle, so the name can go: nothing is left in /tmp when the rank ends.
            self.path.unlink(missing_ok=True)
        text, _, self._partial = (
            text.rpartition("\n") if not text.endswith("\n") else (text, "", "")
        )
        lines = text.splitlines()
        self._echo(lines)
        return parse(lines)

    def _echo(self, lines: list[str]) -> None:
        if not self.echo or not lines:
            return
        keep = _LEVELS.get(self.echo)
        shown = [x for x in lines if keep is None or any(k in x for k in keep)]
        if shown:
            sys.stdout.write("\n".join(shown) + "\n")
            sys.stdout.flush()
