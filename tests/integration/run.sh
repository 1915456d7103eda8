#!/bin/sh
# run.sh - runs every tests/integration/test_*.sh (or those named in
# $TESTS, e.g. TESTS="basic rsync"), each in its own process, and prints a
# total. A test exits 0 (passed), 77 (skipped, with a reason) or anything
# else (failed). Needs root and /dev/fuse for the mount tests; a test that
# cannot run says so and counts as skipped, never as passed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
: "${TROVEFS_BUILD:=$(cd "$here/../.." && pwd)/build}"
export TROVEFS_BUILD

passed=0
failed=0
skipped=0
failed_names=""

if [ -n "${TESTS:-}" ]; then
	list=""
	for n in $TESTS; do
		list="$list $here/test_$n.sh"
	done
else
	list=$(ls "$here"/test_*.sh)
fi

for t in $list; do
	name=$(basename "$t" .sh)
	echo "=== $name"
	bash "$t"
	rc=$?
	case $rc in
	0) passed=$((passed + 1)) ;;
	77) skipped=$((skipped + 1)) ;;
	*)
		failed=$((failed + 1))
		failed_names="$failed_names $name"
		;;
	esac
done

echo "=== integration test files: $passed passed, $failed failed, $skipped skipped"
[ -n "$failed_names" ] && echo "failed:$failed_names"
echo "integration: $passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
