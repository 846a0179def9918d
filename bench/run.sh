#!/bin/sh
# bench/run.sh BUILDDIR - run the benchmarks (`make bench` calls this).
#
# Prints machine notes, each exact command and its output, then the markdown
# rows of all runs together. Exits non-zero if any benchmark fails.
# Traffic stays on 127.0.40.x (DHT), 127.0.41.x (download), and 127.0.42.x
# (testnet) with 127.0.43.x (mtd processes) for bench_mtd, which runs the
# daemon built in BUILDDIR/mtd/mtd, 127.0.77.x for bench_blob, 127.0.96-97.x for bench_push.
set -u

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
    echo "usage: sh bench/run.sh BUILDDIR" >&2
    exit 2
fi
B=$(cd "$1" && pwd)

for p in bench_dht bench_download bench_manifest bench_mtd bench_blob bench_push; do
    if [ ! -x "$B/bench/$p" ]; then
        echo "run.sh: $B/bench/$p is not built (run: make bench/$p)" >&2
        exit 2
    fi
done
if [ ! -x "$B/mtd/mtd" ]; then
    echo "run.sh: $B/mtd/mtd is not built (run: make)" >&2
    exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mt-bench-run-XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM HUP

echo "## Machine"
echo "date (UTC):  $(date -u '+%Y-%m-%d %H:%M:%S')"
echo "nproc:       $(nproc)"
echo "CPU:         $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
echo "memory:      $(free -g | awk '/^Mem:/ { print $2 }') GiB total (free -g)"
echo "kernel:      $(uname -srm)"
echo "libtorrent:  $(pkg-config --modversion libtorrent-rasterbar 2>/dev/null || echo unknown) (pkg-config)"
echo "load avg:    $(cut -d' ' -f1-3 /proc/loadavg) at start"
echo

fail=0
n=0
run() {
    n=$((n + 1))
    echo "## Run $n"
    echo "\$ $*"
    "$@" >"$tmp/out.$n"
    rc=$?
    cat "$tmp/out.$n"
    printf '%s\n' "$*" >"$tmp/cmd.$n"
    if [ $rc -ne 0 ]; then
        echo "run.sh: FAILED (exit $rc): $*" >&2
        fail=1
    fi
    echo
}

run "$B/bench/bench_dht" --nodes 8 --rounds 200 --addr 127.0.40.1
run "$B/bench/bench_dht" --nodes 32 --rounds 200 --addr 127.0.40.1
run "$B/bench/bench_download" --size-mib 256 --addr 127.0.41.1
# Encrypted peer links: the same 256 MiB v1 transfer over plain, RC4 and
# lt_mtcrypt (ChaCha20-Poly1305) links, interleaved in one run.
run "$B/bench/bench_download" --size-mib 256 --addr 127.0.41.1 --transfer v1 --links plain,rc4,mtcrypt --repeat 5
run "$B/bench/bench_manifest" --repeat 41
# About 15 minutes: update latency on 32 nodes, then 1,000 and 10,000
# subscriptions (and 10,000 at the default dht_budget) on 8.
run "$B/bench/bench_mtd" --mtd "$B/mtd/mtd" --addr 127.0.42.1 --daemon-addr 127.0.43.1
# Blobs: ingest/reassembly against raw crypto, RSS of a 2 GiB ingest, and a
# 1 GiB pack fetch against a plain 1 GiB download (127.0.77.x).
run "$B/bench/bench_blob"
# Push against poll: update latency to 20 and 50 subscribers (127.0.96.x/97.x).
run "$B/bench/bench_push"

echo "## Markdown rows"
i=1
while [ $i -le $n ]; do
    echo
    echo "\`$(cat "$tmp/cmd.$i")\`"
    echo
    grep '^|' "$tmp/out.$i"
    i=$((i + 1))
done
echo
echo "load avg:    $(cut -d' ' -f1-3 /proc/loadavg) at end"

if [ $fail -ne 0 ]; then
    echo "run.sh: at least one benchmark FAILED" >&2
    exit 1
fi
exit 0
