#!/usr/bin/env bash
#
# restore_security.t: row-level security on the fleet_sites tables survives
# pg_dump / pg_restore, and a restore that cannot bring it back says so.
#
# pg_dump keeps the GRANTs on an extension's tables but not ENABLE/FORCE ROW
# LEVEL SECURITY nor the policies (docs/restore-security.md). fleet_sites saves
# them in fleet_saved_security (a configuration table, so it is dumped), applies
# them again when pg_restore loads that table, and shows the state per table in
# fleet_security_status. This script:
#   - sets up a tenant that may see 1 site of 10 (RLS forced on fleet_device:
#     a permissive SELECT policy through a user function, a restrictive policy,
#     an UPDATE policy with CHECK; RLS and a two-role policy on fleet_rack), and
#     checks that the policy DDL alone saved it (no explicit call);
#   - shows what is lost without fleet_sites' own mechanism: a restore that
#     leaves out fleet_saved_security's rows has RLS off and the tenant sees
#     every device;
#   - a plain pg_restore: fleet_security_status is as before the dump, row for
#     row, and the tenant sees what it saw;
#   - a restore whose saved rows are loaded with triggers disabled: the status
#     says RESTORE PENDING, the tenant sees every device, and one call of
#     fleet_restore_security() makes it as before;
#   - fleet_sites_restore -j 4 brings it back and verifies it;
#   - a role and a function missing in the target: the restore is fail-closed
#     (RLS on, a deny-all stand-in for the restrictive policy), the status
#     says RESTORE PENDING, policy DDL on that table is not saved over it
#     (WARNING); once the role and function exist, fleet_restore_security()
#     completes it;
#   - a role granted INSERT on fleet_saved_security still cannot write it;
#   - ALTER EXTENSION UPDATE saves the row-level security a 1.0 database has;
#   - while a table's restored state is pending, the move functions refuse
#     a tenant (55000), not a superuser, and work again once it is applied;
#   - the extension's schema renamed by its owner and look-alikes planted
#     under the old name (functions, views, triggers that record
#     current_user): policy DDL by a superuser with the plants first on its
#     search_path, a load of saved rows and a dump/restore save and apply
#     into the real schema, and the plants never run as anyone but their
#     planter.
#
# Run by prove inside pg_virtualenv (PGHOST, PGPORT, PGUSER, PGPASSWORD set),
# as a superuser. Prints TAP; exits non-zero when any test fails. Databases,
# roles and dumps are removed on exit, pass or fail.

set -u

here="$(cd "$(dirname "$0")" && pwd)"
helper="$here/../../bin/fleet_sites_restore"

tag="$$"
src="fleet_sec_src_$tag"
dst="fleet_sec_dst_$tag"
tenant="fleet_sec_tenant_$tag"
other="fleet_sec_other_$tag"
gone="fleet_sec_gone_$tag"
writer="fleet_sec_writer_$tag"
planter="fleet_sec_planter_$tag"
ren="fleet_sec_ren_$tag"
ren_dst="fleet_sec_ren_dst_$tag"
up="fleet_sec_up_$tag"
work="$(mktemp -d "${TMPDIR:-/tmp}/fleet_sec.XXXXXX")"
errlog="$work/err"
: >"$errlog"

cleanup() {
    dropdb --if-exists "$src" >/dev/null 2>&1
    dropdb --if-exists "$dst" >/dev/null 2>&1
    dropdb --if-exists "$ren" >/dev/null 2>&1
    dropdb --if-exists "$ren_dst" >/dev/null 2>&1
    dropdb --if-exists "$up" >/dev/null 2>&1
    for r in "$tenant" "$other" "$gone" "$writer" "$planter"; do
        psql -X -q -d postgres -c "DROP ROLE IF EXISTS \"$r\"" >/dev/null 2>&1
    done
    rm -rf "$work"
}
trap cleanup EXIT

planned=45
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
    if [ -s "$errlog" ]; then sed 's/^/#   stderr: /' "$errlog" | head -30; fi
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

# The whole security state, one line per table, from the view under test.
status_sql="SELECT string_agg(concat_ws(' | ', table_name, rls_enabled, rls_forced, policies,
                                        policy_definitions, state), E'\n' ORDER BY table_name)
              FROM fleet_security_status"
# How many devices the tenant sees, and how many it could move away.
tenant_sees() {
    psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$1" \
        -c "SET ROLE \"$tenant\"" -c "SELECT count(*) FROM fleet_device" 2>>"$errlog"
}
fresh_db() { dropdb --if-exists "$dst" >/dev/null 2>&1; createdb "$dst" 2>>"$errlog"; }

# --- the source ---------------------------------------------------------------

run_test "create roles and the source database" bash -c "
    psql -X -q -v ON_ERROR_STOP=1 -d postgres \
        -c 'CREATE ROLE \"$tenant\"' -c 'CREATE ROLE \"$other\"' \
        -c 'CREATE ROLE \"$gone\"' -c 'CREATE ROLE \"$writer\"' && createdb '$src'"

if [ "$(q "$src" "CREATE EXTENSION fleet_sites; SELECT to_regclass('fleet_security_status') IS NOT NULL")" = "t" ]; then
    pass "fleet_sites has fleet_security_status"
else
    fail "fleet_sites has fleet_security_status" \
        "the installed extension lacks the objects of docs/restore-security.md; every test below fails"
fi
: >"$errlog"

# 10 sites of 50 devices; the tenant's sites are listed in a user table and
# read through a user function: the policy must be dumped schema-qualified.
setup_sql="
INSERT INTO fleet_site (name) SELECT 'sec-site-' || i FROM generate_series(1, 10) AS i;
INSERT INTO fleet_rack (label, site_id) SELECT 'sec-rack-' || i, i FROM generate_series(1, 10) AS i;
INSERT INTO fleet_device (identifier, site_id)
    SELECT 'sec-dev-' || lpad(i::text, 3, '0'), 1 + i % 10 FROM generate_series(0, 499) AS i;
CREATE SCHEMA sec_app;
CREATE TABLE sec_app.tenant_site (role_name name, site_id bigint);
INSERT INTO sec_app.tenant_site VALUES ('$tenant', 3);
CREATE FUNCTION sec_app.my_sites() RETURNS SETOF bigint LANGUAGE sql STABLE
    AS \$\$ SELECT site_id FROM sec_app.tenant_site WHERE role_name = current_user \$\$;
CREATE FUNCTION sec_app.not_hidden(text) RETURNS boolean LANGUAGE sql IMMUTABLE
    AS \$\$ SELECT \$1 <> 'sec-dev-002' \$\$;
GRANT USAGE ON SCHEMA sec_app TO \"$tenant\";
GRANT SELECT ON sec_app.tenant_site TO \"$tenant\";
GRANT SELECT, UPDATE ON fleet_device TO \"$tenant\";
GRANT SELECT ON fleet_site, fleet_rack, fleet_rack_membership TO \"$tenant\";
SET search_path = public, sec_app;
ALTER TABLE fleet_device ENABLE ROW LEVEL SECURITY;
ALTER TABLE fleet_device FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_reads ON fleet_device FOR SELECT TO \"$tenant\" USING (site_id IN (SELECT my_sites()));
CREATE POLICY tenant_moves ON fleet_device FOR UPDATE TO \"$tenant\"
    USING (site_id IN (SELECT my_sites())) WITH CHECK (site_id IN (SELECT my_sites()));
CREATE POLICY tenant_hidden ON fleet_device AS RESTRICTIVE FOR SELECT TO \"$tenant\" USING (not_hidden(identifier));
ALTER TABLE fleet_rack ENABLE ROW LEVEL SECURITY;
CREATE POLICY two_roles ON fleet_rack FOR SELECT TO \"$tenant\", \"$other\" USING (site_id IN (SELECT my_sites()));
"
run_test "row-level security on fleet_device and fleet_rack, policies through user functions" \
    psql -X -q -v ON_ERROR_STOP=1 -d "$src" -c "$setup_sql"

before="$(q "$src" "$status_sql")"
is "$(q "$src" "SELECT string_agg(table_name || ':' || jsonb_array_length(policies), ' ' ORDER BY table_name)
                  FROM fleet_saved_security")" "fleet_device:3 fleet_rack:1" \
    "the policy DDL alone saved both tables' state (no explicit call)"
is "$(q "$src" "SELECT count(*) FROM fleet_security_status WHERE state <> 'ok'") not ok, \
$(q "$src" "SELECT policy_definitions::text LIKE '%sec_app.my_sites()%' FROM fleet_security_status WHERE table_name = 'fleet_device'")" \
    "0 not ok, t" "fleet_security_status: every table ok; the saved policy names sec_app.my_sites() qualified"
src_sees="$(tenant_sees "$src")"
is "$src_sees" "49" "the tenant sees 49 of 500 devices in the source (one site, one hidden)"

run_test "pg_dump -Fc" pg_dump -Fc -f "$work/src.dump" "$src"

# --- what pg_dump alone keeps ---------------------------------------------------

pg_restore -l "$work/src.dump" | grep -v "TABLE DATA public fleet_saved_security " >"$work/without.list"
fresh_db
pg_restore -L "$work/without.list" -d "$dst" "$work/src.dump" 2>>"$errlog"
is "$(q "$dst" "SELECT string_agg(table_name || ' rls ' || rls_enabled || ' ' || cardinality(policies) || ' policies', ', ' ORDER BY table_name)
                  FROM fleet_security_status WHERE table_name IN ('fleet_device', 'fleet_rack')")" \
    "fleet_device rls false 0 policies, fleet_rack rls false 0 policies" \
    "without fleet_saved_security's rows a restore has no RLS and no policy (what pg_dump keeps)"
is "$(tenant_sees "$dst")" "500" "... and the GRANTs are back: the tenant sees all 500 devices"

# --- plain pg_restore -----------------------------------------------------------

fresh_db
run_test "plain pg_restore into a fresh database" pg_restore --exit-on-error -d "$dst" "$work/src.dump"
after="$(q "$dst" "$status_sql")"
if [ -n "$before" ] && [ "$after" = "$before" ]; then
    pass "plain pg_restore: fleet_security_status is as before the dump, row for row"
else
    fail "plain pg_restore: fleet_security_status is as before the dump" "before:" "$before" "after:" "$after"
fi
is "$(tenant_sees "$dst")" "$src_sees" "plain pg_restore: the tenant sees $src_sees devices, as before"
is "$(q "$dst" "SELECT count(*) FROM fleet_saved_security WHERE install_id = fleet_installation_id()")" "2" \
    "plain pg_restore: the restored rows are saved as this installation's"

# --- saved rows loaded with triggers disabled: one call to re-apply ----------------

fresh_db
if pg_restore --section=pre-data -d "$dst" "$work/src.dump" 2>>"$errlog" \
    && pg_restore --data-only --disable-triggers -d "$dst" "$work/src.dump" 2>>"$errlog" \
    && pg_restore --section=post-data -d "$dst" "$work/src.dump" 2>>"$errlog"; then
    pass "restore in sections, data with --disable-triggers"
else
    fail "restore in sections, data with --disable-triggers"
fi
: >"$errlog"
is "$(q "$dst" "SELECT string_agg(table_name || ': ' || state, ', ' ORDER BY table_name) FROM fleet_security_status WHERE restore_pending")" \
    "fleet_device: RESTORE PENDING: run fleet_restore_security(), fleet_rack: RESTORE PENDING: run fleet_restore_security()" \
    "fleet_security_status says RESTORE PENDING for both tables"
is "$(tenant_sees "$dst")" "500" "while pending, the tenant sees all 500 devices (why the status must be checked)"
# ... but the move functions refuse to read a table whose restored state is
# not applied: they rely on row-level security for tenancy.
tenant_moves() {
    psql -X -q -A -t -v VERBOSITY=verbose -d "$1" -c "SET ROLE \"$tenant\"" \
        -c "SELECT count(*) FROM fleet_assign_devices_to_site(ARRAY['sec-dev-012'], 3)" 2>&1
}
is "$(tenant_moves "$dst" | grep -c 'ERROR:  55000: row-level security of table fleet_device is not restored')" "1" \
    "while pending, a tenant's move fails with 55000 naming fleet_device"
is "$(q "$dst" "SELECT count(*) FROM fleet_assign_devices_to_site(ARRAY['sec-dev-012'], 3)")" "0" \
    "... a superuser's move is not refused (row-level security never applies to it)"
applied="$(q "$dst" "SELECT string_agg(table_name || ' ' || item || ': ' || result, '; ' ORDER BY table_name, item) FROM fleet_restore_security()")"
after="$(q "$dst" "$status_sql")"
if [ "$after" = "$before" ]; then
    pass "one call of fleet_restore_security() makes the status as before the dump"
else
    fail "one call of fleet_restore_security() makes the status as before the dump" "it said: $applied" "before:" "$before" "after:" "$after"
fi
is "$(tenant_sees "$dst")" "$src_sees" "... and the tenant sees $src_sees devices again"
is "$(tenant_moves "$dst")" "0" "... and the tenant's move works again (its device, its site)"

# --- fleet_sites_restore -j 4 ---------------------------------------------------------

fresh_db
if "$helper" -j 4 -d "$dst" "$work/src.dump" >"$work/helper.out" 2>&1 \
    && grep -q "row-level security of every fleet_sites table is as saved" "$work/helper.out"; then
    pass "fleet_sites_restore -j 4 succeeds and verifies row-level security"
else
    fail "fleet_sites_restore -j 4 succeeds and verifies row-level security" "$(tail -20 "$work/helper.out")"
fi
after="$(q "$dst" "$status_sql")"
if [ "$after" = "$before" ] && [ "$(tenant_sees "$dst")" = "$src_sees" ]; then
    pass "fleet_sites_restore -j 4: status as before, the tenant sees $src_sees devices"
else
    fail "fleet_sites_restore -j 4: status as before, the tenant sees $src_sees devices" "before:" "$before" "after:" "$after"
fi

# --- a role and a function missing in the target --------------------------------------

# A second source whose policies name the role $gone; the role is dropped
# after the dump, and the function is left out of the restore.
run_test "a source with a policy for a role and one through a function, dumped; the role dropped" bash -c "
    psql -X -q -v ON_ERROR_STOP=1 -d '$src' \
        -c 'CREATE POLICY for_gone ON fleet_rack FOR SELECT TO \"$gone\", \"$tenant\" USING (site_id = 1)' \
        -c 'CREATE POLICY only_gone ON fleet_rack FOR SELECT TO \"$gone\" USING (true)' \
        -c 'CREATE POLICY rack_hidden ON fleet_rack AS RESTRICTIVE FOR SELECT TO \"$tenant\" USING (sec_app.not_hidden(label))' \
    && pg_dump -Fc -f '$work/gone.dump' '$src' \
    && psql -X -q -v ON_ERROR_STOP=1 -d '$src' \
        -c 'DROP POLICY for_gone ON fleet_rack' -c 'DROP POLICY only_gone ON fleet_rack' \
    && psql -X -q -v ON_ERROR_STOP=1 -d postgres -c 'DROP ROLE \"$gone\"'"
pg_restore -l "$work/gone.dump" | grep -v "FUNCTION sec_app not_hidden" >"$work/nofunc.list"
fresh_db
pg_restore -v -L "$work/nofunc.list" -d "$dst" "$work/gone.dump" >"$work/gone.out" 2>&1
is "$(q "$dst" "SELECT rls_enabled || ' ' || state FROM fleet_security_status WHERE table_name = 'fleet_rack'")" \
    "true RESTORE PENDING: run fleet_restore_security()" \
    "missing role and function: fleet_rack has RLS on and says RESTORE PENDING"
is "$(grep -c "WARNING:  fleet_sites: .*fleet_rack: policy \(for_gone\|only_gone\|rack_hidden\) not" "$work/gone.out")" "3" \
    "pg_restore -v shows a WARNING for each policy it could not restore whole"
is "$(q "$dst" "SELECT (SELECT count(*) FROM fleet_rack) || ' racks, the tenant sees '")$(psql -X -q -A -t -d "$dst" \
        -c "SET ROLE \"$tenant\"" -c "SELECT count(*) FROM fleet_rack" 2>>"$errlog")" \
    "10 racks, the tenant sees 0" \
    "fail-closed: a deny-all restrictive policy stands in for the one whose function is missing"
psql -X -q -v ON_ERROR_STOP=1 -d "$dst" -c "CREATE POLICY after_restore ON fleet_rack FOR SELECT TO \"$other\" USING (false)" \
    >"$work/ddl.out" 2>&1
is "$(grep -c "WARNING:  row-level security of public.fleet_rack is not saved" "$work/ddl.out") warning, \
$(q "$dst" "SELECT jsonb_path_query_array(policies, '\$[*].name')::text FROM fleet_saved_security WHERE table_name = 'fleet_rack'")" \
    '1 warning, ["for_gone", "only_gone", "rack_hidden", "two_roles"]' \
    "policy DDL on a pending table warns and does not save over the restored state"
run_test "create the missing role and function" psql -X -q -v ON_ERROR_STOP=1 -d "$dst" \
    -c "CREATE ROLE \"$gone\"" \
    -c "CREATE FUNCTION sec_app.not_hidden(text) RETURNS boolean LANGUAGE sql IMMUTABLE AS \$\$ SELECT \$1 <> 'sec-dev-002' \$\$"
q "$dst" "SELECT * FROM fleet_restore_security()" >/dev/null
is "$(q "$dst" "SELECT state || ' ' || array_to_string(policies, ',') FROM fleet_security_status WHERE table_name = 'fleet_rack'")" \
    "ok after_restore,for_gone,only_gone,rack_hidden,two_roles" \
    "fleet_restore_security() completes it once they exist (and keeps the policy added since)"
is "$(psql -X -q -A -t -d "$dst" -c "SET ROLE \"$tenant\"" -c "SELECT count(*) FROM fleet_rack" 2>>"$errlog")" "2" \
    "... and the tenant sees its two racks again (sites 1 and 3)"

# --- who may write the saved state -------------------------------------------------------

psql -X -q -v VERBOSITY=verbose -d "$dst" \
    -c "GRANT SELECT, INSERT, UPDATE, DELETE ON fleet_saved_security TO \"$writer\"" \
    -c "SET ROLE \"$writer\"" \
    -c "UPDATE fleet_saved_security SET policies = '[]' WHERE table_name = 'fleet_device'" \
    -c "DELETE FROM fleet_saved_security" >"$work/writer.out" 2>&1
is "$(grep -c 'ERROR:  42501: permission denied to write saved row-level security' "$work/writer.out") errors, \
$(q "$dst" "SELECT jsonb_array_length(policies) FROM fleet_saved_security WHERE table_name = 'fleet_device'") policies kept" \
    "2 errors, 3 policies kept" \
    "a role granted SELECT, INSERT, UPDATE and DELETE on fleet_saved_security still cannot write it (42501)"

# --- a 1.0 database that has row-level security, updated --------------------------------

run_test "a 1.0 database with row-level security on fleet_device, updated to 1.1" bash -c "
    createdb '$up' && psql -X -q -v ON_ERROR_STOP=1 -d '$up' \
        -c \"CREATE EXTENSION fleet_sites VERSION '1.0'\" \
        -c 'ALTER TABLE fleet_device ENABLE ROW LEVEL SECURITY' \
        -c 'CREATE POLICY up_reads ON fleet_device FOR SELECT TO \"$tenant\" USING (site_id = 1)' \
        -c 'ALTER EXTENSION fleet_sites UPDATE'"
is "$(q "$up" "SELECT string_agg(table_name || ' ' || rls_enabled || ' ' || jsonb_path_query_array(policies, '\$[*].name')::text
                                  || ' ' || (install_id = fleet_installation_id()), '; ') FROM fleet_saved_security")
$(q "$up" "SELECT count(*) FROM fleet_security_status WHERE state <> 'ok'")" \
    "fleet_device true [\"up_reads\"] true
0" "the update saved it as this installation's, and every table is ok"

# --- the schema renamed, look-alikes planted under its old name ---------------------------

# The extension lives in a schema its planter owns, so the planter may rename
# it and take the old name. Everything that runs by itself on a superuser's
# authority (the event triggers, the load trigger) must keep using the real
# schema, found by oid. Each plant records current_user when it runs.
plants_sql="
CREATE TABLE fleet.plant_log (who name, what text);
GRANT SELECT, INSERT ON fleet.plant_log TO PUBLIC;
CREATE FUNCTION fleet.plant_hit(what text) RETURNS boolean LANGUAGE sql VOLATILE
    AS \$\$ INSERT INTO fleet.plant_log VALUES (current_user, what) RETURNING false \$\$;
CREATE FUNCTION fleet.plant_write() RETURNS trigger LANGUAGE plpgsql
    AS \$\$ BEGIN PERFORM fleet.plant_hit(TG_TABLE_NAME || ' ' || TG_OP); RETURN NULL; END \$\$;
CREATE VIEW fleet.fleet_saved_security AS
    SELECT NULL::name AS table_name, NULL::boolean AS rls_enabled, NULL::boolean AS rls_forced,
           '[]'::jsonb AS policies, NULL::text AS install_id, NULL::timestamptz AS saved_at,
           NULL::name AS saved_by
     WHERE fleet.plant_hit('fleet_saved_security');
CREATE VIEW fleet.fleet_device AS
    SELECT NULL::bigint AS id, NULL::text AS identifier, NULL::bigint AS site_id WHERE fleet.plant_hit('fleet_device');
CREATE VIEW fleet.fleet_rack AS
    SELECT NULL::bigint AS id, NULL::text AS label, NULL::bigint AS site_id WHERE fleet.plant_hit('fleet_rack');
CREATE TRIGGER plant_write INSTEAD OF INSERT OR UPDATE OR DELETE ON fleet.fleet_saved_security
    FOR EACH ROW EXECUTE FUNCTION fleet.plant_write();
CREATE TRIGGER plant_write INSTEAD OF INSERT OR UPDATE OR DELETE ON fleet.fleet_device
    FOR EACH ROW EXECUTE FUNCTION fleet.plant_write();
CREATE TRIGGER plant_write INSTEAD OF INSERT OR UPDATE OR DELETE ON fleet.fleet_rack
    FOR EACH ROW EXECUTE FUNCTION fleet.plant_write();
CREATE FUNCTION fleet.fleet_save_security(discard_restored boolean DEFAULT false, tables name[] DEFAULT NULL)
    RETURNS TABLE (table_name name, action text) LANGUAGE sql
    AS \$\$ SELECT NULL::name, NULL::text WHERE fleet.plant_hit('fleet_save_security') \$\$;
CREATE FUNCTION fleet.fleet_restore_security() RETURNS TABLE (table_name name, item text, result text)
    LANGUAGE sql AS \$\$ SELECT NULL::name, NULL::text, NULL::text WHERE fleet.plant_hit('fleet_restore_security') \$\$;
CREATE FUNCTION fleet.fleet_security_definition(rel regclass) RETURNS jsonb LANGUAGE sql
    AS \$\$ SELECT NULL::jsonb WHERE fleet.plant_hit('fleet_security_definition') \$\$;
CREATE FUNCTION fleet.fleet_installation_id() RETURNS text LANGUAGE sql
    AS \$\$ SELECT NULL::text WHERE fleet.plant_hit('fleet_installation_id') \$\$;
"
run_test "the extension in a schema its planter owns, with devices and a tenant" bash -c "
    psql -X -q -v ON_ERROR_STOP=1 -d postgres -c 'CREATE ROLE \"$planter\"' && createdb '$ren' &&
    psql -X -q -v ON_ERROR_STOP=1 -d '$ren' \
        -c 'GRANT CREATE ON DATABASE \"$ren\" TO \"$planter\"' \
        -c 'CREATE SCHEMA fleet AUTHORIZATION \"$planter\"' \
        -c 'CREATE EXTENSION fleet_sites SCHEMA fleet' \
        -c \"INSERT INTO fleet.fleet_site (name) SELECT 'ren-site-' || i FROM generate_series(1, 3) AS i\" \
        -c \"INSERT INTO fleet.fleet_rack (label, site_id) SELECT 'ren-rack-' || i, i FROM generate_series(1, 3) AS i\" \
        -c \"INSERT INTO fleet.fleet_device (identifier, site_id) SELECT 'ren-dev-' || i, 1 + i % 3 FROM generate_series(0, 29) AS i\" \
        -c 'GRANT USAGE ON SCHEMA fleet TO \"$tenant\"' \
        -c 'GRANT SELECT ON fleet.fleet_device, fleet.fleet_rack TO \"$tenant\"'"
run_test "the planter renames the schema and plants look-alikes under its old name" \
    psql -X -q -v ON_ERROR_STOP=1 -d "$ren" -c "SET ROLE \"$planter\"" \
        -c "ALTER SCHEMA fleet RENAME TO fleet_real" -c "CREATE SCHEMA fleet" -c "$plants_sql"
# The plants work: called by name, they run and record who called them.
psql -X -q -d "$ren" -c "SET ROLE \"$planter\"" -c "SELECT * FROM fleet.fleet_save_security()" \
    -c "SELECT * FROM fleet.fleet_saved_security" -c "UPDATE fleet.fleet_device SET site_id = 1" >/dev/null 2>>"$errlog"
is "$(q "$ren" "SELECT string_agg(who || ':' || what, ' ' ORDER BY what COLLATE \"C\") FROM fleet.plant_log")" \
    "$planter:fleet_device $planter:fleet_save_security $planter:fleet_saved_security" \
    "control: the plants run when the old name is used, and record current_user"
plant_runs() {
    q "$1" "SELECT count(*) || coalesce(': ' || string_agg(who || ' ' || what, ', '), '')
              FROM fleet.plant_log WHERE who <> '$planter'"
}

# Policy DDL by a superuser whose search_path puts the plants first.
ren_ddl="
SET search_path = fleet, public;
ALTER TABLE fleet_real.fleet_device ENABLE ROW LEVEL SECURITY;
ALTER TABLE fleet_real.fleet_device FORCE ROW LEVEL SECURITY;
CREATE POLICY ren_reads ON fleet_real.fleet_device FOR SELECT TO \"$tenant\" USING (site_id IN (1, 2));
CREATE POLICY ren_tmp ON fleet_real.fleet_device FOR SELECT TO \"$tenant\" USING (false);
ALTER POLICY ren_reads ON fleet_real.fleet_device USING (site_id = 1);
DROP POLICY ren_tmp ON fleet_real.fleet_device;
ALTER TABLE fleet_real.fleet_rack ENABLE ROW LEVEL SECURITY;
CREATE POLICY ren_racks ON fleet_real.fleet_rack AS RESTRICTIVE FOR ALL TO \"$tenant\"
    USING (site_id = 1) WITH CHECK (site_id = 1);
CREATE POLICY ren_all ON fleet_real.fleet_rack FOR SELECT TO \"$tenant\" USING (true);
"
run_test "a superuser's policy DDL on the renamed tables, the plants first on its search_path" \
    psql -X -q -v ON_ERROR_STOP=1 -d "$ren" -c "$ren_ddl"
is "$(q "$ren" "SELECT string_agg(table_name || ' ' || rls_enabled || ' ' || rls_forced || ' '
                                  || jsonb_path_query_array(policies, '\$[*].name')::text, '; ' ORDER BY table_name)
                  FROM fleet_real.fleet_saved_security WHERE install_id = fleet_real.fleet_installation_id()") | \
$(q "$ren" "SELECT policies -> 0 ->> 'using' FROM fleet_real.fleet_saved_security WHERE table_name = 'fleet_device'")" \
    'fleet_device true true ["ren_reads"]; fleet_rack true false ["ren_all", "ren_racks"] | (site_id = 1)' \
    "... was saved, every step, into the real schema's fleet_saved_security"
is "$(plant_runs "$ren")" "0" "... and no plant ever ran for anyone but the planter"
ren_before="$(q "$ren" "${status_sql//fleet_security_status/fleet_real.fleet_security_status}")"
ren_sees="$(psql -X -q -A -t -d "$ren" -c "SET ROLE \"$tenant\"" -c "SELECT count(*) FROM fleet_real.fleet_device" 2>>"$errlog")"

# Saved rows loaded from another installation (what pg_restore's COPY does),
# with the tables stripped bare: the load trigger applies them.
ren_load="
SET search_path = fleet, public;
CREATE TEMP TABLE kept AS SELECT * FROM fleet_real.fleet_saved_security;
DROP POLICY ren_reads ON fleet_real.fleet_device;
DROP POLICY ren_racks ON fleet_real.fleet_rack;
DROP POLICY ren_all ON fleet_real.fleet_rack;
ALTER TABLE fleet_real.fleet_device NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY;
ALTER TABLE fleet_real.fleet_rack DISABLE ROW LEVEL SECURITY;
INSERT INTO fleet_real.fleet_saved_security
    SELECT table_name, rls_enabled, rls_forced, policies, 'another installation', saved_at, saved_by FROM kept;
"
run_test "the tables stripped, then saved rows from another installation loaded" \
    psql -X -q -v ON_ERROR_STOP=1 -d "$ren" -c "$ren_load"
if [ -n "$ren_before" ] && [ "$(q "$ren" "${status_sql//fleet_security_status/fleet_real.fleet_security_status}")" = "$ren_before" ] \
    && [ "$(psql -X -q -A -t -d "$ren" -c "SET ROLE \"$tenant\"" -c "SELECT count(*) FROM fleet_real.fleet_device" 2>>"$errlog")" = "$ren_sees" ]; then
    pass "the load trigger applied them into the real schema: status as before, the tenant sees $ren_sees devices"
else
    fail "the load trigger applied them into the real schema" "before:" "$ren_before" \
        "after:" "$(q "$ren" "${status_sql//fleet_security_status/fleet_real.fleet_security_status}")"
fi
is "$(plant_runs "$ren")" "0" "... and no plant ran"

run_test "pg_dump of the renamed database, plain pg_restore" bash -c "
    pg_dump -Fc -f '$work/ren.dump' '$ren' && createdb '$ren_dst' &&
    pg_restore --exit-on-error -d '$ren_dst' '$work/ren.dump'"
is "$(q "$ren_dst" "${status_sql//fleet_security_status/fleet_real.fleet_security_status}") | $(plant_runs "$ren_dst")" \
    "$ren_before | 0" "restored: status as before, and no plant ran during the restore"

if [ "$n" -ne "$planned" ]; then
    echo "# planned $planned tests, ran $n"
    exit 1
fi
[ "$failures" -eq 0 ]
