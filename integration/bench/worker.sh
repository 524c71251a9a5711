#!/usr/bin/env bash
# The hello-world JSON worker in Caddy+gradual against Cloudflare's workerd.
#
# Builds Caddy with the plugin and serves the worker
#   export default { fetch() { return Response.json({ hello: "world" }) } }
# from Caddy (gradual, one script version) and from workerd (the npm package
# the differential test pins, in <repo>/.cache/workerd), plus a Caddy
# `respond` site with the same JSON as a ceiling. The same load generator
# (wrk) hits them in alternating rounds, so drift on the machine affects all
# alike, and the script prints the median requests/s and p99 latency of each
# and the throughput ratio gradual/workerd.
#
# Then cold starts: the time from POST /load of a config with a new script
# version to the version's first 200 (hello world, and a 1 MB script), the
# time from starting workerd to its first 200, and the worker host's
# benchmarks for compiling a 1 MB bundle and for a pooled runtime.
#
# Usage: integration/bench/worker.sh [seconds-per-round] [rounds]
# Needs wrk (Debian: apt-get install wrk), curl, python3, and workerd: set
# GRADUAL_WORKERD to its binary, or have npm on PATH. Everything binds to
# 127.0.0.1.
set -euo pipefail

secs=${1:-5}
rounds=${2:-5}
conns=${CONNS:-32}
threads=${THREADS:-1}
colds=${COLDS:-5}

source "$(dirname "$0")/lib.sh"
need wrk curl python3 go

need_workerd

admin=$(port) grad=$(port) resp=$(port) wd=$(port) cold=$(port) wdcold=$(port)

echo "building caddy with the plugin..."
(cd "$root" && go build -o "$work/caddy" ./cmd/caddy)

cat >"$work/hello.js" <<'JS'
export default { fetch() { return Response.json({ hello: "world" }) } }
JS

# caddyfile prints the benchmark's Caddyfile, with an extra version on
# port $cold when given a script: the cold-start measurement loads it.
caddyfile() {
	caddy_globals
	cat <<CF
:$grad {
	gradual bench {
		version v1 {
			script $work/hello.js
		}
	}
}
:$resp {
	header Content-Type application/json
	respond \`{"hello":"world"}\`
}
CF
	if [ -n "${1:-}" ]; then
		cat <<CF
:$cold {
	gradual cold {
		version $2 {
			script $1
		}
	}
}
CF
	fi
}
caddyfile >"$work/Caddyfile"

# workerd_config prints a workerd config serving script $1 on port $2.
workerd_config() {
	cat <<CAPNP
using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "main", worker = .w)],
  sockets = [(name = "http", address = "127.0.0.1:$2", http = (), service = "main")],
);
const w :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "$1")],
  compatibilityDate = "2024-09-23",
);
CAPNP
}
workerd_config hello.js "$wd" >"$work/workerd.capnp"

"$work/caddy" run --config "$work/Caddyfile" >"$work/caddy.log" 2>&1 &
pids+=($!)
"$workerd" serve "$work/workerd.capnp" >"$work/workerd.log" 2>&1 &
pids+=($!)

for p in $grad $resp $wd; do
	body=$(wait_up "$p") || exit 1
	[ "$body" = '{"hello":"world"}' ] || { echo "port $p answered $body" >&2; exit 1; }
done


echo "warming up..."
for p in $grad $wd $resp; do
	wrk -t"$threads" -c"$conns" -d2s "http://127.0.0.1:$p/" >/dev/null
done

echo "wrk -t$threads -c$conns, ${secs}s rounds"
printf '%-6s %-24s %-24s %-24s\n' round "gradual req/s (p99 ms)" "workerd req/s (p99 ms)" "respond req/s (p99 ms)"
: >"$work/grad" ; : >"$work/wd" ; : >"$work/resp"
for r in $(seq "$rounds"); do
	read -r grps gp99 < <(wrk_round "$grad")
	read -r wrps wp99 < <(wrk_round "$wd")
	read -r rrps rp99 < <(wrk_round "$resp")
	echo "$grps $gp99" >>"$work/grad"
	echo "$wrps $wp99" >>"$work/wd"
	echo "$rrps $rp99" >>"$work/resp"
	printf '%-6s %-24s %-24s %-24s\n' "$r" "$grps ($gp99)" "$wrps ($wp99)" "$rrps ($rp99)"
done

grps=$(cut -d' ' -f1 "$work/grad" | median)
wrps=$(cut -d' ' -f1 "$work/wd" | median)
rrps=$(cut -d' ' -f1 "$work/resp" | median)
gp99=$(cut -d' ' -f2 "$work/grad" | median)
wp99=$(cut -d' ' -f2 "$work/wd" | median)
rp99=$(cut -d' ' -f2 "$work/resp" | median)
ratio=$(awk -v g="$grps" -v w="$wrps" 'BEGIN {printf "%.3f", g/w}')
echo
echo "median gradual (goja): $grps req/s, p99 ${gp99} ms"
echo "median workerd:        $wrps req/s, p99 ${wp99} ms"
echo "median caddy respond:  $rrps req/s, p99 ${rp99} ms"
echo "throughput ratio gradual/workerd: $ratio (goal >= 1.0)"
awk -v r="$ratio" 'BEGIN {exit !(r >= 1.0)}' && echo "goal met" || echo "goal NOT met"

# Cold starts. Every script is new (a nonce in its source), so nothing
# comes from the compile cache. The load carries the whole config, as a
# reload does; /load returns once the new config runs.
python3 - >"$work/big.js" <<'PY'
import sys
out, i = [], 0
size = 0
while size < 1 << 20:
    line = f"export function f{i}(a, b) {{ const xs = [a, b, {i}]; return xs.map((x) => x * 2).filter((x) => x > {i % 7}).reduce((s, x) => s + x, 0) + `f{i}`.length; }}\n"
    out.append(line); size += len(line); i += 1
sys.stdout.write("".join(out))
PY

# coldstart writes a script (hello, or importing big.js when $1 is big),
# loads it as a new version and prints "<load ms> <first 200 ms>".
coldstart() {
	local kind=$1 n=$2 nonce script
	nonce="$kind-$n-$RANDOM$RANDOM"
	script="$work/cold-$nonce.js"
	if [ "$kind" = big ]; then
		printf 'import * as big from "./big.js";\nexport default { fetch() { return Response.json({ build: "%s", n: Object.keys(big).length }) } }\n' "$nonce" >"$script"
	else
		printf 'export default { fetch() { return Response.json({ build: "%s" }) } }\n' "$nonce" >"$script"
	fi
	caddyfile "$script" "v$n" >"$work/cold.Caddyfile"
	python3 - "$admin" "$cold" "$work/cold.Caddyfile" "$nonce" <<'PY'
import sys, time, urllib.request
admin, port, path, nonce = sys.argv[1:]
body = open(path, "rb").read()
req = urllib.request.Request(f"http://127.0.0.1:{admin}/load", data=body, headers={"Content-Type": "text/caddyfile"})
t0 = time.perf_counter()
urllib.request.urlopen(req).read()
t1 = time.perf_counter()
while True:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as r:
            if r.status == 200 and nonce in r.read().decode():
                break
    except OSError:
        pass
t2 = time.perf_counter()
print(f"{(t1 - t0) * 1000:.1f} {(t2 - t0) * 1000:.1f}")
PY
}

# workerd_cold starts workerd on a new script and prints the ms from exec
# to its first 200.
workerd_cold() {
	local n=$1
	printf 'export default { fetch() { return Response.json({ build: "wd-%s-%s" }) } }\n' "$n" "$RANDOM" >"$work/wdcold.js"
	workerd_config wdcold.js "$wdcold" >"$work/wdcold.capnp"
	python3 - "$workerd" "$work/wdcold.capnp" "$wdcold" <<'PY'
import subprocess, sys, time, urllib.request
binary, config, port = sys.argv[1:]
t0 = time.perf_counter()
p = subprocess.Popen([binary, "serve", config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as r:
                if r.status == 200:
                    break
        except OSError:
            pass
    print(f"{(time.perf_counter() - t0) * 1000:.1f}")
finally:
    p.kill()
    p.wait()
PY
}

echo
echo "cold start, $colds runs each (median ms)"
: >"$work/cold-hello" ; : >"$work/cold-big" ; : >"$work/cold-wd"
for n in $(seq "$colds"); do
	coldstart hello "$n" >>"$work/cold-hello"
	coldstart big "$n" >>"$work/cold-big"
	workerd_cold "$n" >>"$work/cold-wd"
done
echo "gradual, hello world:   POST /load $(cut -d' ' -f1 "$work/cold-hello" | median) ms, to first 200 $(cut -d' ' -f2 "$work/cold-hello" | median) ms"
echo "gradual, 1 MB script:   POST /load $(cut -d' ' -f1 "$work/cold-big" | median) ms, to first 200 $(cut -d' ' -f2 "$work/cold-big" | median) ms"
echo "workerd, hello world:   process start to first 200 $(median <"$work/cold-wd") ms"

echo
echo "worker host benchmarks (go test ./workerhost -bench)"
(cd "$root" && go test ./workerhost -run '^$' -bench 'BenchmarkCompile1MB$' -benchtime 5x &&
	go test ./workerhost -run '^$' -bench 'BenchmarkCompileCached$|BenchmarkRuntimeMemory$') | grep -E '^Benchmark'
