#!/usr/bin/env bash
# scripts/real-clients.sh: drive every stage with real HTTP clients and fail if any of them
# is not served. Runs on Linux and macOS (bash 3.2 or later, perl, curl); CI runs it on Linux.
set -uo pipefail

usage() {
    cat <<'USAGE'
Usage: scripts/real-clients.sh           debug builds, the ones `cargo test` made
       PROFILE=release scripts/real-clients.sh

For each stage it starts the binary on a free port (reading its `listening on` line) and
checks: curl in several styles (form and JSON bodies, HTTP/1.0, `Connection: close`, a body
large enough for `Expect: 100-continue`, two requests reusing one connection), the stress
client with keep-alive and with a connection per request, and wrk, ab and oha if they are
installed (`ab -l`: stage answers differ in length, which ab would count as failures).
Slow stages run with `--work-ms 1` here: this checks that clients and server understand
each other, not how fast the server is.
USAGE
}

case ${1:-} in
-h | --help) usage; exit 0 ;;
"") ;;
*) echo "unknown argument $1 (try --help)" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."

# target_dir: where cargo puts its builds, asked of cargo itself, so CARGO_TARGET_DIR, a
# config file's build.target-dir and the default all give the same answer. The same
# function is in every script of this folder.
target_dir() {
    cargo metadata --format-version 1 --no-deps |
        perl -MJSON::PP -0ne 'print decode_json($_)->{target_directory}'
}

profile=${PROFILE:-debug}
# An empty array is "unbound" to bash 3.2 under set -u, so the flag is a plain word.
release_flag=
[ "$profile" = release ] && release_flag=--release
# shellcheck disable=SC2086 # empty or one word
cargo build -q $release_flag --workspace --bins || exit 1
bin=$(target_dir)/$profile

# stage_packages: the workspace's stage packages (stage1 .. stage8), in order, read from
# cargo rather than written here a second time.
stage_packages() {
    cargo metadata --format-version 1 --no-deps | perl -MJSON::PP -0ne '
        print "$_\n" for sort { substr($a, 5) <=> substr($b, 5) }
            grep { /^stage[0-9]+$/ } map { $_->{name} } @{ decode_json($_)->{packages} }'
}

failures=0
work=$(mktemp -d)
trap 'rm -rf "$work"; kill $(jobs -p) 2>/dev/null' EXIT

pass() { printf '  ok    %s\n' "$1"; }
fail() { printf '  FAIL  %s: %s\n' "$1" "$2"; failures=$((failures + 1)); }

# Expects the HTTP status `want` from a curl invocation (extra curl arguments follow).
curl_status() {
    local name=$1 want=$2; shift 2
    local got
    got=$(curl -sS -o "$work/body" -w '%{http_code}' --max-time 10 "$@" 2>"$work/err") || true
    if [ "$got" = "$want" ]; then pass "$name"; else fail "$name" "status $got, want $want $(head -c 200 "$work/err" "$work/body" 2>/dev/null)"; fi
}

event='{"user":"alice","action":"buy","amount":100}'
big_event="{\"user\":\"alice\",\"action\":\"$(head -c 2000 /dev/zero | tr '\0' 'x' | head -c 60)\",\"amount\":1}"
padding=$(printf '%*s' 3000 '')
big_body="${big_event%\}}$padding}"

for stage in $(stage_packages); do
    n=${stage#stage}
    args=(--addr 127.0.0.1:0)
    [ "$n" -ge 4 ] && args+=(--work-ms 1)
    "$bin/$stage" "${args[@]}" >"$work/$stage.out" 2>&1 &
    pid=$!
    url=""
    for _ in $(seq 100); do
        url=$(sed -n '1s/^listening on //p' "$work/$stage.out")
        [ -n "$url" ] && break
        sleep 0.1
    done
    echo "$stage at $url"
    if [ -z "$url" ]; then fail "$stage" "did not print its address"; kill $pid; continue; fi

    if [ "$n" -le 2 ]; then
        # Echo stages: any path, the body comes back.
        curl_status "curl -d" 200 -d hello "$url/"
        curl_status "curl --http1.0" 200 --http1.0 -d hello "$url/"
        [ "$(curl -sS --max-time 10 --data-binary hello "$url/")" = hello ] && pass "echo is byte for byte" || fail "echo" "body differs"
        want=200
    else
        want=200; [ "$n" -ge 5 ] && want=202
        curl_status "curl -d (form content type)" $want -d "$event" "$url/events"
        curl_status "curl JSON content type" $want -H 'Content-Type: application/json' --data-binary "$event" "$url/events"
        curl_status "curl --http1.0" $want --http1.0 -d "$event" "$url/events"
        curl_status "curl Connection: close" $want -H 'Connection: close' -d "$event" "$url/events"
        curl_status "curl Expect: 100-continue (3 KiB body)" $want -H 'Expect: 100-continue' --data-binary "$big_body" "$url/events"
        curl_status "curl lower-case header names" $want -H 'content-type: application/json' -d "$event" "$url/events"
        curl_status "curl bad JSON is a 400" 400 -d '{"user":' "$url/events"
        if curl -sS -v --max-time 10 -d "$event" "$url/events" --next -d "$event" "$url/events" 2>&1 >/dev/null | grep -qiE 're-using|reusing'; then
            pass "curl reuses one keep-alive connection for two requests"
        else
            fail "curl keep-alive" "the second request did not reuse the connection"
        fi
        [ "$n" -ge 4 ] && curl_status "curl GET /stats" 200 "$url/stats"
    fi

    for mode in --keep-alive --close; do
        # The stress client checks the server against what it alone sent: let the events
        # sent above (or by the previous run) finish first, or a job still in flight when
        # it reads /stats before its run is counted on one side of the check and not the other.
        if [ "$n" -ge 4 ]; then
            for _ in $(seq 100); do
                curl -sS --max-time 5 "$url/stats" | grep -q '"queue_depth":0,.*"busy_workers":0,' && break
                sleep 0.1
            done
        fi
        if "$bin/stress-client" run "$url" $mode --requests 200 --concurrency 8 --quiet --expect "timeout==0,server_error==0,invalid==0" >"$work/client" 2>&1; then
            pass "stress-client $mode"
        else
            fail "stress-client $mode" "$(tail -n 3 "$work/client")"
        fi
    done
    path="/events"; [ "$n" -le 2 ] && path="/"
    if command -v wrk >/dev/null; then
        printf 'wrk.method = "POST"\nwrk.body = %q\nwrk.headers["Content-Type"] = "application/json"\n' "$event" >"$work/post.lua"
        out=$(wrk -t1 -c4 -d1s -s "$work/post.lua" "$url$path" 2>&1)
        if echo "$out" | grep -q 'Requests/sec' && ! echo "$out" | grep -qE 'Socket errors: connect [1-9]|read [1-9]'; then pass "wrk"; else fail "wrk" "$(echo "$out" | tail -n 4)"; fi
    fi
    if command -v ab >/dev/null; then
        printf '%s' "$event" >"$work/event.json"
        if ab -l -q -k -n 200 -c 4 -p "$work/event.json" -T application/json "$url$path" 2>&1 | grep -q 'Failed requests:        0'; then pass "ab -k -l"; else fail "ab -k -l" "failed requests"; fi
    fi
    if command -v oha >/dev/null; then
        if oha --no-tui -n 200 -c 4 -m POST -H 'content-type: application/json' -d "$event" "$url$path" >"$work/oha" 2>&1; then pass "oha"; else fail "oha" "$(tail -n 3 "$work/oha")"; fi
    fi

    kill -INT $pid 2>/dev/null
    # Stage 1 has no signal handling of its own; SIGINT's default ends it.
    for _ in $(seq 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
    kill -KILL $pid 2>/dev/null
    wait $pid 2>/dev/null
done

if [ $failures -ne 0 ]; then
    echo "$failures checks failed"
    exit 1
fi
echo "every client was served by every stage"
