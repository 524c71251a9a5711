#!/usr/bin/env bash
# Throughput of gradual against plain reverse_proxy, in one run.
#
# Builds Caddy with the plugin, starts two upstreams in one Caddy process and,
# in a second Caddy process, two sites in front of them: plain reverse_proxy
# over both upstreams (its default policy: a random pick, as gradual's
# keyless split is) and gradual with one version per upstream at 50/50. The same load generator (wrk) hits both sites in alternating
# rounds, so drift on the machine affects both alike, and the script prints
# the median requests/s, p99 latency and the throughput ratio gradual/plain.
#
# Usage: integration/bench/proxy.sh [seconds-per-round] [rounds]
# Needs wrk (Debian: apt-get install wrk). Everything binds to 127.0.0.1.
set -euo pipefail

secs=${1:-5}
rounds=${2:-5}
conns=${CONNS:-32}
threads=${THREADS:-1}

source "$(dirname "$0")/lib.sh"
need wrk

up1=$(port) up2=$(port) plain=$(port) grad=$(port) admin1=$(port) admin2=$(port)

echo "building caddy with the plugin..."
(cd "$root" && go build -o "$work/caddy" ./cmd/caddy)

cat >"$work/upstreams.Caddyfile" <<CF
{
	admin 127.0.0.1:$admin1
	default_bind 127.0.0.1
	log {
		level ERROR
	}
}
:$up1 {
	respond "hello from upstream 1"
}
:$up2 {
	respond "hello from upstream 2"
}
CF

cat >"$work/proxies.Caddyfile" <<CF
{
	admin 127.0.0.1:$admin2
	default_bind 127.0.0.1
	log {
		level ERROR
	}
}
:$plain {
	reverse_proxy 127.0.0.1:$up1 127.0.0.1:$up2
}
:$grad {
	gradual bench {
		version v1 {
			upstream 127.0.0.1:$up1
		}
		version v2 {
			upstream 127.0.0.1:$up2
		}
		deploy v1@50% v2@50%
	}
}
CF

"$work/caddy" run --config "$work/upstreams.Caddyfile" >"$work/up.log" 2>&1 &
pids+=($!)
"$work/caddy" run --config "$work/proxies.Caddyfile" >"$work/proxy.log" 2>&1 &
pids+=($!)

for p in $plain $grad; do
	wait_up "$p" >/dev/null || exit 1
done


echo "warming up..."
wrk -t"$threads" -c"$conns" -d2s "http://127.0.0.1:$plain/" >/dev/null
wrk -t"$threads" -c"$conns" -d2s "http://127.0.0.1:$grad/" >/dev/null

printf '%-6s %-22s %-22s\n' round "reverse_proxy req/s (p99 ms)" "gradual req/s (p99 ms)"
: >"$work/plain" ; : >"$work/grad"
for r in $(seq "$rounds"); do
	# Alternate which goes first, so neither always runs on a warmer machine.
	if ((r % 2)); then
		read -r prps pp99 < <(wrk_round "$plain")
		read -r grps gp99 < <(wrk_round "$grad")
	else
		read -r grps gp99 < <(wrk_round "$grad")
		read -r prps pp99 < <(wrk_round "$plain")
	fi
	echo "$prps $pp99" >>"$work/plain"
	echo "$grps $gp99" >>"$work/grad"
	printf '%-6s %-22s %-22s\n' "$r" "$prps ($pp99)" "$grps ($gp99)"
done

prps=$(cut -d' ' -f1 "$work/plain" | median)
grps=$(cut -d' ' -f1 "$work/grad" | median)
pp99=$(cut -d' ' -f2 "$work/plain" | median)
gp99=$(cut -d' ' -f2 "$work/grad" | median)
# Each round's two runs are back to back, so the ratio within a round is
# the least disturbed by drift; the headline is the median of those.
ratio=$(paste -d' ' "$work/grad" "$work/plain" | awk '{printf "%.4f\n", $1/$3}' | median)
ratio=$(awk -v r="$ratio" 'BEGIN {printf "%.3f", r}')
echo
echo "median reverse_proxy: $prps req/s, p99 ${pp99} ms"
echo "median gradual:       $grps req/s, p99 ${gp99} ms"
echo "throughput ratio gradual/reverse_proxy (median of per-round ratios): $ratio (goal >= 0.95)"
awk -v r="$ratio" 'BEGIN {exit !(r >= 0.95)}' && echo "goal met" || echo "goal NOT met"
