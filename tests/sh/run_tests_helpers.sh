# scripts/run_tests.sh counts tests only: tests/sh/lib.sh, the helpers every
# shell test sources, is not run and counted as a passing test. The filter
# "lib" selects it (and one C test); "cli_schedule" shows that a shell test the
# filter selects does run, so the first check cannot pass by running nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
fail() { echo "FAIL: $*" >&2; exit 1; }
out=$(BB_TEST_FILTER=lib scripts/run_tests.sh 2>&1) || fail "the runner failed: $out"
summary=$(echo "$out" | tail -1)
echo "$summary" | grep -qE '^[0-9]+ passed, 0 failed' || fail "no summary line: $out"
! echo "$out" | grep -qE '^(ok|FAIL|SKIP) +lib( |$)' || fail "the helper lib.sh was run as a test: $out"
# the count is the C tests' alone
c=$("${BB_BUILD:-build}/bb_tests" lib | tail -1)
[ "${summary%% passed*}" = "${c%% passed*}" ] || fail "counted '$summary', the C tests alone are '$c'"
out=$(BB_TEST_FILTER=cli_schedule scripts/run_tests.sh 2>&1) || fail "the runner failed: $out"
echo "$out" | grep -qE '^ok +cli_schedule ' || fail "the shell test cli_schedule did not run: $out"
echo "counted: $summary (lib.sh not among them)"
