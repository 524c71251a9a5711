# Shared by the bench scripts (sourced, not run): a scratch folder and
# process cleanup, free ports, workerd, waiting for a server, one wrk round,
# medians.
# The sourcing script sets secs, conns and threads before calling wrk_round.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

# port prints a loopback port that is free now.
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# need exits unless every tool named is on PATH.
need() {
	local tool
	for tool in "$@"; do
		command -v "$tool" >/dev/null && continue
		if [ "$tool" = wrk ]; then
			echo "wrk is not installed (apt-get install wrk)" >&2
		else
			echo "$tool is not installed" >&2
		fi
		exit 1
	done
}

# caddy_globals prints the global options of a benchmark's Caddyfile:
# the admin endpoint on port $admin, loopback only, errors only in the log.
caddy_globals() {
	cat <<CF
{
	admin 127.0.0.1:$admin
	default_bind 127.0.0.1
	log {
		level ERROR
	}
}
CF
}

# need_workerd sets $workerd to the binary of the workerd the differential
# test pins: $GRADUAL_WORKERD, or the npm package in <repo>/.cache/workerd,
# installed there when missing.
need_workerd() {
	local version
	version=$(sed -n 's/^const workerdVersion = "\(.*\)"$/\1/p' "$root/integration/workerd_test.go")
	workerd=${GRADUAL_WORKERD:-$root/.cache/workerd/node_modules/.bin/workerd}
	if [ -z "${GRADUAL_WORKERD:-}" ] && ! grep -qs "\"version\": \"$version\"" "$root/.cache/workerd/node_modules/workerd/package.json"; then
		command -v npm >/dev/null || { echo "workerd is not installed and npm is not on PATH (or set GRADUAL_WORKERD)" >&2; exit 1; }
		echo "installing workerd@$version..."
		npm install --prefix "$root/.cache/workerd" --no-save --no-audit --no-fund "workerd@$version" >/dev/null
	fi
	[ -x "$workerd" ] || { echo "no workerd binary at $workerd" >&2; exit 1; }
}

# wait_up waits (10 s at most) for the server on port $1 to answer 2xx and
# prints its body; on failure it shows the logs in $work and exits.
wait_up() {
	for _ in $(seq 100); do
		curl -fs "http://127.0.0.1:$1/" >/dev/null 2>&1 && break
		sleep 0.1
	done
	curl -fsS "http://127.0.0.1:$1/" || { echo "server on port $1 did not come up" >&2; cat "$work"/*.log >&2; exit 1; }
}

# wrk_round prints "<requests/s> <p99 in ms>" for one wrk round against
# port $1 (path $2, / by default), and exits if any request failed.
wrk_round() {
	local out rps p99
	out=$(wrk -t"$threads" -c"$conns" -d"${secs}s" --latency "http://127.0.0.1:$1${2:-/}")
	if grep -q "Non-2xx\|Socket errors" <<<"$out"; then
		echo "errors during the run against port $1:" >&2
		echo "$out" >&2
		exit 1
	fi
	rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
	p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v=v*1000}; print v}' <<<"$out")
	echo "$rps $p99"
}

# median prints the median of the numbers on standard input.
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
