#!/usr/bin/env perl
# test/tap/stress.t: a bounded randomized stress test of everything 1.1 has:
# the six move functions, one-row deletes of sites, buildings and racks, and
# direct writes checked by the guards (src/guards.c), at every isolation
# level.
#
# One run per isolation mode (FLEET_STRESS_LEVELS, a comma-separated list;
# default: read committed, repeatable read, serializable, mixed), each on a
# fresh database, each about FLEET_STRESS_SECONDS (default 15) seconds, so
# the suite spends a little over a minute here. In "mixed" every transaction
# picks one of the three levels at random.
#
# The fleet: six sites, seven buildings (four with a layout of aisles, three
# without; two share a name, at different sites), sixteen racks (in
# buildings at positions, in buildings without one, at a site only, at no
# site; tiny ones that fill up), 200 devices. Two kinds of clients run their
# own transactions, nothing retried:
#
#   - FLEET_STRESS_CLIENTS (default 4) movers. Most transactions make one
#     call: fleet_assign_devices_to_site, _to_building and _to_rack of random
#     batches (1..50 identifiers from the 200, duplicates and unknown
#     identifiers included, in random order; forced and not; to sites,
#     buildings, racks and to none), the rack move now and then with slot
#     arrays (members of the rack swapping or shifting their slots, newcomers
#     given free or taken slots or none); fleet_assign_racks_to_site and
#     _to_building (positions now and then: swaps and shifts again) of 1..3
#     racks; fleet_assign_buildings_to_site of 1..2 buildings. A quarter of
#     the device moves make a second call (see below); a tenth of the move
#     transactions roll back instead of committing. With FLEET_STRESS_DELETES
#     (default 1) 6% of the transactions delete a site, building or rack
#     (counting what it holds first, then a one-row DELETE) and 6% bring a
#     deleted one back (INSERT ... ON CONFLICT DO NOTHING), so the fleet
#     does not run out.
#   - FLEET_STRESS_WRITERS (default 2) direct writers, one statement per
#     transaction, as an application would write the tables: a membership
#     INSERT or COPY into a rack ("check, then insert": read the rack's site
#     and building and its free room, pick an unracked device that has the
#     same, insert it), a device UPDATE of site and building, a rack UPDATE
#     (site, building, position or size), a slot INSERT or UPDATE, a
#     building UPDATE (layout or site). Each reads first and writes only what
#     looks allowed; one write in seven is careless (writes whatever it drew,
#     so the guards have something to refuse). About one write in ten
#     (FLEET_STRESS_MULTI) is a multi-row statement: several memberships in
#     one INSERT or COPY, several devices in one UPDATE.
#
# Each run fails on
#   - a deadlock (40P01) that only one-call transactions, one-row deletes
#     and revivals, and one-row direct writes took part in (the backends the
#     error names are matched against what each client was running then).
#     A transaction in its second call, and a multi-row statement, may
#     deadlock by contract (api.md, "One lock order"): a cycle with one of
#     them is counted, not failed on. The server's own deadlock count
#     (pg_stat_database) must equal the number the clients saw;
#   - any SQLSTATE that the contract does not lead a caller to expect for
#     that kind of transaction at that level (error_expected below lists
#     them, with the reason for each);
#   - a row in fleet_placement_violation (rules 1-4) or a break of rule 5 (a
#     rack over capacity, a slot outside its rack, a position outside its
#     building's layout or in a building without one, a building over its
#     rack capacity, two racks or devices in one place), checked every 200 ms
#     while the clients run and once at the end;
#   - fleet_activity rows, per event type, differing from the calls that
#     applied (no conflicts returned, no error) in committed transactions:
#     each applied call writes exactly one row; deletes and direct writes
#     write none.
# Every SQLSTATE seen is listed with its count, per kind of transaction and
# per isolation level.
#
# Sites 1..4, buildings 1..5 and racks 1..12 are never deleted. Sites 5 and
# 6, buildings 6 and 7 and racks 13..16 are deleted and brought back (a
# revived rack or building comes back empty, at a permanent site or at
# none); a call that names one of them may find it gone (23503), one that
# names none may not.
#
# Two calls in one transaction: the contract promises that no two CALLS
# deadlock; a transaction making two calls holds the first call's locks
# while the second takes its own, so two such transactions can deadlock
# whatever each call does. The second call is a site move either of a
# subset of the first call's devices or of devices whose ids are all above
# them, to a site that is never deleted (or Unassigned), as a careful caller
# would write it (see the README's "Lock order and retries"); the call is
# tagged /* second call */, so that the server log tells it apart.
#
# Identifiers are a shuffle of the ids, so identifier order is not id
# order: a lock step sorted by identifier would show up as deadlocks.
#
# Runs inside a cluster from pg_virtualenv (PGHOST, PGPORT, PGUSER,
# PGPASSWORD); creates the database fleet_stress for each run and drops it
# at the end. The seed is printed; FLEET_STRESS_SEED replays each client's
# random choices (the interleaving, and so what the clients read and then
# choose from, is not repeatable).
use strict;
use warnings;

use DBI;
use List::Util qw(shuffle max min sum0);
use POSIX ();
use Time::HiRes qw(time sleep);
use Test::More;

my $seconds = $ENV{FLEET_STRESS_SECONDS} // 15;
my $movers  = $ENV{FLEET_STRESS_CLIENTS} // 4;
my $writers = $ENV{FLEET_STRESS_WRITERS} // 2;
my $seed    = $ENV{FLEET_STRESS_SEED} // (int(time() * 1000) ^ $$) & 0x7fffffff;
my $deletes = $ENV{FLEET_STRESS_DELETES} // 1;
my $multi   = $ENV{FLEET_STRESS_MULTI} // 1;
my @modes   = split /\s*,\s*/,
    ($ENV{FLEET_STRESS_LEVELS} // 'read committed,repeatable read,serializable,mixed');
my @levels  = ('read committed', 'repeatable read', 'serializable');
my $db      = 'fleet_stress';
my $parent  = $$;

for my $mode (@modes) {
    BAIL_OUT("FLEET_STRESS_LEVELS: unknown isolation mode '$mode'")
        unless grep { $_ eq $mode } @levels, 'mixed';
}

# ---------------------------------------------------------------------------
# The fleet
# ---------------------------------------------------------------------------
my $device_count = 200;
my @site_ids = (1 .. 6);
my @permanent_site_ids = (1 .. 4);
# [id, name, site, aisles, racks per aisle]: buildings 2 and 5 share a name
# (moving one to the other's site is 23505); 6 and 7 get deleted.
my @buildings = (
    [1, 'hall-a', 1, 2, 3], [2, 'hall-b', 1, undef, undef], [3, 'hall-c', 2, 1, 3],
    [4, 'hall-d', 3, 2, 2], [5, 'hall-b', 4, undef, undef], [6, 'hall-f', 5, 2, 2],
    [7, 'hall-g', undef, undef, undef],
);
my %building = map { $_->[0] => $_ } @buildings;
my @building_ids = map { $_->[0] } @buildings;
my @layout_building_ids = map { $_->[0] } grep { defined $_->[3] } @buildings;
# [id, site, building, aisle, position, rows, columns]: each at its building's
# site; tiny racks fill up (23514); site-less racks make DEVICE_LOSES_SITE.
my @racks = (
    [1, 1, 1, 0, 0, 1, 2],    [2, 1, 1, 1, 2, 2, 3],
    [3, 1, 2, undef, undef, 12, 12], [4, 2, 3, 0, 1, 1, 3],
    [5, 2, undef, undef, undef, 4, 4], [6, 3, 4, 1, 1, 2, 2],
    [7, 3, undef, undef, undef, 12, 12], [8, 4, 5, undef, undef, 3, 5],
    [9, undef, undef, undef, undef, 2, 3], [10, undef, 7, undef, undef, 12, 12],
    [11, 4, undef, undef, undef, 1, 1], [12, 2, undef, undef, undef, 6, 6],
    [13, 5, 6, 0, 0, 3, 3],   [14, 1, undef, undef, undef, 2, 2],
    [15, undef, undef, undef, undef, 4, 4], [16, 3, 4, 0, 0, 2, 3],
);
my %rack = map { $_->[0] => $_ } @racks;
my @rack_ids = map { $_->[0] } @racks;
my %churn = (
    site     => $deletes ? [5, 6] : [],
    building => $deletes ? [6, 7] : [],
    rack     => $deletes ? [13 .. 16] : [],
);
my %is_churn = map { my $what = $_; map { ("$what $_" => 1) } @{ $churn{$what} } } keys %churn;

# ---------------------------------------------------------------------------
# What callers are told to expect (api.md 1.1, the README, choices.md),
# applied to this workload. One entry per SQLSTATE: when it may happen.
# ---------------------------------------------------------------------------
my %call_event = (
    'devices to site'     => 'devices.reassigned_to_site',
    'devices to building' => 'devices.reassigned_to_building',
    'devices to rack'     => 'devices.assigned_to_rack',
    'devices out of racks' => 'devices.removed_from_rack',
    'racks to site'       => 'racks.assigned_to_site',
    'racks to building'   => 'racks.assigned_to_building',
    'buildings to site'   => 'buildings.assigned_to_site',
);

sub call_expects {
    my ($call, $state, $level) = @_;
    my $fn = $call->{fn};
    # 23503: a target or named site, building or rack gone (a client deleted it).
    return $call->{names_churn} if $state eq '23503';
    # 23514: a rack full (rack move), a building full (racks into a
    # building with a layout).
    return $fn eq 'devices to rack' || $fn eq 'racks to building' if $state eq '23514';
    # 23505: a slot or position held by one that keeps it, a building name
    # taken at the target site.
    return $call->{slots} || $call->{positions} || $call->{names_clash} if $state eq '23505';
    # 22023: a slot or position outside the rack or layout, which a direct
    # writer shrank after the caller read it.
    return $call->{slots} || $call->{positions} if $state eq '22023';
    # 40001: under REPEATABLE READ and SERIALIZABLE any call; under READ
    # COMMITTED a call that reads a parent before locking it (a rack's site
    # and building, a building's site) and finds it moved under the lock.
    if ($state eq '40001') {
        return 1 if $level ne 'read committed';
        return $fn eq 'devices to rack' || $fn eq 'devices to building'
            || $fn eq 'racks to building';
    }
    return 0;
}

my %direct_kinds = map { $_ => 1 } ('membership insert', 'membership insert multi-row',
    'device update', 'device update multi-row', 'rack update', 'slot insert', 'slot update',
    'building update');

sub error_expected {
    my ($state, $level, $transaction) = @_;
    my $kind = $transaction->{kind};
    if ($transaction->{calls}) {
        return scalar grep { call_expects($_, $state, $level) } @{ $transaction->{calls} };
    }
    if ($direct_kinds{$kind}) {
        # A rule the write would break (23514), the guards' "a row it depends
        # on is being changed, retry" (40001), a parent deleted meanwhile
        # (23503: a rack, site or building that gets deleted; a membership,
        # for a slot), a unique key taken meanwhile (23505: the device is in
        # a rack now, the slot or position is held, a building of that name
        # stands at the site).
        return 1 if $state eq '23514' || $state eq '40001';
        return $transaction->{names_churn} || $kind =~ /^slot/ if $state eq '23503';
        return $kind =~ /^(membership insert|slot|rack update|building update)/ if $state eq '23505';
        return 0;
    }
    # A site or building delete: its trigger reads with a current snapshot
    # and writes with the statement's (40001 at every level, as PostgreSQL's
    # cascades). A rack delete, and a revival's ON CONFLICT check, only under
    # REPEATABLE READ and SERIALIZABLE.
    if ($state eq '40001') {
        return 1 if $level ne 'read committed';
        return $kind eq 'site delete' || $kind eq 'building delete';
    }
    return 0;
}

sub connect_to {
    my ($dbname) = @_;
    return DBI->connect("dbi:Pg:dbname=$dbname", '', '',
        { RaiseError => 1, PrintError => 0, AutoCommit => 1, pg_server_prepare => 1 });
}

my $admin = eval { connect_to('postgres') };
if (!$admin) {
    plan skip_all => 'no PostgreSQL server to connect to (run inside pg_virtualenv)'
        unless defined $ENV{PGHOST} || defined $ENV{PGPORT};
    BAIL_OUT("cannot connect to database postgres: $DBI::errstr");
}

$admin->do('SET client_min_messages = warning');

my $created = 0;
sub drop_database {
    return if !$created || $$ != $parent || !$admin;
    $created = 0;
    eval { $admin->do("DROP DATABASE IF EXISTS $db WITH (FORCE)") };
    diag("could not drop $db: $@") if $@;
}
END { drop_database() }

diag("seed $seed (FLEET_STRESS_SEED), $movers movers, $writers direct writers, $seconds s per run, "
    . 'runs: ' . join(', ', @modes) . ($deletes ? '; with deletes' : '')
    . ($multi ? '; with two-call transactions and multi-row statements' : ''));

# ---------------------------------------------------------------------------
# Random choices
# ---------------------------------------------------------------------------
sub pick { return $_[int(rand(@_))] }
sub chance { return rand() < $_[0] }

sub random_ids {
    my ($low, $high, $count) = @_;
    return map { $low + int(rand($high - $low + 1)) } 1 .. $count;
}

sub distinct_random {
    my ($count, @from) = @_;
    my @all = shuffle(@from);
    return @all[0 .. min($count, scalar @all) - 1];
}

# 1..50 devices; rack moves often smaller, or most would find the racks full.
sub batch_size {
    my ($fn) = @_;
    return 1 + int(rand(8)) if $fn eq 'devices to rack' && chance(0.6);
    return 1 + int(rand(50));
}

# A cell (a slot, a position) as "row,column".
sub cell_key { return "$_[0],$_[1]" }

sub free_cells {
    my ($rows, $columns, %taken) = @_;
    my @free;
    for my $r (0 .. $rows - 1) {
        for my $c (0 .. $columns - 1) {
            push @free, [$r, $c] unless $taken{ cell_key($r, $c) };
        }
    }
    return @free;
}

# ---------------------------------------------------------------------------
# A mover's transactions
# ---------------------------------------------------------------------------
sub churn_named {
    my ($what, @ids) = @_;
    return scalar grep { defined $_ && $is_churn{"$what $_"} } @ids;
}

# A call of a device move function (slots and positions are planned later,
# inside the transaction, from what it reads).
sub device_call {
    my ($fn, $site_choices, @ids) = @_;
    my %call = (fn => $fn, ids => \@ids, force => chance(0.5) ? 1 : 0);
    if ($fn eq 'devices to site') {
        $call{target} = chance(0.2) ? undef : pick(@$site_choices);
        $call{names_churn} = churn_named('site', $call{target});
    } elsif ($fn eq 'devices to building') {
        $call{target} = chance(0.15) ? undef : pick(@building_ids);
        $call{names_churn} = churn_named('building', $call{target});
    } else {
        $call{target} = chance(0.1) ? undef : pick(@rack_ids);
        $call{names_churn} = churn_named('rack', $call{target});
        $call{want_slots} = defined $call{target} && chance(0.35);
    }
    # Now and then an identifier that names no device (DEVICE_NOT_FOUND).
    $call{ghosts} = chance(0.03) ? ['ghost-' . int(rand(1000))] : [];
    return \%call;
}

sub container_call {
    my ($fn) = @_;
    my %call = (fn => $fn);
    if ($fn eq 'racks to site') {
        $call{ids} = [map { pick(@rack_ids) } 1 .. 1 + int(rand(3))];
        $call{target} = chance(0.15) ? undef : pick(@site_ids);
        $call{names_churn} = churn_named('rack', @{ $call{ids} }) + churn_named('site', $call{target});
    } elsif ($fn eq 'racks to building') {
        $call{ids} = [map { pick(@rack_ids) } 1 .. 1 + int(rand(3))];
        $call{target} = chance(0.15) ? undef : pick(@building_ids);
        $call{want_positions} = defined $call{target} && defined $building{ $call{target} }[3]
            && chance(0.5);
        $call{names_churn} = churn_named('rack', @{ $call{ids} })
            + churn_named('building', $call{target});
    } else {
        $call{ids} = [map { pick(@building_ids) } 1 .. 1 + int(rand(2))];
        $call{target} = chance(0.15) ? undef : pick(@site_ids);
        $call{names_churn} = churn_named('building', @{ $call{ids} })
            + churn_named('site', $call{target});
        $call{names_clash} = grep { $building{$_}[1] eq 'hall-b' } @{ $call{ids} };
    }
    return \%call;
}

sub plan_moves {
    my $dice = rand();
    my $fn = $dice < 0.25 ? 'devices to site'
        : $dice < 0.40 ? 'devices to building'
        : $dice < 0.65 ? 'devices to rack'
        : $dice < 0.75 ? 'racks to site'
        : $dice < 0.90 ? 'racks to building'
        : 'buildings to site';
    return (container_call($fn)) if $fn =~ /^(racks|buildings)/;
    my $first = device_call($fn, \@site_ids, random_ids(1, $device_count, batch_size($fn)));
    return ($first) if !$multi || rand() >= 0.25;

    # Second call: the transaction's device locks stay in ascending id
    # order, and its site lock is on a site that is never deleted.
    my @first_ids = @{ $first->{ids} };
    my $top = max(@first_ids);
    my @second_ids;
    if ($top < $device_count && chance(0.5)) {
        @second_ids = random_ids($top + 1, $device_count, 1 + int(rand(50)));
    } else {
        @second_ids = (shuffle(@first_ids))[0 .. int(rand(@first_ids))];
    }
    my $second = device_call('devices to site', \@permanent_site_ids, @second_ids);
    $second->{ghosts} = [];
    $second->{second} = 1;
    return ($first, $second);
}

sub plan_mover_transaction {
    my ($mode) = @_;
    my %transaction = (level => $mode eq 'mixed' ? pick(@levels) : $mode);
    my $dice = rand();
    if ($deletes && $dice < 0.12) {
        my $what = pick('site', 'building', 'rack');
        $transaction{what} = $what;
        $transaction{id} = pick(@{ $churn{$what} });
        $transaction{kind} = $dice < 0.06 ? "$what delete" : "$what revival";
        return \%transaction;
    }
    $transaction{calls} = [plan_moves()];
    $transaction{kind} = @{ $transaction{calls} } > 1 ? 'two calls' : $transaction{calls}[0]{fn};
    return \%transaction;
}

# Slots for a rack move, from the rack as the transaction sees it now:
# members swapping or shifting their slots, newcomers given a free slot, a
# taken one or none. Fills in the call's ids and its slot arrays.
sub plan_slots {
    my ($q, $call) = @_;
    # Half the time, a rack where members can trade slots.
    if (chance(0.5)) {
        my @racks = map { $_->[0] } @{ $q->rows('racks with slotted members') };
        if (@racks) {
            $call->{target} = pick(@racks);
            $call->{names_churn} = churn_named('rack', $call->{target});
        }
    }
    my ($rows, $columns) = $q->row('rack size', $call->{target});
    return unless defined $rows;
    my @members = @{ $q->rows('rack slots', $call->{target}) };    # [device, row, column]
    my @slotted = grep { defined $_->[1] } @members;
    my %taken = map { (cell_key($_->[1], $_->[2]) => 1) } @slotted;
    my (@ids, @row_indexes, @column_indexes);
    if (@slotted >= 2 && chance(0.6)) {
        # Members trade places: two swap, or several shift by one.
        my @movers = distinct_random(2 + int(rand(min(3, @slotted - 1))), @slotted);
        for my $i (0 .. $#movers) {
            my $next = $movers[($i + 1) % @movers];
            push @ids, $movers[$i][0];
            push @row_indexes, $next->[1];
            push @column_indexes, $next->[2];
        }
        $call->{slot_plan} = @movers == 2 ? 'swap' : 'shift';
    } else {
        $call->{slot_plan} = 'place';
    }
    # Newcomers (or members without a slot): a free slot, now and then a
    # taken one (23505 unless its holder moves), or none.
    my %in_batch = map { $_ => 1 } @ids;
    my @free = shuffle(free_cells($rows, $columns, %taken));
    for my $id (distinct_random(int(rand(4)) + (@ids ? 0 : 1), 1 .. $device_count)) {
        next if $in_batch{$id}++;
        push @ids, $id;
        my $cell = chance(0.2) ? undef
            : chance(0.15) && @slotted ? [@{ pick(@slotted) }[1, 2]]
            : shift @free;
        push @row_indexes, $cell ? $cell->[0] : undef;
        push @column_indexes, $cell ? $cell->[1] : undef;
    }
    # Two devices of the batch given one slot is bad input (22023), not a
    # race: give the later one none.
    my %given;
    for my $i (0 .. $#ids) {
        next unless defined $row_indexes[$i];
        if ($given{ cell_key($row_indexes[$i], $column_indexes[$i]) }++) {
            $row_indexes[$i] = $column_indexes[$i] = undef;
        }
    }
    $call->{ids} = \@ids;
    $call->{row_indexes} = \@row_indexes;
    $call->{column_indexes} = \@column_indexes;
    $call->{slots} = 1;
    $call->{ghosts} = [];
}

# Positions for a rack move into a building with a layout: racks in it
# swapping or shifting, others given a free position, a taken one or none.
sub plan_positions {
    my ($q, $call) = @_;
    # Half the time, a building where racks can trade positions.
    if (chance(0.5)) {
        my @buildings = map { $_->[0] } @{ $q->rows('buildings with placed racks') };
        $call->{target} = pick(@buildings) if @buildings;
    }
    my ($aisles, $per_aisle) = $q->row('building layout', $call->{target});
    return unless defined $aisles;
    my @placed = @{ $q->rows('building positions', $call->{target}) };    # [rack, aisle, position]
    my %taken = map { (cell_key($_->[1], $_->[2]) => 1) } @placed;
    my (@ids, @aisle_indexes, @positions);
    if (@placed >= 2 && chance(0.6)) {
        my @movers = distinct_random(2 + int(rand(min(2, @placed - 1))), @placed);
        for my $i (0 .. $#movers) {
            my $next = $movers[($i + 1) % @movers];
            push @ids, $movers[$i][0];
            push @aisle_indexes, $next->[1];
            push @positions, $next->[2];
        }
        $call->{position_plan} = @movers == 2 ? 'swap' : 'shift';
    } else {
        $call->{position_plan} = 'place';
    }
    my %in_batch = map { $_ => 1 } @ids;
    my @free = shuffle(free_cells($aisles, $per_aisle, %taken));
    for my $id (distinct_random(int(rand(2)) + (@ids ? 0 : 1), @rack_ids)) {
        next if $in_batch{$id}++;
        push @ids, $id;
        my $cell = chance(0.2) ? undef
            : chance(0.15) && @placed ? [@{ pick(@placed) }[1, 2]]
            : shift @free;
        push @aisle_indexes, $cell ? $cell->[0] : undef;
        push @positions, $cell ? $cell->[1] : undef;
    }
    my %given;
    for my $i (0 .. $#ids) {
        next unless defined $aisle_indexes[$i];
        $aisle_indexes[$i] = $positions[$i] = undef
            if $given{ cell_key($aisle_indexes[$i], $positions[$i]) }++;
    }
    $call->{ids} = \@ids;
    $call->{aisle_indexes} = \@aisle_indexes;
    $call->{positions_in_aisle} = \@positions;
    $call->{positions} = 1;
    $call->{names_churn} = churn_named('rack', @ids) + churn_named('building', $call->{target});
}

# ---------------------------------------------------------------------------
# A direct writer's transactions: read, then write what looks allowed
# ---------------------------------------------------------------------------
sub plan_writer_transaction {
    my ($mode) = @_;
    my %transaction = (level => $mode eq 'mixed' ? pick(@levels) : $mode,
                       careless => chance(1 / 7));
    my $dice = rand();
    $transaction{kind} = $dice < 0.25 ? 'membership insert'
        : $dice < 0.45 ? 'device update'
        : $dice < 0.70 ? 'rack update'
        : $dice < 0.80 ? 'slot insert'
        : $dice < 0.92 ? 'slot update'
        : 'building update';
    $transaction{kind} .= ' multi-row'
        if $multi && $transaction{kind} =~ /^(membership insert|device update)$/ && chance(0.2);
    return \%transaction;
}

# Runs the writer's reads and its one statement; returns what it did
# ('wrote', or why it wrote nothing).
sub direct_write {
    my ($q, $transaction) = @_;
    my $kind = $transaction->{kind};
    my $careless = $transaction->{careless};
    if ($kind =~ /^membership insert/) {
        my $rack_id = pick(@rack_ids);
        $transaction->{names_churn} = churn_named('rack', $rack_id);
        my ($site, $building_id, $room) = $q->row('rack room', $rack_id);
        return 'nothing: no such rack' if !$careless && !defined $room;
        my $want = $kind =~ /multi-row/ ? 2 + int(rand(3)) : 1;
        my @devices;
        if ($careless) {
            @devices = distinct_random($want, 1 .. $device_count);
        } else {
            return 'nothing: rack full' if $room < $want;
            my @fitting = map { $_->[0] } @{ $q->rows('unracked devices like', $site, $building_id) };
            return 'nothing: no device fits' if @fitting < $want;
            @devices = distinct_random($want, @fitting);
        }
        $transaction->{risky_from} = time() if @devices > 1;
        if (chance(0.2)) {
            # COPY goes through the same guard.
            $transaction->{what} = 'copy';
            $q->{conn}->do('COPY fleet_rack_membership (rack_id, device_id) FROM STDIN');
            $q->{conn}->pg_putcopydata("$rack_id\t$_\n") for @devices;
            $q->{conn}->pg_putcopyend();
            return 'wrote';
        }
        my $values = join(', ', map { '(?::bigint, ?::bigint)' } @devices);
        $q->{conn}->do("INSERT INTO fleet_rack_membership (rack_id, device_id) VALUES $values",
            undef, map { ($rack_id, $_) } @devices);
        return 'wrote';
    }
    if ($kind =~ /^device update/) {
        # Somewhere to go: a building (and its site), or a site and no building.
        my ($site, $building_id);
        if (chance(0.6)) {
            $building_id = pick(@building_ids);
            my @row = $q->row('building', $building_id);
            return 'nothing: no such building' unless @row;
            $site = $row[0];
        } else {
            $site = chance(0.15) ? undef : pick(@site_ids);
        }
        $transaction->{names_churn} = churn_named('site', $site) + churn_named('building', $building_id);
        my @devices;
        my $want = $kind =~ /multi-row/ ? 2 + int(rand(4)) : 1;
        if ($careless) {
            @devices = distinct_random($want, 1 .. $device_count);
        } else {
            # Only devices in no rack may change placement by themselves.
            my @free = map { $_->[0] } @{ $q->rows('unracked devices') };
            return 'nothing: every device is racked' if @free < $want;
            @devices = distinct_random($want, @free);
        }
        $transaction->{risky_from} = time() if @devices > 1;
        if (@devices == 1) {
            $q->{conn}->do('UPDATE fleet_device SET site_id = ?, building_id = ? WHERE id = ?',
                undef, $site, $building_id, $devices[0]);
        } else {
            $q->{conn}->do('UPDATE fleet_device SET site_id = ?, building_id = ? WHERE id = ANY (?::bigint[])',
                undef, $site, $building_id, \@devices);
        }
        return 'wrote';
    }
    if ($kind eq 'rack update') {
        my $rack_id = pick(@rack_ids);
        my @now = $q->row('rack', $rack_id);    # site, building, aisle, position, rows, columns, members
        return 'nothing: no such rack' unless @now;
        my ($site, $building_id, $aisle, $position, $rows, $columns, $members) = @now;
        my $what = pick('site', 'building', 'position', 'size');
        $transaction->{what} = $what;
        if ($what eq 'site' || $what eq 'building') {
            return 'nothing: the rack holds devices' if $members > 0 && !$careless;
            my ($new_site, $new_building, $new_aisle, $new_position);
            if ($what eq 'site') {
                $new_site = chance(0.15) ? undef : pick(@site_ids);
            } else {
                $new_building = chance(0.15) ? undef : pick(@building_ids);
                $new_site = $site;
                if (defined $new_building) {
                    my @now = $q->row('building', $new_building);
                    return 'nothing: no such building' if !@now && !$careless;
                    my ($building_site, $aisles, $per_aisle) = @now;
                    $new_site = $building_site;
                    if (defined $aisles && chance(0.7)) {
                        my @placed = @{ $q->rows('building positions', $new_building) };
                        return 'nothing: the building is full'
                            if !$careless && @placed >= $aisles * $per_aisle;
                        my %taken = map { (cell_key($_->[1], $_->[2]) => 1) } @placed;
                        my @free = $careless ? free_cells($aisles, $per_aisle)
                            : free_cells($aisles, $per_aisle, %taken);
                        ($new_aisle, $new_position) = @{ pick(@free) } if @free;
                    }
                }
            }
            $transaction->{names_churn} = churn_named('site', $new_site)
                + churn_named('building', $new_building) + churn_named('rack', $rack_id);
            $q->{conn}->do('UPDATE fleet_rack SET site_id = ?, building_id = ?, aisle_index = ?,'
                . ' position_in_aisle = ? WHERE id = ?',
                undef, $new_site, $new_building, $new_aisle, $new_position, $rack_id);
            return 'wrote';
        }
        if ($what eq 'position') {
            return 'nothing: the rack is in no building' unless defined $building_id;
            my ($building_site, $aisles, $per_aisle) = $q->row('building', $building_id);
            my ($new_aisle, $new_position);
            if (defined $aisles && chance(0.8)) {
                my @placed = @{ $q->rows('building positions', $building_id) };
                my %taken = map { (cell_key($_->[1], $_->[2]) => 1) } @placed;
                my @free = $careless ? free_cells($aisles, $per_aisle)
                    : free_cells($aisles, $per_aisle, %taken);
                return 'nothing: no free position' unless @free;
                ($new_aisle, $new_position) = @{ pick(@free) };
            } elsif (!defined $aisles) {
                return 'nothing: the building has no layout' unless $careless;
                ($new_aisle, $new_position) = (0, 0);
            }
            $q->{conn}->do('UPDATE fleet_rack SET aisle_index = ?, position_in_aisle = ? WHERE id = ?',
                undef, $new_aisle, $new_position, $rack_id);
            return 'wrote';
        }
        # size: careful writers shrink only to what the members and slots fit
        my ($new_rows, $new_columns) = chance(0.5)
            ? (1 + int(rand(12)), 1 + int(rand(12))) : (1 + int(rand(4)), 1 + int(rand(4)));
        if (!$careless) {
            my ($max_row, $max_column) = $q->row('rack slot extent', $rack_id);
            return 'nothing: the members would not fit'
                if $members > $new_rows * $new_columns
                || (defined $max_row && ($max_row >= $new_rows || $max_column >= $new_columns));
        }
        $q->{conn}->do('UPDATE fleet_rack SET row_count = ?, column_count = ? WHERE id = ?',
            undef, $new_rows, $new_columns, $rack_id);
        return 'wrote';
    }
    if ($kind =~ /^slot/) {
        my $rack_id = pick(@rack_ids);
        my ($rows, $columns) = $q->row('rack size', $rack_id);
        return 'nothing: no such rack' unless defined $rows;
        my @members = @{ $q->rows('rack slots', $rack_id) };
        my @candidates = grep { $kind eq 'slot insert' ? !defined $_->[1] : defined $_->[1] } @members;
        return 'nothing: no member to place' unless @candidates;
        my $device_id = pick(@candidates)->[0];
        my %taken = map { defined $_->[1] ? (cell_key($_->[1], $_->[2]) => 1) : () } @members;
        # Careless: any slot of the rack as first defined (taken, or outside
        # it since it shrank).
        my @cells = $careless ? free_cells($rack{$rack_id}[5], $rack{$rack_id}[6])
            : free_cells($rows, $columns, %taken);
        return 'nothing: the rack has no free slot' unless @cells;
        my $cell = pick(@cells);
        if ($kind eq 'slot insert') {
            $q->{conn}->do('INSERT INTO fleet_rack_slot (rack_id, device_id, row_index, column_index)'
                . ' VALUES (?, ?, ?, ?)', undef, $rack_id, $device_id, @$cell);
        } else {
            $q->{conn}->do('UPDATE fleet_rack_slot SET row_index = ?, column_index = ?'
                . ' WHERE rack_id = ? AND device_id = ?', undef, @$cell, $rack_id, $device_id);
        }
        return 'wrote';
    }
    # building update: a new layout, or (an empty building) a new site
    my $building_id = pick(@building_ids);
    my ($site, $aisles, $per_aisle, $racks, $devices, $positioned, $max_aisle, $max_position)
        = $q->row('building contents', $building_id);
    return 'nothing: no such building' unless defined $racks;
    if (defined $aisles && chance(0.7)) {
        my ($new_aisles, $new_per_aisle) = (1 + int(rand(3)), 1 + int(rand(3)));
        return 'nothing: the racks would not fit'
            if !$careless && ($racks > $new_aisles * $new_per_aisle
                || (defined $max_aisle && ($max_aisle >= $new_aisles || $max_position >= $new_per_aisle)));
        $transaction->{what} = 'layout';
        $q->{conn}->do('UPDATE fleet_building SET aisle_count = ?, racks_per_aisle = ? WHERE id = ?',
            undef, $new_aisles, $new_per_aisle, $building_id);
        return 'wrote';
    }
    return 'nothing: the building holds racks or devices' if !$careless && ($racks || $devices);
    my $new_site = chance(0.15) ? undef : pick(@site_ids);
    $transaction->{what} = 'site';
    $transaction->{names_churn} = churn_named('site', $new_site);
    $q->{conn}->do('UPDATE fleet_building SET site_id = ? WHERE id = ?', undef, $new_site, $building_id);
    return 'wrote';
}

# ---------------------------------------------------------------------------
# A client
# ---------------------------------------------------------------------------
my %read_sql = (
    'rack size'          => 'SELECT row_count, column_count FROM fleet_rack WHERE id = ?',
    'rack slots'         => 'SELECT m.device_id, s.row_index, s.column_index FROM fleet_rack_membership m'
        . ' LEFT JOIN fleet_rack_slot s ON s.rack_id = m.rack_id AND s.device_id = m.device_id'
        . ' WHERE m.rack_id = ? ORDER BY m.device_id',
    'rack slot extent'   => 'SELECT max(row_index), max(column_index) FROM fleet_rack_slot WHERE rack_id = ?',
    'rack room'          => 'SELECT r.site_id, r.building_id, r.row_count * r.column_count'
        . ' - (SELECT count(*) FROM fleet_rack_membership m WHERE m.rack_id = r.id)'
        . ' FROM fleet_rack r WHERE r.id = ?',
    'rack'               => 'SELECT r.site_id, r.building_id, r.aisle_index, r.position_in_aisle,'
        . ' r.row_count, r.column_count,'
        . ' (SELECT count(*) FROM fleet_rack_membership m WHERE m.rack_id = r.id)'
        . ' FROM fleet_rack r WHERE r.id = ?',
    'building'           => 'SELECT site_id, aisle_count, racks_per_aisle FROM fleet_building WHERE id = ?',
    'building layout'    => 'SELECT aisle_count, racks_per_aisle FROM fleet_building'
        . ' WHERE id = ? AND aisle_count IS NOT NULL',
    'building positions' => 'SELECT id, aisle_index, position_in_aisle FROM fleet_rack'
        . ' WHERE building_id = ? AND aisle_index IS NOT NULL ORDER BY id',
    'building contents'  => 'SELECT b.site_id, b.aisle_count, b.racks_per_aisle,'
        . ' (SELECT count(*) FROM fleet_rack r WHERE r.building_id = b.id),'
        . ' (SELECT count(*) FROM fleet_device d WHERE d.building_id = b.id),'
        . ' (SELECT count(*) FROM fleet_rack r WHERE r.building_id = b.id AND r.aisle_index IS NOT NULL),'
        . ' (SELECT max(aisle_index) FROM fleet_rack r WHERE r.building_id = b.id),'
        . ' (SELECT max(position_in_aisle) FROM fleet_rack r WHERE r.building_id = b.id)'
        . ' FROM fleet_building b WHERE b.id = ?',
    'unracked devices'   => 'SELECT d.id FROM fleet_device d WHERE NOT EXISTS'
        . ' (SELECT 1 FROM fleet_rack_membership m WHERE m.device_id = d.id) ORDER BY d.id',
    'unracked devices like' => 'SELECT d.id FROM fleet_device d'
        . ' WHERE d.site_id IS NOT DISTINCT FROM ?::bigint AND d.building_id IS NOT DISTINCT FROM ?::bigint'
        . ' AND NOT EXISTS (SELECT 1 FROM fleet_rack_membership m WHERE m.device_id = d.id) ORDER BY d.id',
    'racks with slotted members' => 'SELECT rack_id FROM fleet_rack_slot GROUP BY rack_id'
        . ' HAVING count(*) >= 2 ORDER BY rack_id',
    'buildings with placed racks' => 'SELECT building_id FROM fleet_rack WHERE aisle_index IS NOT NULL'
        . ' GROUP BY building_id HAVING count(*) >= 2 ORDER BY building_id',
    'site contents'      => 'SELECT count(*) FROM fleet_device WHERE site_id = ?',
    'building members'   => 'SELECT count(*) FROM fleet_rack WHERE building_id = ?',
    'rack members'       => 'SELECT count(*) FROM fleet_rack_membership WHERE rack_id = ?',
);

# A small reader over one connection's prepared reads.
package Reads {
    sub new {
        my ($class, $conn) = @_;
        my %sth = map { $_ => $conn->prepare($read_sql{$_}) } keys %read_sql;
        return bless { conn => $conn, sth => \%sth }, $class;
    }
    sub rows {
        my ($self, $name, @args) = @_;
        my $sth = $self->{sth}{$name};
        $sth->execute(@args);
        return $sth->fetchall_arrayref;
    }
    sub row {
        my ($self, $name, @args) = @_;
        my $rows = $self->rows($name, @args);
        return @$rows ? @{ $rows->[0] } : ();
    }
}

sub run_call {
    my ($sth, $call, $identifier_of, $count) = @_;
    my $fn = $call->{fn};
    my $rows;
    if ($fn =~ /^devices/) {
        # Identifiers in random order (slots stay with their device).
        my @order = shuffle(0 .. $#{ $call->{ids} });
        my @names = map { $identifier_of->[ $call->{ids}[$_] ] } @order;
        my $force = $call->{force} ? 'true' : 'false';
        my $h = $sth->{ $call->{second} ? 'second call' : $fn };
        if ($call->{slots}) {
            $h->execute(\@names, $call->{target}, $force,
                [map { $call->{row_indexes}[$_] } @order], [map { $call->{column_indexes}[$_] } @order]);
        } else {
            @names = shuffle(@names, @{ $call->{ghosts} });
            if ($fn eq 'devices to rack') {
                $h->execute(\@names, $call->{target}, $force, undef, undef);
            } else {
                $h->execute(\@names, $call->{target}, $force);
            }
        }
        $rows = $h->fetchall_arrayref;
        $count->{"conflicts $_->[0]"}++ for @$rows;
        return !@$rows;
    }
    if ($fn eq 'racks to building' && $call->{positions}) {
        $sth->{$fn}->execute($call->{ids}, $call->{target}, $call->{aisle_indexes},
            $call->{positions_in_aisle});
    } elsif ($fn eq 'racks to building') {
        $sth->{$fn}->execute([shuffle(@{ $call->{ids} })], $call->{target}, undef, undef);
    } else {
        $sth->{$fn}->execute([shuffle(@{ $call->{ids} })], $call->{target});
    }
    $rows = $sth->{$fn}->fetchall_arrayref;
    $count->{"cascaded $fn buildings"} += $rows->[0][0];
    $count->{"cascaded $fn racks"} += $rows->[0][1];
    $count->{"cascaded $fn devices"} += $rows->[0][2];
    return 1;
}

sub call_event {
    my ($call) = @_;
    return $call_event{'devices out of racks'}
        if $call->{fn} eq 'devices to rack' && !defined $call->{target};
    return $call_event{ $call->{fn} };
}

sub run_client {
    my ($run, $mode, $role, $number, $deadline, $identifier_of, $out) = @_;
    srand($seed + 7919 * $number + 104729 * $run + ($role eq 'writer' ? 15485863 : 0));
    my $conn = connect_to($db);
    # Detect a deadlock quickly; turn any hang into an error that fails the test.
    $conn->do("SET deadlock_timeout = '100ms'");
    $conn->do("SET lock_timeout = '20s'");
    $conn->do("SET statement_timeout = '60s'");
    my $q = Reads->new($conn);
    my %sth = (
        'devices to site' => $conn->prepare(
            'SELECT reason::text FROM fleet_assign_devices_to_site(?::text[], ?::bigint, ?::boolean)'),
        # Tagged, so that the server log tells it in a deadlock report.
        'second call' => $conn->prepare('/* second call */'
            . ' SELECT reason::text FROM fleet_assign_devices_to_site(?::text[], ?::bigint, ?::boolean)'),
        'devices to building' => $conn->prepare(
            'SELECT reason::text FROM fleet_assign_devices_to_building(?::text[], ?::bigint, ?::boolean)'),
        'devices to rack' => $conn->prepare(
            'SELECT reason::text FROM fleet_assign_devices_to_rack(?::text[], ?::bigint, ?::boolean,'
            . ' ?::integer[], ?::integer[])'),
        'racks to site' => $conn->prepare(
            'SELECT building_count, rack_count, device_count FROM fleet_assign_racks_to_site(?::bigint[], ?::bigint)'),
        'racks to building' => $conn->prepare(
            'SELECT building_count, rack_count, device_count FROM fleet_assign_racks_to_building(?::bigint[],'
            . ' ?::bigint, ?::integer[], ?::integer[])'),
        'buildings to site' => $conn->prepare(
            'SELECT building_count, rack_count, device_count FROM fleet_assign_buildings_to_site(?::bigint[], ?::bigint)'),
        'site delete'     => $conn->prepare('DELETE FROM fleet_site WHERE id = ?'),
        'building delete' => $conn->prepare('DELETE FROM fleet_building WHERE id = ?'),
        'rack delete'     => $conn->prepare('DELETE FROM fleet_rack WHERE id = ?'),
        'site revival'    => $conn->prepare(
            q{INSERT INTO fleet_site (id, name) VALUES (?, 'site-' || ?) ON CONFLICT DO NOTHING}),
        'building revival' => $conn->prepare(
            'INSERT INTO fleet_building (id, name, site_id, aisle_count, racks_per_aisle)'
            . ' VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING'),
        'rack revival'    => $conn->prepare(
            'INSERT INTO fleet_rack (id, label, site_id, row_count, column_count)'
            . ' VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING'),
    );
    my %look = (site => 'site contents', building => 'building members', rack => 'rack members');
    my ($backend) = $conn->selectrow_array('SELECT pg_backend_pid()');
    my %count;
    my (@messages, @spans, @deadlocks);

    while (time() < $deadline) {
        my $transaction = $role eq 'writer' ? plan_writer_transaction($mode)
            : plan_mover_transaction($mode);
        my $level = $transaction->{level};
        my $kind = $transaction->{kind};
        my %applied;
        my $outcome = '';
        my $started = time();
        $conn->begin_work;
        eval {
            $conn->do("SET TRANSACTION ISOLATION LEVEL $level");
            if ($transaction->{calls}) {
                for my $call (@{ $transaction->{calls} }) {
                    plan_slots($q, $call) if $call->{want_slots};
                    plan_positions($q, $call) if $call->{want_positions};
                    # From here on a deadlock may be this transaction's doing.
                    $transaction->{risky_from} //= time() if $call->{second};
                    $count{calls}++;
                    $count{"calls $call->{fn}" . ($call->{slots} ? " with slots ($call->{slot_plan})"
                        : $call->{positions} ? " with positions ($call->{position_plan})" : '')}++;
                    if (run_call(\%sth, $call, $identifier_of, \%count)) {
                        $applied{ call_event($call) }++;
                    } else {
                        $count{'calls with conflicts'}++;
                    }
                }
            } elsif ($direct_kinds{$kind}) {
                $outcome = direct_write($q, $transaction);
            } elsif ($kind =~ /delete$/) {
                # Look first, as an application would: under REPEATABLE READ
                # and SERIALIZABLE this takes the snapshot, and moves into the
                # row can commit before the DELETE locks it.
                $q->rows($look{ $transaction->{what} }, $transaction->{id});
                sleep(0.001 + rand(0.01));
                my $deleted = $sth{$kind}->execute($transaction->{id});
                $count{"$transaction->{what}s deleted"} += $deleted if $deleted > 0;
            } else {
                my $id = $transaction->{id};
                my $what = $transaction->{what};
                my @values = $what eq 'site' ? ($id, $id)
                    : $what eq 'building' ? ($id, $building{$id}[1],
                        chance(0.2) ? undef : pick(@permanent_site_ids), @{ $building{$id} }[3, 4])
                    : ($id, "rack-$id", chance(0.2) ? undef : pick(@permanent_site_ids),
                        @{ $rack{$id} }[5, 6]);
                my $inserted = $sth{$kind}->execute(@values);
                $count{"${what}s brought back"} += $inserted if $inserted > 0;
            }
            # Now and then hold the locks a little longer, so more
            # transactions queue up behind them.
            sleep(0.001 + rand(0.009)) if chance(0.1);
            if ($transaction->{calls} && chance(0.1)) {
                $conn->rollback;
                $count{'rolled back on purpose'}++;
            } else {
                $conn->commit;
                $count{committed}++;
                $count{"applied $_"} += $applied{$_} for keys %applied;
                $count{'applied calls committed'} += sum0(values %applied);
                $count{"outcome $kind: $outcome" . ($transaction->{careless} ? ' (careless)' : '')}++
                    if $outcome;
            }
            1;
        } or do {
            my $state = $conn->state || 'unknown';
            my $message = $conn->errstr // $@;
            $message =~ s/\s+/ /g;
            $message = substr($message, 0, 600);
            my $what = $kind . ($transaction->{what} && $direct_kinds{$kind} ? " ($transaction->{what})" : '');
            $count{"error $state"}++;
            $count{"where $state in $what at $level"}++;
            $count{"careless $state in $what"}++ if $transaction->{careless};
            if ($state eq '40P01') {
                # Judged by the parent: which transactions the cycle joined.
                my %pids = map { $_ => 1 } $message =~ /[Pp]rocess (\d+)/g;
                push @deadlocks, join("\t", 'deadlock', $backend, $started, time(), join(',', sort keys %pids),
                    $transaction->{risky_from} ? 1 : 0, "$state ($level, $what) $message");
            } elsif (!error_expected($state, $level, $transaction)) {
                $count{"unexpected error $state in $what at $level"}++;
                push @messages, "$state ($level, $what) $message"
                    if @messages < 8 && !grep { $_ eq "$state ($level, $what) $message" } @messages;
            }
            # A failed COMMIT has already ended the transaction.
            eval { $conn->rollback } unless $conn->{AutoCommit};
        };
        last unless $conn->ping;    # the server went away (the watcher says so)
        $count{transactions}++;
        $count{"transactions $kind"}++;
        push @spans, "span\t$backend\t$transaction->{risky_from}\t" . time() if $transaction->{risky_from};
    }
    $conn->disconnect;
    print {$out} "count\t$_\t$count{$_}\n" for sort keys %count;
    print {$out} "$_\n" for @spans, @deadlocks;
    print {$out} "message\t$_\n" for @messages;
    close $out;
}

# Rules 1-4 (the view) and rule 5 (capacity, slots inside racks, positions
# inside layouts), and nothing sharing a place.
my $check_sql = q{
    SELECT (SELECT count(*) FROM fleet_placement_violation),
           (SELECT count(*) FROM (SELECT r.id FROM fleet_rack r
                                    JOIN fleet_rack_membership m ON m.rack_id = r.id
                                   GROUP BY r.id, r.row_count, r.column_count
                                  HAVING count(*) > r.row_count * r.column_count) AS over),
           (SELECT count(*) FROM fleet_rack_slot s JOIN fleet_rack r ON r.id = s.rack_id
             WHERE s.row_index >= r.row_count OR s.column_index >= r.column_count),
           (SELECT count(*) FROM fleet_rack r LEFT JOIN fleet_building b ON b.id = r.building_id
             WHERE r.aisle_index IS NOT NULL
               AND (b.aisle_count IS NULL OR r.aisle_index >= b.aisle_count
                    OR r.position_in_aisle >= b.racks_per_aisle)),
           (SELECT count(*) FROM (SELECT b.id FROM fleet_building b
                                    JOIN fleet_rack r ON r.building_id = b.id
                                   WHERE b.aisle_count IS NOT NULL
                                   GROUP BY b.id, b.aisle_count, b.racks_per_aisle
                                  HAVING count(*) > b.aisle_count * b.racks_per_aisle) AS over),
           (SELECT count(*) FROM (SELECT 1 FROM fleet_rack_slot
                                   GROUP BY rack_id, row_index, column_index HAVING count(*) > 1) AS s)
         + (SELECT count(*) FROM (SELECT 1 FROM fleet_rack WHERE aisle_index IS NOT NULL
                                   GROUP BY building_id, aisle_index, position_in_aisle
                                  HAVING count(*) > 1) AS p)
};
my @check_names = ('row(s) in fleet_placement_violation', 'rack(s) over capacity',
    'slot(s) outside their rack', 'position(s) outside a layout', 'building(s) over capacity',
    'place(s) held twice');

# ---------------------------------------------------------------------------
# One run: set up a fresh database, run the clients, watch, judge
# ---------------------------------------------------------------------------
# After a backend crash the server restarts (restart_after_crash): connect
# again, so that the next run still runs.
sub admin_connection {
    my $until = time() + 60;
    until ($admin && eval { $admin->ping > 0 }) {
        $admin = eval { connect_to('postgres') };
        $admin->do('SET client_min_messages = warning') if $admin;
        BAIL_OUT('cannot connect to the server again') if !$admin && time() > $until;
        sleep(0.5) unless $admin;
    }
    return $admin;
}

sub run_mode {
    my ($run, $mode) = @_;
    srand($seed + 31 * $run);

    admin_connection();
    $admin->do("DROP DATABASE IF EXISTS $db WITH (FORCE)");
    $admin->do("CREATE DATABASE $db");
    $created = 1;
    my $dbh = connect_to($db);
    $dbh->do('CREATE EXTENSION fleet_sites');

    # identifier_of[id]: identifiers are a shuffle of the ids.
    my @identifier_of = (undef, map { sprintf('dev-%03d', $_) } shuffle(1 .. $device_count));

    # The fixture is written as plain SQL, through the guards.
    $dbh->begin_work;
    $dbh->do('INSERT INTO fleet_site (id, name) VALUES (?, ?)', undef, $_, "site-$_") for @site_ids;
    $dbh->do('INSERT INTO fleet_building (id, name, site_id, aisle_count, racks_per_aisle) VALUES (?, ?, ?, ?, ?)',
        undef, @$_) for @buildings;
    $dbh->do('INSERT INTO fleet_rack (id, label, site_id, building_id, aisle_index, position_in_aisle,'
        . ' row_count, column_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        undef, $_->[0], "rack-$_->[0]", @$_[1 .. 6]) for @racks;
    for my $id (1 .. $device_count) {
        my $site = chance(0.2) ? undef : pick(@site_ids);
        my @here = grep { ($_->[2] // 0) == ($site // 0) } @buildings;
        my $building_id = @here && chance(0.4) ? pick(@here)->[0] : undef;
        $dbh->do('INSERT INTO fleet_device (id, identifier, site_id, building_id) VALUES (?, ?, ?, ?)',
            undef, $id, $identifier_of[$id], $site, $building_id);
    }
    $dbh->commit;
    # Start with racked devices, placed (some with slots) by the function.
    for my $rack_id (2, 3, 5, 7, 10, 12, 13) {
        my $size = $rack{$rack_id}[5] * $rack{$rack_id}[6];
        my @ids = map { $identifier_of[$_] } distinct_random(min(12, $size - 1), 1 .. $device_count);
        my @cells = shuffle(free_cells($rack{$rack_id}[5], $rack{$rack_id}[6]));
        my @rows = map { chance(0.7) ? $cells[$_] : undef } 0 .. $#ids;
        $dbh->selectall_arrayref('SELECT * FROM fleet_assign_devices_to_rack(?::text[], ?, true, ?::int[], ?::int[])',
            undef, \@ids, $rack_id, [map { $_ ? $_->[0] : undef } @rows], [map { $_ ? $_->[1] : undef } @rows]);
    }
    my ($activity_before) = $dbh->selectrow_array('SELECT count(*) FROM fleet_activity');
    my ($members_before, $slots_before) = $dbh->selectrow_array(
        'SELECT (SELECT count(*) FROM fleet_rack_membership), (SELECT count(*) FROM fleet_rack_slot)');
    my @bad_before = $dbh->selectrow_array($check_sql);
    ok($members_before > 0 && $slots_before > 0 && !grep({ $_ } @bad_before),
        "setup: $device_count devices, " . scalar(@racks) . ' racks, ' . scalar(@buildings)
        . " buildings, $members_before memberships, $slots_before slots, invariant holds");
    $dbh->disconnect;

    my $deadline = time() + $seconds;
    my (%child, %reader);
    my @roles = ((map { ['mover', $_] } 1 .. $movers), (map { ['writer', $movers + $_] } 1 .. $writers));
    for my $role (@roles) {
        my ($kind, $number) = @$role;
        pipe(my $from_child, my $to_parent) or die "pipe: $!";
        my $pid = fork() // die "fork: $!";
        if ($pid == 0) {
            close $from_child;
            my $ok = eval {
                run_client($run, $mode, $kind, $number, $deadline, \@identifier_of, $to_parent); 1
            };
            print STDERR "client $number ($kind): $@" unless $ok;
            POSIX::_exit($ok ? 0 : 1);
        }
        close $to_parent;
        $child{$pid} = $number;
        $reader{$number} = $from_child;
    }

    my $watch = connect_to($db);
    my ($checks, $bad_checks, $first_bad, $lost) = (0, 0, '', undef);
    my $describe = sub {
        my @counts = @_;
        return join(', ', map { "$counts[$_] $check_names[$_]" } grep { $counts[$_] } 0 .. $#counts);
    };
    while (time() < $deadline) {
        my @counts = eval { $watch->selectrow_array($check_sql) };
        if ($@) {
            ($lost = $@) =~ s/\s+/ /g;
            last;
        }
        $checks++;
        if (grep { $_ } @counts) {
            $bad_checks++;
            $first_bad ||= $describe->(@counts);
        }
        sleep(0.2);
    }

    # Collect every client's report; a client that hangs fails the test.
    my (%total, @messages, @client_failures, %spans, @deadlocks);
    my $give_up = time() + 120;
    for my $role (@roles) {
        my $number = $role->[1];
        my $fh = $reader{$number};
        while (my $line = <$fh>) {
            chomp $line;
            my ($what, @rest) = split /\t/, $line;
            if ($what eq 'count') { $total{ $rest[0] } += $rest[1] }
            elsif ($what eq 'span') { push @{ $spans{ $rest[0] } }, [@rest[1, 2]] }
            elsif ($what eq 'deadlock') { push @deadlocks, [$number, @rest] }
            else { push @messages, "client $number ($role->[0]): $rest[0]" }
        }
        close $fh;
    }
    # Two calls in one transaction, and multi-row statements, may deadlock by
    # contract (each call keeps the lock order, two together need not; a
    # multi-row statement locks rows in plan order). A deadlock is allowed
    # when the victim was in its second call or its multi-row statement, or
    # another backend of the cycle (the error names them) was: in one at
    # some moment between the victim's start (plus the deadlock_timeout it
    # waited at least) and its error.
    my (@allowed_deadlocks, @forbidden_deadlocks);
    for my $deadlock (@deadlocks) {
        my ($number, $victim, $started, $failed, $pids, $victim_may, $message) = @$deadlock;
        my @others = grep { $_ != $victim } split /,/, $pids;
        my $excuse = $victim_may || grep {
            grep { $_->[0] <= $failed && $_->[1] >= $started + 0.1 } @{ $spans{$_} // [] }
        } @others;
        if ($excuse) { push @allowed_deadlocks, $message }
        else { push @forbidden_deadlocks, "client $number: $message" }
    }
    while (%child) {
        my $pid = waitpid(-1, POSIX::WNOHANG());
        if ($pid > 0) {
            push @client_failures, "client $child{$pid} exited with status " . ($? >> 8) if $?;
            delete $child{$pid};
            next;
        }
        if (time() > $give_up) {
            for my $pid (keys %child) {
                kill 'KILL', $pid;
                push @client_failures, "client $child{$pid} hung";
            }
            last;
        }
        sleep(0.1);
    }
    ok(!defined $lost, 'the server stayed up while the clients ran'
        . (defined $lost ? " (the watcher lost its connection: $lost)" : ''));
    is(join('; ', @client_failures), '', 'every client ran to the end');
    if (defined $lost) {
        diag($_) for @messages[0 .. min(7, $#messages)];
        admin_connection();
        drop_database();
        return;
    }

    my $list = sub {
        my ($prefix) = @_;
        my @keys = sort grep { /^\Q$prefix\E/ } keys %total;
        return @keys ? join(', ', map { substr($_, length $prefix) . "=$total{$_}" } @keys) : 'none';
    };
    my $transactions = $total{transactions} // 0;
    diag(sprintf('%s: %d transactions (%d committed, %d rolled back on purpose), %d calls '
        . '(%d applied and committed, %d with conflicts); %d invariant checks while running',
        $mode, $transactions, $total{committed} // 0, $total{'rolled back on purpose'} // 0,
        $total{calls} // 0, $total{'applied calls committed'} // 0,
        $total{'calls with conflicts'} // 0, $checks));
    # Per kind of transaction: how many, and each SQLSTATE by level.
    my %short = ('read committed' => 'RC', 'repeatable read' => 'RR', 'serializable' => 'SER');
    my @details;
    for my $kind (sort map { s/^transactions //r } grep { /^transactions / } keys %total) {
        my %states;
        for my $key (grep { /^where \S+ in \Q$kind\E( \(|\s+at )/ } keys %total) {
            my ($state, $what, $level) = $key =~ /^where (\S+) in (.*) at (.*)$/;
            my $sub = $what eq $kind ? '' : substr($what, length($kind) + 1) . ' ';
            $states{"$sub$state"}{$level} += $total{$key};
        }
        push @details, sprintf('  %-27s %5d: %s', $kind, $total{"transactions $kind"},
            join('; ', map { my $l = $states{$_};
                "$_ " . join(' ', map { "$l->{$_} $short{$_}" } grep { $l->{$_} } @levels) } sort keys %states)
            || 'no error');
    }
    push @details, "calls by kind: " . $list->('calls '),
        "careless direct writes refused: " . $list->('careless '),
        "direct writes committed: " . $list->('outcome '),
        "conflicts by reason: " . $list->('conflicts '),
        "cascaded: " . $list->('cascaded ');
    diag("$mode: errors by SQLSTATE: " . $list->('error '));
    diag("$mode: deleted / brought back: " . join(', ', map {
        "${_}s " . ($total{"${_}s deleted"} // 0) . '/' . ($total{"${_}s brought back"} // 0)
    } qw(site building rack))) if $deletes;
    diag($_) for @messages;

    ok($transactions >= 10 * ($movers + $writers), "the clients ran transactions ($transactions)");
    diag("forbidden deadlock: $_") for @forbidden_deadlocks[0 .. min(4, $#forbidden_deadlocks)];
    is(scalar @forbidden_deadlocks, 0,
        'no deadlock (40P01) among one-call transactions, one-row deletes and one-row direct writes ('
        . scalar(@allowed_deadlocks) . ' with a two-call transaction or a multi-row statement, allowed)');
    is($list->('unexpected error '), 'none',
        'no error other than those the contract tells callers to expect here');
    is($bad_checks, 0, "invariant held at each of $checks checks while the clients ran"
        . ($first_bad ? " (first failure: $first_bad)" : ''));

    my @counts = $watch->selectrow_array($check_sql);
    is($describe->(@counts), '', 'rules 1-5 hold at the end');
    my %activity = map { @$_ } @{ $watch->selectall_arrayref(
        'SELECT event_type, count(*) FROM fleet_activity WHERE id > ? GROUP BY event_type',
        undef, $activity_before) };
    my ($activity_after) = $watch->selectrow_array('SELECT count(*) FROM fleet_activity');
    is($activity_after - $activity_before, $total{'applied calls committed'} // 0,
        'one fleet_activity row per applied call in a committed transaction');
    my %events = map { $_ => 1 } keys %activity, map { s/^applied //r } grep { /^applied / } keys %total;
    delete $events{'calls committed'};
    is(join(', ', map { "$_: " . ($activity{$_} // 0) . ' rows for ' . ($total{"applied $_"} // 0) . ' calls' }
            grep { ($activity{$_} // 0) != ($total{"applied $_"} // 0) } sort keys %events),
        '', 'and per event type');

    # The server's own count, in case a deadlock were ever reported somewhere
    # the clients did not see: wait until their backends are gone (they flush
    # their statistics on exit), then read it.
    my $gone_by = time() + 10;
    while (time() < $gone_by) {
        my ($others) = $watch->selectrow_array(
            'SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
        last unless $others;
        sleep(0.1);
    }
    $watch->do('SELECT pg_stat_clear_snapshot()');
    my ($server_deadlocks) = $watch->selectrow_array(
        'SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()');
    is($server_deadlocks, $total{'error 40P01'} // 0,
        'the server counted the deadlocks the clients saw, and no other');
    # The tables: always with prove -v, and on the terminal when this run failed.
    my $say = Test::More->builder->is_passing ? \&note : \&diag;
    $say->("$mode: errors by kind of transaction (and what it wrote) and level:");
    $say->($_) for @details;
    $watch->disconnect;

    drop_database();
}

for my $run (0 .. $#modes) {
    subtest "isolation: $modes[$run]" => sub { run_mode($run, $modes[$run]) };
}

done_testing();
