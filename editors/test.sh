#!/usr/bin/env bash
# Tests of editors/: the tree-sitter grammar (tree-sitter-mova/) and the VS Code extension
# (vscode/). CI runs it from .ci/run; run it by hand the same way: `bash editors/test.sh`.
#
# It installs what it needs and does not find, saying so, outside the repository, in
# $MOVA_EDITORS_CACHE (default ~/.cache/mova-editors), where later runs find it:
#   - the tree-sitter CLI, $TREE_SITTER_VERSION, built from crates.io with `cargo install`
#     (its npm package downloads a prebuilt binary from elsewhere): about 5 minutes on 2 cores,
#     once; a `tree-sitter` of that version on PATH is used instead;
#   - vscode-tmgrammar-test, $TMGRAMMAR_TEST_VERSION, from the npm registry (seconds);
#   - node, npm, python3 and a C compiler from Debian's packages, where missing (as root).
# It also builds movac (`cargo build`), whose syntax trees the grammar is compared with.
set -euo pipefail
cd "$(dirname "$0")/.."

TREE_SITTER_VERSION=0.27.1
TMGRAMMAR_TEST_VERSION=0.1.3

cache="${MOVA_EDITORS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mova-editors}"
grammar=editors/tree-sitter-mova
vscode=editors/vscode
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

passed=0
step() {
  echo "--- $*"
}
ok() {
  passed=$((passed + 1))
}

# --- What the tests need ---------------------------------------------------------------------

apt_updated=false
need_command() { # COMMAND DEBIAN_PACKAGE
  if command -v "$1" >/dev/null 2>&1; then
    return
  fi
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "error: \`$1\` is missing; install it (Debian package $2)" >&2
    exit 1
  fi
  echo "installing $2 from Debian's packages, for \`$1\`"
  if ! $apt_updated; then
    apt-get update -qq
    apt_updated=true
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}
need_command python3 python3
need_command node nodejs
need_command npm npm
need_command cc gcc

tree_sitter=""
if command -v tree-sitter >/dev/null 2>&1 &&
  [ "$(tree-sitter --version 2>/dev/null)" = "tree-sitter $TREE_SITTER_VERSION" ]; then
  tree_sitter="$(command -v tree-sitter)"
else
  tree_sitter="$cache/tree-sitter-$TREE_SITTER_VERSION/bin/tree-sitter"
  if [ ! -x "$tree_sitter" ]; then
    echo "installing tree-sitter-cli $TREE_SITTER_VERSION from crates.io into" \
      "$cache/tree-sitter-$TREE_SITTER_VERSION (cargo install: a few minutes, once)"
    start=$SECONDS
    cargo install --quiet --locked tree-sitter-cli --version "$TREE_SITTER_VERSION" \
      --root "$cache/tree-sitter-$TREE_SITTER_VERSION"
    echo "installed tree-sitter-cli in $((SECONDS - start)) s"
  fi
fi
echo "using $("$tree_sitter" --version) at $tree_sitter"

npm_tools="$cache/npm"
installed_tmgrammar="$(node -p "try { require('$npm_tools/node_modules/vscode-tmgrammar-test/package.json').version } catch { '' }")"
if [ "$installed_tmgrammar" != "$TMGRAMMAR_TEST_VERSION" ]; then
  echo "installing vscode-tmgrammar-test $TMGRAMMAR_TEST_VERSION from the npm registry into $npm_tools"
  mkdir -p "$npm_tools"
  npm install --prefix "$npm_tools" --no-audit --no-fund --loglevel=error \
    "vscode-tmgrammar-test@$TMGRAMMAR_TEST_VERSION" >/dev/null
fi
node_modules="$npm_tools/node_modules"
echo "using vscode-tmgrammar-test $TMGRAMMAR_TEST_VERSION at $node_modules"

cargo build --quiet -p mova-compiler --bin movac
movac="${CARGO_TARGET_DIR:-target}/debug/movac"

# The CLI keeps its configuration and the parsers it compiles here, not in the user's folders.
export TREE_SITTER_DIR="$scratch/tree-sitter-config"
export TREE_SITTER_LIBDIR="$scratch/tree-sitter-lib"
mkdir -p "$TREE_SITTER_DIR" "$TREE_SITTER_LIBDIR"
echo '{"parser-directories": []}' >"$TREE_SITTER_DIR/config.json"

examples=(examples/*.mova)
layout_cases=("$grammar"/test/layout/*.mova)

# --- The tree-sitter grammar -----------------------------------------------------------------

step "tree-sitter generate (src/parser.c and the rest are generated, never committed)"
(cd "$grammar" && "$tree_sitter" generate)
ok

step "tree-sitter test: the corpus (test/corpus) and the highlight assertions (test/highlight)"
(cd "$grammar" && "$tree_sitter" test)
ok

# The parser, compiled once for the checks below.
library="$scratch/mova.so"
"$tree_sitter" build --output "$library" "$grammar"
parser=(--lib-path "$library" --lang-name mova)

# Parses FILEs; fails, listing them, when one has an ERROR or a MISSING node.
parses_cleanly() {
  local out
  if ! out="$("$tree_sitter" parse --quiet "${parser[@]}" "$@" 2>&1)"; then
    printf '%s\n' "$out" | grep -E 'ERROR|MISSING' >&2 || printf '%s\n' "$out" >&2
    return 1
  fi
  if printf '%s\n' "$out" | grep -qE '\((ERROR|MISSING)'; then
    printf '%s\n' "$out" >&2
    return 1
  fi
}

step "every example and layout case parses with no ERROR or MISSING node"
parses_cleanly "${examples[@]}" "${layout_cases[@]}"
echo "parsed ${#examples[@]} examples and ${#layout_cases[@]} layout cases"
ok

step "the check catches a program that does not parse"
printf 'var i = 0\nloop:\n    print(i);\n' >"$scratch/broken.mova"
if parses_cleanly "$scratch/broken.mova" 2>/dev/null; then
  echo "error: a program with a missing \`;\` parsed with no error node" >&2
  exit 1
fi
ok

step "the grammar's loops span what the compiler's do (movac --emit ast)"
python3 "$grammar/test/compare_loops.py" "$movac" "$tree_sitter" "$library" \
  "${examples[@]}" "${layout_cases[@]}"
ok

step "the highlight query captures each node once at most, and every name"
python3 "$grammar/test/check_highlights.py" "$tree_sitter" "$library" \
  "$grammar/queries/highlights.scm" "${examples[@]}" "${layout_cases[@]}" "$grammar"/test/highlight/*.mova
ok

# --- The VS Code extension -------------------------------------------------------------------

step "the extension's entry and manifest (node --test)"
(cd "$vscode" && node --test test/extension.test.js)
ok

step "the TextMate grammars: assertions (vscode-tmgrammar-test)"
(cd "$vscode" && "$node_modules/.bin/vscode-tmgrammar-test" --compact \
  'test/syntax/*.mova' 'test/syntax/*.mvasm')
ok

step "the TextMate grammars: snapshots (vscode-tmgrammar-snap; --updateSnapshot rewrites them)"
(cd "$vscode" && "$node_modules/.bin/vscode-tmgrammar-snap" 'test/snap/*.mova' 'test/snap/*.mvasm')
ok

step "no example has a token the TextMate grammars call invalid"
node "$vscode/test/examples.js" "$node_modules" examples/*.mova examples/*.mvasm
ok

step "the check catches an invalid token"
printf 'print(12ab);\n' >"$scratch/invalid.mova"
if node "$vscode/test/examples.js" "$node_modules" "$scratch/invalid.mova" >/dev/null; then
  echo "error: \`12ab\` was not called invalid" >&2
  exit 1
fi
ok

echo "editors: $passed passed, 0 failed"
