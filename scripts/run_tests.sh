#!/usr/bin/env bash
# Run the whole test suite (system tests + every package's tests) in the sourced environment.
# pytest exits 5 when it collected no tests; for us that means a broken test layout, not a pass.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
    echo "run_tests: pytest collected no tests — treating that as a failure" >&2
    exit 1
fi
exit "$rc"
