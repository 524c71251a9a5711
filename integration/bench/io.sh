#!/usr/bin/env bash
# An I/O-bound worker in Caddy+gradual against its upstream alone.
#
# The upstream (a small Go server) answers every request after 100 ms. The
# worker awaits it:
#   export default { async fetch(req, env) { return new Response(await (await fetch(env.UPSTREAM)).text()) } }
# wrk hits the upstream directly and the worker through Caddy, at the same
# concurrency (64 connections by default), in alternating rounds; the
# script prints the median requests/s of each and the ratio worker/upstream
# (goal >= 0.8: a runtime serves every request that awaits I/O at once).
#
# Usage: integration/bench/io.sh [seconds-per-round] [rounds]
# Needs wrk, curl, python3 and go. Everything binds to 127.0.0.1.
set -euo pipefail

secs=${1:-5}
rounds=${2:-3}
conns=${CONNS:-64}
threads=${THREADS:-1}

source "$(dirname "$0")/lib.sh"
need wrk curl python3 go

admin=$(port) grad=$(port) up=$(port)

echo "building caddy with the plugin and the upstream..."
(cd "$root" && go build -o "$work/caddy" ./cmd/caddy)
mkdir "$work/upstream"
cat >"$work/upstream/main.go" <<GO
package main

import (
	"net/http"
	"time"
)

func main() {
	http.ListenAndServe("127.0.0.1:$up", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(100 * time.Millisecond)
		w.Write([]byte("ok"))
	}))
}
GO
(cd "$work/upstream" && go mod init upstream >/dev/null 2>&1 && go build -o "$work/upstream-bin" .)

cat >"$work/io.js" <<'JS'
export default { async fetch(req, env) { return new Response(await (await fetch(env.UPSTREAM)).text()) } }
JS
{
	caddy_globals
	cat <<CF
:$grad {
	gradual io {
		fetch_allow 127.0.0.1:$up
		version v1 {
			script $work/io.js
			var UPSTREAM http://127.0.0.1:$up/
		}
	}
}
CF
} >"$work/Caddyfile"

"$work/upstream-bin" >"$work/upstream.log" 2>&1 &
pids+=($!)
"$work/caddy" run --config "$work/Caddyfile" >"$work/caddy.log" 2>&1 &
pids+=($!)
for p in $up $grad; do
	body=$(wait_up "$p") || exit 1
	[ "$body" = ok ] || { echo "port $p answered $body" >&2; exit 1; }
done

echo "warming up..."
for p in $up $grad; do
	wrk -t"$threads" -c"$conns" -d2s "http://127.0.0.1:$p/" >/dev/null
done

echo "wrk -t$threads -c$conns, ${secs}s rounds"
printf '%-6s %-26s %-26s\n' round "upstream req/s (p99 ms)" "worker req/s (p99 ms)"
: >"$work/up" ; : >"$work/grad"
for r in $(seq "$rounds"); do
	read -r urps up99 < <(wrk_round "$up")
	read -r grps gp99 < <(wrk_round "$grad")
	echo "$urps" >>"$work/up"
	echo "$grps" >>"$work/grad"
	printf '%-6s %-26s %-26s\n' "$r" "$urps ($up99)" "$grps ($gp99)"
done
urps=$(median <"$work/up")
grps=$(median <"$work/grad")
ratio=$(awk -v g="$grps" -v u="$urps" 'BEGIN {printf "%.3f", g/u}')
echo
echo "median upstream alone:      $urps req/s"
echo "median worker awaiting it:  $grps req/s"
echo "throughput ratio worker/upstream: $ratio (goal >= 0.8)"
awk -v r="$ratio" 'BEGIN {exit !(r >= 0.8)}' && echo "goal met" || echo "goal NOT met"
