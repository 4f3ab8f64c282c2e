#!/usr/bin/env bash
# Runs every rxinto test: the release build's suites, the same suites built
# with AddressSanitizer + UndefinedBehaviorSanitizer, and a short libFuzzer run
# of every fuzz harness (clang, through scripts/fuzz.sh: corpus and failing inputs
# kept under build-fuzz/). Expects scripts/setup.sh to have run.
# Environment: RXINTO_FUZZ_SECONDS (default 30 per harness).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

[ -f build/build.ninja ] || meson setup build --buildtype=release -Doptimization=3
if [ ! -f build-san/build.ninja ]; then
  meson setup build-san --buildtype=debug -Doptimization=1 \
    -Db_sanitize=address,undefined -Db_lundef=false
fi
if [ ! -f build-fuzz/build.ninja ]; then
  CC=clang CXX=clang++ meson setup build-fuzz --buildtype=debug -Doptimization=1 \
    -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
fi
ninja -C build
ninja -C build-san
ninja -C build-fuzz

export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1
export LSAN_OPTIONS=suppressions=$root/test/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

status=0
meson test -C build --print-errorlogs --num-processes 2 || status=1
meson test -C build-san --print-errorlogs --num-processes 2 || status=1

# Fuzz: every harness for a short while (scripts/fuzz.sh: seed corpus plus the
# corpus grown by earlier runs, kept in build-fuzz/fuzz-corpus/; failing inputs kept
# in build-fuzz/fuzz-crashes/ and named in the output; executions printed).
secs=${RXINTO_FUZZ_SECONDS:-30}
fuzz_log=build-fuzz/fuzz-logs/test-sh.log
mkdir -p "$(dirname "$fuzz_log")"
bash scripts/fuzz.sh --seconds "$secs" 2>&1 | tee "$fuzz_log" || status=1
fuzz_pass=$(sed -n 's/^fuzz: \([0-9]*\) harnesses passed, \([0-9]*\) failed.*/\1/p' "$fuzz_log" | tail -n 1)
fuzz_fail=$(sed -n 's/^fuzz: \([0-9]*\) harnesses passed, \([0-9]*\) failed.*/\2/p' "$fuzz_log" | tail -n 1)
if [ -z "$fuzz_pass" ]; then  # fuzz.sh did not get to its last line: count it as one failure
  fuzz_pass=0
  fuzz_fail=1
  status=1
fi

# One closing line over everything: meson's own counts plus the fuzz runs.
python3 - "$fuzz_pass" "$fuzz_fail" <<'PY'
import json, sys
passed = int(sys.argv[1]); failed = int(sys.argv[2]); skipped = 0
for d in ("build", "build-san"):
    with open(f"{d}/meson-logs/testlog.json") as f:
        for line in f:
            r = json.loads(line)["result"]
            if r in ("OK", "EXPECTEDFAIL"): passed += 1
            elif r == "SKIP": skipped += 1
            else: failed += 1
print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
PY
exit $status
