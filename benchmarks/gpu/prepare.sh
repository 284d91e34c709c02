#!/usr/bin/env bash
# Build .gpukit/, the folder a device call carries: everything scaling needs that the GPU
# machine's image (Python 3.12, torch, no Ray, no network) lacks, as cp312 manylinux wheels.
#
#   bash benchmarks/gpu/prepare.sh        # here, in the venv; then, on the device:
#   device run  command="bash benchmarks/gpu/check.sh"  carry=[".gpukit"]
#
# It holds: this checkout's scaling wheel; Ray (this venv's version) without ray/jars/ (the
# 31 MB Java jar scaling never uses), its RECORD rewritten to match; and the packages
# benchmarks/gpu/packages.py finds missing from the image (jsonschema and its needs).
# Downloads are kept in .gpukit-cache/, so a rerun needs no network once they are there.
# The result must stay under 60 MiB (a device call carries 64 MiB, the checkout included).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY=${PYTHON:-python}
KIT=$ROOT/.gpukit
CACHE=${GPUKIT_CACHE:-$ROOT/.gpukit-cache}
STAGE=$ROOT/.gpukit.new
LIMIT_MIB=60
HERE=$ROOT/benchmarks/gpu
# The device's interpreter: CPython 3.12 on x86-64 Linux (glibc 2.28+ wheels run there).
PLATFORM=(--only-binary=:all: --python-version 3.12 --implementation cp --abi cp312 --abi abi3
  --abi none --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any)

die() { echo "prepare.sh: $*" >&2; exit 1; }

"$PY" -c "import ray, scaling, packaging" 2>/dev/null ||
  die "run it in the project's venv ($PY cannot import ray, scaling and packaging)"

mkdir -p "$CACHE"
rm -rf "$STAGE"
mkdir -p "$STAGE"
trap 'rm -rf "$STAGE"' EXIT

# 1. What the image lacks, at this venv's versions.
mapfile -t NEEDED < <("$PY" "$HERE/packages.py" carry)
((${#NEEDED[@]})) || die "packages.py carry named nothing"
echo "carried packages: ${NEEDED[*]}"

# 2. Their cp312 wheels, downloaded once into the cache.
for spec in "${NEEDED[@]}"; do
  name=${spec%%==*} version=${spec##*==}
  stem=$(echo "$name" | tr '.-' '__')
  if ! compgen -G "$CACHE/${stem}-${version}-*.whl" >/dev/null; then
    log=$CACHE/pip-download-$name.log
    if ! "$PY" -m pip download --no-deps "${PLATFORM[@]}" -d "$CACHE" "$spec" >"$log" 2>&1; then
      why=$(grep -m1 -E "NewConnectionError|Max retries|Could not fetch|Temporary failure|ERROR" "$log" || tail -n 1 "$log")
      die "pip could not download $spec as a cp312 manylinux wheel: ${why#ERROR: }." \
        "Is the registry reachable ('pip config list' names it) and does it hold that wheel?" \
        "The kit in $KIT is left as it was. Log: $log"
    fi
  fi
  wheel=$(compgen -G "$CACHE/${stem}-${version}-*.whl" | head -n 1)
  [[ -n $wheel ]] || die "pip downloaded $spec but no ${stem}-${version}-*.whl is in $CACHE"
  if [[ $name == ray ]]; then
    "$PY" "$HERE/slim_wheel.py" "$wheel" "$STAGE" --drop ray/jars/
  else
    cp "$wheel" "$STAGE/"
  fi
done

# 3. This checkout's scaling (working tree, committed or not), as a wheel. setuptools builds
# in the tree: remove the build/ it leaves unless one was there before.
[[ -e $ROOT/build ]] || trap 'rm -rf "$STAGE" "$ROOT/build"' EXIT
"$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$STAGE" "$ROOT" >"$CACHE/pip-wheel.log" 2>&1 ||
  die "building the scaling wheel failed (log: $CACHE/pip-wheel.log)"

# 4. Does pip take them, together, for the device's Python? (one version of each, valid RECORDs)
for w in "$STAGE"/*.whl; do "$PY" "$HERE/slim_wheel.py" --verify "$w" >/dev/null; done
try=$(mktemp -d)
"$PY" -m pip install -q --no-index --no-deps --no-compile "${PLATFORM[@]}" --target "$try" \
  "$STAGE"/*.whl >"$CACHE/pip-install.log" 2>&1 ||
  { rm -rf "$try"; die "pip refuses the carried wheels (log: $CACHE/pip-install.log)"; }
[[ -x $try/ray/core/src/ray/gcs/gcs_server && ! -e $try/ray/jars ]] ||
  { rm -rf "$try"; die "the installed Ray lacks an executable gcs_server or still has ray/jars"; }
rm -rf "$try"

# 5. A manifest: which code the scaling wheel holds (check.sh compares it with the checkout).
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null | grep -c . || true)
"$PY" - "$STAGE" "$commit" "$dirty" "$("$PY" "$HERE/packages.py" source-hash)" <<'EOF'
import json, sys, time
from pathlib import Path
stage, commit, dirty, source = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
wheels = {p.name: p.stat().st_size for p in sorted(stage.glob("*.whl"))}
(stage / "kit.json").write_text(json.dumps({
    "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "git_commit": commit, "uncommitted_changes": dirty > 0,
    "scaling_source_sha256": source, "wheels": wheels, "total_bytes": sum(wheels.values()),
}, indent=1) + "\n")
EOF

size=$(du -sb "$STAGE" | cut -f1)
mib=$(awk -v b="$size" 'BEGIN { printf "%.1f", b / 1048576 }')
((size < LIMIT_MIB * 1048576)) || die "the kit is $mib MiB, over the $LIMIT_MIB MiB limit"
rm -rf "$KIT"
mv "$STAGE" "$KIT"

# What a device call carries: the files git does not ignore, plus .gpukit.
tree=$(cd "$ROOT" && git ls-files -z -co --exclude-standard | xargs -0 -r du -cb 2>/dev/null | tail -n 1 | cut -f1)
ls -l "$KIT"
echo "kit: $KIT  $mib MiB (limit $LIMIT_MIB MiB)"
awk -v t="${tree:-0}" -v k="$size" 'BEGIN { printf "a device call carries %.1f MiB: checkout %.1f + kit %.1f (limit 64 MiB)\n", (t + k) / 1048576, t / 1048576, k / 1048576 }'
