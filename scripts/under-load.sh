#!/usr/bin/env bash
# Runs a test binary N times while two busy loops keep both cores of a 2-core machine
# busy (what `stress --cpu 2` does), and reports how many runs failed.
#
#   cargo test -p sched-scenarios --test scenarios --no-run   # prints the binary
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
#     scripts/under-load.sh 20 target/debug/deps/scenarios-<hash> postgres_nodes::
#
# The logs of failed runs are kept in $TMPDIR/under-load-<n>.log.
set -u
runs=${1:?how many runs}
binary=${2:?the test binary}
shift 2
export SCHED_REQUIRE_POSTGRES=${SCHED_REQUIRE_POSTGRES:-1}
busy() { while :; do :; done; }
busy & first=$!
busy & second=$!
trap 'kill $first $second 2>/dev/null' EXIT
failed=0
for run in $(seq 1 "$runs"); do
    log="${TMPDIR:-/tmp}/under-load-$run.log"
    if "$binary" "$@" >"$log" 2>&1; then
        rm -f "$log"
    else
        failed=$((failed + 1))
        echo "run $run failed (log: $log):"
        grep -E "panicked|FAILED|timed out" "$log" | head -5
    fi
done
echo "$((runs - failed)) of $runs runs passed"
[ "$failed" -eq 0 ]
