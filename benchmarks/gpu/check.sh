#!/usr/bin/env bash
# The one command a session sends to the GPU machine: prove scaling's CUDA path and measure it.
#
#   bash benchmarks/gpu/prepare.sh                      # here, once: builds .gpukit/
#   device run  command="bash benchmarks/gpu/check.sh"  carry=[".gpukit"]  timeout_s=540
#   bash benchmarks/gpu/check.sh --device cpu --out /tmp/kit   # dry run here (1.5-3 min)
#   bash benchmarks/gpu/check.sh --steps run,pytest --budget 240  # a rerun of some steps
#
# Steps, in order; each has its own time limit, and a failed or timed-out step does not stop
# the next. All of them end before --budget seconds (default 465 on cuda: under 8 minutes);
# a step the budget no longer allows is not started ("out_of_time"). --steps picks some of
# doctor..pytest (install and env always run):
#   install    the carried wheels into /tmp/gpukit-site (on cpu: skipped when ray and
#              scaling import); if the scaling wheel is older than the checkout, the checkout runs
#   env        packages.py check: every requirement of scaling and Ray installed, versions ok
#   doctor     scaling doctor --json
#   topo       scaling topo --load --transfers --save topo.json --json
#   run        scaling run --gpus 1: collectives 1K-1G, resnet50 imagenet bf16 channels_last,
#              transformer gpt2-medium (NCCL at world size 1, CUDA-event timing)
#   fidelity   benchmarks/train_fidelity.py: the harness vs a plain loop, both workloads
#   tune_memory benchmarks/tune_memory.py --device cuda: tune's memory model against
#              max_memory_allocated for gpt2-small (CUDA only)
#   multirank  scaling run --gpus 1,2 with SCALING_TEST_SHARE_GPU=1: two ranks share the GPU
#              over gloo with CUDA tensors and DDP device_ids (a test mode of the cluster
#              layer; on cpu: two gloo ranks)
#   validate   scaling validate --gpus 1 --level quick: GEMM, memory, host copies, SDC on the
#              GPU; its manifest keeps the NVML snapshot and the rank's GPU numbers (on cpu:
#              shrunk by validate-cpu.toml)
#   pytest     pytest -m gpu tests/test_gpu.py (everything skips without CUDA)
# and one step that runs only when --steps names it:
#   false_alarms  benchmarks/compare_false_alarms.py (run sets, 22 runs) on the machine's CPUs
#              (gloo, 2 ranks): compare's false-alarm and detection rates on a host with 16
#              cores instead of the development VM's 2 shared ones (18 runs, ~6 min: a call
#              of its own, after the kit's figures are in)
#
# $OUT (or --out) receives at most 5 files: summary.txt (steps, figures, the issue's goals,
# measured vs reference), figures.json (the same for machines), topo.json (the NVML
# snapshot), check.log (this script's output) and logs.tar.gz (every step's log, JSON and
# run directory). Exit 0 when every step passed, 1 otherwise.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/benchmarks/gpu
PY=${PYTHON:-python3}
DEVICE=cuda
OUTDIR=${OUT:-}
BUDGET=
ALL_STEPS=doctor,topo,run,fidelity,multirank,validate,tune_memory,pytest
ONLY=$ALL_STEPS
OPTIONAL_STEPS=false_alarms

usage() { sed -n '2,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while (($#)); do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --device | --out | --budget | --steps)
      (($# >= 2)) || { echo "check.sh: $1 needs a value" >&2; exit 2; }
      case $1 in
        --device) DEVICE=$2 ;;
        --out) OUTDIR=$2 ;;
        --budget) BUDGET=$2 ;;
        --steps) ONLY=$2 ;;
      esac
      shift 2 ;;
    *) echo "check.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ $DEVICE == cuda || $DEVICE == cpu ]] || { echo "check.sh: --device is cuda or cpu" >&2; exit 2; }
[[ -n $OUTDIR ]] || OUTDIR=$ROOT/runs/gpukit-$(date -u +%Y%m%dT%H%M%SZ)
# On cpu (the dry run) every limit is doubled and the budget is 10 minutes: the steps are
# small, but a CPU shared with other work can run them several times slower.
SCALE=$([[ $DEVICE == cuda ]] && echo 1 || echo 2)
[[ -n $BUDGET ]] || BUDGET=$([[ $DEVICE == cuda ]] && echo 465 || echo 600)
[[ $BUDGET =~ ^[0-9]+$ ]] || { echo "check.sh: --budget is whole seconds" >&2; exit 2; }
for s in ${ONLY//,/ }; do
  [[ ,$ALL_STEPS,$OPTIONAL_STEPS, == *,$s,* ]] ||
    { echo "check.sh: unknown step $s (steps: $ALL_STEPS,$OPTIONAL_STEPS)" >&2; exit 2; }
done
mkdir -p "$OUTDIR" || exit 2
OUTDIR=$(cd "$OUTDIR" && pwd)

RESERVE=25 # seconds kept for the summary and the tarball
START=$(date +%s)
DEADLINE=$((START + BUDGET))
WORK=$(mktemp -d /tmp/gpukit-work.XXXXXX)
LOGS=$WORK/logs
STEPS=$WORK/steps.tsv
mkdir -p "$LOGS" "$WORK/runs"

# step NAME LIMIT CMD...: run CMD under its own limit (cut to what the budget has left), in
# $WORK (or $CWD), stdout to $STDOUT or the step's log, and record its status in steps.tsv.
step() {
  local name=$1 limit=$2
  shift 2
  if [[ $name != install && $name != env && ,$ONLY, != *,$name,* ]]; then
    skip "$name" "not in --steps"
    return
  fi
  local left=$((DEADLINE - RESERVE - $(date +%s)))
  if ((left < 15)); then
    printf '%s\tout_of_time\t\t0\tnot started: the %ss budget was spent\n' "$name" "$BUDGET" >>"$STEPS"
    echo "== $name: not started, out of time"
    return
  fi
  limit=$((limit * SCALE))
  ((limit < left)) || limit=$left
  local log=$LOGS/$name.log out=${STDOUT:-$LOGS/$name.log} t0 rc status
  echo "== $name (limit ${limit}s): $*"
  t0=$(date +%s.%N)
  if [[ $out == "$log" ]]; then
    (cd "${CWD:-$WORK}" && exec timeout --kill-after=15 "$limit" "$@") >"$log" 2>&1
  else
    (cd "${CWD:-$WORK}" && exec timeout --kill-after=15 "$limit" "$@") >"$out" 2>"$log"
  fi
  rc=$?
  local secs
  secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  case $rc in
    0) status=ok ;;
    124 | 137) status=timeout ;;
    *) status=failed ;;
  esac
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$status" "$rc" "$secs" "${NOTE:-}" >>"$STEPS"
  echo "   $status (exit $rc, ${secs}s)"
  [[ $status == ok ]] || tail -n 8 "$log" | sed 's/^/   | /'
}

skip() { printf '%s\tskipped\t\t0\t%s\n' "$1" "$2" >>"$STEPS"; echo "== $1: skipped, $2"; }

install_kit() {
  local site=/tmp/gpukit-site
  if [[ $DEVICE == cpu ]] && "$PY" -c "import ray, scaling" 2>/dev/null; then
    skip install "ray and scaling already import: nothing installed, the checkout runs"
    export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}
    return
  fi
  if ! compgen -G "$ROOT/.gpukit/*.whl" >/dev/null; then
    printf 'install\tfailed\t\t0\tno .gpukit/*.whl: run benchmarks/gpu/prepare.sh and carry .gpukit\n' >>"$STEPS"
    echo "== install: failed, no .gpukit/*.whl (run benchmarks/gpu/prepare.sh, carry .gpukit)"
    return
  fi
  rm -rf "$site"
  step install 120 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --upgrade --target "$site" "$ROOT"/.gpukit/*.whl
  export PYTHONPATH=$site${PYTHONPATH:+:$PYTHONPATH}
  # The wheel holds the code of the day prepare.sh ran; the checkout sent with this call wins.
  local built now
  built=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["scaling_source_sha256"])' \
    "$ROOT/.gpukit/kit.json" 2>/dev/null)
  now=$("$PY" "$HERE/packages.py" source-hash 2>/dev/null)
  if [[ -z $built || $built != "$now" ]]; then
    echo "   the scaling wheel is older than the checkout: the checkout's scaling runs"
    echo "stale scaling wheel: the checkout's scaling ran (rerun prepare.sh)" >"$WORK/stale-wheel"
    export PYTHONPATH=$ROOT:$PYTHONPATH
  fi
}

main() {
  echo "GPU kit: device $DEVICE, budget ${BUDGET}s, out $OUTDIR, work $WORK"
  local suite fidelity_args multirank_env max_bytes
  if [[ $DEVICE == cuda ]]; then
    suite=$HERE/suite-cuda.toml
    fidelity_args=(--rounds 2 --warmup 10 --steps 30)
    multirank_env=(SCALING_TEST_SHARE_GPU=1)
    multirank_cfg=$HERE/share-gpu.toml max_bytes=64M
    validate_cfg=()
  else
    suite=$HERE/suite-cpu.toml
    fidelity_args=(--rounds 1 --warmup 1 --steps 3)
    multirank_env=()
    multirank_cfg=$HERE/suite-cpu.toml max_bytes=64K
    validate_cfg=(--config "$HERE/validate-cpu.toml")
  fi
  unset RAY_ADDRESS # every run starts its own local Ray
  export PYTHONUNBUFFERED=1

  install_kit
  command -v nvidia-smi >/dev/null && timeout 20 nvidia-smi >"$LOGS/nvidia-smi.txt" 2>&1
  step env 60 "$PY" "$HERE/packages.py" check
  STDOUT=$WORK/doctor.json step doctor 90 "$PY" -m scaling doctor --json
  STDOUT=$WORK/topo-out.json step topo 120 "$PY" -m scaling topo --load --transfers \
    --save "$WORK/topo.json" --json
  STDOUT=$WORK/run.json step run 240 "$PY" -m scaling run --gpus 1 --device "$DEVICE" \
    --config "$suite" --out "$WORK/runs/suite" --json
  STDOUT=$WORK/fidelity.json step fidelity 240 "$PY" "$ROOT/benchmarks/train_fidelity.py" \
    --device "$DEVICE" --workloads resnet50,transformer --json "${fidelity_args[@]}"
  STDOUT=$WORK/multirank.json step multirank 150 env "${multirank_env[@]}" \
    "$PY" -m scaling run --gpus 1,2 --device "$DEVICE" --workloads collectives,resnet50 \
    --max-bytes "$max_bytes" --config "$multirank_cfg" --out "$WORK/runs/multirank" --json
  # The real quick level on the GPU (5 s checks); one rank forms no group, so its start-up
  # figures come from the run and multirank steps (gpu_path.py).
  STDOUT=$WORK/validate.json step validate 120 "$PY" -m scaling validate --gpus 1 --level quick \
    --device "$DEVICE" "${validate_cfg[@]}" --out "$WORK/runs/validate" --json
  if [[ $DEVICE == cuda ]]; then # the memory model against max_memory_allocated (goal: 10%)
    STDOUT=$WORK/tune-memory.txt step tune_memory 120 "$PY" "$ROOT/benchmarks/tune_memory.py" \
      --device cuda --workloads transformer --preset gpt2-small --precision bf16 \
      --batches 4 8 16 --repeats 1 --json "$WORK/tune-memory.json"
  fi
  # compare's false-alarm benchmark on this machine's CPUs; its 18 run directories go into logs.tar.gz
  # (the --reuse of compare_false_alarms.py judges them again here).
  if [[ ,$ONLY, == *,false_alarms,* ]]; then # optional: no "skipped" row when not asked for
    STDOUT=$WORK/false-alarms.json step false_alarms 420 "$PY" \
      "$ROOT/benchmarks/compare_false_alarms.py" --keep "$WORK/cfa" --json
  fi
  CWD=$ROOT step pytest 180 "$PY" -m pytest -m gpu "$ROOT/tests/test_gpu.py" -q -rs \
    -p no:cacheprovider --junitxml="$WORK/pytest-gpu.xml"

  timeout 30 "$PY" "$HERE/summarize.py" "$WORK" --device "$DEVICE" --out "$OUTDIR" ||
    echo "summarize.py failed: the raw results are in logs.tar.gz"
  [[ -s $WORK/topo.json ]] && cp "$WORK/topo.json" "$OUTDIR/topo.json"
  tar -czf "$OUTDIR/logs.tar.gz" -C "$WORK" .
  if (($(stat -c %s "$OUTDIR/logs.tar.gz") > 15 * 1048576)); then
    # A device call returns files up to 16 MiB: drop the reports' pictures, keep the data.
    tar -czf "$OUTDIR/logs.tar.gz" -C "$WORK" --exclude='report*' --exclude='*.parquet' .
    echo "logs.tar.gz was over 15 MiB: reports and parquet files left out"
  fi
  echo "GPU kit done in $(($(date +%s) - START))s: $(cd "$OUTDIR" && echo *)"
  ! cut -f2 "$STEPS" | grep -qvE '^(ok|skipped)$'
}

main 2>&1 | tee "$OUTDIR/check.log"
rc=${PIPESTATUS[0]}
rm -rf "$WORK"
exit "$rc"
