"""Read nccl-tests output (all_reduce_perf and friends): the text table or the `-J` JSON file.

    from scaling.importers.nccl_tests import read_log
    log = read_log("all_reduce.log")      # a ParsedLog, or NcclTestsLogError in one line
    log.op, log.ranks, log.hosts, log.rows[0].busbw_gbps

What the two formats hold (NVIDIA/nccl-tests src/util.cu writes both):

- text: `#` header lines (`# nThread 1 nGpus 1 minBytes .. iters: 20 .. validation: 1`,
  `#  Rank  0 Group  0 Pid 313 on HOST device  0 [0x18] NVIDIA H100 80GB HBM3`), a column
  header (`size count type redop [root] time algbw busbw #wrong|error time ...`), then one row
  per size with an out-of-place and an in-place block. Columns are found by the header's
  names, not by position, so old tables (no root column, `error` for `#wrong`), `cputime`
  tables and per-iteration ones (i_min, i_max, i_p99, i_cv%) read alike. `N/A` in the wrong
  column means validation was off. Launchers prefix lines (`srun --label`: `  0: `; Open MPI's
  `[1,0]<stdout>:`); the prefix is stripped.
- JSON (`-J FILE`, nccl-tests 2.17.3+): config.devices, results[] with out_of_place and
  in_place {time, alg_bw, bus_bw, nwrong}. Booleans are the strings "true"/"false", root a
  padded string, nwrong null without validation; 2.17.3-2.17.8 spell "bandwidith".

nccl-tests prints one time per size: the mean over its timed iterations. There are no
per-iteration samples, so no percentiles can be had from it; ParsedLog.missing says so.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

# nccl-tests' type names -> the dtype names scaling's run directories use.
DTYPES = {"float": "float32", "half": "float16", "bfloat16": "bfloat16", "double": "float64",
          "int8": "int8", "uint8": "uint8", "int32": "int32", "uint32": "uint32",
          "int64": "int64", "uint64": "uint64", "f8e4m3": "float8_e4m3", "f8e5m2": "float8_e5m2"}  # fmt: skip
PREFIX = re.compile(r"^\s*(?:\d+:\s|\[\d+,\d+\]<std(?:out|err)>:|\[\d+\]\s*)")
"""srun --label (`  0: `), Open MPI --tag-output (`[1,0]<stdout>:`), `[0] `."""
RANK_LINE = re.compile(
    r"#\s*Rank\s+(?P<rank>\d+)\s+(?:Group\s+(?P<group>\d+)\s+)?Pid\s+(?P<pid>\d+)\s+on\s+(?P<host>\S+)"
    r"\s+device\s+(?P<device>\d+)\s+\[(?P<bus>[^\]]*)\]\s+(?P<model>.*?)\s*$"
)
SETTINGS = re.compile(r"(nThread|nGpus|minBytes|maxBytes|warmup iters|iters|agg iters|"
                      r"validation|graph):\s*(\d+)|(nThread|nGpus|minBytes|maxBytes)\s+(\d+)")  # fmt: skip
PROGRAM = re.compile(r"(?:Collective test starting|Collective test concluded):\s*(\S+)")
PERF = re.compile(r"([a-z_]+?)_perf(?:_mpi)?\b")


class NcclTestsLogError(ValueError):
    """The file is not nccl-tests output scaling can read: one line naming the file and why."""


@dataclass
class Device:
    rank: int
    host: str
    device: int
    bus: str
    model: str
    pid: int | None = None
    group: int = 0


@dataclass
class Row:
    """One size, one placement (out-of-place or in-place), as nccl-tests printed it."""

    size_bytes: int
    count: int
    dtype: str
    redop: str
    root: int | None
    in_place: bool
    time_us: float
    algbw_gbps: float | None
    busbw_gbps: float | None
    wrong: int | None
    """#wrong; None when validation was off (N/A, null)."""


@dataclass
class ParsedLog:
    path: str
    format: str
    """text | json"""
    op: str | None
    devices: list[Device]
    rows: list[Row]
    settings: dict[str, int] = field(default_factory=dict)
    version: str | None = None
    avg_busbw_gbps: float | None = None
    missing: list[str] = field(default_factory=list)
    """What the log did not contain that a measured run has (said in the manifest)."""

    @property
    def ranks(self) -> int:
        return len(self.devices)

    @property
    def hosts(self) -> list[str]:
        return list(dict.fromkeys(d.host for d in self.devices))

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(d.model for d in self.devices))


def read_log(path: str | Path, op: str | None = None) -> ParsedLog:
    """Parse one log (text or JSON, told apart by its first character). op: the collective
    when the log does not name it (older text logs print no program name)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise NcclTestsLogError(f"{p}: cannot read ({e.strerror or e})") from None
    log = _json(p, text) if text.lstrip().startswith("{") else _text(p, text)
    log.op = log.op or op
    if log.op is None:
        raise NcclTestsLogError(f"{p}: the log does not name its collective; pass --op "
                                "(e.g. --op all_reduce)")  # fmt: skip
    if op and log.op != op:
        raise NcclTestsLogError(f"{p}: the log is {log.op}_perf, not --op {op}")
    if not log.devices:
        raise NcclTestsLogError(f"{p}: no '#  Rank N ... on HOST device D' lines: the GPUs and "
                                "hosts are unknown (run nccl-tests without hiding its header)")  # fmt: skip
    ranks = sorted(d.rank for d in log.devices)
    if ranks != list(range(len(ranks))):
        raise NcclTestsLogError(f"{p}: device lines name ranks {ranks[:8]}...; expected 0..n-1")
    log.missing.append("per-iteration times: nccl-tests prints one mean time per size, so "
                       "p90/p99/min/max are n/a")  # fmt: skip
    if all(r.wrong is None for r in log.rows):
        log.missing.append("the correctness check (#wrong): validation was off (-c 0)")
    return log


def _strip(line: str) -> str:
    return PREFIX.sub("", line, count=1).rstrip("\r\n")


def _text(p: Path, text: str) -> ParsedLog:
    lines = [_strip(x) for x in text.splitlines()]
    devices, settings, op, version, columns, rows, avg = [], {}, None, None, None, [], None
    seen_ranks: set[int] = set()
    for no, line in enumerate(lines, 1):
        s = line.strip()
        if s.startswith("#"):
            m = RANK_LINE.search(s)
            if m and int(m["rank"]) not in seen_ranks:  # -g N and MPI may repeat lines
                seen_ranks.add(int(m["rank"]))
                devices.append(Device(int(m["rank"]), m["host"], int(m["device"]), m["bus"],
                                      m["model"], int(m["pid"]), int(m["group"] or 0)))  # fmt: skip
                continue
            for a, b, c, d in SETTINGS.findall(s):
                settings.setdefault(a or c, int(b or d))
            if (m := PROGRAM.search(s)) and (perf := PERF.search(m[1] + " ")):
                op = op or perf[1]
            if (m := re.search(r"nccl-tests version (\S+)", s)) and version is None:
                version = m[1]
            words = s.lstrip("#").split()
            if words[:2] == ["size", "count"]:
                if rows:  # a second test's table: its rows would read as this one's
                    raise NcclTestsLogError(f"{p}:{no}: a second result table; import one test "
                                            "per file")  # fmt: skip
                columns = words
            if (m := re.search(r"Avg bus bandwidth\s*:\s*([0-9.eE+-]+)", s)) is not None:
                avg = float(m[1])
            continue
        if columns is None or not s:
            if op is None and (perf := PERF.search(s)):
                op = perf[1]  # the command line echoed before the output
            continue
        row = _text_row(s.split(), columns)
        if row is None:
            continue
        if isinstance(row, str):
            raise NcclTestsLogError(f"{p}:{no}: {row}")
        rows += row
    if columns is None or not rows:
        raise NcclTestsLogError(f"{p}: no nccl-tests result table found (a '# size count type "
                                "...' header followed by rows)")  # fmt: skip
    return ParsedLog(str(p), "text", op, devices, rows, settings, version, avg)


def _text_row(words: list[str], columns: list[str]):
    """The row's out-of-place and in-place Rows; None for a line that is not a row; a string
    saying what is wrong with a row that is cut short."""
    if not words or not words[0].isdigit():
        return None
    head = columns[: columns.index("time") if "time" in columns else columns.index("cputime")]
    if len(words) < len(head) + 4:
        return f"a result row with {len(words)} fields, the header has {len(columns)}"
    first = dict(zip(head, words, strict=False))
    out = []
    pos = len(head)
    for in_place in (False, True):
        block = words[pos : pos + 4]
        if len(block) < 4:
            break
        out.append(_row(first, block, in_place))
        # each block has time algbw busbw wrong, plus per-iteration columns when printed
        pos += 4 + sum(1 for c in columns[len(head) + 4 :] if c.startswith("i_")) // 2
    return out


def _num(x: str) -> float | None:
    try:
        return float(x)
    except ValueError:
        return None


def _row(first: dict, block: list[str], in_place: bool) -> Row:
    time_us = _num(block[0])
    if time_us is None:
        raise NcclTestsLogError(f"a time column reads {block[0]!r}")
    wrong = None if block[3] in ("N/A", "n/a", "-") else _num(block[3])
    root = first.get("root")
    return Row(int(first["size"]), int(first["count"]), DTYPES.get(first["type"], first["type"]),
               first.get("redop", "none"), None if root is None else int(root), in_place, time_us,
               _num(block[1]), _num(block[2]), None if wrong is None else int(wrong))  # fmt: skip


def _json(p: Path, text: str) -> ParsedLog:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise NcclTestsLogError(f"{p}: not valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
        raise NcclTestsLogError(f"{p}: no nccl-tests results list (is it an nccl-tests -J file?)")
    config = doc.get("config") or {}
    devices = [Device(int(d["rank"]), str(d.get("hostname", "?")), int(d.get("device", 0)),
                      str(d.get("device_hex", "")), str(d.get("device_info", "")).strip(),
                      d.get("pid"), int(d.get("group", 0)))
               for d in config.get("devices") or []]  # fmt: skip
    rows = []
    for r in doc["results"]:
        for in_place, key in ((False, "out_of_place"), (True, "in_place")):
            block = r.get(key)
            if not block:  # null: nccl-tests ran in-place only (trace replay)
                continue
            t = block.get("time", block.get("cpu_time"))
            root = str(r.get("root", "")).strip()
            rows.append(Row(int(r["size"]), int(r["count"]), DTYPES.get(r["type"], r["type"]),
                            r.get("redop", "none"), int(root) if root.lstrip("-").isdigit() else None,
                            in_place, float(t), block.get("alg_bw"), block.get("bus_bw"),
                            None if block.get("nwrong") is None else int(block["nwrong"])))  # fmt: skip
    if not rows:
        raise NcclTestsLogError(f"{p}: the JSON file holds no result rows")
    args = doc.get("args") or []
    perf = PERF.search(Path(args[0]).name + " ") if args else None
    avg = doc.get("average_bus_bandwidth") or doc.get("average_bus_bandwidith") or {}
    avg_bw = avg.get("bandwidth", avg.get("bandwidith"))
    settings = {k: int(config[k]) for k in ("ngpus", "minimum_bytes", "maximum_bytes",
                                            "warmup_iters", "iterations", "aggregated_iterations",
                                            "validation") if isinstance(config.get(k), int)}  # fmt: skip
    # the text's names, so both formats read the same downstream
    rename = {"iterations": "iters", "warmup_iters": "warmup iters", "aggregated_iterations":
              "agg iters", "minimum_bytes": "minBytes", "maximum_bytes": "maxBytes"}  # fmt: skip
    settings = {rename.get(k, k): v for k, v in settings.items()}
    version = str(doc["version"]) if "version" in doc else None
    return ParsedLog(str(p), "json", perf[1] if perf else None, devices, rows, settings,
                     f"json v{version}" if version else None,
                     None if avg_bw is None else float(avg_bw))  # fmt: skip
