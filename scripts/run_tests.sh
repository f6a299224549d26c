#!/usr/bin/env bash
# Runs the whole suite: the C unit tests (build/bb_tests), then every script in
# tests/sh/ (each one a test: exit 0 passes; 77 is a skip, reported loudly)
# except the helpers the tests source (lib.sh, lib_*.sh), which are not tests.
# Ends with "N passed, N failed[, N SKIPPED]" and exits non-zero if anything
# failed. BB_BUILD picks the build folder.
set -u
cd "$(dirname "$0")/.."
build=${BB_BUILD:-build}
export BB_BUILD=$build
passed=0 failed=0 skipped=
log=$(mktemp)
"$build/bb_tests" ${BB_TEST_FILTER:-} | tee "$log"
rc=${PIPESTATUS[0]}
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
if [ -n "$line" ]; then
    passed=$((passed + ${line%% passed*}))
    f=${line#*, }; failed=$((failed + ${f%% failed*}))
    # a sanitizer's report at exit (leaks) changes only the exit status
    if [ "$rc" -ne 0 ] && [ "${f%% failed*}" -eq 0 ]; then
        echo "FAIL bb_tests (exit status $rc after every test passed: a sanitizer report at exit?)"; failed=$((failed + 1))
    fi
else
    echo "FAIL bb_tests (no summary line: crashed?)"; failed=$((failed + 1))
fi
rm -f "$log"
for t in tests/sh/*.sh; do
    [ -e "$t" ] || continue
    name=$(basename "$t" .sh)
    case $name in lib | lib_*) continue ;; esac
    if [ -n "${BB_TEST_FILTER:-}" ] && [[ "$name" != *"$BB_TEST_FILTER"* ]]; then continue; fi
    start=$(date +%s.%N)
    rc=0; out=$(bash "$t" 2>&1) || rc=$?
    if [ $rc -eq 0 ]; then
        passed=$((passed + 1)); printf 'ok   %s (%.1fs)\n' "$name" "$(echo "$(date +%s.%N) - $start" | bc)"
    elif [ $rc -eq 77 ]; then   # skipped: say so loudly, with the test's reason
        skipped=$((skipped + 1)); printf 'SKIP %s\n%s\n' "$name" "$(echo "$out" | grep -i -A3 skip | sed 's/^/  /')"
    else
        failed=$((failed + 1)); printf 'FAIL %s\n%s\n' "$name" "$(echo "$out" | tail -30 | sed 's/^/  /')"
    fi
done
echo "$passed passed, $failed failed${skipped:+, $skipped SKIPPED}"
[ "$failed" -eq 0 ]
