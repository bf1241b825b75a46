# Runs inside pg_virtualenv (PGHOST, PGPORT, PGUSER, PGPASSWORD set). Every
# suite runs even if an earlier one failed; each prints its runner's own
# summary, and the exit status says whether all passed.
set -uo pipefail
failed=""
passed_count=0
failed_count=0

# The suites assume a UTF-8 cluster (ICU collations, non-ASCII identifiers);
# test/run creates one with the C.UTF-8 locale. Say which cluster this is.
cluster=$(psql -X -A -t -c "SELECT format('PostgreSQL %s, encoding %s, locale %s, port %s',
    current_setting('server_version'), current_setting('server_encoding'),
    current_setting('lc_collate'), current_setting('port'))") || {
    echo "run-suites.sh: cannot connect to the cluster" >&2; exit 1; }
echo "=== cluster: $cluster"
case $cluster in
    *"encoding UTF8,"*) ;;
    *) echo "run-suites.sh: the suites need a UTF8 cluster (test/run creates one)" >&2; exit 1 ;;
esac

run_suite() {
    local name=$1; shift
    echo
    echo "=== $name"
    rm -f regression.diffs output_iso/regression.diffs
    if "$@"; then
        echo "=== $name: passed"
        passed_count=$((passed_count + 1))
    else
        echo "=== $name: FAILED"
        failed="$failed [$name]"
        failed_count=$((failed_count + 1))
        for f in regression.diffs output_iso/regression.diffs; do
            # only this suite's diffs: older ones were removed before it ran
            [ -s "$f" ] && { echo "--- $f"; cat "$f"; }
        done
    fi
}

# make installcheck runs pg_regress, then the isolation specs; split so that a
# regression failure does not keep the isolation specs from running.
run_suite "pg_regress (make installcheck)" make -s installcheck ISOLATION=
run_suite "isolation (make installcheck)" make -s installcheck REGRESS=
if ls test/pgtap/*.sql >/dev/null 2>&1; then
    run_suite "pgTAP (pg_prove)" pg_prove --failures test/pgtap/*.sql
fi
if ls test/tap/*.t >/dev/null 2>&1; then
    run_suite "TAP scripts (prove)" prove --failures test/tap/
fi

echo
[ -n "$failed" ] && echo "FAILED suites:$failed"
echo "suites: $passed_count passed, $failed_count failed"
[ "$failed_count" -eq 0 ]
