#!/usr/bin/env bash
# Runs the GPU process tests (the in-kernel tests that run user processes against the emulated
# vGPU: every `gpu_user_*` test and the preemption test that kills a process in a GPU call)
# RUNS times in a row (default 10), each in a fresh QEMU boot, and prints a pass/fail count.
# Issue 14 asks for it: an earlier preemption attempt hung these tests intermittently.
#
# usage: scripts/repeat_gpu_tests.sh [RUNS]     (slow: minutes per run on a loaded machine)
set -uo pipefail
cd "$(dirname "$0")/.."

runs="${1:-10}"
tests="$(grep -rhoE 'gpu_user_[a-z0-9_]+,' kernel/src/tests/gpu_process_tests.rs | tr -d ',' | sort -u | paste -sd, -)"
tests="$tests,preemption_process_blocked_in_a_gpu_call_is_killed"
log_directory="$(mktemp -d)"
echo "GPU process tests: $tests"
cargo build --quiet || exit 2

passed=0
failed=0
for run in $(seq 1 "$runs"); do
  log="$log_directory/run-$run.log"
  if cargo run --quiet -- test --timeout 900 --tests "$tests" >"$log" 2>&1 \
    && grep -q "^kernel tests: .* passed, 0 failed" "$log"; then
    passed=$((passed + 1))
    echo "run $run: pass ($(grep -a '^kernel tests:' "$log"))"
  else
    failed=$((failed + 1))
    echo "run $run: FAIL (log kept: $log)"
    grep -a "FAILED\|watchdog\|panic" "$log" | head -5
  fi
done
echo "repeat_gpu_tests: $passed passed, $failed failed of $runs runs"
[ "$failed" -eq 0 ] && rm -rf "$log_directory"
[ "$failed" -eq 0 ]
