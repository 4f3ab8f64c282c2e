#!/usr/bin/env bash
# Runs every rxinto test: the release build's suites, the same suites built
# with AddressSanitizer + UndefinedBehaviorSanitizer, and a short libFuzzer run
# of every fuzz harness (clang). Expects scripts/setup.sh to have run.
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

# Fuzz: every harness for a short while, from its seed corpus (copied: libFuzzer
# writes new inputs into the first corpus directory).
secs=${RXINTO_FUZZ_SECONDS:-30}
fuzz_pass=0
fuzz_fail=0
for f in build-fuzz/test/fuzz/fuzz_*; do
  [ -f "$f" ] && [ -x "$f" ] || continue  # not the .p object directories
  name=$(basename "$f")
  work=$(mktemp -d)
  [ -d "test/fuzz/corpus_${name#fuzz_}" ] && cp -r "test/fuzz/corpus_${name#fuzz_}/." "$work/"
  echo "fuzz: $name for ${secs}s"
  if "$f" -max_total_time="$secs" -print_final_stats=0 -artifact_prefix="$work/" "$work" \
       > "$work.log" 2>&1; then
    fuzz_pass=$((fuzz_pass + 1))
    echo "fuzz: $name ok ($(grep -c . "$work.log" || true) log lines)"
  else
    fuzz_fail=$((fuzz_fail + 1))
    status=1
    echo "fuzz: $name FAILED"; tail -n 60 "$work.log"
    ls -l "$work"/crash-* "$work"/leak-* "$work"/timeout-* 2>/dev/null || true
  fi
  rm -rf "$work" "$work.log"
done

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
