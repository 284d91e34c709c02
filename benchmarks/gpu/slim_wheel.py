"""Drop members from a wheel and rewrite its RECORD so pip still accepts it; verify a RECORD.

The Ray wheel is 79 MB, 31 MB of it `ray/jars/ray_dist.jar` (Java workers, which scaling
never starts); the device call carries at most 64 MiB. pip checks that a wheel's RECORD
lists its files, so the dropped ones leave RECORD too. Every other member is copied as is
(its bytes, and the Unix mode bits that make gcs_server and raylet executable).

    python benchmarks/gpu/slim_wheel.py ray-2.60.0-...whl OUTDIR --drop ray/jars/
    python benchmarks/gpu/slim_wheel.py --verify OUTDIR/ray-2.60.0-...whl
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
import sys
import zipfile
from pathlib import Path


def record_hash(data: bytes) -> str:
    """RECORD's hash form (PEP 376 / the wheel spec): sha256=<urlsafe base64, no padding>."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode()


def _record_name(z: zipfile.ZipFile) -> str:
    names = [n for n in z.namelist() if n.count("/") == 1 and n.endswith(".dist-info/RECORD")]
    if len(names) != 1:
        raise ValueError(f"{z.filename}: expected one .dist-info/RECORD, found {names}")
    return names[0]


def slim(src: Path, dest: Path, drop: list[str]) -> list[str]:
    """Write `src` without members under the `drop` prefixes to `dest`; returns the dropped names."""
    dropped = []
    tmp = dest.with_name(dest.name + ".part")
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
        record = _record_name(zin)
        for info in zin.infolist():
            if info.filename == record:
                continue
            if info.filename.startswith(tuple(drop)):
                dropped.append(info.filename)
                continue
            zout.writestr(info, zin.read(info))  # the ZipInfo keeps mode bits and compression
        rows = csv.reader(io.StringIO(zin.read(record).decode()))
        kept = [row for row in rows if row and row[0] not in dropped]
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows(kept)
        zout.writestr(zin.getinfo(record), text.getvalue())  # RECORD last, as wheels have it
    tmp.replace(dest)
    return dropped


def verify(path: Path) -> list[str]:
    """Problems with the wheel: bad CRCs, files missing from RECORD or RECORD rows without a
    file, wrong hashes or sizes. An empty list means pip's checks will pass."""
    problems = []
    with zipfile.ZipFile(path) as z:
        bad = z.testzip()
        if bad:
            problems.append(f"CRC error in {bad}")
        record = _record_name(z)
        rows = {row[0]: row for row in csv.reader(io.StringIO(z.read(record).decode())) if row}
        names = {n for n in z.namelist() if not n.endswith("/")}
        for name in sorted(names - rows.keys()):
            problems.append(f"{name}: in the wheel, not in RECORD")
        for name in sorted(rows.keys() - names):
            problems.append(f"{name}: in RECORD, not in the wheel")
        for name in sorted(names & rows.keys()):
            _, digest, size = (rows[name] + ["", ""])[:3]
            if name == record:
                continue  # RECORD cannot hold its own hash
            data = z.read(name)
            if digest != record_hash(data) or size != str(len(data)):
                problems.append(f"{name}: RECORD says {digest} {size}, file is {len(data)} bytes")
    return problems


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("wheel", type=Path)
    ap.add_argument("outdir", type=Path, nargs="?")
    ap.add_argument("--drop", action="append", default=[], metavar="PREFIX")
    ap.add_argument("--verify", action="store_true", help="only check WHEEL's RECORD")
    args = ap.parse_args()
    if not args.verify:
        if args.outdir is None or not args.drop:
            ap.error("give OUTDIR and at least one --drop PREFIX (or --verify)")
        args.outdir.mkdir(parents=True, exist_ok=True)
        dest = args.outdir / args.wheel.name  # the name carries the tags pip matches on
        dropped = slim(args.wheel, dest, args.drop)
        if not dropped:
            sys.exit(f"slim_wheel.py: nothing in {args.wheel.name} under {args.drop}")
        mib = (args.wheel.stat().st_size - dest.stat().st_size) / 2**20
        print(f"{dest.name}: dropped {len(dropped)} files ({mib:.1f} MiB)")
        args.wheel = dest
    problems = verify(args.wheel)
    for p in problems[:20]:
        print(f"  {p}", file=sys.stderr)
    if problems:
        sys.exit(f"slim_wheel.py: {args.wheel.name}: {len(problems)} RECORD problems")
    print(f"{args.wheel.name}: RECORD matches every file")


if __name__ == "__main__":
    main()
