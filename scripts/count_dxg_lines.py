#!/usr/bin/env python3
"""Issue 13's line count: physical lines of the non-test `.rs` files of dxg and the D3DKMT
translator (`dxg/src`, `d3dkmt/src`).

Not counted: files compiled only for tests (a `mod` declared under `#[cfg(test)]` or
`#[cfg(any(test, ...))]`, and everything beneath it) and `#[cfg(test)]` items inside a file
(the attribute line through the item's closing brace). Every other line counts: code, comments,
doc comments, blank lines.

Usage: python3 scripts/count_dxg_lines.py [--files] [--kinds]

`--kinds` also sorts the counted lines of each folder by kind: docs and comments, blank lines,
imports (a `use` through its `;`), the bodies of `wire_struct!` blocks, and other code.
"""
import os
import re
import sys

ROOTS = ["dxg/src", "d3dkmt/src"]
TEST_CFG = re.compile(r"^\s*#\[cfg\((test|any\(test\b.*)\)\]\s*$")
MOD_DECL = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?mod\s+(\w+)\s*;")


def attribute_end(lines, start):
    """The last line of the attribute that begins at `start` (attributes may span lines)."""
    depth, k = 0, start
    while k < len(lines):
        depth += lines[k].count("[") - lines[k].count("]")
        if depth <= 0:
            return k
        k += 1
    return k


def test_only_items(lines):
    """Returns (ranges, modules): the line ranges (inclusive, 0-based) of items carrying a
    test-only `cfg` (their attributes through the item's closing brace or semicolon), and the
    names of modules declared test-only in this file."""
    ranges, modules = [], []
    i = 0
    while i < len(lines):
        if not lines[i].strip().startswith("#["):
            i += 1
            continue
        # A run of attributes: is one of them a test-only cfg?
        start, j, test_only = i, i, False
        while j < len(lines) and lines[j].strip().startswith("#["):
            end = attribute_end(lines, j)
            test_only = test_only or any(TEST_CFG.match(lines[m]) for m in range(j, end + 1))
            j = end + 1
        if not test_only or j >= len(lines):
            i = j
            continue
        declaration = MOD_DECL.match(lines[j])
        if declaration:
            modules.append(declaration.group(3))
            ranges.append((start, j))
            i = j + 1
            continue
        depth, k, opened = 0, j, False
        while k < len(lines):
            depth += lines[k].count("{") - lines[k].count("}")
            opened = opened or "{" in lines[k]
            if (opened and depth <= 0) or (not opened and lines[k].rstrip().endswith(";")):
                break
            k += 1
        ranges.append((start, k))
        i = k + 1
    return ranges, modules


def non_test_files(base, roots):
    """Yields (path, lines, test-only line ranges) for each `.rs` file under `roots` (relative
    to `base`) that is not compiled only for tests."""
    files, excluded = [], set()
    for root in roots:
        for directory, _, names in os.walk(os.path.join(base, root)):
            files += [os.path.join(directory, n) for n in names if n.endswith(".rs")]
    # Parents before children, so a test-only module excludes its files before they are read.
    files.sort(key=lambda p: (p.count(os.sep), p))
    for path in files:
        if any(path == e or path.startswith(e + os.sep) for e in excluded):
            continue
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        ranges, modules = test_only_items(lines)
        parent = os.path.dirname(path)
        if os.path.basename(path) not in ("lib.rs", "main.rs", "mod.rs"):
            parent = path[:-3]
        for module in modules:
            excluded.add(os.path.join(parent, module + ".rs"))
            excluded.add(os.path.join(parent, module))
        yield path, lines, ranges


def line_kinds(lines, ranges):
    """Counts the lines outside `ranges` by kind (see the module documentation)."""
    skipped = {k for start, end in ranges for k in range(start, end + 1)}
    counts = dict.fromkeys(KINDS, 0)
    in_wire, in_use, depth = False, False, 0
    for index, line in enumerate(lines):
        if index in skipped:
            continue
        text = line.strip()
        in_wire = in_wire or text.startswith("wire_struct!")
        top_level_use = not line.startswith(" ") and re.match(r"^(pub(\([^)]*\))?\s+)?use ", text)
        in_use = in_use or bool(top_level_use)
        if not text:
            kind = "blank"
        elif text.startswith("//"):
            kind = "docs and comments"
        elif in_use:
            kind = "imports"
        elif in_wire:
            kind = "wire_struct! bodies"
        else:
            kind = "other code"
        counts[kind] += 1
        in_use = in_use and not text.endswith(";")
        if in_wire:
            depth += line.count("{") - line.count("}")
            in_wire = not (depth <= 0 and "}" in line)
        if not in_wire:
            depth = 0
    return counts


KINDS = ["docs and comments", "blank", "imports", "wire_struct! bodies", "other code"]


def main():
    base = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    per_file, total, kinds = [], 0, {}
    for path, lines, ranges in non_test_files(base, ROOTS):
        count = len(lines) - sum(end - start + 1 for start, end in ranges)
        per_file.append((count, os.path.relpath(path, base)))
        total += count
        folder = kinds.setdefault(os.path.dirname(os.path.relpath(path, base)), {})
        for kind, number in line_kinds(lines, ranges).items():
            folder[kind] = folder.get(kind, 0) + number
    if "--files" in sys.argv:
        for count, path in sorted(per_file):
            print(f"{count:6} {path}")
    if "--kinds" in sys.argv:
        print(f"{'folder':20}" + "".join(f"{kind:>22}" for kind in KINDS))
        for folder, counts in sorted(kinds.items()):
            print(f"{folder:20}" + "".join(f"{counts[kind]:22}" for kind in KINDS))
        print(f"{'total':20}" + "".join(
            f"{sum(counts[kind] for counts in kinds.values()):22}" for kind in KINDS))
    print(f"{total} non-test lines in {', '.join(ROOTS)}")


if __name__ == "__main__":
    main()
