#!/usr/bin/env perl
# test/tap/schema_hijack.t: renaming the extension's schema must neither break
# fleet_sites nor let whoever renamed it run code as somebody else.
#
# The attack: a role that owns the extension's schema (or, on a default
# install into public, owns the database: public belongs to
# pg_database_owner in PostgreSQL 15) renames that schema, creates a new
# schema with the old name, and plants there a view named like each fleet_*
# relation, over a table of its own, whose qual calls its function
# fleet_hj_evil(). That function raises a WARNING naming the user it runs
# as, records it in a table, and tries ALTER ROLE <attacker> SUPERUSER. Any
# statement of the extension that names the schema by its old text and is
# parsed after the rename reads the planted view, and runs the attacker's
# function as whoever runs the statement: the SECURITY DEFINER site-delete
# trigger (its owner, the installing superuser), the statements the C
# functions run on the extension owner's authority (the same superuser), or
# a superuser caller.
#
# Variants (each in its own database):
#   rename: no attacker; the superuser renames the schema. Everything must
#           keep working (1.0 fails: the trigger names the old schema, 42P01).
#   a:      extension installed by the superuser into its schema, which is
#           later handed to the attacker (ALTER SCHEMA ... OWNER TO).
#   b:      extension installed into a schema the attacker created.
#   c:      default install (into public) in a database the attacker owns.
#   u:      as c, but installed at 1.0 and then updated.
# In each: backends that used the functions before the rename keep their
# cached plans; a superuser session has a transaction open across the
# rename; two attacker sessions (one fresh, one warm) are waiting on a
# device row lock while the schema is renamed. After the plant, the warm and
# fresh sessions move devices with every move function, a non-superuser and
# a superuser delete sites with racks and devices, and the superuser writes
# the tables directly. Every step must succeed (the mid-call ones may also
# fail with 40001, to be retried), leave the devices where the contract
# says, never reach a planted object, and leave the attacker unprivileged.
# At the end the placement invariant holds.
#
# Runs inside pg_virtualenv (PGHOST, PGPORT, PGUSER, PGPASSWORD: a
# superuser). Creates databases fleet_hj_<variant>_<pid> and roles
# fleet_hj_*_<pid>, and drops them on exit.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use DBD::Pg qw(:async);
use FleetTap qw(connect_as admin_handle try_sql wait_for_lock_wait random_password quote_ident);
use Test::More;

my $admin = admin_handle();
my $tag = $$;
my $parent = $$;
my $attacker = "fleet_hj_attacker_$tag";
my $siteadmin = "fleet_hj_siteadmin_$tag";
my %password = ($attacker => random_password(), $siteadmin => random_password());
my @databases;

# Warnings of the planted function, wherever they arrive; others pass through.
my @evil;
$SIG{__WARN__} = sub {
    my ($message) = @_;
    if ($message =~ /fleet_hj_evil/) { push @evil, $message } else { print STDERR $message }
};

END {
    if ($$ == $parent && $admin) {
        for my $db (@databases) {
            eval { $admin->do('DROP DATABASE IF EXISTS ' . quote_ident($db) . ' WITH (FORCE)') };
        }
        for my $role ($attacker, $siteadmin) {
            eval { $admin->do('DROP ROLE IF EXISTS ' . quote_ident($role)) };
        }
    }
}

for my $role ($attacker, $siteadmin) {
    $admin->do('DROP ROLE IF EXISTS ' . quote_ident($role));
    $admin->do(sprintf('CREATE ROLE %s LOGIN NOSUPERUSER PASSWORD %s',
        quote_ident($role), $admin->quote($password{$role})));
}

# ---------------------------------------------------------------------------
# Pieces
# ---------------------------------------------------------------------------

# The fixture, in the schema $s (quoted).
#   sites 1, 2, 3; racks 10 (site 1), 20 (site 2), 30 (site 3)
#   hj-1, hj-2, hj-8 at 1 in rack 10; hj-3 at 1; hj-4 at 2 in rack 20;
#   hj-5 at 2; hj-6 at 3 in rack 30; hj-7 at 3
#   (1.1) buildings 100 (site 3) and 200 (no site), when the table exists
sub seed_sql {
    my ($s) = @_;
    return qq{
INSERT INTO $s.fleet_site (id, name) VALUES (1, 'hj-one'), (2, 'hj-two'), (3, 'hj-three');
INSERT INTO $s.fleet_rack (id, label, site_id) VALUES (10, 'hj-r10', 1), (20, 'hj-r20', 2), (30, 'hj-r30', 3);
INSERT INTO $s.fleet_device (id, identifier, site_id) VALUES
    (1, 'hj-1', 1), (2, 'hj-2', 1), (3, 'hj-3', 1), (4, 'hj-4', 2), (5, 'hj-5', 2),
    (6, 'hj-6', 3), (7, 'hj-7', 3), (8, 'hj-8', 1);
INSERT INTO $s.fleet_rack_membership (rack_id, device_id) VALUES (10, 1), (10, 2), (10, 8), (20, 4), (30, 6);
DO \$do\$ BEGIN
    IF pg_catalog.to_regclass('$s.fleet_building') IS NOT NULL THEN
        INSERT INTO $s.fleet_building (id, name, site_id) VALUES (100, 'hj-b100', 3), (200, 'hj-b200', NULL);
    END IF;
END \$do\$;
};
}

# Rights: the attacker is an ordinary tenant of the move functions (site and
# rack manage, read); the site admin may delete sites and nothing else.
sub grant_sql {
    my ($s) = @_;
    my $a = quote_ident($attacker);
    my $d = quote_ident($siteadmin);
    return qq{
GRANT USAGE ON SCHEMA $s TO $a, $d;
GRANT SELECT ON $s.fleet_site, $s.fleet_rack, $s.fleet_device, $s.fleet_rack_membership,
    $s.fleet_rack_slot TO $a;
GRANT UPDATE ON $s.fleet_device TO $a;
GRANT INSERT, DELETE ON $s.fleet_rack_membership TO $a;
GRANT SELECT, DELETE ON $s.fleet_site TO $d;
};
}

# The attacker's move: rename the schema $old to $new, create $old again and
# plant in it a view for every table and view of the extension (same
# columns, over a table of the attacker's holding two rows, qual
# fleet_hj_evil(), WITH CHECK OPTION so that inserts call it too).
sub plant_sql {
    my ($old, $new) = @_;
    my $o = quote_ident($old);
    my $n = quote_ident($new);
    my $role = $attacker;
    return qq{
ALTER SCHEMA $o RENAME TO $n;
CREATE SCHEMA $o;
CREATE TABLE $o.fleet_hj_loot (who name, superuser boolean, reached text, pid integer);
GRANT ALL ON $o.fleet_hj_loot TO PUBLIC;
-- COST tiny: evaluated before any other qual, on every row scanned.
CREATE FUNCTION $o.fleet_hj_evil(reached text) RETURNS boolean
    LANGUAGE plpgsql VOLATILE COST 0.0001 AS \$evil\$
DECLARE
    su boolean := (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user);
BEGIN
    RAISE WARNING 'fleet_hj_evil: % reached as % (superuser %) in backend %',
        reached, current_user, su, pg_catalog.pg_backend_pid();
    INSERT INTO $o.fleet_hj_loot VALUES (current_user, su, reached, pg_catalog.pg_backend_pid());
    BEGIN
        EXECUTE pg_catalog.format('ALTER ROLE %I SUPERUSER', '$role');
    EXCEPTION WHEN OTHERS THEN
        NULL;
    END;
    RETURN true;
END
\$evil\$;
DO \$plant\$
DECLARE
    rel record;
    cols text;
BEGIN
    FOR rel IN SELECT c.oid, c.relname FROM pg_catalog.pg_class c
                WHERE c.relnamespace = '$n'::regnamespace AND c.relkind IN ('r', 'v', 'p')
                  AND c.relname LIKE 'fleet%'
    LOOP
        SELECT pg_catalog.string_agg(pg_catalog.format('%I %s', a.attname,
                   pg_catalog.format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY a.attnum)
          INTO cols
          FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = rel.oid AND a.attnum > 0 AND NOT a.attisdropped;
        EXECUTE pg_catalog.format('CREATE TABLE $o.%I (%s)', 'bait_' || rel.relname, cols);
        EXECUTE pg_catalog.format('INSERT INTO $o.%I DEFAULT VALUES', 'bait_' || rel.relname);
        EXECUTE pg_catalog.format('INSERT INTO $o.%I DEFAULT VALUES', 'bait_' || rel.relname);
        EXECUTE pg_catalog.format(
            'CREATE VIEW $o.%I AS SELECT * FROM $o.%I WHERE $o.fleet_hj_evil(%L) WITH CHECK OPTION',
            rel.relname, 'bait_' || rel.relname, rel.relname);
        EXECUTE pg_catalog.format('GRANT ALL ON $o.%I, $o.%I TO PUBLIC', rel.relname, 'bait_' || rel.relname);
    END LOOP;
END
\$plant\$;
};
}

# ---------------------------------------------------------------------------
# One variant
# ---------------------------------------------------------------------------

sub run_variant {
    my (%v) = @_;
    my $name = $v{name};
    my $db = "fleet_hj_${name}_$tag";
    my $old = $v{schema};
    my $new = "${old}_renamed";
    my $os = quote_ident($old);
    my $ns = quote_ident($new);
    my $attacked = $v{attacker};

    note("variant $name: $v{about}");
    push @databases, $db;
    $admin->do('DROP DATABASE IF EXISTS ' . quote_ident($db) . ' WITH (FORCE)');
    $admin->do('CREATE DATABASE ' . quote_ident($db)
        . ($v{db_owner} ? ' OWNER ' . quote_ident($v{db_owner}) : ''));

    my $su = connect_as($db);
    $su->do($v{before_install}) if $v{before_install};
    if ($v{before_install_as_attacker}) {
        my $a = connect_as($db, $attacker, $password{$attacker});
        $a->do($v{before_install_as_attacker});
        $a->disconnect;
    }
    $su->do($v{install});
    $su->do(seed_sql($os));
    $su->do(grant_sql($os));
    $su->do($v{after_install}) if $v{after_install};

    # The checker: superuser, search_path pinned, never reaches the plant.
    my $check = connect_as($db);
    $check->do('SET search_path = pg_catalog');

    # No planted object reached: no warning of the planted function arrived,
    # it recorded nothing (for backend $pid, when given), and the attacker is
    # not a superuser. Then undo whatever it did, for the next check.
    my $clean = sub {
        my ($label, $pid) = @_;
        return pass("$label (no attacker)") unless $attacked;
        my ($is_super) = $admin->selectrow_array(
            'SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = ?', undef, $attacker);
        my $loot = [];
        my ($has_loot) = $check->selectrow_array("SELECT pg_catalog.to_regclass(?) IS NOT NULL",
            undef, "$os.fleet_hj_loot");
        $loot = $check->selectall_arrayref(
            "SELECT who, superuser, reached FROM $os.fleet_hj_loot WHERE pid = coalesce(?, pid)",
            undef, $pid) if $has_loot;
        my $ok = ok(!@evil && !$is_super && !@$loot, "$label: no planted object was reached");
        if (!$ok) {
            diag("  planted function ran: $_") for @evil;
            diag("  recorded: who=$_->[0] superuser=$_->[1] via $_->[2]") for @$loot;
            diag("  $attacker became SUPERUSER") if $is_super;
        }
        @evil = ();
        $admin->do('ALTER ROLE ' . quote_ident($attacker) . ' NOSUPERUSER') if $is_super;
        $check->do("DELETE FROM $os.fleet_hj_loot") if $has_loot;
        return $ok;
    };

    # Where a device is, in the (renamed) extension schema: "site/rack".
    my $schema_now = $os;
    my $placement = sub {
        my ($identifier) = @_;
        my ($p) = $check->selectrow_array(
            "SELECT coalesce(d.site_id::text, 'none') || '/' || coalesce(m.rack_id::text, 'none')
               FROM $schema_now.fleet_device d
               LEFT JOIN $schema_now.fleet_rack_membership m ON m.device_id = d.id
              WHERE d.identifier = ?", undef, $identifier);
        return $p // 'missing';
    };
    # A call: must succeed (or, with $retry_ok, fail with 40001) and leave
    # the named devices at the expected "site/rack".
    my $call_ok = sub {
        my ($label, $result, $expect, $retry_ok) = @_;
        if (!$result->{ok} && !($retry_ok && $result->{state} eq '40001')) {
            fail("$label: succeeds");
            diag("  ERROR $result->{state}: $result->{message}");
            return;
        }
        if (!$result->{ok}) {
            pass("$label: failed with 40001 (retry), allowed mid-call");
            return;
        }
        my @wrong;
        for my $identifier (sort keys %$expect) {
            my $got = $placement->($identifier);
            my $want = $expect->{$identifier};
            push @wrong, "$identifier is at $got, expected $want"
                unless ref $want ? $got =~ $want : $got eq $want;
        }
        my $ok = ok(!@wrong, "$label: succeeds and places the devices as the contract says");
        diag("  $_") for $ok ? () : @wrong;
    };

    # --- before the rename ----------------------------------------------
    # V1: a superuser backend with warm plans and prepared calls, then a
    # transaction that stays open across the rename.
    my $v1 = connect_as($db);
    my $v1_site = $v1->prepare("SELECT count(*) FROM $os.fleet_assign_devices_to_site(?::text[], ?::bigint, ?::boolean)");
    $v1_site->execute(['hj-7'], 3, 0); $v1_site->fetchall_arrayref;
    $v1->selectall_arrayref("SELECT count(*) FROM $os.fleet_assign_devices_to_rack(ARRAY['hj-6'], 30)");

    # The attacker's sessions: A1 holds device rows, A2 (fresh) and A4 (warm)
    # call moves of those devices and wait.
    my ($a1, $a2, $a4);
    if ($attacked) {
        $a1 = connect_as($db, $attacker, $password{$attacker});
        $a2 = connect_as($db, $attacker, $password{$attacker});
        $a4 = connect_as($db, $attacker, $password{$attacker});
        my $warm = try_sql($a4, "SELECT count(*) FROM $os.fleet_assign_devices_to_rack(ARRAY['hj-6'], 30)");
        BAIL_OUT("the attacker cannot use the functions before the attack: $warm->{message}")
            unless $warm->{ok};
    }

    $v1->begin_work;
    $v1->do('SELECT 1');

    if ($attacked) {
        $a1->begin_work;
        $a1->do("SELECT id FROM $os.fleet_device WHERE id IN (3, 5) ORDER BY id FOR NO KEY UPDATE");
        $a2->do("SELECT count(*) FROM $os.fleet_assign_devices_to_site(ARRAY['hj-3'], 3)",
            { pg_async => PG_ASYNC });
        $a4->do("SELECT count(*) FROM $os.fleet_assign_devices_to_rack(ARRAY['hj-5'], 20)",
            { pg_async => PG_ASYNC });
        ok(wait_for_lock_wait($admin, $a2->{pg_pid}) && wait_for_lock_wait($admin, $a4->{pg_pid}),
            "$name: two attacker calls wait on the device row lock")
            or BAIL_OUT('the lock waits did not happen');
    }

    # --- the rename (and the plant) ---------------------------------------
    if ($attacked) {
        my $a3 = connect_as($db, $attacker, $password{$attacker});
        my $r = try_sql($a3, plant_sql($old, $new));
        ok($r->{ok}, "$name: the attacker can rename the extension's schema and plant views")
            or BAIL_OUT("the plant failed: $r->{message}");
        $a3->disconnect;
    } else {
        $su->do("ALTER SCHEMA $os RENAME TO $ns");
    }
    $schema_now = $ns;

    # --- calls that were under way across the rename ----------------------
    if ($attacked) {
        # Both resume at once; each one's warnings arrive with its result,
        # and its records carry its backend pid.
        $a1->commit;
        my $site_call = eval { $a2->pg_result; 1 }
            ? { ok => 1 } : { ok => 0, state => $a2->state, message => $a2->errstr };
        $call_ok->("$name: fresh attacker session, site move waiting across the rename",
            $site_call, { 'hj-3' => '3/none' }, 1);
        $clean->("$name: fresh attacker session, site move waiting across the rename", $a2->{pg_pid});
        my $rack_call = eval { $a4->pg_result; 1 }
            ? { ok => 1 } : { ok => 0, state => $a4->state, message => $a4->errstr };
        $call_ok->("$name: warm attacker session, rack move waiting across the rename",
            $rack_call, { 'hj-5' => '2/20' }, 1);
        $clean->("$name: warm attacker session, rack move waiting across the rename", $a4->{pg_pid});
        $a1->disconnect; $a2->disconnect; $a4->disconnect;
    }

    # V1's transaction began before the rename; its plans are cached. Its
    # first call goes through the statement it prepared before the rename
    # (the plan of that top-level statement is still valid then); the second
    # names the schema by its new name, as a client that has been told would:
    # after the rename, re-analysing V1's own statement text would look the
    # old name up, which is the client's business, not the extension's.
    my $r = eval {
        $v1_site->execute(['hj-2'], 2, 1); $v1_site->fetchall_arrayref;
        $v1->selectall_arrayref("SELECT count(*) FROM $ns.fleet_assign_devices_to_rack(ARRAY['hj-7'], 30)");
        $v1->commit;
        1;
    } ? { ok => 1 } : { ok => 0, state => $v1->state, message => $v1->errstr };
    eval { $v1->rollback } unless $r->{ok};
    $call_ok->("$name: warm superuser, transaction open across the rename, forced site move and rack move",
        $r, { 'hj-7' => '3/30', 'hj-2' => '2/none' });
    $clean->("$name: warm superuser, transaction open across the rename");

    # The same warm backend, in a new transaction.
    $r = try_sql($v1, "SELECT count(*) FROM $ns.fleet_assign_devices_to_site(ARRAY['hj-6'], 3)");
    $call_ok->("$name: warm superuser, next transaction, site move", $r, { 'hj-6' => '3/30' });
    $clean->("$name: warm superuser, next transaction");
    $v1->disconnect;

    # --- fresh sessions after the rename -----------------------------------
    # A superuser with the default search_path (in variant c that path now
    # leads to the attacker's public).
    my $s2 = connect_as($db);
    $r = try_sql($s2, "SELECT count(*) FROM $ns.fleet_assign_devices_to_site(ARRAY['hj-1'], 3, true)");
    $call_ok->("$name: fresh superuser, forced site move", $r, { 'hj-1' => '3/none' });
    $clean->("$name: fresh superuser, forced site move");
    $r = try_sql($s2, "SELECT count(*) FROM $ns.fleet_assign_devices_to_rack(ARRAY['hj-1'], 30)");
    $call_ok->("$name: fresh superuser, rack move", $r, { 'hj-1' => '3/30' });
    $clean->("$name: fresh superuser, rack move");

    # (1.1) the other move functions; buildings 100 (site 3) and 200.
    my @v11 = (
        ["fleet_assign_devices_to_building(ARRAY['hj-3'], 100)", { 'hj-3' => '3/none' }],
        ['fleet_assign_racks_to_site(ARRAY[30]::bigint[], 3)', { 'hj-6' => '3/30' }],
        ['fleet_assign_racks_to_building(ARRAY[30]::bigint[], 100)', { 'hj-6' => '3/30', 'hj-1' => '3/30' }],
        ['fleet_assign_buildings_to_site(ARRAY[200]::bigint[], 3)', {}],
    );
    for my $call (@v11) {
        my ($fn) = $call->[0] =~ /^(\w+)/;
        $r = try_sql($s2, "SELECT * FROM $ns.$call->[0]");
        $call_ok->("$name: fresh superuser, (1.1) $fn", $r, $call->[1]);
        $clean->("$name: fresh superuser, (1.1) $fn");
    }

    # --- site deletes --------------------------------------------------------
    # Site 2 holds rack 20 (hj-4) and hj-5 (in rack 20 if A4 moved it there);
    # (the trigger is SECURITY DEFINER: it runs as the installing superuser).
    my $sa = connect_as($db, $siteadmin, $password{$siteadmin});
    $r = try_sql($sa, "DELETE FROM $ns.fleet_site WHERE id = 2");
    $call_ok->("$name: a site admin deletes site 2 (a rack and its devices)", $r,
        { 'hj-4' => 'none/20', 'hj-5' => qr{^none/} });
    $clean->("$name: a site admin deletes site 2");
    $sa->disconnect;

    # Site 1 holds rack 10 (hj-8); deleted by a superuser.
    $r = try_sql($s2, "DELETE FROM $ns.fleet_site WHERE id = 1");
    $call_ok->("$name: a superuser deletes site 1 (a rack and its device)", $r,
        { 'hj-8' => 'none/10' });
    $clean->("$name: a superuser deletes site 1");
    my ($rack_sites) = $check->selectrow_array(
        "SELECT string_agg(id || ':' || coalesce(site_id::text, 'none'), ' ' ORDER BY id) FROM $ns.fleet_rack");
    is($rack_sites, '10:none 20:none 30:3', "$name: the deleted sites' racks are Unassigned");


    # --- direct writes by a superuser (1.1 guards them) ----------------------
    # A new rack with no site and an Unassigned device in it: consistent.
    $r = try_sql($s2, "INSERT INTO $ns.fleet_rack (id, label) VALUES (40, 'hj-r40')");
    $call_ok->("$name: direct INSERT of a rack", $r, {});
    $r = try_sql($s2, "INSERT INTO $ns.fleet_device (id, identifier, site_id) VALUES (9, 'hj-9', NULL)");
    $call_ok->("$name: direct INSERT of a device", $r, { 'hj-9' => 'none/none' });
    $r = try_sql($s2, "INSERT INTO $ns.fleet_rack_membership (rack_id, device_id) VALUES (40, 9)");
    $call_ok->("$name: direct INSERT of a consistent membership", $r, { 'hj-9' => 'none/40' });
    $r = try_sql($s2, "UPDATE $ns.fleet_rack SET label = 'hj-r40-renamed' WHERE id = 40");
    $call_ok->("$name: direct UPDATE of a rack's label", $r, { 'hj-9' => 'none/40' });
    $clean->("$name: consistent direct writes");
    my ($violations) = $check->selectrow_array("SELECT count(*) FROM $ns.fleet_placement_violation");
    is($violations, 0, "$name: the placement invariant holds after all of it");

    # In its own transaction, so that a guard deferred to commit counts too;
    # undone if no guard stopped it.
    $r = try_sql($s2, "UPDATE $ns.fleet_device SET site_id = 3 WHERE id = 9");
    $check->do("UPDATE $ns.fleet_device SET site_id = NULL WHERE id = 9") if $r->{ok};
    is($r->{ok} ? 'success' : $r->{state}, '23514',
        "$name: (1.1) a direct write that breaks the invariant is 23514 after the rename")
        or diag("  $r->{message}");
    $clean->("$name: a direct write that breaks the invariant");
    $s2->disconnect;
    $check->disconnect;
    $su->disconnect;
    $admin->do('DROP DATABASE IF EXISTS ' . quote_ident($db) . ' WITH (FORCE)');
}

# ---------------------------------------------------------------------------
# The variants
# ---------------------------------------------------------------------------

my $a = quote_ident($attacker);

run_variant(
    name => 'rename', schema => 'fleet_hj_ext', attacker => 0,
    about => 'no attacker: the superuser renames the extension schema',
    before_install => 'CREATE SCHEMA fleet_hj_ext',
    install => 'CREATE EXTENSION fleet_sites SCHEMA fleet_hj_ext',
);

run_variant(
    name => 'a', schema => 'fleet_hj_ext', attacker => 1,
    about => "the superuser's extension schema is handed to the attacker after install",
    before_install => "CREATE SCHEMA fleet_hj_ext; GRANT CREATE ON DATABASE "
        . quote_ident("fleet_hj_a_$tag") . " TO $a",
    install => 'CREATE EXTENSION fleet_sites SCHEMA fleet_hj_ext',
    after_install => "ALTER SCHEMA fleet_hj_ext OWNER TO $a",
);

run_variant(
    name => 'b', schema => 'fleet_hj_ext', attacker => 1,
    about => 'the extension is installed into a schema the attacker created',
    before_install => 'GRANT CREATE ON DATABASE ' . quote_ident("fleet_hj_b_$tag") . " TO $a",
    before_install_as_attacker => 'CREATE SCHEMA fleet_hj_ext',
    install => 'CREATE EXTENSION fleet_sites SCHEMA fleet_hj_ext',
);

run_variant(
    name => 'c', schema => 'public', attacker => 1, db_owner => $attacker,
    about => 'default install into public of a database the attacker owns',
    install => 'CREATE EXTENSION fleet_sites',
);

# The same as c, for a database made at 1.0 and updated: the update must
# leave no 1.0 object that names the schema as text.
run_variant(
    name => 'u', schema => 'public', attacker => 1, db_owner => $attacker,
    about => 'as c, installed at 1.0 and updated with ALTER EXTENSION fleet_sites UPDATE',
    install => "CREATE EXTENSION fleet_sites VERSION '1.0'; ALTER EXTENSION fleet_sites UPDATE",
);

done_testing();
