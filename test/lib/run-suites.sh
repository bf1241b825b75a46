# Runs inside pg_virtualenv (PGHOST, PGPORT, PGUSER, PGPASSWORD set). Every
# suite runs even if an earlier one failed; each prints its runner's own
# summary, and the exit status says whether all passed.
set -uo pipefail
failed=""

run_suite() {
    local name=$1; shift
    echo
    echo "=== $name"
    if "$@"; then
        echo "=== $name: passed"
    else
        echo "=== $name: FAILED"
        failed="$failed $name"
        for f in regression.diffs output_iso/regression.diffs; do
            [ -s "$f" ] && { echo "--- $f"; cat "$f"; }
        done
    fi
}

run_suite "pg_regress and isolation (make installcheck)" make -s installcheck
if ls test/pgtap/*.sql >/dev/null 2>&1; then
    run_suite "pgTAP (pg_prove)" pg_prove --failures test/pgtap/*.sql
fi
if ls test/tap/*.t >/dev/null 2>&1; then
    run_suite "TAP scripts (prove)" prove --failures test/tap/
fi

echo
if [ -n "$failed" ]; then
    echo "FAILED suites:$failed"
    exit 1
fi
echo "all suites passed"
