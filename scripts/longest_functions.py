#!/usr/bin/env python3
"""Issue 13's function-size check: the longest non-test functions (in physical lines, from the
`fn` line through its closing brace) in the kernel, dxg, drivers and vmbus sources.

Test code is left out as in `count_dxg_lines.py`: files compiled only for tests and
`#[cfg(test)]` items. A function nested in another counts on its own and inside its parent.

Usage: python3 scripts/longest_functions.py [COUNT] [ROOT ...]   (default 10, the four crates)
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from count_dxg_lines import non_test_files  # noqa: E402

ROOTS = ["kernel/src", "dxg/src", "drivers/src", "vmbus/src"]
FN = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?(extern\s+\"[^\"]*\"\s+)?fn\s+(\w+)")


def functions(lines, skipped):
    """Yields (name, first line, length) of every function outside the skipped ranges."""
    for start, line in enumerate(lines):
        if start in skipped:
            continue
        match = FN.match(line)
        if not match:
            continue
        depth, opened = 0, False
        for end in range(start, len(lines)):
            text = lines[end].split("//")[0]
            depth += text.count("{") - text.count("}")
            opened = opened or "{" in text
            if not opened and text.rstrip().endswith(";"):
                break  # a declaration without a body
            if opened and depth <= 0:
                yield match.group(7), start + 1, end - start + 1
                break


def main():
    arguments = sys.argv[1:]
    count = int(arguments.pop(0)) if arguments and arguments[0].isdigit() else 10
    base = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    found = []
    for path, lines, ranges in non_test_files(base, arguments or ROOTS):
        skipped = {line for start, end in ranges for line in range(start, end + 1)}
        for name, first, length in functions(lines, skipped):
            found.append((length, f"{os.path.relpath(path, base)}:{first}", name))
    for length, place, name in sorted(found, reverse=True)[:count]:
        print(f"{length:5} {place} {name}")


if __name__ == "__main__":
    main()
