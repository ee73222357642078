#!/bin/sh
# Checks poolguard.rules.yml and runs its unit tests (tests/*.test.yml) with
# promtool.
#
# promtool is taken from $PROMTOOL if set, else from PATH, else from a cache
# directory ($POOLGUARD_CACHE, default ${XDG_CACHE_HOME:-~/.cache}/poolguard),
# where it is fetched on first use: unpacked from Debian's prometheus package
# (apt-get download; nothing is installed), or else built with go install.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cache=${POOLGUARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/poolguard}
version=v0.316.0 # github.com/prometheus/prometheus, for go install

fetch() {
	mkdir -p "$cache/bin"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	download() { (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1); }
	if command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1 &&
		{ download || { [ "$(id -u)" = 0 ] && apt-get update -qq >/dev/null 2>&1 && download; }; }; then
		dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/x"
		cp "$tmp/x/usr/bin/promtool" "$cache/bin/promtool"
		return
	fi
	echo "test.sh: building promtool $version with go install; this takes minutes" >&2
	GOBIN="$cache/bin" go install "github.com/prometheus/prometheus/cmd/promtool@$version"
}

if [ -n "${PROMTOOL:-}" ]; then
	promtool=$PROMTOOL
elif command -v promtool >/dev/null 2>&1; then
	promtool=$(command -v promtool)
else
	promtool=$cache/bin/promtool
	[ -x "$promtool" ] || fetch
fi

"$promtool" --version 2>&1 | head -n 1
cd "$here"
"$promtool" check rules poolguard.rules.yml pgxpool.rules.yml
"$promtool" test rules tests/*.test.yml
