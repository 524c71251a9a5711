#!/usr/bin/env bash
# A service-binding call against the same call through fetch() over
# loopback (issue 13: "a service-binding call costs no socket"), in one run.
#
# One Caddy with the plugin serves three gradual sites: back (hello
# world), front (`service BACK back`: env.BACK.fetch) and front2 (the same
# script, fetch()ing back's port over loopback). wrk hits front and front2
# in alternating rounds, so drift on the machine affects both alike; then
# the Go benchmark BenchmarkServiceCall, which serves the fronts in process
# (no client socket) on one real Caddy, runs in as many rounds, each one
# timing both paths. The script prints the median requests/s, ns/op and
# allocs of each path and the throughput ratio binding/loopback of both
# (goal, for the call in the benchmark: >= 2), and the ratio of the CPU
# time per call, which load from other processes on the machine does not
# skew.
#
# Usage: integration/bench/service.sh [seconds-per-round] [rounds]
# Needs wrk (Debian: apt-get install wrk), curl, python3 and go. Everything
# binds to 127.0.0.1.
set -euo pipefail

secs=${1:-5}
rounds=${2:-5}
conns=${CONNS:-32}
threads=${THREADS:-1}

source "$(dirname "$0")/lib.sh"
need wrk curl python3 go

admin=$(port) back=$(port) front=$(port) front2=$(port)

echo "building caddy with the plugin..."
(cd "$root" && go build -o "$work/caddy" ./cmd/caddy)

cat >"$work/back.js" <<'JS'
export default { fetch() { return new Response("hello"); } }
JS
cat >"$work/front.js" <<'JS'
export default { fetch(req, env) {
	return env.BACK_URL ? fetch(env.BACK_URL) : env.BACK.fetch("http://back/");
} }
JS

{
	caddy_globals
	cat <<CF
:$back {
	gradual back {
		version b1 {
			script $work/back.js
		}
	}
}
:$front {
	gradual front {
		version f1 {
			script $work/front.js
		}
		service BACK back
	}
}
:$front2 {
	gradual front2 {
		version f1 {
			script $work/front.js
			var BACK_URL http://127.0.0.1:$back/
		}
		fetch_allow 127.0.0.1
	}
}
CF
} >"$work/Caddyfile"

"$work/caddy" run --config "$work/Caddyfile" >"$work/caddy.log" 2>&1 &
pids+=($!)

for p in $back $front $front2; do
	body=$(wait_up "$p") || exit 1
	[ "$body" = hello ] || { echo "port $p answered $body" >&2; exit 1; }
done

echo "warming up..."
for p in $front $front2; do
	wrk -t"$threads" -c"$conns" -d2s "http://127.0.0.1:$p/" >/dev/null
done

echo "wrk -t$threads -c$conns, ${secs}s rounds, client → Caddy front → back"
printf '%-6s %-26s %-26s %s\n' round "binding req/s (p99 ms)" "loopback req/s (p99 ms)" ratio
: >"$work/bind" ; : >"$work/loop"
for r in $(seq "$rounds"); do
	read -r brps bp99 < <(wrk_round "$front")
	read -r lrps lp99 < <(wrk_round "$front2")
	echo "$brps $bp99" >>"$work/bind"
	echo "$lrps $lp99" >>"$work/loop"
	printf '%-6s %-26s %-26s %.2f\n' "$r" "$brps ($bp99)" "$lrps ($lp99)" "$(awk -v b="$brps" -v l="$lrps" 'BEGIN {print b/l}')"
done
kill "${pids[@]}" 2>/dev/null || true
pids=()

brps=$(cut -d' ' -f1 "$work/bind" | median)
lrps=$(cut -d' ' -f1 "$work/loop" | median)
wrk_ratio=$(awk -v b="$brps" -v l="$lrps" 'BEGIN {printf "%.2f", b/l}')

echo
echo "BenchmarkServiceCall, ${secs}s per path, $rounds rounds: Caddy → front in process → back"
(cd "$root" && go test -c -o "$work/caddymodule.test" ./caddymodule/)
: >"$work/go.txt"
for r in $(seq "$rounds"); do
	(cd "$root/caddymodule" && "$work/caddymodule.test" -test.run '^$' -test.bench '^BenchmarkServiceCall$' -test.benchtime "${secs}s" -test.benchmem) |
		grep '^Benchmark' | tee -a "$work/go.txt"
done
# field prints the value before unit $2 on the lines of path $1.
field() { awk -v path="$1" -v unit="$2" 'index($1, "/" path "-") { for (i = 3; i < NF; i++) if ($(i+1) == unit) print $i }' "$work/go.txt"; }
gb=$(field binding calls/s | median) gl=$(field loopback-fetch calls/s | median)
gbns=$(field binding ns/op | median) glns=$(field loopback-fetch ns/op | median)
gba=$(field binding allocs/op | median) gla=$(field loopback-fetch allocs/op | median)
gbc=$(field binding cpu-ns/op | median) glc=$(field loopback-fetch cpu-ns/op | median)
go_ratio=$(field loopback-fetch binding-ratio | median)
cpu_ratio=$(field loopback-fetch binding-cpu-ratio | median)

echo
echo "median, wrk end to end:  binding $brps req/s (p99 $(cut -d' ' -f2 "$work/bind" | median) ms), loopback fetch $lrps req/s (p99 $(cut -d' ' -f2 "$work/loop" | median) ms): ratio $wrk_ratio"
echo "median, Go benchmark:    binding $gb calls/s ($gbns ns/op, $gba allocs/op), loopback fetch $gl calls/s ($glns ns/op, $gla allocs/op): ratio $go_ratio"
echo "median CPU time per call: binding $gbc ns, loopback fetch $glc ns: ratio $cpu_ratio (the throughput ratio when the cores are busy)"
# The goal is the call's: front → back in the benchmark. End to end, each
# request also has the client's HTTP hop to the front, which costs both
# paths the same and bounds the wrk ratio: were the binding free, it would
# be (hop + front + loopback's own cost) / (hop + front).
awk -v r="$go_ratio" 'BEGIN {exit !(r >= 2.0)}' && echo "call ratio $go_ratio: goal (>= 2) met" || echo "call ratio $go_ratio: goal (>= 2) NOT met"
echo "end-to-end ratio $wrk_ratio (with the client's HTTP hop, common to both paths)"
