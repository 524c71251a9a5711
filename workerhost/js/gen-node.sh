#!/bin/sh
# Regenerates third_party/node_events.js and node_stream.js (the host's
# node:events and node:stream) and their node_polyfills.LICENSE from the
# pinned npm packages.
# Needs npm and Go. Run from anywhere.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm init -y >/dev/null
npm install --no-audit --no-fund --ignore-scripts events@3.3.0 readable-stream@4.8.0 >/dev/null
cd "$here/gennode"
go run . "$tmp" "$here/third_party"
{
	echo "The host's node:events and node:stream (node_events.js, node_stream.js) bundle these"
	echo "npm packages, under their licenses:"
	for p in events readable-stream string_decoder safe-buffer; do
		v=$(node -p "require('$tmp/node_modules/$p/package.json').version")
		echo
		echo "==== $p@$v ===="
		echo
		cat "$tmp/node_modules/$p/LICENSE"
	done
} >"$here/third_party/node_polyfills.LICENSE"
