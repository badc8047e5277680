#!/usr/bin/env bash
# scripts/compare-with-oha.sh: is the client the bottleneck? Runs stress-client and oha in
# turn against stage 3 (release build, 50 keep-alive connections) and prints each rate and
# the medians. Runs on Linux and macOS (bash 3.2 or later, perl, oha).
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: scripts/compare-with-oha.sh [ROUNDS] [REQUESTS]

  ROUNDS    rounds of one stress-client run and one oha run each (default 5)
  REQUESTS  requests per run (default 100000)

Needs oha on PATH (`cargo install oha --locked`). Stage 3 listens on a free port of
127.0.0.1 for the whole comparison. A ratio near 1 says the stress client keeps up with
a load generator built for speed, so its rates measure the server, not itself.
USAGE
}

case ${1:-} in
-h | --help) usage; exit 0 ;;
esac
rounds=${1:-5}
requests=${2:-100000}
case $rounds$requests in
*[!0-9]*) echo "ROUNDS and REQUESTS are whole numbers (try --help)" >&2; exit 2 ;;
esac
command -v oha >/dev/null || { echo "oha is not on PATH: cargo install oha --locked" >&2; exit 1; }
cd "$(dirname "$0")/.."

# target_dir: where cargo puts its builds, asked of cargo itself, so CARGO_TARGET_DIR, a
# config file's build.target-dir and the default all give the same answer. The same
# function is in every script of this folder.
target_dir() {
    cargo metadata --format-version 1 --no-deps |
        perl -MJSON::PP -0ne 'print decode_json($_)->{target_directory}'
}

cargo build --release -q -p stage3 -p stress-client
bin=$(target_dir)/release
work=$(mktemp -d)
"$bin/stage3" --addr 127.0.0.1:0 >"$work/server.out" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

# The server's first line names the port it got.
url=
for _ in $(seq 100); do
    url=$(sed -n '1s/^listening on //p' "$work/server.out")
    [ -n "$url" ] && break
    sleep 0.1
done
[ -n "$url" ] || { echo "stage 3 did not start:" >&2; cat "$work/server.out" >&2; exit 1; }

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

client_rates=
oha_rates=
for round in $(seq "$rounds"); do
    client=$("$bin/stress-client" run "$url" --concurrency 50 --requests "$requests" --quiet |
        sed -n 's/^[0-9]* requests, \([0-9.]*\)\/s.*/\1/p')
    oha=$(oha --no-tui -c 50 -n "$requests" -m POST -H 'content-type: application/json' \
        -d '{"user":"u","action":"buy","amount":1}' "$url/events" |
        sed -n 's/^[[:space:]]*Requests\/sec:[[:space:]]*\([0-9.]*\).*/\1/p')
    echo "round $round: stress-client $client/s  oha $oha/s"
    client_rates="$client_rates$client
"
    oha_rates="$oha_rates$oha
"
done
client_median=$(printf '%s' "$client_rates" | median)
oha_median=$(printf '%s' "$oha_rates" | median)
echo "median: stress-client $client_median/s, oha $oha_median/s, ratio $(awk -v c="$client_median" -v o="$oha_median" 'BEGIN { printf "%.2f", c / o }')"
