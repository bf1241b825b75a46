#!/usr/bin/env perl
# test/tap/no_internal_errors.t: hostile input, hostile triggers and policies,
# hostile DDL by the tables' owner, timeouts and cancels. None of it may end
# in an internal error (XX000, "can't happen") or a crash, or leave the
# database in a state the contract forbids.
#
# Each case runs in its own transaction on a fresh fixture, with its own
# triggers, policies or DDL, and is rolled back afterwards. The call either
#   - fails with a SQLSTATE other than XX000 (where the contract names the
#     SQLSTATE, that one), and nothing is written; or
#   - succeeds, and then did exactly what the contract says: the named
#     devices are where the move puts them, no other device changed, the
#     placement invariant holds, no rack is over capacity, and exactly one
#     fleet_activity row was written.
# Some cases can only be right as an error (a trigger that suppresses the
# device update or the audit insert); their success check cannot pass.
#
# Runs inside pg_virtualenv (a superuser in PGUSER). Creates the database
# fleet_nie_<pid> and the role fleet_nie_tenant_<pid>, drops them on exit.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use DBD::Pg qw(:async);
use FleetTap qw(connect_as admin_handle try_sql wait_for_lock_wait quote_ident);
use Test::More;
use Time::HiRes qw(time);

my $admin = admin_handle();
my $parent = $$;
my $db = "fleet_nie_$$";
my $tenant = "fleet_nie_tenant_$$";

END {
    if ($$ == $parent && $admin) {
        eval { $admin->do('DROP DATABASE IF EXISTS ' . quote_ident($db) . ' WITH (FORCE)') };
        eval { $admin->do('DROP ROLE IF EXISTS ' . quote_ident($tenant)) };
    }
}

$admin->do('DROP DATABASE IF EXISTS ' . quote_ident($db) . ' WITH (FORCE)');
$admin->do('DROP ROLE IF EXISTS ' . quote_ident($tenant));
$admin->do('CREATE DATABASE ' . quote_ident($db));
$admin->do('CREATE ROLE ' . quote_ident($tenant) . ' NOLOGIN');

my $dbh = connect_as($db);
my $t = quote_ident($tenant);
$dbh->do(qq{
CREATE EXTENSION fleet_sites;
GRANT SELECT, UPDATE ON fleet_device TO $t;
GRANT SELECT, INSERT, DELETE ON fleet_rack_membership TO $t;
GRANT SELECT ON fleet_site, fleet_rack, fleet_rack_slot TO $t;
-- The helpers of this script, out of the way of the extension's schema.
CREATE SCHEMA nie;
GRANT USAGE ON SCHEMA nie TO PUBLIC;
CREATE SEQUENCE nie.flip;
GRANT USAGE ON SEQUENCE nie.flip TO PUBLIC;
});

# The fixture: sites 1, 2; racks 10 (site 1), 20 (site 2), 30 (site 1, 1 x 1,
# empty); devices d1..d6 at site 1, d1, d2, d5 in rack 10 (d5 with a slot).
# TRUNCATE gives fresh heaps, so tuple ids are (0,1).. in id order.
my $reset_sql = q{
TRUNCATE fleet_rack_slot, fleet_rack_membership, fleet_device, fleet_rack, fleet_site, fleet_activity CASCADE;
INSERT INTO fleet_site (id, name) VALUES (1, 's1'), (2, 's2');
INSERT INTO fleet_rack (id, label, site_id, row_count, column_count) VALUES
    (10, 'r10', 1, 12, 12), (20, 'r20', 2, 12, 12), (30, 'r30', 1, 1, 1);
INSERT INTO fleet_device (id, identifier, site_id) SELECT i, 'd' || i, 1 FROM generate_series(1, 6) i;
INSERT INTO fleet_rack_membership (rack_id, device_id) VALUES (10, 1), (10, 2), (10, 5);
INSERT INTO fleet_rack_slot (rack_id, device_id, row_index, column_index) VALUES (10, 5, 0, 0);
};

# Everything a case could change, as one comparable string.
my $digest_sql = q{
SELECT concat_ws(' | ',
    (SELECT string_agg(t::text, ' ' ORDER BY t.id) FROM fleet_site t),
    (SELECT string_agg(t::text, ' ' ORDER BY t.id) FROM fleet_rack t),
    (SELECT string_agg(t::text, ' ' ORDER BY t.id) FROM fleet_device t),
    (SELECT string_agg(t::text, ' ' ORDER BY t.device_id) FROM fleet_rack_membership t),
    (SELECT string_agg(t::text, ' ' ORDER BY t.device_id) FROM fleet_rack_slot t),
    (SELECT count(*)::text FROM fleet_activity))
};

# identifier => "site/rack" for every device.
sub placements {
    my %p;
    for my $row (@{ $dbh->selectall_arrayref(q{
        SELECT d.identifier, coalesce(d.site_id::text, 'none') || '/' || coalesce(m.rack_id::text, 'none')
          FROM fleet_device d LEFT JOIN fleet_rack_membership m ON m.device_id = d.id}) }) {
        $p{$row->[0]} = $row->[1];
    }
    return \%p;
}

sub broken_rules {
    my @problems;
    my ($violations) = $dbh->selectrow_array('SELECT count(*) FROM fleet_placement_violation');
    push @problems, "$violations row(s) in fleet_placement_violation" if $violations;
    my ($overfull) = $dbh->selectrow_array(q{
        SELECT string_agg(r.id::text, ', ') FROM fleet_rack r
         WHERE (SELECT count(*) FROM fleet_rack_membership m WHERE m.rack_id = r.id)
               > r.row_count * r.column_count});
    push @problems, "rack(s) over capacity: $overfull" if defined $overfull;
    return @problems;
}

# run_case(name, setup, call, expect, [allowed => [...], role => ..., extra => sub])
#   expect: identifier => "site/rack" after a successful call (or 'missing');
#   every other device must be unchanged.
#   allowed: the SQLSTATEs the contract allows when the call fails; without
#   it, any SQLSTATE but XX000 (and but those in forbidden).
sub run_case {
    my (%c) = @_;
    my $name = $c{name};
    $dbh->begin_work;
    $dbh->do($reset_sql);
    $dbh->do($c{setup}) if $c{setup};
    my ($before) = $dbh->selectrow_array($digest_sql);
    my $placed_before = placements();
    my ($activity_before) = $dbh->selectrow_array('SELECT count(*) FROM fleet_activity');
    $dbh->do('SAVEPOINT call');
    $dbh->do("SET LOCAL ROLE $c{role}") if $c{role};
    my $started = time();
    my $r = try_sql($dbh, $c{call});
    my $elapsed = time() - $started;
    my $ok;
    if (!$r->{ok}) {
        $dbh->do('ROLLBACK TO SAVEPOINT call');
        my $allowed = $c{allowed};
        my $forbidden = $c{forbidden} // [];
        my $state_ok = $r->{state} ne 'XX000' && $r->{state} ne ''
            && (!$allowed || grep { $_ eq $r->{state} } @$allowed)
            && !grep { $_ eq $r->{state} } @$forbidden;
        $ok = ok($state_ok, "$name: "
            . ($allowed ? 'fails with ' . join(' or ', @$allowed)
                        : 'fails with a user SQLSTATE, not XX000' . join('', map { " nor $_" } @$forbidden))
            . " (got $r->{state})");
        diag("  $r->{message}") unless $ok;
        my ($after) = $dbh->selectrow_array($digest_sql);
        is($after, $before, "$name: ... and nothing is written");
    } else {
        $dbh->do('RESET ROLE');
        my @problems = broken_rules();
        my $placed = placements();
        for my $identifier (sort keys %$placed_before) {
            my $want = exists $c{expect}{$identifier} ? $c{expect}{$identifier} : $placed_before->{$identifier};
            my $got = $placed->{$identifier} // 'missing';
            push @problems, "$identifier is at $got, expected $want" if $got ne $want;
        }
        my ($activity) = $dbh->selectrow_array('SELECT count(*) FROM fleet_activity');
        my $rows = $c{activity_rows} // 1;
        push @problems, sprintf('%d fleet_activity row(s) written, expected %d', $activity - $activity_before, $rows)
            if $activity - $activity_before != $rows;
        push @problems, $c{extra}->() if $c{extra};
        $ok = ok(!@problems, "$name: succeeds and does exactly what the contract says");
        diag("  $_") for $ok ? () : @problems;
    }
    note(sprintf('  %s: %.2f s', $name, $elapsed));
    $dbh->rollback;
    return $r;
}

# ---------------------------------------------------------------------------
# Triggers and policies that change rows under the move's feet
# ---------------------------------------------------------------------------

# The force clear deletes d1's membership; the trigger updates d1, so the row
# version the move locked is no longer the live one (1.0: XX000 "updated 0 of
# 1 locked devices").
run_case(
    name => 'a membership-delete trigger updates the device during a force clear',
    setup => q{
        CREATE FUNCTION nie.touch_device() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN UPDATE public.fleet_device SET updated_at = now() - interval '1 day' WHERE id = OLD.device_id; RETURN OLD; END $$;
        CREATE TRIGGER nie_touch AFTER DELETE ON fleet_rack_membership
            FOR EACH ROW EXECUTE FUNCTION nie.touch_device();},
    call => q{SELECT * FROM fleet_assign_devices_to_site(ARRAY['d1'], 2, true)},
    expect => { d1 => '2/none' },
);

run_case(
    name => 'a membership-delete trigger deletes the device during a force clear',
    setup => q{
        CREATE FUNCTION nie.drop_device() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN DELETE FROM public.fleet_device WHERE id = OLD.device_id; RETURN OLD; END $$;
        CREATE TRIGGER nie_drop AFTER DELETE ON fleet_rack_membership
            FOR EACH ROW EXECUTE FUNCTION nie.drop_device();},
    call => q{SELECT * FROM fleet_assign_devices_to_site(ARRAY['d1', 'd3'], 2, true)},
    expect => { d1 => 'missing', d3 => '2/none' },
);

# The same trigger moving the device itself, through the function (a
# recursive call from inside the force clear).
run_case(
    name => 'a membership-delete trigger calls the site move for the same device',
    setup => q{
        CREATE FUNCTION nie.move_again() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM * FROM public.fleet_assign_devices_to_site(
                ARRAY(SELECT identifier FROM public.fleet_device WHERE id = OLD.device_id), NULL);
            RETURN OLD;
        END $$;
        CREATE TRIGGER nie_again AFTER DELETE ON fleet_rack_membership
            FOR EACH ROW WHEN (pg_trigger_depth() < 1) EXECUTE FUNCTION nie.move_again();},
    call => q{SELECT * FROM fleet_assign_devices_to_site(ARRAY['d1'], 2, true)},
    expect => { d1 => '2/none' },
    activity_rows => 2,    # the nested call applied too
);

# A BEFORE UPDATE trigger that suppresses the update: the move cannot apply,
# so only an error is right (1.0: XX000 "updated 0 of 1 locked devices").
run_case(
    name => 'a BEFORE UPDATE trigger on fleet_device suppresses the site update',
    setup => q{
        CREATE FUNCTION nie.suppress() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
        CREATE TRIGGER nie_suppress BEFORE UPDATE ON fleet_device
            FOR EACH ROW EXECUTE FUNCTION nie.suppress();},
    call => q{SELECT * FROM fleet_assign_devices_to_site(ARRAY['d3'], 2)},
    expect => { d3 => '2/none' },
);

# A policy that lets the caller lock the row and then hides it from the
# UPDATE (its qual counts calls). 1.0: XX000.
run_case(
    name => 'a row-level security policy hides the device between the lock and the update',
    setup => qq{
        SELECT setval('nie.flip', 1, false);
        ALTER TABLE fleet_device ENABLE ROW LEVEL SECURITY;
        CREATE POLICY nie_flip ON fleet_device TO $t USING (nextval('nie.flip') < 2);},
    role => $t,
    call => q{SELECT * FROM fleet_assign_devices_to_site(ARRAY['d3'], 2)},
    expect => { d3 => '2/none' },
);

# A policy that errors in the middle of the move.
run_case(
    name => 'a row-level security policy on fleet_rack_membership raises division by zero',
    setup => qq{
        ALTER TABLE fleet_rack_membership ENABLE ROW LEVEL SECURITY;
        CREATE POLICY nie_boom ON fleet_rack_membership TO $t USING (1 / 0 = 0);},
    role => $t,
    call => q{SELECT * FROM fleet_assign_devices_to_site(ARRAY['d1'], 2, true)},
    expect => { d1 => '2/none' },
    allowed => ['22012'],
);

# The audit insert suppressed: an applied call must write its row, so only an
# error is right (1.0: XX000 "writing the activity row failed").
run_case(
    name => 'a BEFORE INSERT trigger on fleet_activity suppresses the audit row',
    setup => q{
        CREATE FUNCTION nie.suppress() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
        CREATE TRIGGER nie_suppress BEFORE INSERT ON fleet_activity
            FOR EACH ROW EXECUTE FUNCTION nie.suppress();},
    call => q{SELECT * FROM fleet_assign_devices_to_site(ARRAY['d3'], 2)},
    expect => { d3 => '2/none' },
);

# The force clear's delete suppressed: only an error is right. 1.0 raises
# 42501 and blames row-level security alone, which is not even enabled here.
my $suppressed = run_case(
    name => 'a BEFORE DELETE trigger on fleet_rack_membership suppresses the force clear',
    setup => q{
        CREATE FUNCTION nie.suppress() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
        CREATE TRIGGER nie_suppress BEFORE DELETE ON fleet_rack_membership
            FOR EACH ROW EXECUTE FUNCTION nie.suppress();},
    call => q{SELECT * FROM fleet_assign_devices_to_site(ARRAY['d1'], 2, true)},
    expect => { d1 => '2/none' },
);
like($suppressed->{message} // '', qr/trigger/i,
    '... and its message allows for a trigger (row-level security is off on every table here)');

# The owner's trigger rewrites fleet_device in the middle of a force clear
# (ALTER COLUMN ... TYPE ... USING rewrites the heap), so every tuple id the
# move saved now points at another row. d1 is deleted first, so after the
# rewrite d4's old tuple id holds d5, which is racked at site 1. 1.0 moves d5
# instead of d4 and breaks the invariant, with no error.
run_case(
    name => 'a trigger rewrites fleet_device mid-move (saved tuple ids go stale)',
    setup => q{
        DELETE FROM fleet_device WHERE id = 1;
        INSERT INTO fleet_rack_membership (rack_id, device_id) VALUES (10, 4);
        CREATE FUNCTION nie.rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            ALTER TABLE public.fleet_device ALTER COLUMN updated_at TYPE timestamptz
                USING updated_at + interval '0 seconds';
            RETURN NULL;
        END $$;
        CREATE TRIGGER nie_rewrite AFTER DELETE ON fleet_rack_membership
            FOR EACH STATEMENT EXECUTE FUNCTION nie.rewrite();},
    call => q{SELECT * FROM fleet_assign_devices_to_site(ARRAY['d4'], 2, true)},
    expect => { d4 => '2/none' },
);

# A recursive rack move from a statement trigger on fleet_device.
run_case(
    name => 'an AFTER UPDATE trigger on fleet_device calls the rack move for the moving device',
    setup => q{
        CREATE FUNCTION nie.rack_again() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM * FROM public.fleet_assign_devices_to_rack(ARRAY['d3'], 30); RETURN NULL; END $$;
        CREATE TRIGGER nie_rack AFTER UPDATE ON fleet_device
            FOR EACH STATEMENT WHEN (pg_trigger_depth() < 1) EXECUTE FUNCTION nie.rack_again();},
    call => q{SELECT * FROM fleet_assign_devices_to_rack(ARRAY['d3'], 20)},
    expect => { d3 => '2/20' },
    activity_rows => 2,
);

# ---------------------------------------------------------------------------
# DDL by the tables' owner
# ---------------------------------------------------------------------------

# row_count becomes double precision: a legal ALTER (no view uses it). 1.0
# reads the capacity as int4 whatever its type, gets the low half of the
# float8 144.0, 0, and refuses to put one device into an empty 12 x 12 rack:
# 23514 "rack 20 has 0 slots". (With numeric it reads a pointer, and the
# capacity is random: sometimes a 1 x 1 rack takes two members.) A correct
# move either reads the capacity right and applies, or refuses the changed
# table with some other error; a capacity error is wrong here.
run_case(
    name => 'the owner changes fleet_rack.row_count to double precision; an empty rack takes one device',
    setup => q{ALTER TABLE fleet_rack ALTER COLUMN row_count TYPE double precision},
    call => q{SELECT * FROM fleet_assign_devices_to_rack(ARRAY['d3'], 20)},
    expect => { d3 => '2/20' },
    forbidden => ['23514'],
);

run_case(
    name => 'the owner renames fleet_rack.row_count',
    setup => q{ALTER TABLE fleet_rack RENAME COLUMN row_count TO rows},
    call => q{SELECT * FROM fleet_assign_devices_to_rack(ARRAY['d3'], 20)},
    expect => {},
    allowed => ['42703', '55000'],
);

run_case(
    name => 'the owner drops the index on fleet_device.site_id',
    setup => q{DROP INDEX fleet_device_site_id_idx},
    call => q{SELECT * FROM fleet_assign_devices_to_site(ARRAY['d1', 'd3'], 2, true)},
    expect => { d1 => '2/none', d3 => '2/none' },
);

# ---------------------------------------------------------------------------
# Hostile input (the contract's bad-input table, at its edges)
# ---------------------------------------------------------------------------

my @bad = (
    ['NULL array', q{fleet_assign_devices_to_site(NULL, 1)}, '22004'],
    ['a NULL element at subscript -2147483647',
        q{fleet_assign_devices_to_site('[-2147483648:-2147483647]={d3,NULL}'::text[], 1)}, '22004', qr/-2147483647/],
    ['an empty array', q{fleet_assign_devices_to_site('{}'::text[], 1)}, '22023'],
    ['two dimensions', q{fleet_assign_devices_to_rack('{{d3},{d4}}'::text[], 20)}, '2202E'],
    ['257 four-byte characters', q{fleet_assign_devices_to_site(ARRAY[repeat(U&'\+01F600', 257)], 1)}, '22023'],
    ['a 16 MB identifier', q{fleet_assign_devices_to_site(ARRAY[repeat('x', 16 * 1024 * 1024)], 1)}, '22023'],
    ['10,001 distinct identifiers',
        q{fleet_assign_devices_to_site(ARRAY(SELECT 'n' || g FROM generate_series(1, 10001) g), 1)}, '54000'],
    ['the smallest bigint as target', q{fleet_assign_devices_to_site(ARRAY['d3'], -9223372036854775808)}, '22023'],
    ['force_clear NULL', q{fleet_assign_devices_to_rack(ARRAY['d3'], 20, NULL)}, '22004'],
    ['a target site that does not exist', q{fleet_assign_devices_to_site(ARRAY['d3'], 9223372036854775807)}, '23503'],
);
for my $case (@bad) {
    my ($what, $call, $state, $message) = @$case;
    my $r = run_case(name => "bad input: $what", call => "SELECT * FROM $call",
        expect => {}, allowed => [$state]);
    like($r->{message} // '', $message, "bad input: $what: the message names the subscript")
        if $message;
}

# Odd but valid identifiers: control characters, quotes, backslashes, a
# line separator, 256 four-byte characters. Their audit metadata must be
# valid JSON holding them exactly.
my $odd = <<'SQL';
ARRAY[E'd\x01\x7f"\\' || U&'\2028', repeat(U&'\+01F600', 256)]
SQL
chomp $odd;
run_case(
    name => 'identifiers with control characters, quotes and 256 four-byte characters',
    setup => "INSERT INTO fleet_device (id, identifier, site_id) SELECT 100 + n, x, 1 FROM unnest($odd) WITH ORDINALITY AS u (x, n)",
    call => "SELECT * FROM fleet_assign_devices_to_site($odd, 2)",
    expect => { "d\x01\x7f\"\\\x{2028}" => '2/none', "\x{1F600}" x 256 => '2/none' },
    extra => sub {
        my ($same) = $dbh->selectrow_array(
            "SELECT metadata->'device_identifiers' = to_jsonb($odd) FROM fleet_activity ORDER BY id DESC LIMIT 1");
        return $same ? () : ('the audit metadata does not hold the identifiers exactly');
    },
);

# ---------------------------------------------------------------------------
# 2^26 copies of one identifier. Duplicates count once, so this names one
# device. 1.0 allocates 16 bytes per element up front and fails with XX000
# "invalid memory alloc request size 1073741824"; 2^26 - 1 copies succeed
# (after about 18 s and 3.7 GB of backend memory), so 2^26 is the smallest
# array that shows the failure. Allowed: success (d3 moved, one audit row
# with device_count 1) or 54000 (program limit), nothing written.
# ---------------------------------------------------------------------------

run_case(
    name => '67,108,864 copies of one identifier',
    call => q{SELECT * FROM fleet_assign_devices_to_site(array_fill('d3'::text, ARRAY[67108864]), 2)},
    expect => { d3 => '2/none' },
    allowed => ['54000'],
    extra => sub {
        my ($count) = $dbh->selectrow_array(
            q{SELECT metadata->>'device_count' FROM fleet_activity ORDER BY id DESC LIMIT 1});
        return ($count // '') eq '1' ? () : ("audit device_count is '" . ($count // 'none') . "', expected 1");
    },
);

# ---------------------------------------------------------------------------
# A new enum value used in the transaction that created the extension.
# CREATE EXTENSION runs the 1.0 script and then 1.0--1.1, whose ALTER TYPE
# ... ADD VALUE 'DEVICE_IN_RACK_AT_OTHER_BUILDING' may not be used before
# commit in PostgreSQL 15 (55P04). A test or a deploy script that creates the
# extension and moves devices in one transaction (every pgTAP file does) must
# get its conflict rows, not 55P04.
# ---------------------------------------------------------------------------

{
    my $fresh = "fleet_nie_enum_$$";
    $admin->do('DROP DATABASE IF EXISTS ' . quote_ident($fresh) . ' WITH (FORCE)');
    $admin->do('CREATE DATABASE ' . quote_ident($fresh));
    my $e = connect_as($fresh);
    $e->begin_work;
    $e->do('CREATE EXTENSION fleet_sites');
    my ($has_building) = $e->selectrow_array(q{SELECT to_regclass('fleet_building') IS NOT NULL});
    $e->do(q{INSERT INTO fleet_site (id, name) VALUES (1, 's1');
             INSERT INTO fleet_rack (id, label, site_id) VALUES (10, 'r10', 1);
             INSERT INTO fleet_device (id, identifier, site_id) VALUES (1, 'd1', 1);
             INSERT INTO fleet_rack_membership (rack_id, device_id) VALUES (10, 1);}) if $has_building;
    $e->do(q{INSERT INTO fleet_building (id, name, site_id) VALUES (100, 'b100', 1)}) if $has_building;
    my $r = try_sql($e, q{SELECT device_identifier, reason FROM fleet_assign_devices_to_building(ARRAY['d1'], 100)});
    $e->rollback;
    $e->disconnect;
    $admin->do('DROP DATABASE IF EXISTS ' . quote_ident($fresh) . ' WITH (FORCE)');
    is($r->{ok} ? join(',', map { @$_ } @{ $r->{rows} }) : "$r->{state}: $r->{message}",
       'd1,DEVICE_IN_RACK_AT_OTHER_BUILDING',
       '(1.1) CREATE EXTENSION and a building conflict in one transaction: the conflict, not 55P04');
}

# ---------------------------------------------------------------------------
# Timeouts and cancels while waiting for a row lock held by another session
# ---------------------------------------------------------------------------

my $holder = connect_as($db);
my $waiter = connect_as($db);
$dbh->do($reset_sql);
my ($before_wait) = $dbh->selectrow_array($digest_sql);

for my $how (['lock_timeout', "SET lock_timeout = '200ms'", '55P03'],
             ['statement_timeout', "SET statement_timeout = '200ms'", '57014'],
             ['pg_cancel_backend', 'SELECT 1', '57014']) {
    my ($what, $set, $state) = @$how;
    $holder->begin_work;
    $holder->do(q{SELECT 1 FROM fleet_device WHERE id = 3 FOR UPDATE});
    $waiter->do('RESET ALL');
    $waiter->do($set);
    $waiter->do(q{SELECT * FROM fleet_assign_devices_to_site(ARRAY['d1', 'd3'], 2, true)}, { pg_async => PG_ASYNC });
    if ($what eq 'pg_cancel_backend') {
        wait_for_lock_wait($admin, $waiter->{pg_pid}) or diag('the call did not wait');
        $admin->do('SELECT pg_cancel_backend(?)', undef, $waiter->{pg_pid});
    }
    my $got = eval { $waiter->pg_result; 'success' } // $waiter->state;
    is($got, $state, "$what while the call waits for a device row: $state");
    $holder->rollback;
    my ($after) = $dbh->selectrow_array($digest_sql);
    is($after, $before_wait, "$what: ... and nothing is written");
}
$waiter->do('RESET ALL');

done_testing();
