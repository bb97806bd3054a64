#!/usr/bin/env python3
"""Checks that the tree-sitter grammar finds the loops the compiler finds, with the same extents.

For each file given, the compiler's syntax tree (`movac FILE --emit ast`) lists every `loop`
statement (`loop { … }`, `loop:`, `name: { … }` and the seed's indented `name:`) with its byte
span; the tree-sitter grammar's `loop_statement` and `labeled_loop` nodes must have exactly the
same spans. This is what tells that the external scanner ends each indented label body where
the compiler's layout pass does (compiler/src/mova/syntax/layout.rs).

Usage: compare_loops.py MOVAC TREE_SITTER PARSER_LIBRARY FILE...
(PARSER_LIBRARY: the grammar compiled by `tree-sitter build -o`.)
"""

import re
import os
import subprocess
import sys
import tempfile

QUERY = "[(loop_statement) (labeled_loop)] @loop\n"


def byte_offset(lines, row, column):
    """The byte offset of (row, column), tree-sitter's position (column in bytes)."""
    return sum(len(line) for line in lines[:row]) + column


def compiler_loops(movac, path):
    out = subprocess.run(
        [movac, path, "--emit", "ast"], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        sys.exit(f"{path}: movac --emit ast failed:\n{out.stderr}")
    spans = []
    for line in out.stdout.splitlines():
        match = re.match(r"\s*loop(?: \w+)? @(\d+)\.\.(\d+)$", line)
        if match:
            spans.append((int(match.group(1)), int(match.group(2))))
    return sorted(spans)


def grammar_loops(tree_sitter, library, query_path, path):
    out = subprocess.run(
        [tree_sitter, "query", "--lib-path", library, "--lang-name", "mova", "--captures", query_path, path],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        sys.exit(f"{path}: tree-sitter query failed:\n{out.stderr}")
    with open(path, "rb") as source:
        lines = source.read().split(b"\n")
        lines = [line + b"\n" for line in lines]
    spans = []
    position = r"\((\d+), (\d+)\)"
    for line in out.stdout.splitlines():
        match = re.search(rf"start: {position}, end: {position}", line)
        if match:
            row, column, end_row, end_column = map(int, match.groups())
            spans.append(
                (byte_offset(lines, row, column), byte_offset(lines, end_row, end_column))
            )
    return sorted(spans)


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    movac, tree_sitter, library = sys.argv[1:4]
    with tempfile.NamedTemporaryFile("w", suffix=".scm", delete=False) as query:
        query.write(QUERY)
    try:
        check(movac, tree_sitter, library, query.name, sys.argv[4:])
    finally:
        os.unlink(query.name)


def check(movac, tree_sitter, library, query_path, paths):
    failed = 0
    loops = 0
    for path in paths:
        expected = compiler_loops(movac, path)
        found = grammar_loops(tree_sitter, library, query_path, path)
        loops += len(expected)
        if expected != found:
            failed += 1
            print(f"{path}: the compiler's loops span {expected}, the grammar's {found}")
    files = len(paths)
    print(f"loops: {files - failed} passed, {failed} failed ({files} files, {loops} loops)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
