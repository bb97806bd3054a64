#!/usr/bin/env python3
"""Checks the highlight query over Mova files: no node is captured twice, and every name is.

Editors disagree on which pattern wins when several capture one node (the tree-sitter CLI and
Helix take the first, Neovim the last), so queries/highlights.scm captures each node once at
most, and then means the same everywhere. And every identifier (a variable, a function, a
parameter, a type or a label) gets a capture, so none is left unhighlighted.

Usage: check_highlights.py TREE_SITTER PARSER_LIBRARY HIGHLIGHTS_QUERY FILE...
(PARSER_LIBRARY: the grammar compiled by `tree-sitter build -o`.)
"""

import collections
import os
import re
import subprocess
import sys
import tempfile

CAPTURE = re.compile(
    r"capture: (?:\d+ - )?([\w.]+), start: \((\d+), (\d+)\), end: \((\d+), (\d+)\)"
)
NAMES = "[(identifier) (type_identifier) (label)] @name\n"


def captures(tree_sitter, library, query, paths):
    """{path: [(capture, start, end)]} of `tree-sitter query --captures`."""
    out = subprocess.run(
        [tree_sitter, "query", "--lib-path", library, "--lang-name", "mova", "--captures", query, *paths],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        sys.exit(f"tree-sitter query {query} failed:\n{out.stderr}")
    found = collections.defaultdict(list)
    path = None
    for line in out.stdout.splitlines():
        if line and not line[0].isspace():
            path = line.strip()
            continue
        match = CAPTURE.search(line)
        if match and path is not None:
            name, *position = match.groups()
            row, column, end_row, end_column = map(int, position)
            found[path].append((name, (row, column), (end_row, end_column)))
    return found


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    tree_sitter, library, highlights_query, *paths = sys.argv[1:]
    highlights = captures(tree_sitter, library, highlights_query, paths)
    with tempfile.NamedTemporaryFile("w", suffix=".scm", delete=False) as query:
        query.write(NAMES)
    try:
        names = captures(tree_sitter, library, query.name, paths)
    finally:
        os.unlink(query.name)
    failed = 0
    for path in paths:
        problems = []
        by_node = collections.defaultdict(list)
        for name, start, end in highlights.get(path, []):
            by_node[(start, end)].append(name)
        for (start, end), names_of_node in sorted(by_node.items()):
            if len(names_of_node) > 1:
                problems.append(f"{start}-{end} is captured as {', '.join(names_of_node)}")
        for _, start, end in names.get(path, []):
            if (start, end) not in by_node:
                problems.append(f"the name at {start}-{end} has no highlight")
        if problems:
            failed += 1
            print(f"{path}:\n  " + "\n  ".join(problems))
    print(f"highlights: {len(paths) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
