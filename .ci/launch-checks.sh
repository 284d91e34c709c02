#!/usr/bin/env bash
# CI: static checks of the launch recipes. Runs `bash -n` and shellcheck on every shell script
# under launch/ (*.sh, *.sbatch) and on this file, and checks that they are executable.
# Installs nothing; CI provides shellcheck (Debian/Ubuntu: apt-get install -y shellcheck).
# Exits 1 on any finding, 2 when it cannot check.
#
#   .ci/launch-checks.sh
set -euo pipefail
cd "$(dirname "$0")/.."

command -v shellcheck >/dev/null || {
	echo "launch-checks: shellcheck is not installed (apt-get install -y shellcheck)" >&2
	exit 2
}
mapfile -t scripts < <(find launch -type f \( -name '*.sh' -o -name '*.sbatch' \) | sort)
((${#scripts[@]})) || {
	echo "launch-checks: found no shell scripts under launch/" >&2
	exit 2
}
scripts+=(.ci/launch-checks.sh)

failed=0
for script in "${scripts[@]}"; do
	bash -n "$script" || failed=1
	[[ -x $script ]] || {
		echo "launch-checks: $script is not executable (chmod +x)" >&2
		failed=1
	}
done
shellcheck "${scripts[@]}" || failed=1
if ((failed)); then
	echo "launch-checks: FAILED" >&2
	exit 1
fi
echo "launch-checks: ${#scripts[@]} scripts pass bash -n and shellcheck $(shellcheck --version | sed -n 's/^version: //p')"
