#!/usr/bin/env bash
# Runs every libFuzzer harness of the fuzz build (every build-fuzz/test/fuzz/fuzz_*
# executable, so a new harness is picked up without editing this script) for a
# while each, from its seed corpus (test/fuzz/corpus_<name>/, read only) plus the
# corpus grown by earlier runs, and prints the executions per harness.
#
#   bash scripts/fuzz.sh --minutes 10          # the long run: 10 minutes per harness
#   bash scripts/fuzz.sh --seconds 30          # what scripts/test.sh runs
#   bash scripts/fuzz.sh --minutes 1 fuzz_parse   # only the harnesses named
#
# Kept between runs, under the fuzz build directory (default build-fuzz, set up
# here as scripts/test.sh does when missing):
#   <build>/fuzz-corpus/<harness>/   the grown corpus (libFuzzer adds new inputs to it)
#   <build>/fuzz-crashes/<harness>/  crash-*, leak-*, timeout-*, oom-* inputs
#   <build>/fuzz-logs/<harness>.log  the last run's libFuzzer output
# Inputs kept from earlier failures are replayed first: one that still fails
# fails the harness at once (fixed ones are said and left for you to move into
# the seed corpus as regression inputs).
#
# Exit status: 0 when every harness ran clean, 1 when one failed (each failing
# input is named with the command that replays it), 2 on bad usage. The last line
# is "fuzz: N harnesses passed, M failed, E executions".
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

usage() {
  sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

seconds=""
build=build-fuzz
names=()
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) [ $# -ge 2 ] || usage; [[ "$2" =~ ^[0-9]+$ ]] && [ "$2" -gt 0 ] || usage
               seconds=$(( $2 * 60 )); shift 2 ;;
    --seconds) [ $# -ge 2 ] || usage; [[ "$2" =~ ^[0-9]+$ ]] && [ "$2" -gt 0 ] || usage
               seconds=$2; shift 2 ;;
    --build) [ $# -ge 2 ] || usage; build=$2; shift 2 ;;
    -h|--help) usage ;;
    fuzz_*) names+=("$1"); shift ;;
    *) echo "fuzz.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
[ -n "$seconds" ] || usage

if [ ! -f "$build/build.ninja" ]; then
  CC=clang CXX=clang++ meson setup "$build" --buildtype=debug -Doptimization=1 \
    -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
fi
ninja -C "$build" >/dev/null

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/test/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

harnesses=()
if [ ${#names[@]} -gt 0 ]; then
  for n in "${names[@]}"; do
    [ -x "$build/test/fuzz/$n" ] || { echo "fuzz.sh: no harness $build/test/fuzz/$n" >&2; exit 2; }
    harnesses+=("$build/test/fuzz/$n")
  done
else
  for f in "$build"/test/fuzz/fuzz_*; do
    [ -f "$f" ] && [ -x "$f" ] && harnesses+=("$f")  # not the .p object directories
  done
fi
[ ${#harnesses[@]} -gt 0 ] || { echo "fuzz.sh: no fuzz_* harness in $build/test/fuzz" >&2; exit 2; }

passed=0
failed=0
total_execs=0
for f in "${harnesses[@]}"; do
  name=$(basename "$f")
  corpus="$build/fuzz-corpus/$name"
  crashes="$build/fuzz-crashes/$name"
  log="$build/fuzz-logs/$name.log"
  seeds="test/fuzz/corpus_${name#fuzz_}"
  mkdir -p "$corpus" "$crashes" "$(dirname "$log")"
  dirs=("$corpus")  # first: libFuzzer writes new inputs there
  [ -d "$seeds" ] && dirs+=("$seeds")

  # Inputs that failed before: still failing?
  still=()
  for c in "$crashes"/*; do
    [ -f "$c" ] || continue
    if "$f" -runs=1 "$c" >"$log.replay" 2>&1; then
      echo "fuzz: $name: kept input $c no longer fails (fixed? move it to $seeds/ as a regression seed)"
    else
      still+=("$c")
    fi
  done
  if [ ${#still[@]} -gt 0 ]; then
    failed=$((failed + 1))
    echo "fuzz: $name FAILED: ${#still[@]} kept input(s) still fail:"
    for c in "${still[@]}"; do echo "  $c    (replay: $f $c)"; done
    tail -n 40 "$log.replay"
    continue
  fi
  rm -f "$log.replay"

  start="$build/fuzz-logs/.$name.start"
  touch "$start"
  echo "fuzz: $name for ${seconds}s (corpus $corpus${seeds:+, seeds $seeds})"
  rc=0
  "$f" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$crashes/" \
    "${dirs[@]}" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
  execs=${execs:-0}
  total_execs=$((total_execs + execs))
  inputs=$(find "$corpus" -type f | wc -l)
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
    echo "fuzz: $name ok: $execs executions in ${seconds}s, corpus $inputs inputs"
  else
    failed=$((failed + 1))
    echo "fuzz: $name FAILED (exit $rc) after $execs executions; log $log"
    tail -n 60 "$log"
    new=$(find "$crashes" -type f -newer "$start" 2>/dev/null || true)
    if [ -n "$new" ]; then
      echo "fuzz: $name: failing input(s), kept:"
      for c in $new; do echo "  $c    (replay: $f $c)"; done
    else
      echo "fuzz: $name: libFuzzer wrote no input (see the log)"
    fi
  fi
done

echo "fuzz: $passed harnesses passed, $failed failed, $total_execs executions"
[ "$failed" -eq 0 ]
