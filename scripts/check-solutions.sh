#!/usr/bin/env bash
# Proves every reference solution in solutions/ both ways: the exercise's check FAILS on the
# starting code and PASSES with the solution applied. Run from anywhere:
#
#   scripts/check-solutions.sh                                   # every patch
#   scripts/check-solutions.sh solutions/stage1-blocking/exercise_2.patch
#
# It works on a scratch copy of the working tree, so your checkout is never touched. After one
# `cargo fetch` everything runs `--offline --locked`; all steps share one target directory
# (CARGO_TARGET_DIR, default target/check-solutions), so each stage builds once and a patch
# only rebuilds its own crate. A patch whose first line is `after: exercise_K.patch` builds on
# that exercise: both of its runs happen with exercise K's solution applied first, so its
# check must fail on K's solution and pass on top of it. Exit status 1 on any defect: a check that passes without
# its solution, a patch that does not apply or reaches outside its stage, a check that fails
# with its solution, or a checked exercise without a solution.
set -uo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
# Not target/ itself: cargo judges freshness by file times, and a build of a patched copy
# that looks newer than your sources would be reused by your next `cargo test`.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target/check-solutions}"
# A failing check prints what is missing; a backtrace would bury it.
export RUST_BACKTRACE=0

if [ "$#" -gt 0 ]; then
    patches=()
    for patch in "$@"; do patches+=("$(cd "$(dirname "$patch")" && pwd)/$(basename "$patch")"); done
else
    mapfile -t patches < <(ls "$repo"/solutions/*/exercise_*.patch 2>/dev/null | sort -V)
fi
if [ "${#patches[@]}" -eq 0 ]; then
    echo "no solutions/*/exercise_*.patch found"
    exit 1
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
# Tracked and new (not ignored) files, as they are now: what CI sees, plus local edits.
# `-m` stamps every file with the current time, so nothing built by an earlier run (with
# some patch applied) can look fresh.
(cd "$repo" && git ls-files -z --cached --others --exclude-standard |
    xargs -0 tar -cf - --ignore-failed-read 2>/dev/null) | tar -xmf - -C "$scratch"
cd "$scratch" || exit 1
logs="$scratch/.logs"
mkdir -p "$logs"

echo "== cargo fetch (once; every later step is --offline --locked)"
cargo fetch --locked >/dev/null || { echo "cargo fetch failed"; exit 1; }

package_of() { sed -n 's/^name = "\(.*\)"/\1/p' "$1/Cargo.toml" | head -n 1; }

# Build every stage's checks once, on the starting code.
folders=()
for patch in "${patches[@]}"; do folders+=("$(basename "$(dirname "$patch")")"); done
mapfile -t folders < <(printf '%s\n' "${folders[@]}" | sort -u)
build_args=()
for folder in "${folders[@]}"; do build_args+=(-p "$(package_of "$folder")"); done
echo "== building the checks of: ${folders[*]}"
if ! cargo test --offline --locked "${build_args[@]}" --test exercises --no-run 2>"$logs/build"; then
    tail -n 30 "$logs/build"
    echo "the exercise checks do not compile on the starting code"
    exit 1
fi

# Runs one check; prints "pass", "fail" (it said "not done yet"), "crash" (it failed in
# some other way), "missing" (no test of that name) or "broken" (it did not build).
run_check() {
    local package="$1" filter="$2" log="$3"
    if cargo test --offline --locked -q -p "$package" --test exercises -- --ignored "$filter" \
        >"$log" 2>&1; then
        if grep -q "^running 1 test" "$log"; then echo pass; else echo missing; fi
    elif ! grep -q "^running 1 test" "$log"; then
        echo broken
    elif grep -q "not done yet" "$log"; then
        echo fail
    else
        echo crash
    fi
}

defects=0
rows=()
start=$SECONDS
for patch in "${patches[@]}"; do
    folder="$(basename "$(dirname "$patch")")"
    name="$(basename "$patch" .patch)"
    k="${name#exercise_}"
    package="$(package_of "$folder")"
    filter="exercise_${k}_"
    log="$logs/$folder-$name"
    step_start=$SECONDS
    # The solution this one builds on (first line `after: exercise_K.patch`), if any.
    before="$(sed -n '1s/^after: \(exercise_[0-9]*\.patch\)$/\1/p' "$patch")"
    if [ -n "$before" ] && ! git apply "$(dirname "$patch")/$before" 2>"$log.apply"; then
        echo "cannot apply $before, which ${patch#"$repo"/} builds on"
        defects=$((defects + 1))
        continue
    fi
    without="$(run_check "$package" "$filter" "$log.without")"
    applies=no
    with=-
    outside="$(git apply --numstat "$patch" 2>/dev/null | awk -v dir="$folder/" '
        index($3, dir) != 1 || $3 ~ /Cargo\.lock$/ { print $3 }')"
    if [ -z "$outside" ] && git apply --check "$patch" 2>"$log.apply" && git apply "$patch"; then
        applies=yes
        with="$(run_check "$package" "$filter" "$log.with")"
        git apply -R "$patch" || { echo "cannot revert $patch"; exit 1; }
    elif [ -n "$outside" ]; then
        applies="outside: $(echo "$outside" | tr '\n' ' ')"
    fi
    if [ -n "$before" ]; then
        git apply -R "$(dirname "$patch")/$before" || { echo "cannot revert $before"; exit 1; }
    fi
    verdict=ok
    if [ "$without" != fail ] || [ "$applies" != yes ] || [ "$with" != pass ]; then
        verdict=DEFECT
        defects=$((defects + 1))
    fi
    rows+=("$(printf '%-44s %-10s %-8s %-10s %-7s %4ds' "${patch#"$repo"/}" "$without" \
        "$applies" "$with" "$verdict" $((SECONDS - step_start)))")
    echo "${rows[-1]}"
    if [ "$verdict" = DEFECT ]; then
        for f in "$log.without" "$log.apply" "$log.with"; do
            [ -s "$f" ] && { echo "--- ${f##*/}"; tail -n 15 "$f"; }
        done
    fi
done

# When checking everything: every check has a solution, is ignored with the exercise's
# number and title, and that title is a heading of the stage's book chapter.
if [ "$#" -eq 0 ]; then
    for tests in stage*/tests/exercises.rs; do
        folder="${tests%%/*}"
        number="${folder#stage}"
        number="${number%%-*}"
        chapter="docs/src/$folder.md"
        # One line per check: K, then the title from the #[ignore] right above its fn.
        while read -r k title; do
            problem=
            if [ ! -f "solutions/$folder/exercise_$k.patch" ]; then
                problem="a check without a solution"
            elif [ -z "$title" ]; then
                problem="exercise_${k}_ lacks #[ignore = \"exercise $number.$k: <title>\"]"
            elif ! grep -qxF "### Exercise $number.$k: $title" "$chapter"; then
                problem="no heading '### Exercise $number.$k: $title' in $chapter"
            fi
            if [ -n "$problem" ]; then
                rows+=("$(printf '%-44s DEFECT: %s' "$tests ($number.$k)" "$problem")")
                defects=$((defects + 1))
            fi
        done < <(awk -v n="$number" '
            /#\[ignore = "exercise / {
                title = $0
                sub(".*#\\[ignore = \"exercise " n "\\.[0-9]+: ", "", title)
                sub("\"\\].*", "", title)
                next
            }
            /fn exercise_[0-9]+_/ {
                k = $0
                sub(".*fn exercise_", "", k)
                sub("_.*", "", k)
                print k, title
                title = ""
            }' "$tests")
    done
fi

echo
printf '%-44s %-10s %-8s %-10s %-7s %5s\n' solution "without it" applies "with it" verdict time
for row in "${rows[@]}"; do echo "$row"; done
echo "${#patches[@]} solution(s), $defects defect(s), $((SECONDS - start)) s after the build"
[ "$defects" -eq 0 ]
