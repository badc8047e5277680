#!/usr/bin/env bash
# Rewrites every reference solution against the current code, after someone changed a
# stage: each patch is applied (with a three-way merge if its context moved), written
# back from `git diff`, and the stage is restored. Run it from a clean checkout:
#
#   scripts/refresh-solutions.sh            # every patch
#   scripts/refresh-solutions.sh solutions/stage3-json/exercise_2.patch
#
# Stops at the first patch that conflicts and says how to fix it by hand. Prove the result
# with scripts/check-solutions.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$#" -gt 0 ]; then patches=("$@"); else mapfile -t patches < <(ls solutions/*/exercise_*.patch | sort -V); fi
for patch in "${patches[@]}"; do
    folder="$(basename "$(dirname "$patch")")"
    if [ -n "$(git status --porcelain -- "$folder")" ]; then
        echo "$folder has uncommitted changes; commit or stash them first"
        exit 1
    fi
    if git apply "$patch" 2>/dev/null; then
        :
    elif ! git apply --3way "$patch"; then
        echo "$patch conflicts with the current $folder. Resolve the conflict markers, check it"
        echo "with the exercise's check, then: git diff HEAD -- $folder > $patch"
        echo "and restore the stage with: git checkout HEAD -- $folder"
        exit 1
    fi
    git diff HEAD -- "$folder" >"$patch"
    git checkout HEAD -- "$folder"
    git clean -fdq -- "$folder"
    echo "refreshed $patch"
done
