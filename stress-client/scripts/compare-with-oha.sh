#!/usr/bin/env bash
# Is the client the bottleneck? Runs stress-client and oha alternately against stage 3
# (release build, 50 keep-alive connections) and prints each rate and the medians.
#
#   stress-client/scripts/compare-with-oha.sh [ROUNDS] [REQUESTS]
#
# Needs oha on PATH (`cargo install oha --locked`). Run from the workspace root.
set -euo pipefail

rounds=${1:-5}
requests=${2:-100000}
port=${PORT:-18183}
url="http://127.0.0.1:${port}"

cargo build --release -q -p stage3 -p stress-client
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
"${target_dir}/release/stage3" --addr "127.0.0.1:${port}" > /dev/null &
server=$!
trap 'kill "${server}" 2>/dev/null || true' EXIT
sleep 1

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

client_rates=()
oha_rates=()
for round in $(seq "${rounds}"); do
    client=$("${target_dir}/release/stress-client" run "${url}" --concurrency 50 --requests "${requests}" --quiet \
        | sed -n 's/^[0-9]* requests, \([0-9.]*\)\/s.*/\1/p')
    oha=$(oha --no-tui -c 50 -n "${requests}" -m POST -H 'content-type: application/json' \
        -d '{"user":"u","action":"buy","amount":1}' "${url}/events" \
        | sed -n 's/^[[:space:]]*Requests\/sec:[[:space:]]*\([0-9.]*\).*/\1/p')
    echo "round ${round}: stress-client ${client}/s  oha ${oha}/s"
    client_rates+=("${client}")
    oha_rates+=("${oha}")
done
client_median=$(printf '%s\n' "${client_rates[@]}" | median)
oha_median=$(printf '%s\n' "${oha_rates[@]}" | median)
echo "median: stress-client ${client_median}/s, oha ${oha_median}/s, ratio $(awk -v c="${client_median}" -v o="${oha_median}" 'BEGIN { printf "%.2f", c / o }')"
