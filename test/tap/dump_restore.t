#!/usr/bin/env bash
#
# dump_restore.t: fleet_sites data survives pg_dump -Fc / pg_restore.
#
# Every extension table and identity sequence is registered with
# pg_extension_config_dump; without that a restore brings the tables back
# empty, or brings the rows back with sequences that hand out ids already in
# use. This script fills a source database (sites, racks, devices,
# memberships, slots, and activity written by real moves), dumps it, restores
# it into a fresh database, and checks:
#   - the restore succeeds and fleet_sites is still an extension owning the
#     same objects;
#   - each of the six tables has the same rows (count and content);
#   - a moved device's site and a racked device's membership and slot match;
#   - every identity sequence restored its position: an INSERT without an id
#     succeeds, gets an id above the largest restored id, and the same id as
#     the same INSERT in the source database;
#   - the site move works in the restored database and appends to its log.
#
# Run by prove inside pg_virtualenv (PGHOST, PGPORT, PGUSER, PGPASSWORD set).
# Prints TAP; exits non-zero when any test fails. Both databases and the dump
# file are removed on exit, pass or fail.

set -u

src="fleet_dump_src_$$"
dst="fleet_dump_dst_$$"
dump="$(mktemp "${TMPDIR:-/tmp}/fleet_dump.XXXXXX")"
errlog="$(mktemp "${TMPDIR:-/tmp}/fleet_dump_err.XXXXXX")"

cleanup() {
    dropdb --if-exists "$src" >/dev/null 2>&1
    dropdb --if-exists "$dst" >/dev/null 2>&1
    rm -f "$dump" "$errlog"
}
trap cleanup EXIT

tables="fleet_site fleet_rack fleet_device fleet_rack_membership fleet_rack_slot fleet_activity"
identity_inserts=(
    "fleet_site|INSERT INTO fleet_site (name) VALUES ('dr-after-restore') RETURNING id"
    "fleet_rack|INSERT INTO fleet_rack (label) VALUES ('dr-after-restore') RETURNING id"
    "fleet_device|INSERT INTO fleet_device (identifier) VALUES ('dr-after-restore') RETURNING id"
    "fleet_activity|INSERT INTO fleet_activity (occurred_at, actor, event_type, description, metadata) VALUES (now(), 'dump_restore.t', 'test.probe', 'probe', '{}') RETURNING id"
)

# 5 setup steps + 1 extension membership + 6 tables + 2 devices
# + 4 identity tables + 1 move after restore.
echo "1..19"

n=0
failures=0

pass() { n=$((n + 1)); echo "ok $n - $1"; }
fail() {
    n=$((n + 1)); failures=$((failures + 1))
    echo "not ok $n - $1"
    shift
    local line
    for line in "$@"; do echo "#   $line"; done
    if [ -s "$errlog" ]; then sed 's/^/#   stderr: /' "$errlog"; fi
}

# Run a command quietly; ok/not ok by its exit status.
run_test() {
    local desc=$1; shift
    if "$@" >/dev/null 2>"$errlog"; then pass "$desc"; else fail "$desc" "command: $*"; fi
    : >"$errlog"
}

# One value from one query in database $1 (errors go to $errlog).
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$1" -c "$2" 2>>"$errlog"; }

# Compare two values.
is() {
    local got=$1 expected=$2 desc=$3
    if [ -n "$got" ] && [ "$got" = "$expected" ]; then
        pass "$desc"
    else
        fail "$desc" "got:      '$got'" "expected: '$expected'"
    fi
    : >"$errlog"
}

# --- the source database ------------------------------------------------------

run_test "createdb $src" createdb "$src"

seed_sql="
CREATE EXTENSION fleet_sites;
INSERT INTO fleet_site (name) VALUES ('dr-north'), ('dr-south'), ('dr-east');
INSERT INTO fleet_rack (label, site_id, row_count, column_count)
    SELECT 'dr-r1', id, 4, 6 FROM fleet_site WHERE name = 'dr-north';
INSERT INTO fleet_rack (label, site_id)
    SELECT 'dr-r2', id FROM fleet_site WHERE name = 'dr-south';
INSERT INTO fleet_rack (label, site_id) VALUES ('dr-r3', NULL);
INSERT INTO fleet_device (identifier, site_id)
    SELECT 'dr-dev-' || lpad(i::text, 2, '0'),
           (SELECT id FROM fleet_site WHERE name = CASE
                WHEN i <= 5 THEN 'dr-north' WHEN i <= 8 THEN 'dr-south'
                WHEN i <= 9 THEN NULL WHEN i <= 14 THEN 'dr-east' END)
      FROM generate_series(1, 20) AS i;
INSERT INTO fleet_rack_membership (rack_id, device_id)
    SELECT r.id, d.id
      FROM fleet_device d
      JOIN fleet_rack r ON r.label = CASE
           WHEN d.identifier <= 'dr-dev-05' THEN 'dr-r1'
           WHEN d.identifier <= 'dr-dev-08' THEN 'dr-r2'
           ELSE 'dr-r3' END
     WHERE d.identifier <= 'dr-dev-09';
INSERT INTO fleet_rack_slot (rack_id, device_id, row_index, column_index)
    SELECT m.rack_id, m.device_id, (row_number() OVER w - 1)::int / 3, (row_number() OVER w - 1)::int % 3
      FROM fleet_rack_membership m
    WINDOW w AS (PARTITION BY m.rack_id ORDER BY m.device_id);
"
run_test "create the extension and seed sites, racks, devices, memberships, slots" \
    psql -X -q -v ON_ERROR_STOP=1 -d "$src" -c "$seed_sql"

# Two real moves, so fleet_activity holds rows written by the extension: a
# force move that clears dr-dev-06 from its rack, and a move to Unassigned.
conflicts="$(q "$src" "
SELECT (SELECT count(*) FROM fleet_assign_devices_to_site(ARRAY['dr-dev-06', 'dr-dev-10'],
            (SELECT id FROM fleet_site WHERE name = 'dr-north'), true))
     + (SELECT count(*) FROM fleet_assign_devices_to_site(ARRAY['dr-dev-11', 'dr-dev-12'], NULL))")"
logged="$(q "$src" "SELECT count(*) FROM fleet_activity")"
is "$conflicts conflicts, $logged activity rows" "0 conflicts, 2 activity rows" \
    "two moves applied in the source (activity rows written)"

run_test "pg_dump -Fc $src" pg_dump -Fc -f "$dump" "$src"

# --- the restored database ----------------------------------------------------

run_test "createdb $dst and pg_restore into it" \
    bash -c "createdb '$dst' && pg_restore --exit-on-error -d '$dst' '$dump'"

# Still an extension that owns its tables, sequences, types and functions.
members="SELECT count(*) FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
          WHERE e.extname = 'fleet_sites' AND d.deptype = 'e'"
src_members="$(q "$src" "$members")"
is "$(q "$dst" "$members")" "$src_members" \
    "restored fleet_sites is an extension owning the same $src_members objects"

# Each table: same number of rows, same content.
for t in $tables; do
    digest="SELECT count(*) || ' rows, ' || md5(coalesce(string_agg(t::text, E'\n' ORDER BY t::text), ''))
              FROM $t AS t"
    src_digest="$(q "$src" "$digest")"
    dst_digest="$(q "$dst" "$digest")"
    if [ "${src_digest%% *}" = "0" ]; then
        fail "$t: the source has rows to compare" "source: '$src_digest'"
    else
        is "$dst_digest" "$src_digest" "$t: same rows after restore (${src_digest%%,*})"
    fi
done

# A device moved by force (site north, no rack) and a racked one (rack, slot).
placement="SELECT d.site_id || '/' || coalesce(s.name, 'Unassigned') || '/'
                  || coalesce(r.label, 'no rack') || '/'
                  || coalesce(sl.row_index || ',' || sl.column_index, 'no slot')
             FROM fleet_device d
             LEFT JOIN fleet_site s ON s.id = d.site_id
             LEFT JOIN fleet_rack_membership m ON m.device_id = d.id
             LEFT JOIN fleet_rack r ON r.id = m.rack_id
             LEFT JOIN fleet_rack_slot sl ON sl.rack_id = m.rack_id AND sl.device_id = d.id
            WHERE d.identifier = "
moved_src="$(q "$src" "$placement 'dr-dev-06'")"
if [ "${moved_src#*/}" = "dr-north/no rack/no slot" ]; then
    is "$(q "$dst" "$placement 'dr-dev-06'")" "$moved_src" \
        "force-moved device: same site, no membership after restore ($moved_src)"
else
    fail "force-moved device: same site, no membership after restore" \
        "in the source it is '$moved_src', expected '<id>/dr-north/no rack/no slot'"
fi
racked_src="$(q "$src" "$placement 'dr-dev-02'")"
if [ "${racked_src#*/}" = "dr-north/dr-r1/0,1" ]; then
    is "$(q "$dst" "$placement 'dr-dev-02'")" "$racked_src" \
        "racked device: same site, membership and slot after restore ($racked_src)"
else
    fail "racked device: same site, membership and slot after restore" \
        "in the source it is '$racked_src', expected '<id>/dr-north/dr-r1/0,1'"
fi

# Identity sequences: the next generated id follows the restored rows.
for entry in "${identity_inserts[@]}"; do
    t="${entry%%|*}"
    insert="${entry#*|}"
    max_restored="$(q "$dst" "SELECT coalesce(max(id), 0) FROM $t")"
    new_dst="$(q "$dst" "$insert")"
    new_src="$(q "$src" "$insert")"
    if [ -n "$new_dst" ] && [ -n "$max_restored" ] && [ "$new_dst" -gt "$max_restored" ] \
        && [ "$new_dst" = "$new_src" ]; then
        pass "$t: INSERT without id gets $new_dst, above the restored max $max_restored, as in the source"
    else
        fail "$t: INSERT without id gets a fresh id after restore" \
            "restored max id: '$max_restored'" "new id after restore: '$new_dst'" \
            "same insert in the source: '$new_src'"
    fi
    : >"$errlog"
done

# The site move works in the restored database and appends to the log.
conflicts="$(q "$dst" "
SELECT count(*) FROM fleet_assign_devices_to_site(ARRAY['dr-dev-01', 'dr-dev-20'],
    (SELECT id FROM fleet_site WHERE name = 'dr-south'), true)")"
logged="$(q "$dst" "
SELECT count(*) || ' moves logged, newest id above the rest: '
       || (max(id) > (SELECT max(id) FROM fleet_activity WHERE event_type <> 'devices.reassigned_to_site'))
  FROM fleet_activity WHERE event_type = 'devices.reassigned_to_site'")"
is "$conflicts conflicts, $logged" "0 conflicts, 3 moves logged, newest id above the rest: true" \
    "a force move in the restored database is applied and logged with a new id"

if [ "$n" -ne 19 ]; then
    echo "# planned 19 tests, ran $n"
    exit 1
fi
[ "$failures" -eq 0 ]
