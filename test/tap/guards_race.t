#!/usr/bin/env perl
# test/tap/guards_race.t: the guards on the placement tables under
# concurrency (spec/api.md, "The invariant holds for every write": no
# interleaving of direct writes and function calls leaves a violation; a
# direct write of one row racing a function call never deadlocks with it,
# 40001 allowed), and the cases test/pgtap/guards_bypass.sql cannot run in
# one session.
#
# Write skew. Each pair below is two one-row statements (or a statement and
# a move call) that each pass alone on the fixture but together would break
# a rule. Every pair runs in two sessions, under READ COMMITTED, REPEATABLE
# READ and SERIALIZABLE (both sessions at the level), in three interleavings:
#   - A's statement, then B's (which may block), A commits, B commits;
#   - the same with B first;
#   - both statements sent at once, each transaction committing as soon as
#     its statement ends (FLEET_RACE_ROUNDS times, default 8), which also
#     probes the window inside a statement between its row locks and its
#     guard (and its foreign-key checks).
# One-row deletes racing writes into what they delete are run the same way.
# After every round: no violation of rules 1-5 on any row, and no 40P01.
# Allowed outcomes of a statement: success, 23514 (the guard, or the move's
# own capacity check), 40001 (a guard meeting a row another transaction
# holds, or the isolation level), and 23505/23503 from the tables' own keys.
# Anything else fails the test.
#
# Deterministic cases: the window in which a one-row UPDATE of a rack's or a
# device's building could deadlock with fleet_assign_buildings_to_site (held
# open with a pause trigger: 40001, not 40P01), a prepared transaction
# holding what its guard locked, COPY FROM STDIN refused by the guard
# (SQLSTATE, message, hint), COPY FREEZE.
#
# Runs inside a cluster from pg_virtualenv (PGHOST, PGPORT, PGUSER,
# PGPASSWORD) with max_prepared_transactions > 0 (test/run sets 10); creates
# the database fleet_guards_race and the role fleet_test_guards_race, and
# drops both at the end.
use strict;
use warnings;

use DBI;
use DBD::Pg qw(:async);
use Time::HiRes qw(time sleep);
use Test::More;

my $rounds = $ENV{FLEET_RACE_ROUNDS} // 8;
my $db     = 'fleet_guards_race';
my $role   = 'fleet_test_guards_race';
my $parent = $$;

sub connect_to {
    my ($dbname) = @_;
    return DBI->connect("dbi:Pg:dbname=$dbname", '', '',
        { RaiseError => 1, PrintError => 0, AutoCommit => 1 });
}

my $admin = eval { connect_to('postgres') };
if (!$admin) {
    plan skip_all => 'no PostgreSQL server to connect to (run inside pg_virtualenv)'
        unless defined $ENV{PGHOST} || defined $ENV{PGPORT};
    BAIL_OUT("cannot connect to database postgres: $DBI::errstr");
}
$admin->do('SET client_min_messages = warning');

my $dropped = 0;
sub cleanup {
    return if $dropped || $$ != $parent || !$admin;
    $dropped = 1;
    eval {
        for my $gid (@{ $admin->selectcol_arrayref(
                "SELECT gid FROM pg_prepared_xacts WHERE database = '$db'") }) {
            my $h = connect_to($db);
            $h->do("ROLLBACK PREPARED '$gid'");
            $h->disconnect;
        }
        $admin->do("DROP DATABASE IF EXISTS $db WITH (FORCE)");
        $admin->do("DROP ROLE IF EXISTS $role");
    };
    diag("cleanup: $@") if $@;
}
END { cleanup() }

$admin->do("DROP DATABASE IF EXISTS $db WITH (FORCE)");
$admin->do("DROP ROLE IF EXISTS $role");
$admin->do("CREATE DATABASE $db");
$admin->do("CREATE ROLE $role NOLOGIN");

# ---------------------------------------------------------------------------
# Fixture
# ---------------------------------------------------------------------------
my $dbh = connect_to($db);
$dbh->do('SET client_min_messages = warning');
$dbh->do('CREATE EXTENSION fleet_sites');
$dbh->do("GRANT SELECT, INSERT, UPDATE, DELETE ON fleet_site, fleet_building, fleet_rack,
          fleet_device, fleet_rack_membership, fleet_rack_slot TO $role");
$dbh->do("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO $role");
$dbh->do("GRANT SELECT ON fleet_placement_violation TO $role");

# The fleet every round starts from (ids are fixed; nothing is generated).
#   sites 1, 2
#   buildings 100 hall site 1, layout 1 x 2: rack 10 at (0,0)
#             300 barn site 1, no layout, empty     400 yard site 1, layout 1 x 1, empty
#             500 pen  site 1, no layout: rack 50 (empty), device d5
#   racks 10 hall (0,0), 1 x 2, holds d1: one slot free
#         30, 31 site 1, no building, empty        32 site 1, no building, d9 in slot (0,0)
#         50 pen, empty
#   devices d1 (hall, rack 10)  d2 (site 1, free)  d3, d4 (hall, free)  d5 (pen, free)
#           d9 (rack 32)
$dbh->do(<<'SQL');
CREATE FUNCTION public.race_reset() RETURNS void LANGUAGE sql AS $$
    DELETE FROM public.fleet_rack_slot;
    DELETE FROM public.fleet_rack_membership;
    DELETE FROM public.fleet_device;
    DELETE FROM public.fleet_rack;
    DELETE FROM public.fleet_building;
    DELETE FROM public.fleet_site;
    DELETE FROM public.fleet_activity;
    INSERT INTO public.fleet_site (id, name) VALUES (1, 'one'), (2, 'two');
    INSERT INTO public.fleet_building (id, name, site_id, aisle_count, racks_per_aisle)
        VALUES (100, 'hall', 1, 1, 2), (300, 'barn', 1, NULL, NULL), (400, 'yard', 1, 1, 1),
               (500, 'pen', 1, NULL, NULL);
    INSERT INTO public.fleet_rack (id, label, site_id, building_id, aisle_index, position_in_aisle,
                                   row_count, column_count)
        VALUES (10, 'r10', 1, 100, 0, 0, 1, 2), (30, 'r30', 1, NULL, NULL, NULL, 12, 12),
               (31, 'r31', 1, NULL, NULL, NULL, 12, 12), (32, 'r32', 1, NULL, NULL, NULL, 12, 12),
               (50, 'r50', 1, 500, NULL, NULL, 12, 12);
    INSERT INTO public.fleet_device (id, identifier, site_id, building_id)
        VALUES (1, 'd1', 1, 100), (2, 'd2', 1, NULL), (3, 'd3', 1, 100), (4, 'd4', 1, 100),
               (5, 'd5', 1, 500), (9, 'd9', 1, NULL);
    INSERT INTO public.fleet_rack_membership (rack_id, device_id) VALUES (10, 1), (32, 9);
    INSERT INTO public.fleet_rack_slot (rack_id, device_id, row_index, column_index) VALUES (32, 9, 0, 0);
$$;
SQL
# Rules 1-5 on every row (the view covers 1-4).
$dbh->do(<<'SQL');
CREATE FUNCTION public.race_violations() RETURNS bigint LANGUAGE sql AS $$
    SELECT (SELECT count(*) FROM public.fleet_placement_violation)
         + (SELECT count(*) FROM public.fleet_rack r
             WHERE (SELECT count(*) FROM public.fleet_rack_membership m WHERE m.rack_id = r.id)
                   > r.row_count * r.column_count)
         + (SELECT count(*) FROM public.fleet_rack_slot s JOIN public.fleet_rack r ON r.id = s.rack_id
             WHERE s.row_index >= r.row_count OR s.column_index >= r.column_count)
         + (SELECT count(*) FROM public.fleet_building b
             WHERE b.aisle_count IS NOT NULL
               AND (SELECT count(*) FROM public.fleet_rack r WHERE r.building_id = b.id)
                   > b.aisle_count * b.racks_per_aisle)
         + (SELECT count(*) FROM public.fleet_rack r LEFT JOIN public.fleet_building b ON b.id = r.building_id
             WHERE r.aisle_index IS NOT NULL
               AND (b.aisle_count IS NULL OR r.aisle_index >= b.aisle_count
                    OR r.position_in_aisle >= b.racks_per_aisle))
$$;
SQL
$dbh->do('SELECT public.race_reset()');
is($dbh->selectrow_array('SELECT public.race_violations()'), 0, 'the fixture is consistent');

# Two writer sessions, as the ordinary role; a short deadlock_timeout (a
# superuser's setting, set before the role switch) so that a deadlock is
# found quickly.
sub writer {
    my $h = connect_to($db);
    $h->do('SET client_min_messages = warning');
    $h->do("SET deadlock_timeout = '50ms'");
    $h->do("SET lock_timeout = '20s'");
    $h->do("SET ROLE $role");
    return $h;
}
my @session = (writer(), writer());

# ---------------------------------------------------------------------------
# Running statements
# ---------------------------------------------------------------------------
sub outcome_of {
    my ($h, $ok) = @_;
    return 'ok' if $ok;
    return $h->state || 'unknown';
}

sub run_sync {
    my ($h, $sql) = @_;
    my $ok = eval { $h->do($sql); 1 };
    return outcome_of($h, $ok);
}

sub send_async {
    my ($h, $sql) = @_;
    $h->do($sql, { pg_async => PG_ASYNC });
}

# The result of the statement sent on $h, waiting at most $timeout seconds
# (undef: still running).
sub result_of {
    my ($h, $timeout) = @_;
    my $deadline = time() + $timeout;
    until ($h->pg_ready) {
        return undef if time() > $deadline;
        sleep(0.002);
    }
    return result_ready($h);
}

sub result_ready {
    my ($h) = @_;
    my $ok = eval { $h->pg_result; 1 };
    return outcome_of($h, $ok);
}

# The result, or 'timeout' after cancelling a statement still running after
# 30 s (a hang is a failure, not a wait forever).
sub wait_or_cancel {
    my ($h) = @_;
    my $outcome = result_of($h, 30);
    return $outcome if defined $outcome;
    $h->pg_cancel;
    return 'timeout';
}

sub finish_tx {
    my ($h, $outcome) = @_;
    return run_sync($h, $outcome eq 'ok' ? 'COMMIT' : 'ROLLBACK');
}

my %allowed = map { $_ => 1 } qw(ok 23514 40001 23505 23503);

# One pair: [name, statement A, statement B]. Both alone pass (checked once).
my @direct_pairs = (
    ['rule 1: device joins rack / device moves site',
     'INSERT INTO fleet_rack_membership VALUES (30, 2)',
     'UPDATE fleet_device SET site_id = 2 WHERE id = 2'],
    ['rule 1: device joins empty rack / rack moves site',
     'INSERT INTO fleet_rack_membership VALUES (30, 2)',
     'UPDATE fleet_rack SET site_id = 2 WHERE id = 30'],
    ['rule 2: device joins empty rack / rack enters a building',
     'INSERT INTO fleet_rack_membership VALUES (30, 2)',
     'UPDATE fleet_rack SET building_id = 300 WHERE id = 30'],
    ['rule 2: device joins rack / device enters a building',
     'INSERT INTO fleet_rack_membership VALUES (30, 2)',
     'UPDATE fleet_device SET building_id = 300 WHERE id = 2'],
    ['rule 5: two devices take the last slot of a rack',
     'INSERT INTO fleet_rack_membership VALUES (10, 3)',
     'INSERT INTO fleet_rack_membership VALUES (10, 4)'],
    ['rule 3: new rack in a building / the building moves site',
     "INSERT INTO fleet_rack (id, label, site_id, building_id) VALUES (60, 'r60', 1, 300)",
     'UPDATE fleet_building SET site_id = 2 WHERE id = 300'],
    ['rule 4: device enters a building / the building moves site',
     'UPDATE fleet_device SET building_id = 300 WHERE id = 2',
     'UPDATE fleet_building SET site_id = 2 WHERE id = 300'],
    ['rule 5: two racks take the one position of a building',
     'UPDATE fleet_rack SET building_id = 400 WHERE id = 30',
     'UPDATE fleet_rack SET building_id = 400 WHERE id = 31'],
    ['rule 5: new rack at a position / the layout shrinks',
     "INSERT INTO fleet_rack (id, label, site_id, building_id, aisle_index, position_in_aisle) VALUES (61, 'r61', 1, 100, 0, 1)",
     'UPDATE fleet_building SET racks_per_aisle = 1 WHERE id = 100'],
    ['rule 5: a slot moves down / the rack shrinks',
     'UPDATE fleet_rack_slot SET row_index = 5 WHERE device_id = 9',
     'UPDATE fleet_rack SET row_count = 2 WHERE id = 32'],
    ['rule 5: a device joins a rack / the rack shrinks to its members',
     'INSERT INTO fleet_rack_membership VALUES (32, 2)',
     'UPDATE fleet_rack SET row_count = 1, column_count = 1 WHERE id = 32'],
);
# A move call racing a one-row direct write.
my @call_pairs = (
    ['rack move / the rack moves site',
     "SELECT * FROM fleet_assign_devices_to_rack(ARRAY['d2'], 30)",
     'UPDATE fleet_rack SET site_id = 2 WHERE id = 30'],
    ['racks to site / a device joins the rack',
     'SELECT * FROM fleet_assign_racks_to_site(ARRAY[30::bigint], 2)',
     'INSERT INTO fleet_rack_membership VALUES (30, 2)'],
    ['site move / the device joins a rack',
     "SELECT * FROM fleet_assign_devices_to_site(ARRAY['d2'], 2)",
     'INSERT INTO fleet_rack_membership VALUES (30, 2)'],
    ['building move / the device joins a rack',
     "SELECT * FROM fleet_assign_devices_to_building(ARRAY['d2'], 300)",
     'INSERT INTO fleet_rack_membership VALUES (30, 2)'],
    ['buildings to site / a device enters the building',
     'SELECT * FROM fleet_assign_buildings_to_site(ARRAY[300::bigint], 2)',
     'UPDATE fleet_device SET building_id = 300 WHERE id = 2'],
    ['racks to building / another rack takes its one position',
     'SELECT * FROM fleet_assign_racks_to_building(ARRAY[30::bigint], 400)',
     'UPDATE fleet_rack SET building_id = 400 WHERE id = 31'],
    ['rack move / another device takes the last slot',
     "SELECT * FROM fleet_assign_devices_to_rack(ARRAY['d3'], 10)",
     'INSERT INTO fleet_rack_membership VALUES (10, 4)'],
    ['racks to building / a new rack takes the last position',
     'SELECT * FROM fleet_assign_racks_to_building(ARRAY[30::bigint], 100)',
     "INSERT INTO fleet_rack (id, label, site_id, building_id) VALUES (61, 'r61', 1, 100)"],
    ['buildings to site (two) / a rack moves between them',
     'SELECT * FROM fleet_assign_buildings_to_site(ARRAY[300, 500]::bigint[], 2)',
     'UPDATE fleet_rack SET building_id = 300 WHERE id = 50'],
    ['buildings to site (two) / a device moves between them',
     'SELECT * FROM fleet_assign_buildings_to_site(ARRAY[300, 500]::bigint[], 2)',
     'UPDATE fleet_device SET building_id = 300 WHERE id = 5'],
);

# A one-row delete racing a write into what it deletes (deletes keep the
# invariant by themselves; the write then finds its target gone).
my @delete_pairs = (
    ['a building deleted / a rack enters it',
     'DELETE FROM fleet_building WHERE id = 300',
     'UPDATE fleet_rack SET building_id = 300 WHERE id = 30', '23503'],
    ['a site deleted / a device moves to it',
     'DELETE FROM fleet_site WHERE id = 2',
     'UPDATE fleet_device SET site_id = 2 WHERE id = 2', '23503'],
    ['a rack deleted / a rack move into it',
     'DELETE FROM fleet_rack WHERE id = 10',
     "SELECT * FROM fleet_assign_devices_to_rack(ARRAY['d3'], 10)", '23503'],
    ['a building deleted / racks to building out of it',
     'DELETE FROM fleet_building WHERE id = 500',
     'SELECT * FROM fleet_assign_racks_to_building(ARRAY[50::bigint], 300)', 'ok'],
    ['a device deleted / a racks-to-site move of its rack',
     'DELETE FROM fleet_device WHERE id = 1',
     'SELECT * FROM fleet_assign_racks_to_site(ARRAY[10::bigint], 2)', 'ok'],
);

# Each statement alone passes and leaves the fleet consistent.
for my $pair (@direct_pairs, @call_pairs, @delete_pairs) {
    my ($name, @statements) = @$pair;
    for my $i (0, 1) {
        $dbh->do('SELECT public.race_reset()');
        my $h = $session[0];
        run_sync($h, 'BEGIN');
        my $outcome = run_sync($h, $statements[$i]);
        my $violations;
        $violations = $h->selectrow_array('SELECT public.race_violations()') if $outcome eq 'ok';
        run_sync($h, 'ROLLBACK');
        is("$outcome, " . ($violations // 'n/a'), 'ok, 0',
           "$name: statement " . ('A', 'B')[$i] . ' alone passes');
    }
}

# Together, one after the other, they break a rule: the second is refused
# (for the two moves of two buildings, where the pair is about deadlocks, it
# applies).
for my $pair (@direct_pairs, @call_pairs, @delete_pairs) {
    my ($name, $a_sql, $b_sql, $expected) = @$pair;
    $expected //= $name =~ /buildings to site \(two\)/ ? 'ok' : '23514';
    $dbh->do('SELECT public.race_reset()');
    my $first = run_sync($session[0], $a_sql);
    my $second = run_sync($session[0], $b_sql);
    is("$first, $second, " . $dbh->selectrow_array('SELECT public.race_violations()'),
       "ok, $expected, 0", "$name: A then B, serially: B " . ($expected eq 'ok' ? 'applies' : "fails with $expected"));
}

my %level = (rc => 'READ COMMITTED', rr => 'REPEATABLE READ', ser => 'SERIALIZABLE');

# One round; returns (violations, outcome of A, outcome of B).
sub round {
    my ($a_sql, $b_sql, $level, $order) = @_;
    my ($ha, $hb) = @session;
    $dbh->do('SELECT public.race_reset()');
    run_sync($_, "BEGIN ISOLATION LEVEL $level{$level}") for $ha, $hb;
    my ($oa, $ob);
    if ($order eq 'together') {
        # Each transaction ends as soon as its statement does: the other
        # statement may be waiting for its locks.
        send_async($ha, $a_sql);
        send_async($hb, $b_sql);
        my $deadline = time() + 30;
        while (!defined $oa || !defined $ob) {
            if (!defined $oa && $ha->pg_ready) { $oa = result_ready($ha); finish_tx($ha, $oa); }
            if (!defined $ob && $hb->pg_ready) { $ob = result_ready($hb); finish_tx($hb, $ob); }
            last if time() > $deadline;
            sleep(0.001);
        }
        for ([$ha, \$oa], [$hb, \$ob]) {
            my ($h, $o) = @$_;
            next if defined $$o;
            $h->pg_cancel;
            run_sync($h, 'ROLLBACK');
            $$o = 'timeout';
        }
    } else {
        my ($first, $second, $first_sql, $second_sql) =
            $order eq 'a first' ? ($ha, $hb, $a_sql, $b_sql) : ($hb, $ha, $b_sql, $a_sql);
        my $o1 = run_sync($first, $first_sql);
        send_async($second, $second_sql);
        my $o2 = result_of($second, 0.1);      # done, or waiting for $first
        finish_tx($first, $o1);
        $o2 //= wait_or_cancel($second);
        finish_tx($second, $o2);
        ($oa, $ob) = $order eq 'a first' ? ($o1, $o2) : ($o2, $o1);
    }
    my $violations = $dbh->selectrow_array('SELECT public.race_violations()');
    return ($violations, $oa, $ob);
}

for my $pair (@direct_pairs, @call_pairs, @delete_pairs) {
    my ($name, $a_sql, $b_sql) = @$pair;
    for my $level (qw(rc rr ser)) {
        my (%seen, @bad);
        for my $order (('a first', 'b first'), ('together') x $rounds) {
            my ($v, $oa, $ob) = round($a_sql, $b_sql, $level, $order);
            $seen{"$oa/$ob"}++;
            push @bad, "$order: $oa/$ob" if !$allowed{$oa} || !$allowed{$ob};
            push @bad, "$order: $v violation(s) after $oa/$ob" if $v;
        }
        my $summary = join(', ', map { "$_ x$seen{$_}" } sort keys %seen);
        is_deeply(\@bad, [], "$name ($level): no violation, no deadlock ($summary)");
    }
}

# ---------------------------------------------------------------------------
# The window of a deadlock, made certain. A one-row UPDATE giving a rack or a
# device another building locks its row first; its foreign-key check asks
# for KEY SHARE on the new building only at the end of the statement. A
# fleet_assign_buildings_to_site call holding both buildings FOR UPDATE and
# waiting for that row would then deadlock with it (it did, 40P01, before
# the fleet_guard_building_reference trigger). A BEFORE ROW trigger of the
# test, named to fire first, pauses the write right after its row lock while
# the call takes the buildings and waits for the row: the write must then
# fail with 40001 (or pass), never 40P01.
# ---------------------------------------------------------------------------
$dbh->do(<<'SQL');
CREATE FUNCTION public.race_pause() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('fleet_test.pause', true) = 'on' THEN
        PERFORM pg_advisory_xact_lock_shared(4242);
    END IF;
    RETURN NEW;
END $$;
SQL
$dbh->do("CREATE TRIGGER a_race_pause BEFORE UPDATE ON $_ FOR EACH ROW EXECUTE FUNCTION public.race_pause()")
    for qw(fleet_rack fleet_device);
for my $target (['rack', 'UPDATE fleet_rack SET building_id = 300 WHERE id = 50'],
                ['device', 'UPDATE fleet_device SET building_id = 300 WHERE id = 5']) {
    my ($name, $write) = @$target;
    $dbh->do('SELECT public.race_reset()');
    my ($call, $writer) = @session;
    $dbh->begin_work;
    $dbh->do('SELECT pg_advisory_xact_lock(4242)');
    run_sync($writer, 'BEGIN');
    run_sync($writer, "SET LOCAL fleet_test.pause = 'on'");
    send_async($writer, $write);
    # The writer holds the rack row and waits for the pause lock.
    my $waiting = 0;
    for (1 .. 500) {
        $waiting = $dbh->selectrow_array(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND NOT granted");
        last if $waiting;
        sleep(0.01);
    }
    ok($waiting, "deadlock case ($name): the direct write is paused holding its row");
    run_sync($call, 'BEGIN');
    send_async($call, 'SELECT * FROM fleet_assign_buildings_to_site(ARRAY[300, 500]::bigint[], 2)');
    my $call_waits = 0;
    for (1 .. 500) {
        $call_waits = $dbh->selectrow_array(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'transactionid' AND NOT granted");
        last if $call_waits;
        sleep(0.01);
    }
    ok($call_waits, "deadlock case ($name): the call waits for the row the write holds");
    $dbh->commit;    # releases the pause
    my $ow = wait_or_cancel($writer);
    my $oc = wait_or_cancel($call);
    finish_tx($writer, $ow);
    finish_tx($call, $oc);
    is($dbh->selectrow_array('SELECT public.race_violations()'), 0,
       "deadlock case ($name): no violation ($oc/$ow)");
    is("call $oc, write $ow", 'call ok, write 40001',
       "deadlock case ($name): no 40P01: the call applies, the write fails with 40001");
}
$dbh->do("DROP TRIGGER a_race_pause ON $_") for qw(fleet_rack fleet_device);

# ---------------------------------------------------------------------------
# A prepared transaction keeps what its guard locked.
# ---------------------------------------------------------------------------
{
    my ($ha, $hb) = @session;
    $dbh->do('SELECT public.race_reset()');
    run_sync($ha, 'BEGIN');
    is(run_sync($ha, 'INSERT INTO fleet_rack_membership VALUES (30, 2)'), 'ok', 'prepared: a membership inserted');
    is(run_sync($ha, "PREPARE TRANSACTION 'fleet_guards_race_1'"), 'ok', 'prepared: the transaction prepared');
    run_sync($hb, "SET lock_timeout = '300ms'");
    is(run_sync($hb, 'UPDATE fleet_device SET site_id = 2 WHERE id = 2'), '55P03',
       'prepared: moving the device waits for the prepared transaction (lock timeout)');
    run_sync($hb, "SET lock_timeout = '20s'");
    $dbh->do("COMMIT PREPARED 'fleet_guards_race_1'");
    is(run_sync($hb, 'UPDATE fleet_device SET site_id = 2 WHERE id = 2'), '23514',
       'prepared: once it commits, the move is refused');
    is($dbh->selectrow_array('SELECT public.race_violations()'), 0, 'prepared: no violation');

    $dbh->do('SELECT public.race_reset()');
    run_sync($ha, 'BEGIN');
    is(run_sync($ha, 'UPDATE fleet_device SET site_id = 2 WHERE id = 2'), 'ok', 'prepared: a free device moved');
    is(run_sync($ha, "PREPARE TRANSACTION 'fleet_guards_race_2'"), 'ok', 'prepared: prepared');
    is(run_sync($hb, 'INSERT INTO fleet_rack_membership VALUES (30, 2)'), '40001',
       'prepared: racking the device at its old site fails at once with 40001');
    $dbh->do("COMMIT PREPARED 'fleet_guards_race_2'");
    is(run_sync($hb, 'INSERT INTO fleet_rack_membership VALUES (30, 2)'), '23514',
       'prepared: retried after the commit, it is refused');
    is($dbh->selectrow_array('SELECT public.race_violations()'), 0, 'prepared: no violation');
}

# ---------------------------------------------------------------------------
# COPY FROM STDIN as the role: refused with 23514, the device named, a move
# function hinted, nothing loaded. COPY FREEZE (as the superuser, who may
# truncate) is checked the same.
# ---------------------------------------------------------------------------
sub copy_rows {
    my ($h, $sql, @rows) = @_;
    my $ok = eval {
        $h->do($sql);
        $h->pg_putcopydata("$_\n") for @rows;
        $h->pg_putcopyend;
        1;
    };
    return ($ok ? 'ok' : ($h->state || 'unknown'), $ok ? '' : $h->errstr);
}
{
    my $h = $session[0];
    $dbh->do('SELECT public.race_reset()');
    my $before = $dbh->selectrow_array('SELECT count(*) FROM fleet_rack_membership');
    my ($state, $error) = copy_rows($h, 'COPY fleet_rack_membership (rack_id, device_id) FROM STDIN',
                                    "30\t2", "10\t3", "10\t4");
    is($state, '23514', 'COPY over a rack\'s capacity: 23514');
    like($error, qr/rack 10 is full/, 'COPY: the message names the rack');
    like($error, qr/HINT:.*fleet_assign_devices_to_rack\(\)/s, 'COPY: the hint names the move function');
    is($dbh->selectrow_array('SELECT count(*) FROM fleet_rack_membership'), $before, 'COPY refused: nothing loaded');

    ($state, $error) = copy_rows($h, 'COPY fleet_device (id, identifier, site_id, building_id) FROM STDIN',
                                 "20\tn20\t1\t\\N", "21\tn21\t2\t100");
    is($state, '23514', 'COPY of a device in a building at another site: 23514');
    like($error, qr/device "n21" is in building 100, which is at another site/, 'COPY: the device named');

    $dbh->begin_work;
    $dbh->do('TRUNCATE fleet_rack_slot, fleet_rack_membership');
    ($state, $error) = copy_rows($dbh, 'COPY fleet_rack_membership (rack_id, device_id) FROM STDIN WITH (FREEZE)',
                                 "30\t2", "31\t1");
    $dbh->rollback;
    is($state, '23514', 'COPY FREEZE after TRUNCATE: the guard still refuses it');
    is($dbh->selectrow_array('SELECT public.race_violations()'), 0, 'COPY: no violation');
}

$_->disconnect for @session;
$dbh->disconnect;
cleanup();
done_testing();
