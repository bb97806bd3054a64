#!/usr/bin/env bash
# Whole-program benchmarks: Mova against Lua 5.4, LuaJIT (interpreter and JIT) and Python 3.
#
#     bash bench/compare.sh [--runs N] [--quick] [--only NAME[,NAME...]] [--no-doc]
#
# Builds the release binaries, installs missing peers and tools when it can (apt-get as root, or
# sudo -n; hyperfine also through `cargo install`), checks that every implementation of each
# program in bench/programs/ prints exactly the same bytes (measuring each one's peak memory on
# that run), then times them interleaved (round-robin, N rounds, median per implementation),
# measures start-up (hyperfine) and compile speed and memory, prints Markdown tables ending in a
# summary of the ratios and the targets they meet, and writes them into docs/performance.md between
# its markers. Nothing here is asserted: these are measurements. See docs/performance.md.
set -euo pipefail
export LC_ALL=C
# Settings that would change how fast a peer runs: each runs as it does by default (for instance
# PYTHONUNBUFFERED=1 would make Python's print write every line with two system calls).
unset PYTHONUNBUFFERED PYTHONDEVMODE PYTHONINSPECT PYTHONVERBOSE PYTHONDEBUG PYTHONMALLOC \
    PYTHONMALLOCSTATS PYTHONTRACEMALLOC PYTHONPROFILEIMPORTTIME LUA_INIT LUA_INIT_5_4

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DOC=docs/performance.md
START_MARKER='<!-- bench/compare.sh: start -->'
END_MARKER='<!-- bench/compare.sh: end -->'
# The benchmarks in table order; a program in bench/programs/ missing from this list is added after
# them (see below), so that every benchmark there is run.
PROGRAMS=(count nested collatz print fib sieve strings sort)
EXTRAS=(startup compile)
# Implementations, in table order. `lua` is Lua 5.4, `luajit-joff` LuaJIT's interpreter.
IMPLS=(mova lua luajit-joff luajit python)
declare -A TITLE=([mova]="Mova" [lua]="Lua 5.4" [luajit-joff]="LuaJIT -joff" [luajit]="LuaJIT"
    [python]="Python 3")
STARTUP_RUNS=200
STARTUP_WARMUP=5
COMPILE_RUNS=5
COMPILE_LINES=200000
# Lines per generated block (see generate_big); the big programs have ceil(200000 / 13) blocks.
BLOCK_LINES=13

usage() {
    cat <<'EOF'
usage: bash bench/compare.sh [--runs N] [--quick] [--only NAME[,NAME...]] [--no-doc]

  --runs N     timed rounds per program (default 5); each round runs every implementation once
  --quick      one round (the same as --runs 1)
  --only NAME  run only these benchmarks: count, nested, collatz, print, fib, sieve, strings,
               sort (and any other program in bench/programs/), startup, compile
               (comma-separated or repeated); docs/performance.md is then left as it is
  --no-doc     print the tables without writing them into docs/performance.md
EOF
}

die() {
    printf 'compare.sh: error: %s\n' "$*" >&2
    exit 1
}

log() {
    printf '%s\n' "$*" >&2
}

for source in "$ROOT"/bench/programs/*.mova; do
    name=$(basename "$source" .mova)
    case " ${PROGRAMS[*]} " in *" $name "*) ;; *) PROGRAMS+=("$name") ;; esac
done

# ---------------------------------------------------------------------------------------------
# Options.

ORIG_ARGS=("$@")
runs=5
write_doc=1
declare -A SELECTED=()
select_only() {
    local names name
    IFS=, read -r -a names <<<"$1"
    ((${#names[@]} > 0)) || die "--only needs a benchmark name"
    for name in "${names[@]}"; do
        case " ${PROGRAMS[*]} ${EXTRAS[*]} " in
            *" $name "*) SELECTED[$name]=1 ;;
            *) die "unknown benchmark \`$name\` (known: ${PROGRAMS[*]} ${EXTRAS[*]})" ;;
        esac
    done
}
while (($# > 0)); do
    case $1 in
        --runs) (($# >= 2)) || die "--runs needs a number"; runs=$2; shift 2 ;;
        --runs=*) runs=${1#--runs=}; shift ;;
        --quick) runs=1; shift ;;
        --only) (($# >= 2)) || die "--only needs a benchmark name"; select_only "$2"; shift 2 ;;
        --only=*) select_only "${1#--only=}"; shift ;;
        --no-doc) write_doc=0; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument \`$1\`" ;;
    esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "--runs takes a positive whole number, not \`$runs\`"
if ((${#SELECTED[@]} == 0)); then
    for name in "${PROGRAMS[@]}" "${EXTRAS[@]}"; do SELECTED[$name]=1; done
    partial=0
else
    partial=1
fi
selected() { [[ -n ${SELECTED[$1]:-} ]]; }

COMMAND="bash bench/compare.sh"
for arg in "${ORIG_ARGS[@]}"; do
    if [[ $arg =~ ^[A-Za-z0-9_.,=/:+-]+$ ]]; then COMMAND+=" $arg"; else COMMAND+=" $(printf '%q' "$arg")"; fi
done

[[ -n ${EPOCHREALTIME:-} ]] || die "this script needs bash 5 or later (for \$EPOCHREALTIME)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mova-compare.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

NOTES=()
note() {
    NOTES+=("$*")
    log "note: $*"
}

# ---------------------------------------------------------------------------------------------
# Timing. EPOCHREALTIME is the wall clock in microseconds; the commands run as child processes of
# this shell, so each measurement is the whole process: start-up, the run, output and exit.

# Runs "$@" with its standard output going into a pipe read by `cat` (so programs that print
# write to a real pipe), and sets ELAPSED_US.
time_pipe() {
    local start end
    start=${EPOCHREALTIME/[.,]/}
    if ! "$@" | cat >/dev/null; then
        die "\`$*\` failed during the timed runs"
    fi
    end=${EPOCHREALTIME/[.,]/}
    ELAPSED_US=$((end - start))
}

# Runs "$@" with its standard output discarded, and sets ELAPSED_US.
time_run() {
    local start end
    start=${EPOCHREALTIME/[.,]/}
    if ! "$@" >/dev/null; then
        die "\`$*\` failed during the timed runs"
    fi
    end=${EPOCHREALTIME/[.,]/}
    ELAPSED_US=$((end - start))
}

# The median of whole numbers (microseconds).
median() {
    printf '%s\n' "$@" | sort -n | awk '
        { v[NR] = $1 }
        END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Microseconds as seconds (or with `ms`, milliseconds), to 3 significant digits; n/a stays n/a.
fmt() {
    local us=$1 unit=${2:-s}
    [[ $us == n/a ]] && { printf 'n/a'; return; }
    awk -v us="$us" -v unit="$unit" 'BEGIN {
        v = (unit == "ms") ? us / 1e3 : us / 1e6
        if (v >= 100) printf "%.0f", v; else printf "%#.3g", v }'
}

# KiB as MB (10^6 bytes), to 3 significant digits; n/a stays n/a.
fmt_kib() {
    [[ $1 == n/a ]] && { printf 'n/a'; return; }
    awk -v kib="$1" 'BEGIN { v = kib * 1024 / 1e6; if (v >= 100) printf "%.0f", v; else printf "%#.3g", v }'
}

# a / b to 2 decimals; n/a if either is n/a.
ratio() {
    if [[ $1 == n/a || $2 == n/a ]]; then printf 'n/a'; return; fi
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
}

# ---------------------------------------------------------------------------------------------
# Build Mova and find (or install) the peers.

command -v cargo >/dev/null || die "cargo is not installed: Mova cannot be built"
log "building the release binaries..."
cargo build --release -p mova-vm -p mova-compiler >&2 || die "cargo build --release failed"
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
MOVA=$BIN/mova
MOVAC=$BIN/movac
[[ -x $MOVA && -x $MOVAC ]] || die "the build did not produce $MOVA and $MOVAC"

# Installs Debian packages with apt-get, as root or through passwordless sudo; fails otherwise.
install_packages() {
    local -a apt
    command -v apt-get >/dev/null || return 1
    if (($(id -u) == 0)); then
        apt=(env DEBIAN_FRONTEND=noninteractive apt-get)
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        apt=(sudo -n env DEBIAN_FRONTEND=noninteractive apt-get)
    else
        return 1
    fi
    log "installing $* with ${apt[*]}..."
    "${apt[@]}" install -y "$@" >"$WORK/apt.log" 2>&1 && return 0
    # A fresh machine may have no package lists yet.
    "${apt[@]}" update >>"$WORK/apt.log" 2>&1 && "${apt[@]}" install -y "$@" >>"$WORK/apt.log" 2>&1
}

missing=()
command -v lua5.4 >/dev/null && command -v luac5.4 >/dev/null || missing+=(lua5.4)
command -v luajit >/dev/null || missing+=(luajit)
# GNU time (`/usr/bin/time -f %M`) measures peak memory; the shell's `time` keyword cannot.
[[ -x /usr/bin/time ]] || missing+=(time)
if ((${#missing[@]} > 0)); then
    install_packages "${missing[@]}" ||
        log "could not install ${missing[*]} (needs apt-get, as root or with passwordless sudo)"
fi

declare -A HAVE=([mova]=1)
declare -A VERSION=()
if command -v lua5.4 >/dev/null; then
    HAVE[lua]=1
    VERSION[lua]=$(lua5.4 -v 2>&1 | awk '{ print $1, $2; exit }')
else
    note "lua5.4 is not installed and could not be installed: the Lua 5.4 column is n/a."
fi
if command -v luac5.4 >/dev/null; then
    HAVE[luac]=1
    VERSION[luac]=$(luac5.4 -v 2>&1 | awk '{ print "luac", $2; exit }')
else
    note "luac5.4 is not installed and could not be installed: the compile table's luac5.4 -p column is n/a."
fi
if command -v luajit >/dev/null; then
    HAVE[luajit]=1
    HAVE[luajit-joff]=1
    VERSION[luajit]=$(luajit -v 2>&1 | awk '{ print $1, $2; exit }')
else
    note "luajit is not installed and could not be installed: the LuaJIT columns are n/a."
fi
PYTHON=python3
if command -v python3 >/dev/null; then
    HAVE[python]=1
    VERSION[python]=$(python3 -V 2>&1)
    # Run the interpreter itself: `python3` may be a wrapper script (a pyenv shim costs ~60 ms a run).
    real=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null || true)
    if [[ -n $real && -x $real && $real != "$(command -v python3)" ]]; then
        PYTHON=$real
        VERSION[python]+=" (run as $real, not through $(command -v python3))"
    fi
else
    note "python3 is not installed: the Python 3 column is n/a."
fi
# Peak memory: the maximum resident set size of the whole process, in KiB, from the kernel's
# rusage of the child (ru_maxrss), through GNU time, or else a few lines of Python doing the same.
if [[ -x /usr/bin/time ]] && /usr/bin/time -f %M -o "$WORK/time.probe" true 2>/dev/null &&
    [[ $(cat "$WORK/time.probe") =~ ^[0-9]+$ ]]; then
    MAXRSS=gnu
    MEMORY_METHOD="\`/usr/bin/time -f %M\` (the kernel's \`ru_maxrss\` of the process)"
elif have python; then
    MAXRSS=python
    MEMORY_METHOD="the kernel's \`ru_maxrss\` of the process, read by Python's \`resource.getrusage(RUSAGE_CHILDREN)\` (GNU time is not installed)"
else
    MAXRSS=none
    MEMORY_METHOD="not measured"
    note "neither GNU time (/usr/bin/time) nor python3 is available: the peak memory table is n/a."
fi

# Runs "$@" with its standard output into file $1 and its peak memory (KiB) into file $2; the
# status is the command's.
run_measured() {
    local output=$1 rss=$2
    shift 2
    case $MAXRSS in
        gnu) /usr/bin/time -f %M -o "$rss" "$@" >"$output" ;;
        python)
            "$PYTHON" -c '
import resource, subprocess, sys
status = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "w") as f:
    f.write("%d\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(status if status >= 0 else 128 - status)' "$rss" "$@" >"$output" ;;
        *) printf 'n/a\n' >"$rss"; "$@" >"$output" ;;
    esac
}

# hyperfine measures start-up: from the `hyperfine` package, else built with `cargo install`, else
# (reported) a loop in bash.
usable_hyperfine() { command -v hyperfine >/dev/null && hyperfine --help 2>&1 | grep -q -- '--shell'; }
HYPERFINE=0
if selected startup && ! usable_hyperfine; then
    if install_packages hyperfine && usable_hyperfine; then
        log "installed hyperfine with apt-get"
    else
        CARGO_BIN=${CARGO_HOME:-$HOME/.cargo}/bin
        log "installing hyperfine with cargo install hyperfine --locked (a minute or two)..."
        if cargo install hyperfine --locked >"$WORK/cargo-install.log" 2>&1; then
            case ":$PATH:" in *":$CARGO_BIN:"*) ;; *) PATH=$CARGO_BIN:$PATH ;; esac
        fi
        usable_hyperfine ||
            note "hyperfine is not installed and could not be installed (neither apt-get nor \`cargo install hyperfine --locked\` worked): start-up is timed by a loop in bash."
    fi
fi
if usable_hyperfine; then
    HYPERFINE=1
    VERSION[hyperfine]=$(hyperfine --version 2>&1)
fi
have() { [[ -n ${HAVE[$1]:-} ]]; }

# Sets CMD to the command that runs implementation $1 on program $2.
set_cmd() {
    case $1 in
        mova) CMD=("$MOVA" "$WORK/$2.mvb") ;;
        lua) CMD=(lua5.4 "bench/programs/$2.lua") ;;
        luajit-joff) CMD=(luajit -joff "bench/programs/$2.lua") ;;
        luajit) CMD=(luajit "bench/programs/$2.lua") ;;
        python) CMD=("$PYTHON" "bench/programs/$2.py") ;;
        *) die "unknown implementation $1" ;;
    esac
}

# ---------------------------------------------------------------------------------------------
# Check: every implementation prints exactly what Mova prints, byte for byte.

LOAD_START=$(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null || echo unknown)
declare -A RESULT=()   # "program,impl" -> median microseconds, or n/a
declare -A MEMORY=()   # "program,impl" -> peak resident set size in KiB, or n/a
declare -A RUNS_OF=()  # program -> the implementations it is timed on
for prog in "${PROGRAMS[@]}"; do
    selected "$prog" || continue
    for ext in mova lua py; do
        [[ -f bench/programs/$prog.$ext ]] || die "bench/programs/$prog.$ext is missing"
    done
    "$MOVAC" "bench/programs/$prog.mova" -o "$WORK/$prog.mvb" ||
        die "movac could not compile bench/programs/$prog.mova"
    log "checking $prog: every implementation must print the same bytes..."
    impls=()
    for impl in "${IMPLS[@]}"; do
        RESULT[$prog,$impl]=n/a
        MEMORY[$prog,$impl]=n/a
        have "$impl" || continue
        # LuaJIT implements Lua 5.1 (plus extensions): a program using later syntax, such as the
        # integer division `//`, is not a LuaJIT program. That is reported, not a failure.
        if [[ $impl == luajit* ]] && ! luajit -b "bench/programs/$prog.lua" /dev/null 2>"$WORK/luajit.err"; then
            if [[ $impl == luajit ]]; then
                note "LuaJIT cannot parse bench/programs/$prog.lua (\`$(head -n 1 "$WORK/luajit.err")\`);" \
                    "LuaJIT implements Lua 5.1, without Lua 5.3's integer division \`//\`, so its $prog cells are n/a."
            fi
            continue
        fi
        set_cmd "$impl" "$prog"
        out=$WORK/$prog.$impl.out
        status=0
        run_measured "$out" "$WORK/$prog.$impl.rss" "${CMD[@]}" || status=$?
        ((status == 0)) || die "\`${CMD[*]}\` failed (exit status $status)"
        MEMORY[$prog,$impl]=$(tail -n 1 "$WORK/$prog.$impl.rss")
        [[ ${MEMORY[$prog,$impl]} =~ ^[0-9]+$ ]] || MEMORY[$prog,$impl]=n/a
        if [[ $impl != mova ]] && ! cmp -s "$WORK/$prog.mova.out" "$out"; then
            {
                printf 'compare.sh: error: %s prints something else than Mova on %s:\n' \
                    "${TITLE[$impl]}" "$prog"
                printf '  %s\n' "$(cmp "$WORK/$prog.mova.out" "$out" 2>&1 || true)"
                printf '  (sizes: Mova %s bytes, %s %s bytes; first differing lines:)\n' \
                    "$(wc -c <"$WORK/$prog.mova.out")" "${TITLE[$impl]}" "$(wc -c <"$out")"
                diff "$WORK/$prog.mova.out" "$out" | head -n 6 | sed 's/^/    /' || true
            } >&2
            exit 1
        fi
        impls+=("$impl")
    done
    RUNS_OF[$prog]="${impls[*]}"
done

# ---------------------------------------------------------------------------------------------
# Timed runs: round-robin over the implementations (starting one further each round), so that
# a slow spell of the machine spreads over all of them; the median of each.

for prog in "${PROGRAMS[@]}"; do
    selected "$prog" || continue
    read -r -a impls <<<"${RUNS_OF[$prog]}"
    declare -A SAMPLES=()
    for ((round = 0; round < runs; round++)); do
        log "timing $prog: round $((round + 1))/$runs"
        for ((k = 0; k < ${#impls[@]}; k++)); do
            impl=${impls[(k + round) % ${#impls[@]}]}
            set_cmd "$impl" "$prog"
            time_pipe "${CMD[@]}"
            SAMPLES[$impl]+=" $ELAPSED_US"
        done
    done
    for impl in "${impls[@]}"; do
        read -r -a samples <<<"${SAMPLES[$impl]}"
        RESULT[$prog,$impl]=$(median "${samples[@]}")
    done
    unset SAMPLES
done

# ---------------------------------------------------------------------------------------------
# Start-up: a program that prints one number, against the peers doing nothing.

declare -A STARTUP=()
if selected startup; then
    printf 'print(1);\n' >"$WORK/tiny.mova"
    "$MOVAC" "$WORK/tiny.mova" -o "$WORK/tiny.mvb" || die "movac could not compile print(1);"
    for impl in mova lua luajit python; do
        STARTUP[$impl]=n/a
        have "$impl" || continue
        case $impl in
            mova) CMD=("$MOVA" "$WORK/tiny.mvb") ;;
            lua) CMD=(lua5.4 -e '') ;;
            luajit) CMD=(luajit -e '') ;;
            python) CMD=("$PYTHON" -c '') ;;
        esac
        log "timing start-up: ${CMD[*]}"
        if ((HYPERFINE)); then
            # -N: no intermediate shell, so nothing but the command is measured.
            line=$(printf '%q ' "${CMD[@]}")
            hyperfine -N --style none --runs "$STARTUP_RUNS" --warmup "$STARTUP_WARMUP" \
                --export-json "$WORK/startup.$impl.json" "$line" >/dev/null 2>"$WORK/hyperfine.err" ||
                { cat "$WORK/hyperfine.err" >&2; die "hyperfine failed on \`$line\`"; }
            seconds=$(sed -n 's/.*"median": *\([0-9.eE+-]*\).*/\1/p' "$WORK/startup.$impl.json" | head -n 1)
            [[ -n $seconds ]] || die "no median in hyperfine's JSON for \`$line\`"
            STARTUP[$impl]=$(awk -v s="$seconds" 'BEGIN { printf "%.1f", s * 1e6 }')
        else
            for ((i = 0; i < STARTUP_WARMUP; i++)); do time_run "${CMD[@]}"; done
            samples=()
            for ((i = 0; i < STARTUP_RUNS; i++)); do
                time_run "${CMD[@]}"
                samples+=("$ELAPSED_US")
            done
            STARTUP[$impl]=$(median "${samples[@]}")
        fi
    done
    if ((HYPERFINE)); then
        STARTUP_METHOD="\`hyperfine -N\` (no shell), $STARTUP_WARMUP warm-up runs then $STARTUP_RUNS runs each"
    else
        STARTUP_METHOD="a loop in bash ($STARTUP_WARMUP warm-up runs then $STARTUP_RUNS runs each; bash's fork and exec are included, equally for all; hyperfine is not installed)"
    fi
fi

# ---------------------------------------------------------------------------------------------
# Compile speed: the same ~200,000-line program as .mova and as .lua.

# Writes the big programs: blocks of 13 lines, each with its own two variables, a loop with a
# compound condition, an if/else and a print; the Lua block mirrors the Mova block line by line.
generate_big() {
    local blocks=$(((COMPILE_LINES + BLOCK_LINES - 1) / BLOCK_LINES))
    awk -v n="$blocks" 'BEGIN {
        for (k = 1; k <= n; k++) {
            a = "a" k; b = "b" k
            print "{"
            print "    var " a " = 1 + 3 * 4;"
            print "    var " b " = " a " * 2 - 1;"
            print "    while " a " < 100 && " b " != 7 {"
            print "        " a " += 5;"
            print "        if " a " % 3 == 0 {"
            print "            " b "++;"
            print "        } else {"
            print "            " b " -= 2;"
            print "        }"
            print "    }"
            print "    print(" a " + " b ");"
            print "}"
        }
    }' >"$WORK/big.mova"
    awk -v n="$blocks" 'BEGIN {
        for (k = 1; k <= n; k++) {
            a = "a" k; b = "b" k
            print "do"
            print "    local " a " = 1 + 3 * 4"
            print "    local " b " = " a " * 2 - 1"
            print "    while " a " < 100 and " b " ~= 7 do"
            print "        " a " = " a " + 5"
            print "        if " a " % 3 == 0 then"
            print "            " b " = " b " + 1"
            print "        else"
            print "            " b " = " b " - 2"
            print "        end"
            print "    end"
            print "    print(" a " + " b ")"
            print "end"
        }
    }' >"$WORK/big.lua"
}

declare -A COMPILE=()
declare -A CMEMORY=()  # tool -> peak resident set size in KiB, or n/a
if selected compile; then
    log "generating the big programs..."
    generate_big
    BIG_LINES=$(wc -l <"$WORK/big.mova" | awk '{ n = $1; s = ""
        while (n >= 1000) { s = sprintf(",%03d", n % 1000) s; n = int(n / 1000) }; print n s }')
    BIG_BYTES_MOVA=$(wc -c <"$WORK/big.mova" | awk '{ printf "%.1f MB", $1 / 1e6 }')
    BIG_BYTES_LUA=$(wc -c <"$WORK/big.lua" | awk '{ printf "%.1f MB", $1 / 1e6 }')
    "$MOVAC" "$WORK/big.mova" -o "$WORK/big.mvb" || die "movac could not compile the big program"
    # The two must be the same program: they must print the same.
    if have lua; then
        "$MOVA" "$WORK/big.mvb" >"$WORK/big.mova.out" || die "the big program failed under mova"
        lua5.4 "$WORK/big.lua" >"$WORK/big.lua.out" || die "the big program failed under lua5.4"
        cmp -s "$WORK/big.mova.out" "$WORK/big.lua.out" ||
            die "the generated big.mova and big.lua print different things"
    fi
    COMPILE[movac]=n/a
    COMPILE[luac]=n/a
    # Peak memory, on one run each of their own.
    CMEMORY[movac]=n/a
    CMEMORY[luac]=n/a
    run_measured /dev/null "$WORK/movac.rss" "$MOVAC" "$WORK/big.mova" -o "$WORK/big.mvb" ||
        die "movac could not compile the big program"
    CMEMORY[movac]=$(tail -n 1 "$WORK/movac.rss")
    if have luac; then
        run_measured /dev/null "$WORK/luac.rss" luac5.4 -p "$WORK/big.lua" ||
            die "luac5.4 -p failed on the big program"
        CMEMORY[luac]=$(tail -n 1 "$WORK/luac.rss")
    fi
    for tool in movac luac; do
        [[ ${CMEMORY[$tool]} =~ ^[0-9]+$ ]] || CMEMORY[$tool]=n/a
    done
    declare -A CSAMPLES=()
    for ((round = 0; round < COMPILE_RUNS; round++)); do
        log "timing compile: round $((round + 1))/$COMPILE_RUNS"
        time_run "$MOVAC" "$WORK/big.mova" -o "$WORK/big.mvb"
        CSAMPLES[movac]+=" $ELAPSED_US"
        if have luac; then
            time_run luac5.4 -p "$WORK/big.lua"
            CSAMPLES[luac]+=" $ELAPSED_US"
        fi
    done
    for tool in movac luac; do
        [[ -n ${CSAMPLES[$tool]:-} ]] || continue
        read -r -a samples <<<"${CSAMPLES[$tool]}"
        COMPILE[$tool]=$(median "${samples[@]}")
    done
fi

# ---------------------------------------------------------------------------------------------
# Report.

# shellcheck disable=SC2016 # backticks in the Markdown
machine() {
    local model
    model=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)
    [[ -n $model ]] || model=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo 2>/dev/null | head -n 1)
    printf '%s, %s CPUs (`nproc`), Linux %s' "${model:-unknown CPU}" "$(nproc)" "$(uname -r)"
}

commit() {
    local rev
    rev=$(git rev-parse --short HEAD 2>/dev/null) || { printf 'unknown (not a git checkout)'; return; }
    [[ -z $(git status --porcelain 2>/dev/null) ]] || rev+=-dirty
    printf '%s' "$rev"
}

versions() {
    local v=() key
    for key in lua luac luajit python hyperfine; do
        [[ -n ${VERSION[$key]:-} ]] && v+=("${VERSION[$key]}")
    done
    local IFS=';'
    printf '%s' "${v[*]}" | sed 's/;/, /g'
}

# shellcheck disable=SC2016 # backticks in the Markdown
report() {
    local prog impl row
    printf 'Measured on %s by `%s`.\n\n' "$(date -u '+%Y-%m-%d %H:%M UTC')" "$COMMAND"
    printf -- '- Machine: %s.\n' "$(machine)"
    printf -- '- Mova: commit %s, release build, %s.\n' "$(commit)" "$(rustc --version 2>/dev/null || echo 'rustc unknown')"
    printf -- '- Peers: %s.\n' "$(versions)"
    printf -- '- Load average (1, 5, 15 min; other work on the machine skews the numbers): %s at the start, %s at the end.\n' \
        "$LOAD_START" "$(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null || echo unknown)"
    if ((${#RUNS_OF[@]} > 0)); then
        printf '\n'
        printf 'Median wall-clock seconds of the whole process over %s interleaved round(s), output into a pipe:\n\n' "$runs"
        row='| Benchmark |'
        for impl in "${IMPLS[@]}"; do row+=" ${TITLE[$impl]} |"; done
        printf '%s Mova / Lua 5.4 |\n' "$row"
        printf '|---|---:|---:|---:|---:|---:|---:|\n'
        for prog in "${PROGRAMS[@]}"; do
            selected "$prog" || continue
            row="| \`$prog\` |"
            for impl in "${IMPLS[@]}"; do row+=" $(fmt "${RESULT[$prog,$impl]}") |"; done
            printf '%s %s |\n' "$row" "$(ratio "${RESULT[$prog,mova]}" "${RESULT[$prog,lua]}")"
        done
        printf '\n'
        printf 'Peak memory: the maximum resident set size of the whole process in MB (10^6 bytes), measured on the checking run by %s:\n\n' "$MEMORY_METHOD"
        row='| Benchmark |'
        for impl in "${IMPLS[@]}"; do row+=" ${TITLE[$impl]} |"; done
        printf '%s Mova / Lua 5.4 |\n' "$row"
        printf '|---|---:|---:|---:|---:|---:|---:|\n'
        for prog in "${PROGRAMS[@]}"; do
            selected "$prog" || continue
            row="| \`$prog\` |"
            for impl in "${IMPLS[@]}"; do row+=" $(fmt_kib "${MEMORY[$prog,$impl]}") |"; done
            printf '%s %s |\n' "$row" "$(ratio "${MEMORY[$prog,mova]}" "${MEMORY[$prog,lua]}")"
        done
    fi
    if selected startup; then
        printf "\nStart-up: median wall-clock milliseconds; Mova runs \`print(1);\` from a \`.mvb\`, the others an empty program (\`lua5.4 -e ''\`, \`luajit -e ''\`, \`python3 -c ''\`); %s:\n\n" "$STARTUP_METHOD"
        printf '| Start-up | Mova | Lua 5.4 | LuaJIT | Python 3 | Mova / Lua 5.4 |\n'
        printf '|---|---:|---:|---:|---:|---:|\n'
        printf '| ms | %s | %s | %s | %s | %s |\n' "$(fmt "${STARTUP[mova]}" ms)" \
            "$(fmt "${STARTUP[lua]}" ms)" "$(fmt "${STARTUP[luajit]}" ms)" \
            "$(fmt "${STARTUP[python]}" ms)" "$(ratio "${STARTUP[mova]}" "${STARTUP[lua]}")"
    fi
    if selected compile; then
        printf '\nCompile: median wall-clock seconds of %s runs on a generated program of %s lines (%s of `.mova`, %s of `.lua`, the same structure):\n\n' \
            "$COMPILE_RUNS" "$BIG_LINES" "$BIG_BYTES_MOVA" "$BIG_BYTES_LUA"
        printf '| Compile | `movac big.mova -o big.mvb` | `luac5.4 -p big.lua` | movac / luac5.4 -p | movac peak MB | luac5.4 -p peak MB |\n'
        printf '|---|---:|---:|---:|---:|---:|\n'
        printf '| %s lines | %s | %s | %s | %s | %s |\n' "$BIG_LINES" "$(fmt "${COMPILE[movac]}")" \
            "$(fmt "${COMPILE[luac]}")" "$(ratio "${COMPILE[movac]}" "${COMPILE[luac]}")" \
            "$(fmt_kib "${CMEMORY[movac]}")" "$(fmt_kib "${CMEMORY[luac]}")"
        printf '\n(Peak memory: the maximum resident set size of one more run of each, by %s.)\n' "$MEMORY_METHOD"
    fi
    summary
    if ((${#NOTES[@]} > 0)); then
        printf '\n'
        printf -- '- %s\n' "${NOTES[@]}"
    fi
}

# Whether ratio $1 (a number, or n/a) is at most $2: yes, no, or n/a.
at_most() {
    [[ $1 == n/a ]] && { printf 'n/a'; return; }
    awk -v r="$1" -v limit="$2" 'BEGIN { print (r <= limit) ? "yes" : "no" }'
}

# The verdict on a target from the verdicts of its parts: yes if all are, no if any is not, n/a
# if none was measured (or some were not and the rest are yes).
verdict() {
    local v seen_yes=0 seen_na=0
    for v in "$@"; do
        case $v in no) printf 'no'; return ;; yes) seen_yes=1 ;; *) seen_na=1 ;; esac
    done
    if ((seen_yes && !seen_na)); then printf 'yes'; else printf 'n/a'; fi
}

# shellcheck disable=SC2016 # backticks in the Markdown
summary() {
    local prog parts=() lua_parts=() jit_parts=() lua_ok=() jit_ok=() r line
    for prog in "${PROGRAMS[@]}"; do
        selected "$prog" || continue
        r=$(ratio "${RESULT[$prog,mova]}" "${RESULT[$prog,lua]}")
        lua_parts+=("$prog $r")
        lua_ok+=("$(at_most "$r" 1)")
        r=$(ratio "${RESULT[$prog,mova]}" "${RESULT[$prog,luajit-joff]}")
        jit_parts+=("$prog $r")
        [[ $prog == count || $prog == nested ]] && jit_ok+=("$(at_most "$r" 1)")
    done
    local IFS=,
    ((${#lua_parts[@]} > 0)) && parts+=("Mova / Lua 5.4: ${lua_parts[*]}")
    ((${#jit_parts[@]} > 0)) && parts+=("Mova / LuaJIT -joff: ${jit_parts[*]}")
    unset IFS
    local compile_ratio=n/a compile_mb=n/a startup_ratio=n/a
    if selected compile; then
        compile_ratio=$(ratio "${COMPILE[movac]}" "${COMPILE[luac]}")
        compile_mb=$(fmt_kib "${CMEMORY[movac]}")
        parts+=("movac / luac5.4 -p: $compile_ratio (movac peak $compile_mb MB)")
    fi
    if selected startup; then
        startup_ratio=$(ratio "${STARTUP[mova]}" "${STARTUP[lua]}")
        parts+=("start-up Mova / lua5.4 -e '': $startup_ratio")
    fi
    ((${#parts[@]} > 0)) || return 0
    line=$(printf '%s; ' "${parts[@]}")
    printf '\n**Summary** (ratios of medians; below 1 Mova is faster): %s.\n' "${line%; }" |
        sed 's/,\([^ ]\)/, \1/g'
    local mem_ok=n/a
    [[ $compile_mb != n/a ]] && mem_ok=$(awk -v kib="${CMEMORY[movac]}" 'BEGIN { print (kib * 1024 / 1e6 < 100) ? "yes" : "no" }')
    printf '\n| Target (DESIGN §12) | Met |\n|---|---|\n'
    ((${#lua_ok[@]} > 0)) &&
        printf '| every benchmark ≤ Lua 5.4 | %s |\n' "$(verdict "${lua_ok[@]}")"
    ((${#jit_ok[@]} > 0)) &&
        printf '| ≤ LuaJIT -joff on the loops (count, nested) | %s |\n' "$(verdict "${jit_ok[@]}")"
    selected compile &&
        printf '| compiler ≤ 2× luac5.4 -p and < 100 MB | %s |\n' \
            "$(verdict "$(at_most "$compile_ratio" 2)" "$mem_ok")"
    selected startup &&
        printf "| start-up ≤ 1.1× lua5.4 -e '' | %s |\n" "$(at_most "$startup_ratio" 1.1)"
    return 0
}

report >"$WORK/report.md"
printf '\n'
cat "$WORK/report.md"

# Writes the report into the doc between the markers, creating the doc or the markers if missing.
update_doc() {
    local has_start has_end
    if [[ ! -f $DOC ]]; then
        printf '# Performance\n\n%s\n%s\n' "$START_MARKER" "$END_MARKER" >"$DOC"
    fi
    has_start=$(grep -cxF -- "$START_MARKER" "$DOC" || true)
    has_end=$(grep -cxF -- "$END_MARKER" "$DOC" || true)
    if ((has_start == 0 && has_end == 0)); then
        printf '\n%s\n%s\n' "$START_MARKER" "$END_MARKER" >>"$DOC"
    elif ((has_start != 1 || has_end != 1)); then
        die "$DOC must hold each marker exactly once: \`$START_MARKER\` and \`$END_MARKER\`"
    fi
    awk -v start="$START_MARKER" -v end="$END_MARKER" -v report="$WORK/report.md" '
        $0 == start { print; while ((getline line < report) > 0) print line; skipping = 1; next }
        $0 == end { skipping = 0 }
        !skipping { print }' "$DOC" >"$WORK/doc.md"
    cat "$WORK/doc.md" >"$DOC"
}

if ((partial)); then
    log ""
    log "(--only: $DOC was not updated)"
elif ((write_doc)); then
    update_doc
    log ""
    log "wrote the tables into $DOC"
fi
