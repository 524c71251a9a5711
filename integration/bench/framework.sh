#!/usr/bin/env bash
# A framework app in Caddy+gradual against Cloudflare's workerd, in one run.
#
# Serves the Hono app of the differential test (integration/testdata/apps/
# hono.js: router, cors, secure-headers, etag, jwt... middleware), with the
# Hono version that test pins from npm, from Caddy (gradual, one script
# version, bundled by the host as for any script) and from workerd (bundled
# by the same esbuild as the differential test does, with nodejs_compat).
# The same load generator (wrk) hits both, on each path below, in
# alternating rounds, so drift on the machine affects both alike; the
# script prints the median requests/s and p99 latency of each and the
# throughput ratio gradual/workerd (the median of the per-round ratios).
#
#   /                               text through cors and secure-headers
#   /api/items/42?q=x&tag=a&tag=b   route params, query, JSON, and etag
#                                   (clones the response, SHA-1s its body)
#
# With BASE set to a git revision, a Caddy built from that revision serves
# the app too, in the same rounds, for a before/after comparison.
#
# Usage: [BASE=rev] integration/bench/framework.sh [seconds-per-round] [rounds]
# Needs wrk (Debian: apt-get install wrk), curl, python3, go, npm (for Hono
# and workerd, unless installed: see lib.sh's need_workerd). Everything
# binds to 127.0.0.1.
set -euo pipefail

secs=${1:-5}
rounds=${2:-5}
conns=${CONNS:-32}
threads=${THREADS:-1}
paths=(/ "/api/items/42?q=x&tag=a&tag=b")

source "$(dirname "$0")/lib.sh"
need wrk curl python3 go

need_workerd

# Hono, at the version integration/apps_test.go pins, in <repo>/.cache/apps
# as that test installs it; the app goes beside it, so that the host's
# bundler resolves "hono" from that node_modules.
apps=$root/.cache/apps
hono=$(grep -o '"hono": "[^"]*"' "$root/integration/apps_test.go" | cut -d'"' -f4)
if ! grep -qs "\"version\": \"$hono\"" "$apps/node_modules/hono/package.json"; then
	command -v npm >/dev/null || { echo "hono is not installed and npm is not on PATH" >&2; exit 1; }
	echo "installing hono@$hono..."
	npm install --prefix "$apps" --no-save --no-audit --no-fund "hono@$hono" >/dev/null
fi
cp "$root/integration/testdata/apps/hono.js" "$apps/bench-hono.js"

grad=$(port) wd=$(port) admin=$(port) base=$(port) baseadmin=$(port)

echo "building caddy with the plugin, bundling the app for workerd..."
(cd "$root" && go build -o "$work/caddy" ./cmd/caddy)
if [ -n "${BASE:-}" ]; then
	echo "building caddy at $BASE..."
	git -C "$root" worktree add -q --detach "$work/base" "$BASE"
	trap 'git -C "$root" worktree remove --force "$work/base"; cleanup' EXIT
	(cd "$work/base" && go build -o "$work/caddy-base" ./cmd/caddy)
fi
# The options of integration/workerd_test.go's workerdBundle, as Wrangler
# would bundle.
(cd "$root" && go run github.com/evanw/esbuild/cmd/esbuild "$apps/bench-hono.js" \
	--bundle --format=esm --platform=neutral --main-fields=browser,module,main \
	--conditions=workerd,worker,browser '--external:node:*' --target=esnext \
	'--define:process.env.NODE_ENV="production"' --log-level=warning --outfile="$work/hono.js")

{
	caddy_globals
	cat <<CF
:$grad {
	gradual bench {
		version v1 {
			script $apps/bench-hono.js
		}
	}
}
CF
} >"$work/Caddyfile"

compat=$(sed -n 's/^const workerdCompatDate = "\(.*\)"$/\1/p' "$root/integration/workerd_test.go")
cat >"$work/workerd.capnp" <<CAPNP
using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "main", worker = .w)],
  sockets = [(name = "http", address = "127.0.0.1:$wd", http = (), service = "main")],
);
const w :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "hono.js")],
  compatibilityDate = "$compat",
  compatibilityFlags = ["nodejs_compat"],
);
CAPNP

"$work/caddy" run --config "$work/Caddyfile" >"$work/caddy.log" 2>&1 &
pids+=($!)
servers=("$grad" "$wd")
if [ -n "${BASE:-}" ]; then
	sed -e "s/127.0.0.1:$admin/127.0.0.1:$baseadmin/" -e "s/^:$grad /:$base /" "$work/Caddyfile" >"$work/base.Caddyfile"
	"$work/caddy-base" run --config "$work/base.Caddyfile" >"$work/caddy-base.log" 2>&1 &
	pids+=($!)
	servers+=("$base")
fi
"$workerd" serve "$work/workerd.capnp" >"$work/workerd.log" 2>&1 &
pids+=($!)

echo "gradual on port $grad, workerd on port $wd${BASE:+, gradual at $BASE on port $base}"
for p in "${servers[@]}"; do
	body=$(wait_up "$p") || exit 1
	[ "$body" = "hello hono" ] || { echo "port $p answered $body" >&2; exit 1; }
done
for path in "${paths[@]}"; do
	a=$(curl -fsS "http://127.0.0.1:$grad$path") b=$(curl -fsS "http://127.0.0.1:$wd$path")
	[ "$a" = "$b" ] || { echo "$path: gradual answered $a, workerd $b" >&2; exit 1; }
done

echo "warming up..."
for path in "${paths[@]}"; do
	for p in "${servers[@]}"; do
		wrk -t"$threads" -c"$conns" -d2s "http://127.0.0.1:$p$path" >/dev/null
	done
done

echo "wrk -t$threads -c$conns, ${secs}s rounds"
ratios=() baseratios=()
for i in "${!paths[@]}"; do
	path=${paths[$i]}
	echo
	echo "GET $path"
	if [ -n "${BASE:-}" ]; then
		printf '%-6s %-24s %-24s %-24s\n' round "gradual req/s (p99 ms)" "workerd req/s (p99 ms)" "at $BASE req/s (p99 ms)"
	else
		printf '%-6s %-24s %-24s\n' round "gradual req/s (p99 ms)" "workerd req/s (p99 ms)"
	fi
	: >"$work/grad$i" ; : >"$work/wd$i" ; : >"$work/base$i"
	for r in $(seq "$rounds"); do
		# Alternate which goes first, so none always runs on a warmer machine.
		if ((r % 2)); then
			read -r grps gp99 < <(wrk_round "$grad" "$path")
			read -r wrps wp99 < <(wrk_round "$wd" "$path")
			[ -z "${BASE:-}" ] || read -r brps bp99 < <(wrk_round "$base" "$path")
		else
			[ -z "${BASE:-}" ] || read -r brps bp99 < <(wrk_round "$base" "$path")
			read -r wrps wp99 < <(wrk_round "$wd" "$path")
			read -r grps gp99 < <(wrk_round "$grad" "$path")
		fi
		echo "$grps $gp99" >>"$work/grad$i"
		echo "$wrps $wp99" >>"$work/wd$i"
		if [ -n "${BASE:-}" ]; then
			echo "$brps $bp99" >>"$work/base$i"
			printf '%-6s %-24s %-24s %-24s\n' "$r" "$grps ($gp99)" "$wrps ($wp99)" "$brps ($bp99)"
		else
			printf '%-6s %-24s %-24s\n' "$r" "$grps ($gp99)" "$wrps ($wp99)"
		fi
	done
	# ratio prints the median of the per-round ratios of two result files:
	# each round's runs are back to back, so that is the least disturbed
	# by drift.
	ratio() { paste -d' ' "$1" "$2" | awk '{printf "%.4f\n", $1/$3}' | median | awk '{printf "%.3f", $1}'; }
	ratios+=("$(ratio "$work/grad$i" "$work/wd$i")")
	echo "median gradual (goja): $(cut -d' ' -f1 "$work/grad$i" | median) req/s, p99 $(cut -d' ' -f2 "$work/grad$i" | median) ms"
	echo "median workerd:        $(cut -d' ' -f1 "$work/wd$i" | median) req/s, p99 $(cut -d' ' -f2 "$work/wd$i" | median) ms"
	echo "throughput ratio gradual/workerd (median of per-round ratios): ${ratios[$i]}"
	if [ -n "${BASE:-}" ]; then
		baseratios+=("$(ratio "$work/base$i" "$work/wd$i")")
		echo "median gradual at $BASE: $(cut -d' ' -f1 "$work/base$i" | median) req/s, p99 $(cut -d' ' -f2 "$work/base$i" | median) ms"
		echo "throughput ratio at $BASE/workerd: ${baseratios[$i]}; gradual/at $BASE: $(ratio "$work/grad$i" "$work/base$i")"
	fi
done

echo
met=yes
for i in "${!paths[@]}"; do
	printf 'GET %-32s ratio %s (goal >= 0.5)\n' "${paths[$i]}" "${ratios[$i]}"
	awk -v r="${ratios[$i]}" 'BEGIN {exit !(r >= 0.5)}' || met=no
done
[ "$met" = yes ] && echo "goal met" || echo "goal NOT met"
