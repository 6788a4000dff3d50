#!/usr/bin/env bash
# The solo row of the transaction bench at a commit, for A/B in one sitting
# and for `git bisect run` (docs/PERFORMANCE.md, the Zen 2 section).
#
#   scripts/tx-solo-at.sh COMMIT            prints "COMMIT MEDIAN_µs_per_1000"
#   scripts/tx-solo-at.sh COMMIT LIMIT      exits 0 if the median is below LIMIT, 1 if not
#
# With git bisect, from this checkout:
#   git bisect start BAD GOOD
#   git bisect run sh -c 'scripts/tx-solo-at.sh $(git rev-parse HEAD) 30.5'
# (copy the script out of the tree first if the bisected range predates it).
# Builds in a worktree under target/ (its own target directory); 125 (skip)
# if the commit does not build.
set -u
commit=$1
limit=${2:-}
root=$(git rev-parse --show-toplevel)
wt="$root/target/tx-solo-wt"
git -C "$root" worktree remove --force "$wt" >/dev/null 2>&1
git -C "$root" worktree add -f --detach "$wt" "$commit" >/dev/null 2>&1 || exit 125
log=$(mktemp)
(cd "$wt" && cargo bench -p tmgc --bench tx --no-run --target-dir "$root/target/tx-solo-target" >"$log" 2>&1) || { git -C "$root" worktree remove --force "$wt"; exit 125; }
bin=$(grep -o "$root/target/tx-solo-target/release/deps/tx-[0-9a-f]*" "$log" | tail -1)
git -C "$root" worktree remove --force "$wt"
t=$("$bin" --bench 'tmgc/1 thread$' --measurement-time 3 --warm-up-time 1 2>&1 | grep 'time:' | head -1 | sed 's/.*\[[0-9.]* µs \([0-9.]*\) µs.*/\1/')
echo "$(git -C "$root" rev-parse --short "$commit") $t"
[ -z "$limit" ] && exit 0
awk -v t="$t" -v l="$limit" 'BEGIN { exit (t < l) ? 0 : 1 }'
