#!/usr/bin/env bash
#
# parallel_restore.t: a parallel restore of a fleet_sites database comes back
# whole with bin/fleet_sites_restore, and plain pg_restore -j never loses data
# silently.
#
# Plain pg_restore -j N starts the COPY of every fleet_sites table at once
# (their only recorded dependency is a table entry that is not in the archive),
# so a rack can be loaded before its site and fail the foreign key that CREATE
# EXTENSION already made. fleet_sites_restore loads them level by level, in
# foreign-key order, and the rest with -j N.
#
# The source database has sites, racks, devices, memberships, slots, activity
# from real moves, and a user table with a foreign key to fleet_device and an
# index (restored in post-data, after fleet_device's rows). For -Fc and -Fd:
#   - fleet_sites_restore -j 4 succeeds and says it verified the restore;
#   - every fleet_sites table and the user table have the same rows;
#   - a racked device has the same membership and slot; no placement violation;
#   - every identity sequence hands out the id the source would hand out next;
#   - fleet_sites_restore --verify passes on it;
#   - a site move and a rack move work and are logged.
# Then plain pg_restore -j 4 into a fresh database: either every row is there,
# or pg_restore exits non-zero (never exit 0 with rows missing), and
# fleet_sites_restore --verify exits 3 exactly when rows are missing.
# And fleet_sites_restore refuses --clean and standard input (exit 2) without
# touching the database.
#
# Run by prove inside pg_virtualenv (PGHOST, PGPORT, PGUSER, PGPASSWORD set).
# Prints TAP; exits non-zero when any test fails. Databases and dumps are
# removed on exit, pass or fail.

set -u

here="$(cd "$(dirname "$0")" && pwd)"
helper="$here/../../bin/fleet_sites_restore"

src="fleet_par_src_$$"
dst="fleet_par_dst_$$"
work="$(mktemp -d "${TMPDIR:-/tmp}/fleet_par.XXXXXX")"
errlog="$work/err"
: >"$errlog"

cleanup() {
    dropdb --if-exists "$src" >/dev/null 2>&1
    dropdb --if-exists "$dst" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

tables="fleet_site fleet_rack fleet_device fleet_rack_membership fleet_rack_slot fleet_activity"
identity_inserts=(
    "fleet_site|INSERT INTO fleet_site (name) VALUES ('par-after-restore') RETURNING id"
    "fleet_rack|INSERT INTO fleet_rack (label) VALUES ('par-after-restore') RETURNING id"
    "fleet_device|INSERT INTO fleet_device (identifier) VALUES ('par-after-restore') RETURNING id"
    "fleet_activity|INSERT INTO fleet_activity (occurred_at, actor, event_type, description, metadata) VALUES (now(), 'parallel_restore.t', 'test.probe', 'probe', '{}') RETURNING id"
)

# setup 4; per format (2): 1 helper + 7 tables + 2 placement + 4 identity
# + 1 moves + 1 verify = 16; plain -j: 2; refusals: 2.
planned=40
echo "1..$planned"

n=0
failures=0
pass() { n=$((n + 1)); echo "ok $n - $1"; }
fail() {
    n=$((n + 1)); failures=$((failures + 1))
    echo "not ok $n - $1"
    shift
    local line
    for line in "$@"; do echo "#   $line"; done
    if [ -s "$errlog" ]; then sed 's/^/#   stderr: /' "$errlog" | head -40; fi
}
run_test() {
    local desc=$1; shift
    if "$@" >/dev/null 2>"$errlog"; then pass "$desc"; else fail "$desc" "command: $*"; fi
    : >"$errlog"
}
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$1" -c "$2" 2>>"$errlog"; }
is() {
    local got=$1 expected=$2 desc=$3
    if [ -n "$got" ] && [ "$got" = "$expected" ]; then pass "$desc"
    else fail "$desc" "got:      '$got'" "expected: '$expected'"; fi
    : >"$errlog"
}

digest() {
    q "$1" "SELECT count(*) || ' rows, ' || md5(coalesce(string_agg(t::text, E'\n' ORDER BY t::text), ''))
              FROM $2 AS t"
}
counts_sql="SELECT string_agg(t || '=' || n, ' ' ORDER BY t) FROM (
    SELECT 'fleet_site' t, count(*) n FROM fleet_site UNION ALL
    SELECT 'fleet_rack', count(*) FROM fleet_rack UNION ALL
    SELECT 'fleet_device', count(*) FROM fleet_device UNION ALL
    SELECT 'fleet_rack_membership', count(*) FROM fleet_rack_membership UNION ALL
    SELECT 'fleet_rack_slot', count(*) FROM fleet_rack_slot UNION ALL
    SELECT 'fleet_activity', count(*) FROM fleet_activity) c"

# --- the source database ------------------------------------------------------

run_test "createdb $src" createdb "$src"

# 12 sites, 60 racks (5 per site, 4x6 slots), 3,000 devices over the sites,
# 20 of them per rack with a slot each; a few devices at no site.
seed_sql="
CREATE EXTENSION fleet_sites;
INSERT INTO fleet_site (name) SELECT 'par-site-' || i FROM generate_series(1, 12) AS i;
INSERT INTO fleet_rack (label, site_id, row_count, column_count)
    SELECT 'par-rack-' || i, 1 + (i - 1) / 5, 4, 6 FROM generate_series(1, 60) AS i;
INSERT INTO fleet_device (identifier, site_id)
    SELECT 'par-dev-' || lpad(i::text, 4, '0'), CASE WHEN i % 100 = 0 THEN NULL ELSE 1 + i % 12 END
      FROM generate_series(1, 3000) AS i;
INSERT INTO fleet_rack_membership (rack_id, device_id)
    SELECT r.id, d.id
      FROM (SELECT id, site_id, row_number() OVER (PARTITION BY site_id ORDER BY id) AS k
              FROM fleet_device WHERE site_id IS NOT NULL) d
      JOIN (SELECT id, site_id, row_number() OVER (PARTITION BY site_id ORDER BY id) AS k
              FROM fleet_rack) r
        ON r.site_id = d.site_id AND r.k = 1 + (d.k - 1) / 20
     WHERE d.k <= 100;
INSERT INTO fleet_rack_slot (rack_id, device_id, row_index, column_index)
    SELECT rack_id, device_id, (k - 1) / 6, (k - 1) % 6
      FROM (SELECT m.*, row_number() OVER (PARTITION BY rack_id ORDER BY device_id) AS k
              FROM fleet_rack_membership m) s;
CREATE SCHEMA par_app;
CREATE TABLE par_app.device_note (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id bigint NOT NULL REFERENCES fleet_device (id),
    note      text NOT NULL);
CREATE INDEX device_note_device_idx ON par_app.device_note (device_id);
INSERT INTO par_app.device_note (device_id, note)
    SELECT id, 'note for ' || identifier FROM fleet_device WHERE id % 3 = 0;
"
run_test "seed the source: 12 sites, 60 racks, 3,000 devices, memberships, slots, a user table" \
    psql -X -q -v ON_ERROR_STOP=1 -d "$src" -c "$seed_sql"

conflicts="$(q "$src" "
SELECT (SELECT count(*) FROM fleet_assign_devices_to_site(ARRAY['par-dev-0001', 'par-dev-0013'], 5, true))
     + (SELECT count(*) FROM fleet_assign_devices_to_site(ARRAY['par-dev-0002'], NULL, true))
     + (SELECT count(*) FROM fleet_assign_devices_to_rack(ARRAY['par-dev-2999'],
            (SELECT id FROM fleet_rack WHERE label = 'par-rack-60'), true))")"
logged="$(q "$src" "SELECT count(*) FROM fleet_activity")"
is "$conflicts conflicts, $logged activity rows" "0 conflicts, 3 activity rows" \
    "three real moves in the source (activity rows written)"

run_test "pg_dump -Fc and -Fd of $src" \
    bash -c "pg_dump -Fc -f '$work/src.dump' '$src' && pg_dump -Fd -f '$work/src.dir' '$src'"

# What the restored databases must match.
declare -A want
for t in $tables par_app.device_note; do want[$t]="$(digest "$src" "$t")"; done
placement="SELECT d.site_id || '/' || coalesce(r.label, 'no rack') || '/'
                  || coalesce(sl.row_index || ',' || sl.column_index, 'no slot')
             FROM fleet_device d
             LEFT JOIN fleet_rack_membership m ON m.device_id = d.id
             LEFT JOIN fleet_rack r ON r.id = m.rack_id
             LEFT JOIN fleet_rack_slot sl ON sl.rack_id = m.rack_id AND sl.device_id = d.id
            WHERE d.identifier = 'par-dev-0024'"
want_placement="$(q "$src" "$placement")"
src_counts="$(q "$src" "$counts_sql")"

# --- fleet_sites_restore -j 4, both formats -----------------------------------

for fmt in Fc Fd; do
    archive="$work/src.dump"
    [ "$fmt" = Fd ] && archive="$work/src.dir"
    dropdb --if-exists "$dst" >/dev/null 2>&1
    if createdb "$dst" 2>"$errlog" && "$helper" -j 4 -d "$dst" "$archive" >"$work/helper.out" 2>&1 \
        && grep -q "restore complete and verified" "$work/helper.out"; then
        pass "-$fmt: fleet_sites_restore -j 4 succeeds and verifies"
    else
        fail "-$fmt: fleet_sites_restore -j 4 succeeds and verifies" "$(tail -20 "$work/helper.out")"
    fi
    : >"$errlog"

    if "$helper" --verify -d "$dst" "$archive" >"$work/verify.out" 2>&1 \
        && grep -q "verified: the database holds the archive's fleet_sites data" "$work/verify.out"; then
        pass "-$fmt: fleet_sites_restore --verify passes on the restored database"
    else
        fail "-$fmt: fleet_sites_restore --verify passes on the restored database" "$(cat "$work/verify.out")"
    fi

    for t in $tables par_app.device_note; do
        is "$(digest "$dst" "$t")" "${want[$t]}" "-$fmt: $t has the source's rows (${want[$t]%%,*})"
    done

    if [ "${want_placement#*/}" = "par-rack-1/0,1" ]; then
        is "$(q "$dst" "$placement")" "$want_placement" "-$fmt: a racked device keeps its membership and slot ($want_placement)"
    else
        fail "-$fmt: a racked device keeps its membership and slot" "in the source it is '$want_placement'"
    fi
    is "$(q "$dst" "SELECT count(*) FROM fleet_placement_violation") violations" "0 violations" \
        "-$fmt: fleet_placement_violation is empty"

    for entry in "${identity_inserts[@]}"; do
        t="${entry%%|*}"
        insert="${entry#*|}"
        # The source's next id, read without using it up.
        new_src="$(q "$src" "SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END
                               FROM ${t}_id_seq")"
        new_dst="$(q "$dst" "$insert")"
        max_dst="$(q "$dst" "SELECT max(id) FROM $t WHERE id <> coalesce(${new_dst:-0}, 0)")"
        if [ -n "$new_dst" ] && [ "$new_dst" = "$new_src" ] && [ "$new_dst" -gt "${max_dst:-0}" ]; then
            pass "-$fmt: $t: next id $new_dst, as in the source, above the restored max $max_dst"
        else
            fail "-$fmt: $t: next id as in the source" "restored: '$new_dst' (max '$max_dst')" "source: '$new_src'"
        fi
        : >"$errlog"
    done

    # Real moves in the restored database: a site move clearing a membership,
    # and a rack move; both logged with ids after the restored ones.
    conflicts="$(q "$dst" "
        SELECT (SELECT count(*) FROM fleet_assign_devices_to_site(ARRAY['par-dev-0025', 'par-dev-0037'], 7, true))
             + (SELECT count(*) FROM fleet_assign_devices_to_rack(ARRAY['par-dev-0050'],
                    (SELECT id FROM fleet_rack WHERE label = 'par-rack-30'), true))")"
    got="$conflicts conflicts, $(q "$dst" "
        SELECT (SELECT count(*) FROM fleet_activity WHERE id > 4 AND event_type <> 'test.probe') || ' new activity rows, '
             || (SELECT count(*) FROM fleet_placement_violation) || ' violations, '
             || (SELECT count(*) FROM fleet_rack_membership m JOIN fleet_device d ON d.id = m.device_id
                  WHERE d.identifier IN ('par-dev-0025', 'par-dev-0037')) || ' memberships left, '
             || (SELECT r.label FROM fleet_rack_membership m JOIN fleet_device d ON d.id = m.device_id
                   JOIN fleet_rack r ON r.id = m.rack_id WHERE d.identifier = 'par-dev-0050')")"
    is "$got" "0 conflicts, 2 new activity rows, 0 violations, 0 memberships left, par-rack-30" \
        "-$fmt: site and rack moves work after the restore and are logged"

done

# --- plain pg_restore -j 4 ------------------------------------------------------

dropdb --if-exists "$dst" >/dev/null 2>&1
createdb "$dst"
pg_restore -j 4 -d "$dst" "$work/src.dump" >"$work/plain.out" 2>&1
plain_rc=$?
dst_counts="$(q "$dst" "$counts_sql")"
echo "# plain pg_restore -j 4 exited $plain_rc; source: $src_counts"
echo "#                                 restored: $dst_counts"
grep -o 'COPY failed for table "[a-z_]*"' "$work/plain.out" | sed 's/^/#   /'
if [ "$dst_counts" = "$src_counts" ] || [ "$plain_rc" -ne 0 ]; then
    pass "plain pg_restore -j 4 never exits 0 with rows missing (exit $plain_rc)"
else
    fail "plain pg_restore -j 4 never exits 0 with rows missing" "it exited 0 with $dst_counts, source $src_counts"
fi
"$helper" --verify -d "$dst" "$work/src.dump" >"$work/verify.out" 2>&1
verify_rc=$?
if { [ "$dst_counts" != "$src_counts" ] && [ "$verify_rc" -eq 3 ] && grep -q "DATA LOST" "$work/verify.out"; } \
    || { [ "$dst_counts" = "$src_counts" ] && [ "$verify_rc" -eq 0 ]; }; then
    pass "fleet_sites_restore --verify exits 3 exactly when rows are missing (exit $verify_rc)"
else
    fail "fleet_sites_restore --verify exits 3 exactly when rows are missing" \
        "exit $verify_rc; restored $dst_counts, source $src_counts" "$(cat "$work/verify.out")"
fi

# --- refusals --------------------------------------------------------------------

dropdb --if-exists "$dst" >/dev/null 2>&1
createdb "$dst"
"$helper" -j 4 --clean -d "$dst" "$work/src.dump" >"$work/refuse.out" 2>&1
rc=$?
objects="$(q "$dst" "SELECT count(*) FROM pg_extension WHERE extname = 'fleet_sites'")"
if [ "$rc" -eq 2 ] && [ "$objects" = "0" ] && grep -q -- "--clean" "$work/refuse.out"; then
    pass "fleet_sites_restore refuses --clean (exit 2) and restores nothing"
else
    fail "fleet_sites_restore refuses --clean (exit 2) and restores nothing" \
        "exit $rc, fleet_sites installed: $objects" "$(cat "$work/refuse.out")"
fi
"$helper" -j 4 -d "$dst" <"$work/src.dump" >"$work/refuse.out" 2>&1
rc=$?
objects="$(q "$dst" "SELECT count(*) FROM pg_extension WHERE extname = 'fleet_sites'")"
if [ "$rc" -eq 2 ] && [ "$objects" = "0" ]; then
    pass "fleet_sites_restore refuses an archive on standard input (exit 2)"
else
    fail "fleet_sites_restore refuses an archive on standard input (exit 2)" \
        "exit $rc, fleet_sites installed: $objects" "$(cat "$work/refuse.out")"
fi

if [ "$n" -ne "$planned" ]; then
    echo "# planned $planned tests, ran $n"
    exit 1
fi
[ "$failures" -eq 0 ]
