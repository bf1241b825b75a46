#!/usr/bin/env perl
# test/tap/stress.t: a bounded randomized stress test of the two move
# functions, racing site deletes, at every isolation level.
#
# One run per isolation mode (FLEET_STRESS_LEVELS, a comma-separated list;
# default: read committed, repeatable read, serializable, mixed), each on a
# fresh database, each about FLEET_STRESS_SECONDS (default 15) seconds, so
# the suite spends about a minute here. In "mixed" every transaction picks
# one of the three levels at random. Several clients (FLEET_STRESS_CLIENTS,
# default 4) run their own transactions: random site moves and rack moves of
# random batches (1..50 identifiers from a pool of 200, duplicates and
# unknown identifiers included, in random order), forced and not, to sites
# and to Unassigned, into racks (small ones that fill up, site-less ones)
# and to no rack. A quarter of the move transactions make two calls; a
# tenth roll back instead of committing. With FLEET_STRESS_SITE_DELETES
# (default 1) one transaction in twenty deletes a site (it counts the
# site's devices, waits a few milliseconds, then runs a one-row DELETE) and
# one in twenty brings a deleted site back.
#
# Nothing is retried, so nothing is hidden. Each run fails on
#   - any deadlock (40P01), seen by a client or counted by the server
#     (pg_stat_database): no two calls may deadlock, and a one-row site
#     delete may not deadlock with a call, at any isolation level;
#   - any error the README does not tell callers to expect here:
#       23514  a rack full (a rack move);
#       23503  the target site does not exist (a move to a site that a
#              client deleted; only sites that get deleted are counted);
#       40001  a serialization failure: only in a REPEATABLE READ or
#              SERIALIZABLE transaction, or in a site delete. A READ
#              COMMITTED move must never see one here: no rack changes
#              site, so nothing a call reads before its lock can change;
#   - a row in fleet_placement_violation or a rack over capacity, checked
#     every 200 ms while the clients run and once at the end;
#   - a fleet_activity row count different from the number of calls that
#     applied (returned no conflicts) in committed transactions: each applied
#     call writes exactly one row, a call with conflicts writes none.
# Every SQLSTATE seen is listed with its count, per isolation level and
# kind of transaction.
#
# Sites 1..4 hold the racks and are never deleted. Sites 5 and 6 hold only
# devices (never racks, so no device can be racked there) and are the ones
# deleted and brought back: a delete sets their devices Unassigned through
# the foreign key, racing moves into and out of them.
#
# Two calls in one transaction: the contract promises that no two CALLS
# deadlock; a transaction making two calls holds the first call's locks
# while the second takes its own, so two such transactions can deadlock
# (T1 locks d1 then d2, T2 locks d2 then d1) whatever each call does. The
# second call here is therefore a site move either of a subset of the first
# call's devices or of devices whose ids are all above the first call's:
# each transaction then takes its device locks in ascending id order as a
# whole, as a careful caller would. Its target is one of the sites that are
# never deleted (or Unassigned): its site lock, FOR KEY SHARE, comes after
# the first call's device locks, and a site delete waiting for those devices
# while holding the site row would close a cycle that no lock order inside
# one call can prevent.
#
# Identifiers are a shuffle of the ids, so identifier order is not id
# order: a lock step sorted by identifier would show up as deadlocks.
#
# Runs inside a cluster from pg_virtualenv (PGHOST, PGPORT, PGUSER,
# PGPASSWORD); creates the database fleet_stress for each run and drops it
# at the end. FLEET_STRESS_SEED makes the random choices repeatable (per run
# and client; the interleaving is not).
use strict;
use warnings;

use DBI;
use List::Util qw(shuffle max);
use POSIX ();
use Time::HiRes qw(time sleep);
use Test::More;

my $seconds      = $ENV{FLEET_STRESS_SECONDS} // 15;
my $clients      = $ENV{FLEET_STRESS_CLIENTS} // 4;
my $seed         = $ENV{FLEET_STRESS_SEED} // (int(time() * 1000) ^ $$) & 0x7fffffff;
my $site_deletes = $ENV{FLEET_STRESS_SITE_DELETES} // 1;
my @modes        = split /\s*,\s*/,
    ($ENV{FLEET_STRESS_LEVELS} // 'read committed,repeatable read,serializable,mixed');
my @levels       = ('read committed', 'repeatable read', 'serializable');
my $db           = 'fleet_stress';
my $parent       = $$;

for my $mode (@modes) {
    BAIL_OUT("FLEET_STRESS_LEVELS: unknown isolation mode '$mode'")
        unless grep { $_ eq $mode } @levels, 'mixed';
}

my $device_count  = 200;
my @rack_site_ids = (1 .. 4);    # hold the racks; never deleted
my @churn_site_ids = $site_deletes ? (5, 6) : ();    # deleted and brought back
my @site_ids      = (@rack_site_ids, @churn_site_ids);
my %is_churn_site = map { $_ => 1 } @churn_site_ids;
# [id, site (undef: no site), rows, columns]: tiny racks fill up (23514),
# site-less racks make DEVICE_LOSES_SITE.
my @racks = (
    [1, 1, 1, 2],   [2, 1, 2, 3],  [3, 1, 12, 12], [4, 2, 1, 3],
    [5, 2, 4, 4],   [6, 3, 2, 2],  [7, 3, 12, 12], [8, 4, 3, 5],
    [9, undef, 2, 3], [10, undef, 12, 12], [11, 4, 1, 1], [12, 2, 6, 6],
);

# The README's error table and its retry advice, applied to this workload
# (see the header).
sub error_expected {
    my ($state, $level, $transaction) = @_;
    return $transaction->{kind} eq 'move' if $state eq '23514';
    return $transaction->{targets_churn_site} if $state eq '23503';
    return $level ne 'read committed' || $transaction->{kind} eq 'site delete'
        if $state eq '40001';
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

diag("seed $seed, $clients clients, $seconds s per run, runs: " . join(', ', @modes)
    . ($site_deletes ? '; with site deletes' : ''));

# ---------------------------------------------------------------------------
# What one transaction does
# ---------------------------------------------------------------------------
sub random_ids {
    my ($low, $high, $count) = @_;
    return map { $low + int(rand($high - $low + 1)) } 1 .. $count;
}

sub random_call {
    my ($kind, $site_choices, @ids) = @_;
    my %call = (kind => $kind, ids => \@ids, force => rand() < 0.5 ? 1 : 0);
    if ($kind eq 'site') {
        $call{target} = rand() < 0.2 ? undef : $site_choices->[int(rand(@$site_choices))];
    } else {
        $call{target} = rand() < 0.1 ? undef : $racks[int(rand(@racks))][0];
    }
    # Now and then an identifier that names no device (DEVICE_NOT_FOUND).
    $call{ghosts} = rand() < 0.03 ? ['ghost-' . int(rand(1000))] : [];
    return \%call;
}

# 1..50 devices; rack moves often smaller, or most of them would only find
# the small racks full.
sub batch_size {
    my ($kind) = @_;
    return 1 + int(rand(8)) if $kind eq 'rack' && rand() < 0.5;
    return 1 + int(rand(50));
}

sub plan_moves {
    my $kind = rand() < 0.55 ? 'site' : 'rack';
    my $first = random_call($kind, \@site_ids, random_ids(1, $device_count, batch_size($kind)));
    return ($first) if rand() >= 0.25;

    # Second call: keep the transaction's device locks in ascending id
    # order, and its site lock on a site that is never deleted.
    my @first_ids = @{ $first->{ids} };
    my $top = max(@first_ids);
    my @second_ids;
    if ($top < $device_count && rand() < 0.5) {
        @second_ids = random_ids($top + 1, $device_count, 1 + int(rand(50)));
    } else {
        @second_ids = (shuffle(@first_ids))[0 .. int(rand(@first_ids))];
    }
    return ($first, random_call('site', \@rack_site_ids, @second_ids));
}

sub plan_transaction {
    my ($mode) = @_;
    my %transaction = (level => $mode eq 'mixed' ? $levels[int(rand(@levels))] : $mode);
    my $dice = rand();
    if (@churn_site_ids && $dice < 0.05) {
        $transaction{kind} = 'site delete';
        $transaction{site} = $churn_site_ids[int(rand(@churn_site_ids))];
    } elsif (@churn_site_ids && $dice < 0.10) {
        $transaction{kind} = 'site revival';
        $transaction{site} = $churn_site_ids[int(rand(@churn_site_ids))];
    } else {
        $transaction{kind} = 'move';
        $transaction{calls} = [plan_moves()];
        $transaction{targets_churn_site} = grep {
            $_->{kind} eq 'site' && defined $_->{target} && $is_churn_site{ $_->{target} }
        } @{ $transaction{calls} };
    }
    return \%transaction;
}

# ---------------------------------------------------------------------------
# A client
# ---------------------------------------------------------------------------
sub run_client {
    my ($run, $mode, $number, $deadline, $identifier_of, $out) = @_;
    srand($seed + 7919 * $number + 104729 * $run);
    my $conn = connect_to($db);
    # Detect a deadlock quickly; turn any hang into an error that fails the test.
    $conn->do("SET deadlock_timeout = '100ms'");
    $conn->do("SET lock_timeout = '20s'");
    $conn->do("SET statement_timeout = '60s'");
    my %sth = (
        site => $conn->prepare('SELECT reason::text FROM fleet_assign_devices_to_site(?::text[], ?::bigint, ?::boolean)'),
        rack => $conn->prepare('SELECT reason::text FROM fleet_assign_devices_to_rack(?::text[], ?::bigint, ?::boolean)'),
        'site count' => $conn->prepare('SELECT count(*) FROM fleet_device WHERE site_id = ?'),
        'site delete' => $conn->prepare('DELETE FROM fleet_site WHERE id = ?'),
        'site revival' => $conn->prepare(
            q{INSERT INTO fleet_site (id, name) VALUES (?, 'site-' || ?) ON CONFLICT DO NOTHING}),
    );
    my %count;
    my @messages;

    while (time() < $deadline) {
        my $transaction = plan_transaction($mode);
        my $level = $transaction->{level};
        my $kind = $transaction->{kind};
        my $applied = 0;
        $conn->begin_work;
        eval {
            $conn->do("SET TRANSACTION ISOLATION LEVEL $level");
            if ($kind eq 'move') {
                for my $call (@{ $transaction->{calls} }) {
                    my @names = shuffle((map { $identifier_of->[$_] } @{ $call->{ids} }),
                        @{ $call->{ghosts} });
                    $count{calls}++;
                    $sth{ $call->{kind} }->execute(\@names, $call->{target},
                        $call->{force} ? 'true' : 'false');
                    my $rows = $sth{ $call->{kind} }->fetchall_arrayref;
                    if (@$rows) {
                        $count{"conflicts $_->[0]"}++ for @$rows;
                        $count{'calls with conflicts'}++;
                    } else {
                        $applied++;
                    }
                }
            } elsif ($kind eq 'site delete') {
                # Look first, as an application would: under REPEATABLE
                # READ and SERIALIZABLE this takes the snapshot, and moves
                # into the site can commit before the DELETE locks it.
                $sth{'site count'}->execute($transaction->{site});
                $sth{'site count'}->fetchall_arrayref;
                sleep(0.001 + rand(0.01));
                my $deleted = $sth{$kind}->execute($transaction->{site});
                $count{'sites deleted'} += $deleted if $deleted > 0;
            } else {
                my $inserted = $sth{$kind}->execute($transaction->{site}, $transaction->{site});
                $count{'sites brought back'} += $inserted if $inserted > 0;
            }
            # Now and then hold the locks a little longer, so more calls
            # queue up behind them.
            sleep(0.001 + rand(0.009)) if rand() < 0.1;
            if ($kind eq 'move' && rand() < 0.1) {
                $conn->rollback;
                $count{'rolled back on purpose'}++;
            } else {
                $conn->commit;
                $count{committed}++;
                $count{'applied calls committed'} += $applied;
            }
            1;
        } or do {
            my $state = $conn->state || 'unknown';
            my $message = $conn->errstr // $@;
            $message =~ s/\s+/ /g;
            $message = substr($message, 0, 400);
            $count{"error $state"}++;
            $count{"where $state at $level in $kind"}++;
            unless (error_expected($state, $level, $transaction)) {
                $count{"unexpected error $state at $level in $kind"}++;
                push @messages, "$state ($level, $kind) $message" if @messages < 5;
            }
            # A failed COMMIT has already ended the transaction.
            eval { $conn->rollback } unless $conn->{AutoCommit};
        };
        $count{transactions}++;
        $count{"$kind transactions"}++;
        $count{'two-call transactions'}++ if $kind eq 'move' && @{ $transaction->{calls} } > 1;
    }
    $conn->disconnect;
    print {$out} "count\t$_\t$count{$_}\n" for sort keys %count;
    print {$out} "message\t$_\n" for @messages;
    close $out;
}

my $check_sql = q{
    SELECT (SELECT count(*) FROM fleet_placement_violation),
           (SELECT count(*) FROM (SELECT r.id
                                    FROM fleet_rack r
                                    JOIN fleet_rack_membership m ON m.rack_id = r.id
                                   GROUP BY r.id, r.row_count, r.column_count
                                  HAVING count(*) > r.row_count * r.column_count) AS over)
};

# ---------------------------------------------------------------------------
# One run: set up a fresh database, run the clients, watch, judge
# ---------------------------------------------------------------------------
sub run_mode {
    my ($run, $mode) = @_;
    srand($seed + 31 * $run);

    $admin->do("DROP DATABASE IF EXISTS $db WITH (FORCE)");
    $admin->do("CREATE DATABASE $db");
    $created = 1;
    my $dbh = connect_to($db);
    $dbh->do('CREATE EXTENSION fleet_sites');

    # identifier_of[id]: identifiers are a shuffle of the ids.
    my @identifier_of = (undef, map { sprintf('dev-%03d', $_) } shuffle(1 .. $device_count));

    $dbh->begin_work;
    $dbh->do('INSERT INTO fleet_site (id, name) VALUES (?, ?)', undef, $_, "site-$_") for @site_ids;
    for my $rack (@racks) {
        $dbh->do('INSERT INTO fleet_rack (id, label, site_id, row_count, column_count) VALUES (?, ?, ?, ?, ?)',
            undef, $rack->[0], "rack-$rack->[0]", $rack->[1], $rack->[2], $rack->[3]);
    }
    for my $id (1 .. $device_count) {
        my $site = rand() < 0.2 ? undef : $site_ids[int(rand(@site_ids))];
        $dbh->do('INSERT INTO fleet_device (id, identifier, site_id) VALUES (?, ?, ?)',
            undef, $id, $identifier_of[$id], $site);
    }
    $dbh->commit;
    # Start with racked devices, placed by the function itself.
    for my $rack_id (3, 5, 7, 10, 12) {
        my @ids = map { $identifier_of[1 + int(rand($device_count))] } 1 .. 12;
        $dbh->selectall_arrayref('SELECT * FROM fleet_assign_devices_to_rack(?::text[], ?, true)',
            undef, \@ids, $rack_id);
    }
    my ($activity_before) = $dbh->selectrow_array('SELECT count(*) FROM fleet_activity');
    my ($members_before) = $dbh->selectrow_array('SELECT count(*) FROM fleet_rack_membership');
    ok($members_before > 0, "setup: $device_count devices, " . scalar(@racks)
        . " racks, $members_before memberships");
    $dbh->disconnect;

    my $deadline = time() + $seconds;
    my (%child, %reader);
    for my $number (1 .. $clients) {
        pipe(my $from_child, my $to_parent) or die "pipe: $!";
        my $pid = fork() // die "fork: $!";
        if ($pid == 0) {
            close $from_child;
            my $ok = eval { run_client($run, $mode, $number, $deadline, \@identifier_of, $to_parent); 1 };
            print STDERR "client $number: $@" unless $ok;
            POSIX::_exit($ok ? 0 : 1);
        }
        close $to_parent;
        $child{$pid} = $number;
        $reader{$number} = $from_child;
    }

    my $watch = connect_to($db);
    my ($checks, $bad_checks, $first_bad) = (0, 0, '');
    while (time() < $deadline) {
        my ($violations, $over) = $watch->selectrow_array($check_sql);
        $checks++;
        if ($violations || $over) {
            $bad_checks++;
            $first_bad ||= "$violations violation(s), $over rack(s) over capacity";
        }
        sleep(0.2);
    }

    # Collect every client's report; a client that hangs fails the test.
    my (%total, @messages, @client_failures);
    my $give_up = time() + 120;
    for my $number (1 .. $clients) {
        my $fh = $reader{$number};
        while (my $line = <$fh>) {
            chomp $line;
            my ($what, @rest) = split /\t/, $line;
            if ($what eq 'count') { $total{ $rest[0] } += $rest[1] }
            else { push @messages, "client $number: $rest[0]" }
        }
        close $fh;
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
    is(join('; ', @client_failures), '', 'every client ran to the end');

    my $transactions = $total{transactions} // 0;
    diag(sprintf('%s: %d transactions (%d committed, %d rolled back on purpose, %d two-call, '
        . '%d site deletes, %d revivals), %d calls (%d applied and committed, %d with conflicts); '
        . '%d invariant checks while running',
        $mode, $transactions, $total{committed} // 0, $total{'rolled back on purpose'} // 0,
        $total{'two-call transactions'} // 0, $total{'site delete transactions'} // 0,
        $total{'site revival transactions'} // 0, $total{calls} // 0,
        $total{'applied calls committed'} // 0, $total{'calls with conflicts'} // 0, $checks));
    my $list = sub {
        my ($prefix) = @_;
        my @keys = sort grep { /^\Q$prefix\E/ } keys %total;
        return @keys ? join(', ', map { substr($_, length $prefix) . "=$total{$_}" } @keys) : 'none';
    };
    diag("$mode: errors by SQLSTATE: " . $list->('error '));
    diag("$mode: errors by level and kind: " . $list->('where '));
    diag("$mode: conflicts by reason: " . $list->('conflicts '));
    diag("$mode: sites deleted " . ($total{'sites deleted'} // 0) . ', brought back '
        . ($total{'sites brought back'} // 0)) if @churn_site_ids;
    diag($_) for @messages;

    ok($transactions >= 10 * $clients, "the clients ran transactions ($transactions)");
    is($total{'error 40P01'} // 0, 0, 'no deadlock (40P01)');
    is($list->('unexpected error '), 'none',
        'no error other than those the README tells callers to expect here');
    is($bad_checks, 0, "invariant held at each of $checks checks while the clients ran"
        . ($first_bad ? " (first failure: $first_bad)" : ''));

    my ($violations, $over) = $watch->selectrow_array($check_sql);
    is($violations, 0, 'no row in fleet_placement_violation at the end');
    is($over, 0, 'no rack over capacity at the end');
    my ($activity_after) = $watch->selectrow_array('SELECT count(*) FROM fleet_activity');
    is($activity_after - $activity_before, $total{'applied calls committed'} // 0,
        'one fleet_activity row per applied call in a committed transaction');

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
    is($server_deadlocks, 0, 'the server counted no deadlock in the database');
    $watch->disconnect;

    drop_database();
}

for my $run (0 .. $#modes) {
    subtest "isolation: $modes[$run]" => sub { run_mode($run, $modes[$run]) };
}

done_testing();
