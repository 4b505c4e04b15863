#!/usr/bin/env python3
"""Issue 15's per-function instruction sums over the system-call windows of a QEMU trace.

Run the bench under a QEMU wrapper that logs every translated and executed kernel block, e.g.
(`DXGOS_QEMU` names the wrapper):

    qemu-system-x86_64 -icount shift=0,align=off,sleep=off -d in_asm,exec,nochain \\
        -dfilter 0xffffffff80000000+0x1000000 -D trace.log "$@"

then `python3 scripts/icount_trace_sums.py trace.log KERNEL_ELF [MARKER] [COUNT] [--groups]`.
Each executed block (`Trace` line, one per execution with `nochain`) counts the instructions
of its latest translation (`IN:` block) and is attributed to the function its start address
falls in (`nm` of the unstripped kernel). A window runs from one `syscall_entry` to the next;
only the windows that executed a function whose name contains MARKER (default
`query_adapter_info`) are kept, and the per-function means over them are printed, largest
first (COUNT lines, default 60). `--groups` prints per-area totals instead (the emulated
link's code, which the `_guest` benches count as host time, is its own group).
"""
import bisect
import collections
import re
import subprocess
import sys

GROUPS = [
    ("emulated link (host time)", r"emulated_link|ivshmem|IvshmemLink|Mailboxes|hypervisor::Link|host_time|RingConsumer|RingProducer|FrameDecoder|Frame>::|is_lendable|service_receive_interrupt|hypercall"),
    ("IPC and scheduling", r"kernel::ipc|kernel::task|wait_list|Fifo<kernel::task|switch_context|syscall_return"),
    ("bus task", r"vmbus_task|vmbus_bus|synic|vmbus::client|take_event"),
    ("dxg task", r"dxg_task|OpenChannel|PendingCall"),
    ("dxg core", r"dxg::"),
    ("VMBus ring", r"vmbus::ring"),
    ("heap", r"heap|alloc::alloc|__rust_|raw_vec|Layout|RawVec"),
    ("copies", r"^memcpy|^memmove|^memset|memcmp|compare_bytes|copy_from_slice"),
    ("user memory", r"address_space|paging|PhysOffset|physical_memory"),
]
TRACE = re.compile(r"^Trace \d+: 0x[0-9a-f]+ \[[0-9a-f]+/([0-9a-f]+)/")
ADDRESS = re.compile(r"^0x([0-9a-f]+):")


def symbols(kernel):
    """(address, name) of the kernel's functions, sorted."""
    listing = subprocess.run(["nm", "-C", "--defined-only", kernel], capture_output=True,
                             text=True, check=True).stdout
    found = []
    for line in listing.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] in "tTwW":
            found.append((int(parts[0], 16), parts[2]))
    return sorted(found)


def windows(trace, table):
    """Per-window Counters of instructions by function."""
    addresses = [address for address, _ in table]
    entry = next(address for address, name in table if name == "syscall_entry")
    block_size, all_windows, window = {}, [], collections.Counter()
    block_start, count, in_block = None, 0, False
    with open(trace, errors="replace") as lines:
        for line in lines:
            if line.startswith("IN:"):
                block_start, count, in_block = None, 0, True
                continue
            if in_block:
                match = ADDRESS.match(line)
                if match:
                    block_start = block_start or int(match.group(1), 16)
                    count += 1
                    continue
                if block_start is not None:
                    block_size[block_start] = count
                in_block = False
            match = TRACE.match(line)
            if match:
                pc = int(match.group(1), 16)
                if pc == entry:
                    all_windows.append(window)
                    window = collections.Counter()
                index = bisect.bisect_right(addresses, pc) - 1
                name = table[index][1] if index >= 0 else "?"
                window[name] += block_size.get(pc, 0)
    all_windows.append(window)
    return all_windows


def main():
    arguments = [argument for argument in sys.argv[1:] if argument != "--groups"]
    trace, kernel = arguments[0], arguments[1]
    marker = arguments[2] if len(arguments) > 2 else "query_adapter_info"
    count = int(arguments[3]) if len(arguments) > 3 else 60
    every = windows(trace, symbols(kernel))
    kept = [window for window in every if any(marker in name for name in window)]
    print(f"{len(every)} windows, {len(kept)} with {marker}", file=sys.stderr)
    if not kept:
        sys.exit(1)
    total = collections.Counter()
    for window in kept:
        total.update(window)
    if "--groups" in sys.argv:
        grouped = collections.Counter()
        for name, value in total.items():
            group = next((group for group, pattern in GROUPS if re.search(pattern, name)), "other")
            grouped[group] += value
        total = grouped
    for name, value in total.most_common(count):
        print(f"{value / len(kept):9.1f}  {name[:150]}")
    print(f"{sum(total.values()) / len(kept):9.1f}  whole window")


if __name__ == "__main__":
    main()
