#!/usr/bin/env bash
# Our VMBus ring against OpenVMM's vmbus_ring in one harness (issue 15; docs/performance.md §1).
#
#   scripts/openvmm_ring_bench.sh OPENVMM_DIR [HARNESS ARGUMENTS...]
#
# OPENVMM_DIR is a clone of microsoft/openvmm (vm/devices/vmbus/vmbus_ring and
# vm/vmcore/guestmem are used). OpenVMM's crates are not on crates.io, so the harness,
# benches/openvmm-ring/src/main.rs, is no workspace member and `cargo test` never builds it:
# this script writes its manifest into ${OPENVMM_RING_BENCH_DIR:-target/openvmm-ring-bench}
# (its own workspace, path dependencies on OPENVMM_DIR's vmbus_ring and guestmem and on this
# repository's vmbus and hyperv, the release profile of this workspace: opt-level 3, debug 1),
# builds it with the toolchain of rust-toolchain.toml and runs it. What it measures and its
# environment variables (OPENVMM_BENCH_SIZES, OPENVMM_BENCH_RUNS, OPENVMM_BENCH_PROFILE) are
# in the harness's doc comment. OPENVMM_RING_BENCH_LTO=thin (or fat) builds with link-time
# optimisation (OpenVMM's own release profile uses thin); JOBS sets cargo's -j (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

if [ $# -lt 1 ]; then
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
openvmm=$(cd "$1" && pwd)
shift
for crate in vm/devices/vmbus/vmbus_ring vm/vmcore/guestmem; do
  if [ ! -f "$openvmm/$crate/Cargo.toml" ]; then
    echo "$openvmm/$crate/Cargo.toml not found: OPENVMM_DIR must be an OpenVMM clone" >&2
    exit 2
  fi
done

directory=${OPENVMM_RING_BENCH_DIR:-$repo/target/openvmm-ring-bench}
mkdir -p "$directory"
lto=${OPENVMM_RING_BENCH_LTO:-false}
case $lto in
  false | thin | fat) ;;
  *) echo "OPENVMM_RING_BENCH_LTO must be false, thin or fat, not '$lto'" >&2; exit 2 ;;
esac
[ "$lto" = false ] || lto="\"$lto\""
cat > "$directory/Cargo.toml" <<EOF
# Written by scripts/openvmm_ring_bench.sh; rewritten on every run.
[package]
name = "openvmm-ring-bench"
version = "0.0.0"
edition = "2024"
publish = false

[[bin]]
name = "openvmm-ring-bench"
path = "$repo/benches/openvmm-ring/src/main.rs"

[dependencies]
vmbus = { path = "$repo/vmbus", package = "dxgos-vmbus" }
hyperv = { path = "$repo/hyperv", package = "dxgos-hyperv" }
# Its default feature, guestmem-adapters, brings RingRange::reader/writer (the in-place API).
vmbus_ring = { path = "$openvmm/vm/devices/vmbus/vmbus_ring" }
# For the MemoryRead/MemoryWrite traits those reader/writer implement.
guestmem = { path = "$openvmm/vm/vmcore/guestmem" }

# Its own workspace: not a member of this repository's.
[workspace]

[profile.release]
debug = 1
lto = $lto
EOF
# Start from this repository's lock file, so shared dependencies get the versions it tests.
[ -f "$directory/Cargo.lock" ] || cp "$repo/Cargo.lock" "$directory/Cargo.lock"

cargo build --release -j "${JOBS:-2}" --manifest-path "$directory/Cargo.toml" \
  --target-dir "$directory/target"
uptime
exec "$directory/target/release/openvmm-ring-bench" "$@"
