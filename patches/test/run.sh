#!/usr/bin/env bash
# Builds test/put_refusal.cpp against the stock Debian libtorrent-rasterbar
# (pkg-config) and against the patched build in PREFIX, runs both and
# summarises the difference in dht_put_alert.
#
# Exit status: 0 both runs behaved as expected, 1 a run did not (or a build
# failed), 77 the patched prefix does not exist (patched run skipped).
set -euo pipefail

TEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PREFIX=${PREFIX:-/opt/libtorrent-mt}
OUT=${OUT:-}
CXX=${CXX:-c++}

usage() {
	cat <<EOF
Usage: $(basename "$0") [--prefix DIR] [--out DIR]

Builds put_refusal.cpp twice - against the stock libtorrent-rasterbar
(pkg-config) and against the patched one in --prefix (default $PREFIX,
env PREFIX; built by patches/build-patched-libtorrent.sh) - runs both and
prints both outputs and a one-line summary.

  --prefix DIR   prefix of the patched libtorrent
  --out DIR      where to put the test binaries (default: a temporary dir)
  -h, --help     show this help

Exit status: 0 ok, 1 unexpected behaviour or build failure, 77 patched
prefix missing (the stock run still happens).
EOF
}

while [ $# -gt 0 ]; do
	case "$1" in
		--prefix) [ $# -ge 2 ] || { usage >&2; exit 1; }; PREFIX=$2; shift 2 ;;
		--prefix=*) PREFIX=${1#*=}; shift ;;
		--out) [ $# -ge 2 ] || { usage >&2; exit 1; }; OUT=$2; shift 2 ;;
		--out=*) OUT=${1#*=}; shift ;;
		-h|--help) usage; exit 0 ;;
		*) usage >&2; echo "error: unknown option: $1" >&2; exit 1 ;;
	esac
done

if [ -z "$OUT" ]; then
	OUT=$(mktemp -d /tmp/put_refusal.XXXXXX)
	trap 'rm -rf "$OUT"' EXIT
fi
mkdir -p "$OUT"

# pc PKG_CONFIG_PATH ARGS...: pkg-config with only that search path added
# (an empty path means the system's default: the stock library)
pc() {
	local path=$1; shift
	if [ -n "$path" ]; then
		PKG_CONFIG_PATH=$path pkg-config "$@"
	else
		env -u PKG_CONFIG_PATH pkg-config "$@"
	fi
}

# build NAME PKG_CONFIG_PATH [extra flags...]
build() {
	local name=$1 path=$2 flags
	shift 2
	flags=$(pc "$path" --cflags --libs libtorrent-rasterbar) || {
		echo "error: pkg-config cannot find libtorrent-rasterbar for the $name build" >&2
		return 1
	}
	echo "== building against the $name library ($(pc "$path" --modversion libtorrent-rasterbar), ${path:-system pkg-config path})"
	# shellcheck disable=SC2086 # pkg-config output must be word-split
	"$CXX" -std=c++17 -O2 -Wall -o "$OUT/put_refusal-$name" \
		"$TEST_DIR/put_refusal.cpp" $flags "$@"
}

# run NAME: runs the binary, prints its output, returns its exit status
run() {
	local name=$1 rc=0
	echo "----- $name run -----"
	timeout 120 "$OUT/put_refusal-$name" > "$OUT/$name.log" 2>&1 || rc=$?
	cat "$OUT/$name.log"
	echo "----- $name exit status: $rc -----"
	return "$rc"
}

summary_of() { sed -n 's/^summary: //p' "$OUT/$1.log" | tail -n1; }

status=0

build stock "" || { echo "error: building against the stock library failed" >&2; exit 1; }
stock_rc=0
run stock || stock_rc=$?
[ "$stock_rc" -eq 0 ] || status=1

if [ ! -d "$PREFIX/lib/pkgconfig" ]; then
	echo
	echo "SKIP: patched libtorrent not found in $PREFIX (no $PREFIX/lib/pkgconfig);"
	echo "      build it with patches/build-patched-libtorrent.sh [--prefix DIR]"
	echo "summary: stock: $(summary_of stock) | patched: (not built)"
	[ "$status" -eq 0 ] && exit 77
	exit "$status"
fi

echo
build patched "$PREFIX/lib/pkgconfig" -Wl,-rpath,"$PREFIX/lib" \
	|| { echo "error: building against the patched library failed" >&2; exit 1; }
patched_rc=0
run patched || patched_rc=$?
[ "$patched_rc" -eq 0 ] || status=1
# the patched binary must really run with the patched library (same soname)
if ! grep -q "^library: $PREFIX/" "$OUT/patched.log"; then
	echo "error: the patched test binary did not load the library from $PREFIX" >&2
	status=1
fi

echo
echo "summary: stock: $(summary_of stock) | patched: $(summary_of patched)"
if [ "$status" -eq 0 ]; then
	echo "result: both runs behaved as expected for their library"
else
	echo "result: FAILED (stock exit $stock_rc, patched exit $patched_rc)"
fi
exit "$status"
