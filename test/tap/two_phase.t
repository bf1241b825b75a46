#!/usr/bin/env bash
#
# two_phase.t: with fleet_sites.notify off, a transaction that moved devices
# can be prepared (PREPARE TRANSACTION) and committed later (COMMIT
# PREPARED); with it on (the default) PREPARE fails with 0A000, because the
# move queued a NOTIFY, and nothing of the move remains.
#
# Needs max_prepared_transactions > 0, which test/run sets; it fails (it does
# not skip) on a server without it. Run by prove inside pg_virtualenv.
set -u
db="fleet_2pc_$$"
n=0 failures=0
cleanup() {
    psql -X -q -d "$db" -c "SELECT pg_catalog.set_config('client_min_messages', 'warning', false)" \
         -At -c "SELECT gid FROM pg_prepared_xacts WHERE gid LIKE 'fleet_2pc_%'" 2>/dev/null |
        while read -r gid; do psql -X -q -d "$db" -c "ROLLBACK PREPARED '$gid'" >/dev/null 2>&1; done
    dropdb --if-exists "$db" >/dev/null 2>&1
}
trap cleanup EXIT
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }
check() {  # check "description" expected actual
    n=$((n + 1))
    if [ "$2" = "$3" ]; then echo "ok $n - $1"
    else echo "not ok $n - $1"; echo "#   expected: $2"; echo "#   got:      $3"; failures=$((failures + 1)); fi
}

echo "1..8"
createdb "$db" || { echo "Bail out! createdb failed"; exit 1; }
q -c "CREATE EXTENSION fleet_sites" \
  -c "INSERT INTO fleet_site (id, name) VALUES (1, 'a'), (2, 'b')" \
  -c "INSERT INTO fleet_rack (id, label, site_id) VALUES (10, 'r', 2)" \
  -c "INSERT INTO fleet_device (identifier, site_id) VALUES ('p-1', 2), ('p-2', 2)" >/dev/null

check "the server allows prepared transactions (max_prepared_transactions > 0)" \
    t "$(q -c "SELECT current_setting('max_prepared_transactions')::int > 0")"

# Off for the transaction: prepared, invisible until COMMIT PREPARED, then all there.
out=$(q -c "BEGIN" -c "SET LOCAL fleet_sites.notify = off" \
        -c "SELECT count(*) FROM fleet_assign_devices_to_site(ARRAY['p-1', 'p-2'], 1::bigint)" \
        -c "SELECT count(*) FROM fleet_assign_racks_to_site(ARRAY[10]::bigint[], 1::bigint)" \
        -c "PREPARE TRANSACTION 'fleet_2pc_off'" 2>&1)
check "notify off: a moving transaction prepares (the calls applied)" "0" "$(echo "$out" | head -n 1)"
check "... it is listed as prepared, and nothing is visible yet" "fleet_2pc_off|2|0" \
    "$(q -c "SELECT (SELECT string_agg(gid, ',') FROM pg_prepared_xacts WHERE gid LIKE 'fleet_2pc_%'),
                    (SELECT count(*) FROM fleet_device WHERE site_id = 2),
                    (SELECT count(*) FROM fleet_activity)")"
q -c "COMMIT PREPARED 'fleet_2pc_off'" >/dev/null
check "... COMMIT PREPARED applies both moves and their two audit rows" "0|1|2" \
    "$(q -c "SELECT (SELECT count(*) FROM fleet_device WHERE site_id = 2),
                    (SELECT site_id FROM fleet_rack WHERE id = 10),
                    (SELECT count(*) FROM fleet_activity)")"

# Off for the session works too.
out=$(q -c "SET fleet_sites.notify = off" -c "BEGIN" \
        -c "SELECT count(*) FROM fleet_assign_devices_to_site(ARRAY['p-1'], 2::bigint)" \
        -c "PREPARE TRANSACTION 'fleet_2pc_session'" -c "COMMIT PREPARED 'fleet_2pc_session'" \
        -c "SELECT site_id FROM fleet_device WHERE identifier = 'p-1'" 2>&1)
check "notify off for the session: prepared and committed" "0
2" "$out"

# On (the default): PREPARE fails with 0A000; the move is rolled back.
out=$(psql -X -q -At -d "$db" -v VERBOSITY=verbose \
        -c "BEGIN" -c "SELECT count(*) FROM fleet_assign_devices_to_site(ARRAY['p-2'], 2::bigint)" \
        -c "PREPARE TRANSACTION 'fleet_2pc_on'" 2>&1)
check "notify on: PREPARE TRANSACTION fails with 0A000" "yes" \
    "$(echo "$out" | grep -q '0A000' && echo yes || echo "no: $out")"
check "... nothing is prepared" "0" \
    "$(q -c "SELECT count(*) FROM pg_prepared_xacts WHERE gid LIKE 'fleet_2pc_%'")"
check "... and nothing of the move remains (p-2 at site 1, three audit rows)" "1|3" \
    "$(q -c "SELECT (SELECT site_id FROM fleet_device WHERE identifier = 'p-2'),
                    (SELECT count(*) FROM fleet_activity)")"
[ "$failures" -eq 0 ]
