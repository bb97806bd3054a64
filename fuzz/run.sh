#!/usr/bin/env bash
# Runs Mova's fuzz targets (cargo-fuzz, libFuzzer) one after the other, each for SECONDS (default
# 20), from a seed corpus made of the examples and the format fixtures (`examples/seeds.rs`).
#
#   fuzz/run.sh [SECONDS [TARGET...]]      e.g. fuzz/run.sh 600 deep
#
# Needs a nightly toolchain with cargo-fuzz (`cargo +nightly install cargo-fuzz`); without one it
# says so and exits 0, so CI skips the step rather than install a toolchain. A target that finds a
# crash, a timeout or a memory blow-up leaves the input in fuzz/artifacts/TARGET/ and makes the
# script exit 1 once every target has run. The corpora grow in fuzz/corpus/ (not committed).
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-20}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  targets=(mvb_load mvs_decode_check frame compile assemble deep)
fi

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz: skipped: no nightly toolchain (rustup toolchain install nightly)"
  exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz: skipped: cargo-fuzz is not installed (cargo +nightly install cargo-fuzz)"
  exit 0
fi

# FUZZ_KEEP_GOING=1 (for long runs) goes on after a finding, in libFuzzer's fork mode, so that
# one known bug does not hide the others; each finding is still saved and still fails the run.
keep_going=()
if [ "${FUZZ_KEEP_GOING:-0}" = 1 ]; then
  keep_going=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
fi

# Without a sanitizer: the workspace denies unsafe code, so AddressSanitizer would mostly slow the
# search; set FUZZ_SANITIZER=address to check the dependencies' unsafe code as well.
sanitizer="${FUZZ_SANITIZER:-none}"

# The fuzz crate has its own lock file; starting it from the workspace's builds the targets with
# the versions the tests ran with.
[ -f Cargo.lock ] || cp ../Cargo.lock Cargo.lock
# The seeds are written by a plain program on the default toolchain, in the workspace's target
# directory, so that it reuses what `cargo test` already built.
CARGO_TARGET_DIR=../target cargo run --quiet --example seeds -- corpus
cargo +nightly fuzz build --sanitizer "$sanitizer"

failed=()
for target in "${targets[@]}"; do
  # The largest input each target's mutations may make. `deep` builds its inputs from a few
  # bytes (a shape, a count, the text at the innermost point); the others read what they get.
  case "$target" in
    deep) max_len=64 ;;
    frame) max_len=8192 ;;
    *) max_len=65536 ;;
  esac
  # `deep` builds sources of up to 131,072 repetitions (megabytes): linear work on them takes
  # seconds in an instrumented build (a 2.3 MB program with 67,904 misspelt names: 1 s in a
  # release movac, about 30 s here), while a quadratic path takes hours. Its limit is 120 s.
  case "$target" in
    deep) timeout=120 ;;
    *) timeout=10 ;;
  esac
  echo "fuzz: $target for ${seconds}s"
  mkdir -p "artifacts/$target"
  found_before=$(find "artifacts/$target" -type f | wc -l)
  # -timeout: an input that takes longer than that is a finding (a quadratic path, a hang), and
  # only then (-report_slow_units: a slower input below it is not written as a finding);
  # -rss_limit_mb: so is one that makes the process use more than 2 GiB.
  if ! cargo +nightly fuzz run --sanitizer "$sanitizer" "$target" "corpus/$target" -- \
      -max_total_time="$seconds" -timeout="$timeout" -report_slow_units="$timeout" \
      -rss_limit_mb=2048 -max_len="$max_len" \
      -print_final_stats=1 "${keep_going[@]}"; then
    failed+=("$target")
  elif [ "$(find "artifacts/$target" -type f | wc -l)" -gt "$found_before" ]; then
    # In fork mode libFuzzer exits 0 after ignored findings: the inputs it saved tell.
    failed+=("$target")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: findings in: ${failed[*]} (inputs in fuzz/artifacts/)"
  exit 1
fi
echo "fuzz: ${#targets[@]} targets ran ${seconds}s each without a finding"
