#!/usr/bin/env bash
# Start a multi-node Ray cluster on ONE machine: a head and N worker raylets, each a separate
# Ray node with its own CPUs (and GPUs), to try the multi-node path of `scaling` on a laptop.
#
#   launch/local/start_cluster.sh --workers 1      # 2 nodes with 2 CPUs each; prints how to run
#   eval "$(launch/local/start_cluster.sh --workers 1 | tail -n 1)"   # the same, exporting RAY_ADDRESS
#   scaling run --gpus 1,2,4 --placement spread
#   launch/local/stop_cluster.sh                   # same --port as start, if you gave one
#
# Options (the environment variable in brackets sets the default):
#   --workers N          worker raylets besides the head           [SCALING_LOCAL_WORKERS=1]
#   --cpus N             logical CPUs per node, head included       [SCALING_LOCAL_CPUS=2]
#   --gpus N             GPUs per node, head included; node k gets the k-th slice of
#                        CUDA_VISIBLE_DEVICES (or of 0,1,2,...)     [SCALING_LOCAL_GPUS=0]
#   --port P             head (GCS) port; P+1, P+2 and P+3..P+3+N are taken too
#                                                                   [SCALING_LOCAL_PORT=6390]
#   --object-store-mb M  object store per node, in MB               [SCALING_LOCAL_OBJECT_STORE_MB=200]
#   --node-ip IP         address the nodes advertise (default: Ray picks one)
#
# State (Ray's temp dir and logs, the process sessions to stop) lives in
# /tmp/scaling-ray-<uid>-<port>: Ray's unix socket paths must stay short, so never $TMPDIR.
# The last line printed, `export RAY_ADDRESS=<host:port> ...`, can be eval'ed.
set -euo pipefail

# Ray starts workers at nice 15; scaling's ranks are the measurement, so they run at 0
# (a rank at nice 15 waits behind every other thread on a busy host).
export RAY_worker_niceness="${RAY_worker_niceness:-0}"

usage() { sed -n '2,22s/^# \{0,1\}//p' "$0"; }
die() {
	echo "start_cluster.sh: $*" >&2
	exit 2
}

workers=${SCALING_LOCAL_WORKERS:-1}
cpus=${SCALING_LOCAL_CPUS:-2}
gpus=${SCALING_LOCAL_GPUS:-0}
port=${SCALING_LOCAL_PORT:-6390}
store_mb=${SCALING_LOCAL_OBJECT_STORE_MB:-200}
node_ip=""
while (($#)); do
	case $1 in
	--workers | --cpus | --gpus | --port | --object-store-mb | --node-ip)
		(($# >= 2)) || die "$1 needs a value"
		case $1 in
		--workers) workers=$2 ;;
		--cpus) cpus=$2 ;;
		--gpus) gpus=$2 ;;
		--port) port=$2 ;;
		--object-store-mb) store_mb=$2 ;;
		--node-ip) node_ip=$2 ;;
		esac
		shift 2
		;;
	-h | --help)
		usage
		exit 0
		;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
done
for value in "$workers" "$cpus" "$gpus" "$port" "$store_mb"; do
	[[ $value =~ ^[0-9]+$ ]] || die "expected a whole number, got '$value'"
done

command -v ray >/dev/null || die "ray not found: activate the environment where scaling is installed"
python=${PYTHON:-python3}
here=$(cd "$(dirname "$0")" && pwd)
state=/tmp/scaling-ray-$(id -u)-$port
nodes=$((workers + 1))

if [[ -d $state/sessions ]]; then
	# stop_cluster.sh is a no-op on sessions that have already ended, so a stale dir just goes.
	if [[ -n $("$here/stop_cluster.sh" --port "$port" --list) ]]; then
		die "a cluster started by this script already runs on port $port; stop it with $here/stop_cluster.sh --port $port"
	fi
	"$here/stop_cluster.sh" --port "$port" >/dev/null
fi
mkdir -p "$state/sessions" "$state/logs"

# GPU slices: on one host every raylet would otherwise number its GPUs from 0 and two
# "nodes" would share GPU 0. Ray maps a raylet's GPUs onto the CUDA_VISIBLE_DEVICES it starts with.
devices=()
if ((gpus > 0)); then
	IFS=, read -r -a devices <<<"${CUDA_VISIBLE_DEVICES:-$(seq -s, 0 $((nodes * gpus - 1)))}"
	((${#devices[@]} >= nodes * gpus)) ||
		die "$nodes nodes x $gpus GPUs need $((nodes * gpus)) devices, CUDA_VISIBLE_DEVICES lists ${#devices[@]}"
fi

# Ray with token authentication turns it on for a head when ~/.ray/auth_token exists, but for
# a worker node only when told. Tell every node the same thing.
if [[ -z ${RAY_AUTH_MODE:-} && (-n ${RAY_AUTH_TOKEN:-} || -s ${RAY_AUTH_TOKEN_PATH:-$HOME/.ray/auth_token}) ]]; then
	export RAY_AUTH_MODE=token
fi

# Each node's `ray start` runs in a new session: its daemons and the workers its raylet forks
# stay in that session, so stop_cluster.sh can end exactly them and no one else's Ray.
# (A process-group leader cannot call setsid, hence the fork in that case.)
in_new_session='
import os, sys
if os.getpgrp() == os.getpid():
    pid = os.fork()
    if pid:
        sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
os.setsid()
with open(sys.argv[1], "w") as f:
    f.write(str(os.getpid()))
os.execvp(sys.argv[2], sys.argv[2:])
'

started=0
cleanup() {
	if ((!started)); then "$here/stop_cluster.sh" --port "$port" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

# start_node INDEX NAME [ray start arguments...]
start_node() {
	local k=$1 name=$2
	shift 2
	local common=(--num-cpus "$cpus" --num-gpus "$gpus" --object-store-memory $((store_mb * 1000000))
		# Random worker ports: raylets on one host would otherwise hand out the same ones.
		--min-worker-port 0 --max-worker-port 0
		# The agent's HTTP port defaults to 52365 on every node; give each its own.
		--dashboard-agent-listen-port $((port + 3 + k))
		--disable-usage-stats)
	[[ -z $node_ip ]] || common+=(--node-ip-address "$node_ip")
	# Subshell: the GPU slice goes into this node's environment only.
	if ! (
		if ((gpus > 0)); then
			CUDA_VISIBLE_DEVICES=$(IFS=, && echo "${devices[*]:k*gpus:gpus}")
			export CUDA_VISIBLE_DEVICES
		fi
		exec "$python" -c "$in_new_session" "$state/sessions/$name" ray start "$@" "${common[@]}"
	) >"$state/logs/$name.log" 2>&1; then
		# The state dir, logs included, goes with the cleanup on exit: show the end now.
		echo "start_cluster.sh: ray start failed for $name; the end of its output:" >&2
		tail -n 15 "$state/logs/$name.log" >&2
		exit 1
	fi
}

echo "Starting a Ray head and $workers worker node(s) on this machine ($cpus CPUs, $gpus GPUs each)..."
start_node 0 head --head --port "$port" --temp-dir "$state/ray" --include-dashboard false \
	--ray-client-server-port $((port + 1)) --dashboard-port $((port + 2))
# `ray start --head` records the address it advertises here.
address=$(cat "$state/ray/ray_current_cluster")
for ((k = 1; k <= workers; k++)); do
	start_node "$k" "worker-$k" --address "$address"
done
started=1

# A driver does not switch token authentication on by itself, even with ~/.ray/auth_token.
exports="RAY_ADDRESS=$address"
run="scaling run --address $address"
if [[ ${RAY_AUTH_MODE:-} == token ]]; then
	exports+=" RAY_AUTH_MODE=token"
	run="RAY_AUTH_MODE=token $run"
fi
cat <<EOF
Ray cluster up: $nodes nodes (head + $workers workers), $cpus CPUs and $gpus GPUs each; logs in $state/logs.
  Run:  $run --gpus 1,2,4 --placement spread
  Stop: $here/stop_cluster.sh --port $port
export $exports
EOF
