#!/bin/sh
# run.sh OUTDIR SECONDS - run every fuzz target built by build.sh for
# SECONDS each, starting from a temporary copy of its seed corpus
# (test/fuzz/corpus/<target>/), so the checked-in corpus is never changed.
#
# Crash inputs are kept in OUTDIR/crashes/<target>/; logs in
# OUTDIR/logs/<target>.log. Exits 1 if any target failed.
set -u

if [ $# -ne 2 ]; then
    echo "usage: $0 OUTDIR SECONDS" >&2
    exit 2
fi
OUTDIR=$(cd "$1" 2>/dev/null && pwd) || { echo "fuzz run: no directory $1 (run build.sh first)" >&2; exit 2; }
SECONDS_EACH=$2
case $SECONDS_EACH in
'' | *[!0-9]*) echo "fuzz run: SECONDS must be a whole number, not '$SECONDS_EACH'" >&2; exit 2 ;;
esac

# Corpus and dictionaries sit next to this script; build.sh also records
# SRCDIR in case the script was copied elsewhere.
HERE=$(cd "$(dirname "$0")" && pwd)
if [ ! -d "$HERE/corpus" ] && [ -f "$OUTDIR/srcdir" ]; then
    HERE=$(cat "$OUTDIR/srcdir")/test/fuzz
fi
CORPUS=$HERE/corpus

# libtorrent is not instrumented: its std::vector annotations would give
# false container-overflow reports. Caller's options come first, ours win.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_container_overflow=0:abort_on_error=0"
UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:halt_on_error=1"
export ASAN_OPTIONS UBSAN_OPTIONS

max_len_of() {
    case $1 in
    fuzz_keyfile) echo 4096 ;;
    fuzz_bencode) echo 2048 ;;
    fuzz_torrent) echo 65536 ;;
    fuzz_dht_item) echo 2048 ;;
    fuzz_manifest) echo 16384 ;;
    fuzz_crypt) echo 20000 ;;
    *) echo 4096 ;;
    esac
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mt-fuzz.XXXXXX") || exit 2
trap 'rm -rf "$WORK"' EXIT INT TERM
mkdir -p "$OUTDIR/logs" "$OUTDIR/crashes"

failed=0
ran=0
for bin in "$OUTDIR"/fuzz_*; do
    [ -f "$bin" ] && [ -x "$bin" ] || continue
    case $bin in *.tmp | *.o) continue ;; esac
    name=$(basename "$bin")
    ran=$((ran + 1))
    corpus=$WORK/$name
    mkdir -p "$corpus"
    if [ -d "$CORPUS/$name" ]; then
        cp "$CORPUS/$name"/* "$corpus"/ 2>/dev/null || true
    else
        echo "fuzz run: warning: no seed corpus $CORPUS/$name" >&2
    fi
    nseeds=$(ls "$corpus" | wc -l)
    crashdir=$OUTDIR/crashes/$name
    mkdir -p "$crashdir"
    log=$OUTDIR/logs/$name.log
    dict=
    if [ -f "$HERE/dict/$name.dict" ]; then dict=-dict=$HERE/dict/$name.dict; fi
    start=$(date +%s)
    "$bin" -max_total_time="$SECONDS_EACH" -max_len="$(max_len_of "$name")" -rss_limit_mb=2048 \
        -timeout=30 -print_final_stats=1 -artifact_prefix="$crashdir/" ${dict:+"$dict"} \
        "$corpus" >"$log" 2>&1
    rc=$?
    end=$(date +%s)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | sed 's/cov: //')
    nfinal=$(ls "$corpus" | wc -l)
    if [ $rc -eq 0 ]; then
        rmdir "$crashdir" 2>/dev/null
        printf '%-14s ok      %10s execs in %4ss (%s/s), cov %s, corpus %s -> %s\n' "$name" \
            "${execs:-?}" "$((end - start))" "${speed:-?}" "${cov:-?}" "$nseeds" "$nfinal"
    else
        failed=1
        artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
        printf '%-14s FAILED  %10s execs in %4ss (exit %s)\n' "$name" "${execs:-?}" "$((end - start))" "$rc"
        grep -m 3 -E '^==[0-9]+==ERROR|runtime error|INVARIANT FAILED|^SUMMARY' "$log" | sed 's/^/    /'
        echo "    crash input: ${artifact:-(none written; see log)}"
        echo "    log: $log"
        if [ -n "$artifact" ]; then
            echo "    reproduce: ASAN_OPTIONS=detect_container_overflow=0 $bin $artifact"
        fi
    fi
done

if [ $ran -eq 0 ]; then
    echo "fuzz run: no fuzz_* targets in $OUTDIR (run build.sh first)" >&2
    exit 2
fi
exit $failed
