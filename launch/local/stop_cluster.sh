#!/usr/bin/env bash
# Stop a cluster that start_cluster.sh started, and only that: the processes in the sessions
# it recorded (Ray's daemons and the workers their raylets forked). `ray stop` is not used
# because it kills every Ray process on the machine, other people's clusters included.
#
#   launch/local/stop_cluster.sh [--port P]   # the --port given to start   [SCALING_LOCAL_PORT=6390]
#   launch/local/stop_cluster.sh --list       # print the cluster's live PIDs, stop nothing
#
# SIGTERM first; whatever is alive after --grace S seconds (default 5) gets SIGKILL. Then
# /tmp/scaling-ray-<uid>-<port> is removed. Exits 0 when nothing of the cluster is left.
set -euo pipefail

usage() { sed -n '2,10s/^# \{0,1\}//p' "$0"; }
die() {
	echo "stop_cluster.sh: $*" >&2
	exit 2
}

port=${SCALING_LOCAL_PORT:-6390}
grace=5
list=0
while (($#)); do
	case $1 in
	--port | --grace)
		(($# >= 2)) || die "$1 needs a value"
		[[ $2 =~ ^[0-9]+$ ]] || die "$1 expects a whole number, got '$2'"
		if [[ $1 == --port ]]; then port=$2; else grace=$2; fi
		shift 2
		;;
	--list)
		list=1
		shift
		;;
	-h | --help)
		usage
		exit 0
		;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
done
state=/tmp/scaling-ray-$(id -u)-$port

# PIDs of every live (non-zombie) process in the recorded sessions. Where ps has no session
# column (macOS), the process group stands in: it holds all daemons, though not Ray's workers,
# which exit on their own when their raylet goes.
live_pids() {
	local sids=() f
	for f in "$state"/sessions/*; do
		[[ -s $f ]] && sids+=("$(cat "$f")")
	done
	((${#sids[@]})) || return 0
	{ ps -A -o pid= -o sid= -o stat= 2>/dev/null || ps -A -o pid= -o pgid= -o stat=; } |
		awk -v want="${sids[*]}" '
			BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) mine[w[i]] = 1 }
			($2 in mine) && $3 !~ /^Z/ { print $1 }'
}

# wait_gone SECONDS: 0 as soon as none is left, 1 if some still are when time is up.
wait_gone() {
	local deadline=$((SECONDS + $1))
	while [[ -n $(live_pids) ]]; do
		((SECONDS < deadline)) || return 1
		sleep 0.2
	done
}

if ((list)); then
	live_pids
	exit 0
fi
if [[ ! -d $state ]]; then
	echo "No cluster recorded for port $port ($state does not exist)."
	exit 0
fi

pids=$(live_pids)
if [[ -n $pids ]]; then
	# shellcheck disable=SC2086  # one PID per word
	kill -TERM $pids 2>/dev/null || true
	# gcs_server can sit in its shutdown for a long time once its agents are gone.
	if ! wait_gone "$grace"; then
		# shellcheck disable=SC2046
		kill -KILL $(live_pids) 2>/dev/null || true
		if ! wait_gone 5; then
			echo "stop_cluster.sh: still alive after SIGKILL: $(live_pids | tr '\n' ' ')" >&2
			exit 1
		fi
	fi
fi
rm -rf "$state"
echo "Stopped the local Ray cluster on port $port."
