#!/usr/bin/env bash
# scripts/regenerate.sh: measure again every terminal session and every committed measurement
# quoted in the READMEs and the book, and write the results back in place. Runs on Linux and
# macOS (bash 3.2 or later, perl, curl); `scripts/regenerate.sh --help` says how to use it.

usage() {
    cat <<'USAGE'
Usage: scripts/regenerate.sh [--no-build] [--list] [SESSION-PREFIX...]

  scripts/regenerate.sh                  every session (takes several minutes; see --list)
  scripts/regenerate.sh stage5 measured  only the sessions whose name starts with a word given
  scripts/regenerate.sh --list           the sessions, with the files that quote each one
  scripts/regenerate.sh --no-build ...   use the release binaries already built

What it rewrites, and nothing else:
  - in README.md, */README.md and docs/src/*.md, the text between
      <!-- session: NAME -->   and   <!-- /session -->
    (a stamp line and a ```text block holding the commands and what they printed);
  - the files under docs/src/measured/ (stress-client compare --markdown/--json/--svg).

Every session runs the release binaries on 127.0.0.1 with --addr 127.0.0.1:0 (a free port,
read from the first line the server prints) and shows the commands as a reader types them,
with the stage's default port (808N): the one thing normalised, so that every command in
the docs still works when copied. Silent clients are `stress-client run --idle N`; the
other tools are curl and the shell. Run it on a quiet machine: other work on the same
cores lowers every rate it measures. One exception to the above: lock-benchmark runs
`cargo bench -p stage8` twice (about 3 minutes) and writes tables, not a terminal.
USAGE
}

set -euo pipefail
cd "$(dirname "$0")/.."

# target_dir: where cargo puts its builds, asked of cargo itself, so CARGO_TARGET_DIR, a
# config file's build.target-dir and the default all give the same answer. The same
# function is in every script of this folder.
target_dir() {
    cargo metadata --format-version 1 --no-deps |
        perl -MJSON::PP -0ne 'print decode_json($_)->{target_directory}'
}

TARGET=$(target_dir)
BIN=$TARGET/release
WORK=$(mktemp -d)
SERVER_PID=
trap 'stop_quietly; rm -rf "$WORK"' EXIT

# ---------------------------------------------------------------------------------------
# The stamp every block carries: when, from which commit, on what machine.

cpu_model() {
    local model=
    if [ -r /proc/cpuinfo ]; then
        model=$(grep -m1 -E '^(model name|Model)' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
    fi
    if [ -z "$model" ] && command -v sysctl >/dev/null 2>&1; then
        model=$(sysctl -n machdep.cpu.brand_string 2>/dev/null || true)
    fi
    echo "${model:-unknown CPU}"
}

cores() { nproc 2>/dev/null || getconf _NPROCESSORS_ONLN; }

commit() {
    local sha
    sha=$(git rev-parse --short HEAD)
    # A measurement of uncommitted code must not claim to be the commit's.
    if ! git diff --quiet HEAD -- . ':!*.md' ':!docs/src/measured' 2>/dev/null; then
        sha="$sha with local changes"
    fi
    echo "$sha"
}

STAMP="Measured $(date -u +%Y-%m-%d), commit $(commit), $(cores) cores ($(cpu_model)), release build."

# ---------------------------------------------------------------------------------------
# Writing back: only between markers.

DOC_FILES=(README.md */README.md docs/src/*.md)

# splice NAME FILE: replace the text between <!-- session: NAME --> and the next
# <!-- /session --> in every doc that has the marker, by the contents of FILE.
splice() {
    local name=$1 content=$2 found=0 doc
    # The stamp also says how to measure the block again, so a reader never has to hunt
    # for the command behind a number.
    SESSION=${name%%/*} perl -pi -e \
        's/^(Measured .*)$/$1 Regenerate: `scripts\/regenerate.sh $ENV{SESSION}`./ if $. == 1' "$content"
    for doc in "${DOC_FILES[@]}"; do
        grep -qF "<!-- session: $name -->" "$doc" || continue
        found=1
        NAME=$name CONTENT=$content perl -0pi -e '
            BEGIN { local $/; open my $f, "<", $ENV{CONTENT} or die; $c = <$f>; }
            s/(<!-- session: \Q$ENV{NAME}\E -->\n).*?(<!-- \/session -->)/$1$c$2/gs' "$doc"
        echo "    wrote $name into $doc"
        WRITTEN=$((WRITTEN + 1))
    done
}

# ---------------------------------------------------------------------------------------
# Running a session: a server, commands against it, blocks of what a terminal showed.

ADDR=          # the address the server really listens on
SHOWN_ADDR=    # the address the docs show (the stage's default)
BLOCK=$WORK/block
SERVER_OUT=$WORK/server.out

# shown TEXT: what the reader sees, with the real port replaced by the default one.
shown() {
    local real_port=${ADDR##*:} shown_port=${SHOWN_ADDR##*:}
    # A terminal does not show the CR that ends each HTTP header line of `curl -i`.
    REAL=$real_port SHOWN=$shown_port perl -pe \
        's/127\.0\.0\.1([: ])$ENV{REAL}\b/127.0.0.1$1$ENV{SHOWN}/g; s/\r$//'
}

# server PACKAGE DEFAULT_PORT [ARGS...]: start a stage, wait for its banner, and begin a
# block with the command a reader types and the banner it prints.
server() {
    local package=$1 port=$2
    shift 2
    SHOWN_ADDR=127.0.0.1:$port
    "$BIN/$package" --addr 127.0.0.1:0 "$@" >"$SERVER_OUT" 2>&1 &
    SERVER_PID=$!
    local waited=0
    until head -1 "$SERVER_OUT" | grep -q '^listening on http://'; do
        sleep 0.1
        waited=$((waited + 1))
        if [ "$waited" -ge 100 ] || ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "error: $package did not print 'listening on http://…' within 10 s:" >&2
            cat "$SERVER_OUT" >&2
            exit 1
        fi
    done
    ADDR=$(head -1 "$SERVER_OUT" | sed 's|^listening on http://||')
    # The banner follows the first line at once; wait until the output stops growing.
    local size=-1
    while [ "$size" != "$(wc -c <"$SERVER_OUT")" ]; do
        size=$(wc -c <"$SERVER_OUT")
        sleep 0.3
    done
    BANNER_BYTES=$size
    local shown_command="cargo run --release -p $package"
    [ $# -gt 0 ] && shown_command="$shown_command -- $*"
    { echo "\$ $shown_command"; shown <"$SERVER_OUT"; } >"$BLOCK"
    mkdir -p "$WORK/parts"
    cp "$BLOCK" "$WORK/parts/server"
}

# to_binaries COMMAND: `cargo run --release -p X --` and a leading `stress-client` become
# the release binaries themselves (cargo would only add its own lines to the output).
to_binaries() {
    sed -E -e "s#cargo run --release -p ([a-z0-9-]+)( --)?#$BIN/\\1#g" \
        -e "s#^stress-client #$BIN/stress-client #" <<<"$1"
}

# run COMMAND: append `$ COMMAND` (as shown) and its output to the block. In COMMAND,
# @ADDR@ is the server's address and `cargo run --release -p X --` the release binary X.
run() {
    run_as "$1" "$(to_binaries "$1")"
}

# run_as SHOWN REAL: like run, when what the reader types (SHOWN, maybe several lines)
# is not a command the script can replay as is (a wait done by hand).
run_as() {
    local display=${1//@ADDR@/$SHOWN_ADDR}
    local real=${2//@ADDR@/$ADDR}
    local started=$SECONDS
    printf '%s\n' "$display" | sed 's/^/$ /' >>"$BLOCK"
    bash -c "$real" 2>&1 | shown >>"$BLOCK" || true
    # Output without a final newline (a JSON body) ends where the next prompt starts.
    [ -z "$(tail -c 1 "$BLOCK")" ] || echo >>"$BLOCK"
    echo "    \$ $display ($((SECONDS - started)) s)"
}

# background COMMAND: like run, for a command the reader starts with `&` in another terminal
# (a silent client); its output is not shown.
background() {
    local display=${1//@ADDR@/$SHOWN_ADDR}
    local real=${1//@ADDR@/$ADDR}
    real=$(to_binaries "$real")
    echo "\$ $display &" >>"$BLOCK"
    bash -c "$real" >/dev/null 2>&1 &
    echo "    \$ $display &"
}

# pause SECONDS: let a background command get going (a silent client connecting).
pause() { sleep "$1"; }

# emit NAME: the block so far, fenced and stamped, goes between NAME's markers.
emit() {
    local out=$WORK/emit
    { echo "$STAMP"; echo; echo '```text'; cat "$BLOCK"; echo '```'; } >"$out"
    splice "$1" "$out"
    : >"$BLOCK"
}

# save PART / emit_parts NAME PART...: when one doc quotes two commands as one block and
# another quotes them apart, keep each piece and emit the combinations the docs use.
save() {
    mkdir -p "$WORK/parts"
    mv "$BLOCK" "$WORK/parts/$1"
    : >"$BLOCK"
}
emit_parts() {
    local name=$1 part
    shift
    for part in "$@"; do cat "$WORK/parts/$part" >>"$BLOCK"; done
    emit "$name"
}

# stop: Ctrl-C the server and append what it printed from then on (`^C` first, as a
# terminal shows it). A stage drains its queue first, so allow two minutes.
stop() {
    kill -INT "$SERVER_PID" 2>/dev/null || true
    local waited=0
    while kill -0 "$SERVER_PID" 2>/dev/null; do
        sleep 0.2
        waited=$((waited + 1))
        if [ "$waited" -ge 600 ]; then
            echo "error: the server did not stop within 120 s of Ctrl-C" >&2
            exit 1
        fi
    done
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
    { printf '^C'; tail -c +$((BANNER_BYTES + 1)) "$SERVER_OUT" | shown; } >>"$BLOCK"
}

# stop_quietly: end the server without showing it. SIGTERM, because a script's background
# jobs start with SIGINT ignored, and stage 1 has no handler to undo that.
stop_quietly() {
    if [ -n "$SERVER_PID" ]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
    fi
}

# compare NAME ARGS...: stress-client compare into docs/src/measured/NAME.{md,json,svg},
# stamped, with the binary directory shown relative to the repository.
compare() {
    local name=$1
    shift
    local dir=docs/src/measured
    "$BIN/stress-client" compare --bin-dir "$BIN" --quiet "$@" \
        --markdown "$dir/$name.md" --json "$dir/$name.json" --svg "$dir/$name.svg" >/dev/null
    local absolute
    absolute=$(cd "$BIN" && pwd)
    ABSOLUTE=$absolute BIN=$BIN perl -pi -e \
        's/\Q$ENV{ABSOLUTE}\E/target\/release/g; s/\Q$ENV{BIN}\E/target\/release/g' \
        "$dir/$name.md" "$dir/$name.json" "$dir/$name.svg"
    # The book includes each table from its third line (the command that made it): the
    # stamp goes right after that command's block.
    STAMP="$STAMP Regenerate: \`scripts/regenerate.sh measured-$name\`." \
        perl -0pi -e 's/\A(.*?```text\n.*?\n```\n)/$1\n$ENV{STAMP}\n/s' "$dir/$name.md"
    echo "    wrote $dir/$name.md, .json, .svg"
    WRITTEN=$((WRITTEN + 1))
}

# ---------------------------------------------------------------------------------------
# The sessions. Each is a function session_NAME; the markers it fills are NAME/PART.

EVENT="-d '{\"user\":\"alice\",\"action\":\"buy\",\"amount\":100}'"

session_stage1() {
    server stage1 8081
    emit stage1/server
    # A silent client: one idle connection, held while its one request waits 5 s in vain.
    background "cargo run --release -p stress-client -- run http://@ADDR@ --idle 1 --requests 1 --quiet"
    pause 1
    run "time curl -s -d hello http://@ADDR@/"
    run "time curl -s -d hello http://@ADDR@/"
    emit stage1/curl
    run "cargo run --release -p stress-client -- run http://@ADDR@ --idle 1 --requests 20"
    emit stage1/idle
    stop_quietly
}

session_stage2() {
    server stage2 8082
    emit stage2/server
    # Fifty silent connections, held for the 5 s it takes to send 5 requests at 1 per second.
    background "cargo run --release -p stress-client -- run http://@ADDR@ --idle 50 --rate 1 --requests 5 --quiet"
    pause 1
    run "time curl -i -s -d hello http://@ADDR@/"
    emit stage2/curl
    run "cargo run --release -p stress-client -- run http://@ADDR@ --idle 50"
    emit stage2/idle
    stop
    emit stage2/shutdown
}

session_stage3() {
    server stage3 8083
    emit stage3/server
    run "curl -s -i $EVENT http://@ADDR@/events"
    run "curl -s -i -d '{\"user\":\"alice\"' http://@ADDR@/events"
    run "curl -s -d '{\"user\":\"\",\"action\":\"buy\",\"amount\":5000000000}' http://@ADDR@/events"
    run "curl -s -H 'Content-Length: 10000000000' -d x http://@ADDR@/events"
    run "curl -s -w ' connects=%{num_connects}\\n' -d '{\"user\":\"bob\",\"action\":\"buy\",\"amount\":1}' http://@ADDR@/events http://@ADDR@/events http://@ADDR@/events"
    emit stage3/curl
    run "cargo run --release -p stress-client -- garbage http://@ADDR@"
    emit stage3/garbage
    run "cargo run --release -p stress-client -- run http://@ADDR@"
    emit stage3/run
    stop
    emit stage3/shutdown
}

# The stages with /stats: the default burst on a fresh server, so that every count in its
# server check is the burst's own (an event sent first would still be queued or running
# when the burst starts, and each chapter would need a paragraph to explain one job too
# many). Parts: NAME/server, NAME/burst (the stress client), NAME/stats, NAME/burst-stats
# (both as one block) and NAME/shutdown.
burst_session() {
    local name=$1 package=$2 port=$3
    shift 3
    server "$package" "$port"
    emit "$name/server"
    run "cargo run --release -p stress-client -- run http://@ADDR@${*:+ $*}"
    save burst
    run "curl -s http://@ADDR@/stats"
    save stats
    emit_parts "$name/burst" burst
    emit_parts "$name/stats" stats
    emit_parts "$name/burst-stats" burst stats
    stop
    emit "$name/shutdown"
}

session_stage4() { burst_session stage4 stage4 8084 --requests 20 --concurrency 4; }
session_stage5() { burst_session stage5 stage5 8085; }
session_stage6() { burst_session stage6 stage6 8086; }
session_stage7() { burst_session stage7 stage7 8087; }
session_stage8() { burst_session stage8 stage8 8088; }

# Stage 4: three events at the same moment queue at the lock; /stats shows them waiting.
session_stage4_lock() {
    local bob='-d "{\"user\":\"bob\",\"action\":\"buy\",\"amount\":$a}"'
    local loop="for a in 1 2 3; do curl -s -w \" %{time_total}s\\n\" $bob http://@ADDR@/events & done"
    server stage4 8084
    : >"$BLOCK"
    run "cargo run --release -p stress-client -- post http://@ADDR@ --user alice --action buy --amount 100"
    run_as "$loop
curl -s http://@ADDR@/stats     # 0.3 s later" "$loop; sleep 0.3; curl -s http://@ADDR@/stats; echo; wait"
    emit stage4-lock/run
    stop_quietly
}

# Stage 4 with more clients than its 5 s timeout leaves room for.
session_stage4_timeouts() {
    server stage4 8084
    run "cargo run --release -p stress-client -- run http://@ADDR@ --requests 40 --concurrency 20"
    emit stage4-timeouts/run
    stop_quietly
}

session_stage8_hot_key() {
    server stage8 8088
    emit stage8-hot-key/server
    run "cargo run --release -p stress-client -- run http://@ADDR@ --users 1"
    save run
    run "curl -s http://@ADDR@/stats"
    save stats
    emit_parts stage8-hot-key/all server run stats
    stop_quietly
}

session_stage8_lock_only() {
    server stage8 8088 --capacity 100 --work-ms 100 --hold-ms 10
    emit stage8-lock-only/server
    run "cargo run --release -p stress-client -- run http://@ADDR@"
    save run
    run "curl -s http://@ADDR@/stats"
    save stats
    emit_parts stage8-lock-only/all server run stats
    stop_quietly
}

# --log-locks: the server prints one line per job; the docs quote the first ones and a
# stretch of the steady state that follows.
log_locks_session() {
    local name=$1 package=$2 port=$3
    shift 3
    server "$package" "$port" "$@" --log-locks
    local args="$* --log-locks"
    echo "\$ cargo run --release -p $package -- ${args# }" >"$BLOCK"
    run "cargo run --release -p stress-client -- run http://@ADDR@ --requests 40 --concurrency 20 --quiet"
    emit "$name/run"
    stop
    local jobs=$WORK/jobs
    tail -c +$((BANNER_BYTES + 1)) "$SERVER_OUT" | grep '^\[worker' >"$jobs" || true
    head -6 "$jobs" >"$BLOCK"
    emit "$name/first-wave"
    head -16 "$jobs" >"$BLOCK"
    emit "$name/first"
    { sed -n 17,26p "$jobs"; echo '...'; tail -c +$((BANNER_BYTES + 1)) "$SERVER_OUT" |
        grep -v '^\[worker' | shown; } >"$BLOCK"
    emit "$name/steady"
}

session_stage7_log_locks() { log_locks_session stage7-log-locks stage7 8087; }
session_stage8_log_locks() {
    log_locks_session stage8-log-locks stage8 8088 --capacity 100 --work-ms 100 --hold-ms 10
}

# The stress client's README: its example session and one example per feature.
session_client_example() {
    server stage7 8087
    : >"$BLOCK"
    echo '$ cargo run --release -p stage7 &' >>"$BLOCK"
    run "cargo run --release -p stress-client -- run http://@ADDR@ | cat"
    emit client-example/run
    stop_quietly
}
session_client_rate() {
    server stage4 8084 --work-ms 100
    : >"$BLOCK"
    run "stress-client run http://@ADDR@ --rate 20 --requests 60 --concurrency 4"
    emit client-rate/run
    stop_quietly
}
session_client_idle() {
    server stage1 8081
    : >"$BLOCK"
    run "stress-client run http://@ADDR@ --requests 100 --concurrency 10 --idle 1 --timeout 2s"
    emit client-idle/run
    stop_quietly
}
session_client_garbage() {
    server stage3 8083
    : >"$BLOCK"
    run "stress-client garbage http://@ADDR@"
    emit client-garbage/run
    stop_quietly
}

# The handout's stage table is the stress client's catalogue, printed by `stages`: the
# stage list is written once, in stress-client/src/catalogue.rs.
session_handout() {
    : >"$BLOCK"
    run "cargo run --release -p stress-client -- stages"
    emit handout/stages
}

session_measured_compare() {
    compare compare
    # The stress client's README quotes the table itself.
    grep '^|' docs/src/measured/compare.md >"$BLOCK"
    emit measured-compare/table
}
session_measured_lock_only() {
    compare lock-only --stages 7,8 --variant "8: --capacity 100 --work-ms 100 --hold-ms 10"
}
session_measured_sweep_workers() { compare sweep-workers --stages 7,8 --sweep workers=1,2,4,8,16,32,64; }
session_measured_sweep_shards() {
    # --sweep alone would also pick stage 7, which has no --shards: name stage 8 (DashMap rows)
    # and add the hand-rolled map as a variant.
    compare sweep-shards --stages 8 --variant "8 sharded: --map sharded" --sweep shards=1,2,4,8,64
}
session_measured_hot_key() { compare hot-key --stages 8 --users 1; }

# Stage 3's read timeout, measured with curl: a silent keep-alive connection (telnet:// sends
# raw bytes, as nc would), a body that stops short, and a body that trickles in.
session_stage3_timeouts() {
    local event='{"user":"alice","action":"buy","amount":100}'
    server stage3 8083
    echo '$ cargo run --release -p stage3 &' >"$BLOCK"
    run "printf 'POST /events HTTP/1.1\\r\\nContent-Length: ${#event}\\r\\n\\r\\n$event' | curl -s -w '\\nclosed after %{time_total} s\\n' telnet://@ADDR@"
    run "curl -s -H 'Content-Length: 50' -d '{\"user\"' -w '\\n%{http_code} after %{time_total} s\\n' http://@ADDR@/events"
    emit stage3-timeouts/default
    stop_quietly
    server stage3 8083 --read-timeout 3s
    echo '$ cargo run --release -p stage3 -- --read-timeout 3s &' >"$BLOCK"
    run "(while printf x; do sleep 0.5; done) | curl -s -X POST -T - -H 'Transfer-Encoding:' -H 'Content-Length: 50' -w '\\n%{http_code} after %{time_total} s\\n' http://@ADDR@/events"
    emit stage3-timeouts/trickle
    stop_quietly
}

# Stage 8's README compares flag variants under the default burst: one row per fresh server,
# the lock figures from /stats after the run. The rows are compare's own (`--variant`, one
# server each), read back from its JSON; the hot-key row needs a second compare, because
# `--users` is a client flag and applies to every row of a compare.
STAGE8_FLAG_VARIANTS=(
    --variant "8: --map sharded"
    --variant "8: --shards 1"
    --variant "8: --map sharded --shards 1"
    --variant "8: --capacity 100 --work-ms 100 --hold-ms 10"
)

# flag_rows JSON CLIENT-FLAGS: one table row per row of a compare report. The label is the
# variant's flags in a code span (smart punctuation would turn `--` into a dash).
flag_rows() {
    CLIENT=$2 perl -MJSON::PP -0ne '
        for my $row (@{ decode_json($_)->{rows} }) {
            my $c = $row->{check}; my $s = $c->{stats_after};
            my @args = grep { $_ ne "--addr" && $_ !~ /^127\.0\.0\.1:/ } @{ $row->{plan}{args} };
            my $label = @args ? "`@args`" : "defaults";
            $label = "client `$ENV{CLIENT}`" if $ENV{CLIENT} ne "";
            printf "| %s | %d | %d | %.1f | %.1f | %.0f%% | %d | %d | %d |\n", $label,
                $s->{knobs}{shards}, $c->{server_accepted}, $c->{measured_jobs_per_sec},
                $c->{model}{jobs_per_sec}, $c->{efficiency_percent}, $s->{lock_wait_us}{p50},
                $s->{lock_wait_us}{p99}, $s->{peak_lock_holders};
        }' "$1"
}

session_stage8_flags() {
    local rows=$WORK/rows
    "$BIN/stress-client" compare --bin-dir "$BIN" --quiet --stages 8 "${STAGE8_FLAG_VARIANTS[@]}" \
        --json "$WORK/flags.json" >/dev/null
    "$BIN/stress-client" compare --bin-dir "$BIN" --quiet --stages 8 --users 1 \
        --json "$WORK/hot-key.json" >/dev/null
    {
        echo '| flags (server / client) | shards | accepted | server jobs/s | model | efficiency | wait p50 µs | wait p99 µs | peak holders |'
        echo '|---|---:|---:|---:|---:|---:|---:|---:|---:|'
        flag_rows "$WORK/flags.json" ""
        flag_rows "$WORK/hot-key.json" "--users 1"
    } >"$rows"
    local out=$WORK/emit
    { echo "$STAMP"; echo; cat "$rows"; } >"$out"
    splice stage8-flags/table "$out"
    : >"$BLOCK"
}

# The lock micro-benchmark (stage8-sharding/benches/lock_benchmark.rs), run twice. Other
# work on the machine can only make a cell slower, so each cell of the chapter's tables is
# the lower of its two medians; a few cells of both runs show how much a cell moves from one
# run to the next. Criterion leaves each median in
# target/criterion/KEYS_MAP/THREADS/new/estimates.json.
LOCK_MAPS=(mutex rwlock sharded dashmap atomics padded_atomics)
LOCK_THREADS=(1 2 4 8 16)
LOCK_VARIATION_CELLS=(spread_dashmap/2 spread_mutex/1 spread_mutex/8 spread_atomics/2 hot_sharded/2)

# lock_median DIR CELL: the median of one benchmark, in ns per increment.
lock_median() {
    perl -MJSON::PP -0ne 'printf "%.1f", decode_json($_)->{median}{point_estimate}' \
        "$1/$2/new/estimates.json"
}

# lock_best CELL: the lower median of the two runs.
lock_best() {
    local first second
    first=$(lock_median "$WORK/criterion1" "$1")
    second=$(lock_median "$WORK/criterion2" "$1")
    awk -v a="$first" -v b="$second" 'BEGIN { print (a + 0 < b + 0) ? a : b }'
}

# lock_table KEYS ns|mops: one of the chapter's tables, a row per map.
lock_table() {
    local keys=$1 unit=$2 map threads median row
    echo "| map | 1 thread | 2 threads | 4 threads | 8 threads | 16 threads |"
    echo "|---|---:|---:|---:|---:|---:|"
    for map in "${LOCK_MAPS[@]}"; do
        row="| \`$map\` |"
        for threads in "${LOCK_THREADS[@]}"; do
            median=$(lock_best "${keys}_$map/$threads")
            [ "$unit" = mops ] && median=$(awk -v ns="$median" 'BEGIN { printf "%.0f", 1000 / ns }')
            row="$row $median |"
        done
        echo "$row"
    done
}

session_lock_benchmark() {
    local criterion=$TARGET/criterion pass load at=() took=()
    load=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || uptime | sed 's/.*average[s]*: //')
    echo "    cargo bench -p stage8 --no-run (compiles the benchmark once)"
    cargo bench --locked -p stage8 --no-run 2>&1 | tail -1
    for pass in 1 2; do
        at[pass]=$(date -u +%H:%M:%S)
        local t0=$SECONDS
        cargo bench --locked -p stage8 >"$WORK/bench$pass.out" 2>&1 ||
            { cat "$WORK/bench$pass.out" >&2; exit 1; }
        took[pass]=$((SECONDS - t0))
        cp -r "$criterion" "$WORK/criterion$pass"
        echo "    run $pass at ${at[pass]} UTC: ${took[pass]} s"
    done
    local out=$WORK/emit cell
    {
        echo "$STAMP"
        echo
        echo "| | |"
        echo "|---|---|"
        echo "| machine | $(cores) cores ($(cpu_model)) |"
        echo "| kernel, compiler | $(uname -sr), $(rustc --version | cut -d' ' -f1-2) |"
        echo "| load average before the runs | $load (1, 5, 15 minutes) |"
        echo "| command | \`cargo bench -p stage8\`, twice: each cell below is the lower of its two medians |"
        echo "| runs | $(date -u +%Y-%m-%d) at ${at[1]} UTC (${took[1]} s) and at ${at[2]} UTC (${took[2]} s), benchmark already compiled |"
    } >"$out"
    splice lock-benchmark/run "$out"
    for table in spread:ns spread:mops hot:ns hot:mops; do
        { echo "$STAMP"; echo; lock_table "${table%:*}" "${table#*:}"; } >"$out"
        splice "lock-benchmark/${table/:/-}" "$out"
    done
    {
        echo "$STAMP"
        echo
        echo "| cell | run at ${at[1]} | run at ${at[2]} |"
        echo "|---|---:|---:|"
        for cell in "${LOCK_VARIATION_CELLS[@]}"; do
            local keys=${cell%%_*} rest=${cell#*_}
            local threads=${rest##*/} map=${rest%/*} plural=s
            [ "$threads" = 1 ] && plural=
            echo "| \`$keys/$map\`, $threads thread$plural | $(lock_median "$WORK/criterion1" "$cell") ns | $(lock_median "$WORK/criterion2" "$cell") ns |"
        done
    } >"$out"
    splice lock-benchmark/variation "$out"
}

# ---------------------------------------------------------------------------------------

all_sessions() { declare -F | sed -n 's/^declare -f session_//p' | tr _ -; }

list() {
    local name part doc
    for name in $(all_sessions); do
        echo "$name"
        if [[ $name == measured-* ]]; then
            echo "    docs/src/measured/${name#measured-}.md, .json, .svg"
        fi
        for doc in "${DOC_FILES[@]}"; do
            grep -o "<!-- session: $name/[a-z0-9-]* -->" "$doc" 2>/dev/null |
                sed "s|<!-- session: \(.*\) -->|    \1 in $doc|" || true
        done
    done
}

main() {
    local build=1 wanted=() name
    while [ $# -gt 0 ]; do
        case $1 in
        --list) list; exit 0 ;;
        --no-build) build=0 ;;
        -h | --help) usage; exit 0 ;;
        -*) echo "unknown option $1 (try --help)" >&2; exit 2 ;;
        *) wanted+=("$1") ;;
        esac
        shift
    done
    command -v curl >/dev/null || { echo "error: curl is needed (apt-get install curl)" >&2; exit 1; }
    command -v perl >/dev/null || { echo "error: perl is needed to rewrite the docs" >&2; exit 1; }
    local chosen=()
    for name in $(all_sessions); do
        if [ ${#wanted[@]} -eq 0 ]; then
            chosen+=("$name")
            continue
        fi
        local word
        for word in "${wanted[@]}"; do
            if [[ $name == "$word"* ]]; then chosen+=("$name"); break; fi
        done
    done
    [ ${#chosen[@]} -gt 0 ] || { echo "no session matches ${wanted[*]} (see --list)" >&2; exit 2; }

    local started=$SECONDS
    if [ "$build" = 1 ]; then
        echo "== cargo build --release (every stage and the stress client)"
        # Every binary of the workspace: the stages and the stress client, with no list here.
        cargo build --release --locked --workspace --bins
    fi
    echo "== stamp: $STAMP"
    for name in "${chosen[@]}"; do
        local t0=$SECONDS
        echo "== session $name"
        WRITTEN=0
        "session_${name//-/_}"
        # A session offers its blocks in several cuts; only those a doc marks are written.
        if [ "$WRITTEN" = 0 ]; then
            echo "   warning: no doc marks a block of $name (<!-- session: $name/PART -->)"
        fi
        echo "   $name took $((SECONDS - t0)) s"
    done
    echo "== done: ${#chosen[@]} sessions in $((SECONDS - started)) s"
    echo "   review with git diff, then update any prose that quotes a number that moved"
}

main "$@"
