#!/bin/sh
# demo.sh MTCTL - the embedded default: a loopback DHT network, a new
# identity, and a signed BEP-44 put/get round trip between two processes.
# Everything stays on 127.0.0.0/8 and is cleaned up on exit.
set -eu
MTCTL=${1:-mtctl}
dir=$(mktemp -d /tmp/megatorrent-demo.XXXXXX)
net_pid=""
cleanup() {
    [ -n "$net_pid" ] && kill "$net_pid" 2>/dev/null && wait "$net_pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM

echo "== starting a loopback DHT network of 8 nodes (mtctl testnet)"
"$MTCTL" testnet --nodes 8 --address 127.0.99.1 > "$dir/net" &
net_pid=$!
i=0
until grep -q '^bootstrap ' "$dir/net" 2>/dev/null; do
    i=$((i + 1))
    [ $i -lt 600 ] || { echo "testnet did not start" >&2; exit 1; }
    kill -0 "$net_pid" 2>/dev/null || { echo "testnet exited" >&2; exit 1; }
    sleep 0.1
done
sed -n '1,8p' "$dir/net"
boot=$(sed -n 's/^bootstrap //p' "$dir/net")

echo
echo "== generating an identity (mtctl key generate)"
"$MTCTL" key generate -o "$dir/id.json"
pk=$(sed -n 's/.*"publicKey": "\([0-9a-f]*\)".*/\1/p' "$dir/id.json")

echo
echo "== signed mutable put, salt 'demo' (mtctl dht put)"
"$MTCTL" dht put -k "$dir/id.json" --salt demo -b "$boot" "hello from megatorrent"

echo
echo "== get it back from another process (mtctl dht get)"
"$MTCTL" dht get "$pk" --salt demo -b "$boot"

echo
echo "demo finished: the value above was signed, stored on the DHT and read back."
