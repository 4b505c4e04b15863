#!/usr/bin/env bash
# Paired before/after benchmark runs (docs/performance.md §4, "How measured").
#
#   scripts/paired_bench.sh BEFORE AFTER [ROUNDS] [-- BENCH ARGUMENTS...]
#
# BEFORE and AFTER are git revisions of this repository. Each is checked out in its own
# worktree under ${PAIRED_BENCH_DIR:-target/paired-bench} and built once (`cargo build`, with
# DXGOS_PROFILE as set: `release` for the release kernel); each build's runner boots its own
# image. Then the two runners are run alternately, BEFORE first, ROUNDS times each (default 3),
# with the bench arguments (default `--arg bench-only=user --arg bench-samples=60`; add
# `--icount` to count instructions). On a shared machine single runs swing; alternating
# spreads the load over both sides. Every `bench` line goes to the log with its side and
# round, and the end prints each bench's medians per run and the median of those per side.
# Worktrees and their targets stay for reuse (remove them with `git worktree remove`).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 2 ]; then
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
before=$1
after=$2
shift 2
rounds=3
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
  rounds=$1
  shift
fi
[ "${1:-}" = "--" ] && shift
if [ $# -gt 0 ]; then
  arguments=("$@")
else
  arguments=(--arg bench-only=user --arg bench-samples=60)
fi
case $rounds in
  '' | *[!0-9]*) echo "ROUNDS must be a number, not '$rounds'" >&2; exit 2 ;;
esac

directory=${PAIRED_BENCH_DIR:-target/paired-bench}
mkdir -p "$directory"
log="$directory/$(date -u +%Y%m%dT%H%M%SZ).log"

prepare() { # SIDE REVISION -> the runner's path
  local side=$1 revision=$2 tree="$directory/$1"
  local commit
  commit=$(git rev-parse --verify "$revision^{commit}") || {
    echo "not a revision: $revision" >&2
    exit 2
  }
  if [ -d "$tree" ]; then
    git -C "$tree" checkout --quiet --detach "$commit"
  else
    git worktree add --quiet --detach "$tree" "$commit"
  fi
  echo "$side: $revision = $commit" >>"$log"
  (cd "$tree" && cargo build --quiet) >&2
  echo "$tree/target/debug/dxgos"
}

echo "building $before and $after (DXGOS_PROFILE=${DXGOS_PROFILE:-dev})" >&2
before_runner=$(prepare before "$before")
after_runner=$(prepare after "$after")

for round in $(seq 1 "$rounds"); do
  for side in before after; do
    runner=$before_runner
    [ "$side" = after ] && runner=$after_runner
    load=$(cut -d' ' -f1 /proc/loadavg)
    echo "run $side $round (load $load)" >&2
    # Each runner boots the image its own build wrote (its path is compiled in).
    "$runner" bench "${arguments[@]}" 2>&1 |
      grep -E '^bench ' |
      sed "s/^/$side $round load=$load: /" >>"$log" || true
  done
done

python3 - "$log" <<'PYTHON'
import collections, re, statistics, sys
runs = collections.defaultdict(lambda: collections.defaultdict(list))
for line in open(sys.argv[1]):
    match = re.match(r"(before|after) \d+ load=\S+: bench (\S+): median (\d+) (\w+)", line)
    if match:
        side, name, median, unit = match.groups()
        runs[(name, unit)][side].append(int(median))
print(f"{'bench':<52} {'before':>10} {'after':>10}  medians of the runs")
for (name, unit), sides in sorted(runs.items()):
    cells = [statistics.median(sides[s]) if sides[s] else float("nan") for s in ("before", "after")]
    detail = " | ".join(f"{s}: " + ", ".join(map(str, sides[s])) for s in ("before", "after"))
    print(f"{name + ' (' + unit + ')':<52} {cells[0]:>10.0f} {cells[1]:>10.0f}  {detail}")
print(f"log: {sys.argv[1]}")
PYTHON
