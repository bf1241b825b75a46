#!/usr/bin/perl
# Property-based fuzz of fleet_sites: random fleets, random calls, each call
# checked against a model of the contract (test/fuzz/fuzz.sql holds the
# generator, the model and the checks, in PL/pgSQL).
#
# Runs inside pg_virtualenv (PGHOST, PGPORT, PGUSER, PGPASSWORD set) against a
# scratch database it creates and drops. Prints TAP.
#
#   prove -v test/tap/fuzz.t                       # a fresh random seed
#   FLEET_FUZZ_SEED=1234 prove -v test/tap/fuzz.t  # replay a run
#   FLEET_FUZZ_SEED=1234 FLEET_FUZZ_ROUND=57 FLEET_FUZZ_VERBOSE=1 prove -v test/tap/fuzz.t
#                                                  # replay one round, every call printed
#
# Other knobs: FLEET_FUZZ_CALLS (calls to make, default 10000),
# FLEET_FUZZ_SECONDS (hard stop, default 45), FLEET_FUZZ_ROUND_CALLS (calls per
# round, default 40; a replay needs the same value), FLEET_FUZZ_RACK_SHARE
# (the share of calls that are fleet_assign_devices_to_rack, default 0.4; the
# rest are fleet_assign_devices_to_site; a replay needs the same value).
#
# Besides the model, the run checks the NOTIFY of the contract: every round
# but every seventh commits, and must be notified of exactly the activity ids
# it wrote; every seventh round is rolled back and must be notified of nothing.
use strict;
use warnings;
use DBI;
use File::Basename qw(dirname);
use File::Spec;
use Test::More;
use Time::HiRes qw(time);

binmode(Test::More->builder->$_, ':encoding(UTF-8)') for qw(output failure_output todo_output);

my $here = dirname(File::Spec->rel2abs(__FILE__));
my $fuzz_sql = File::Spec->catfile($here, '..', 'fuzz', 'fuzz.sql');

my $seed = $ENV{FLEET_FUZZ_SEED};
$seed = (int(time() * 1000) ^ ($$ << 10)) % 2147483647 unless defined $seed && $seed ne '';
die "FLEET_FUZZ_SEED must be an integer\n" unless $seed =~ /^-?\d+$/;
my $target_calls = $ENV{FLEET_FUZZ_CALLS} // 10000;
my $max_seconds = $ENV{FLEET_FUZZ_SECONDS} // 45;
my $per_round = $ENV{FLEET_FUZZ_ROUND_CALLS} // 40;
my $rack_share = $ENV{FLEET_FUZZ_RACK_SHARE} // 0.4;
die "FLEET_FUZZ_RACK_SHARE must be a number from 0 to 1\n"
    unless $rack_share =~ /^(?:0|1|0?\.\d+|1\.0*)$/;
my $only_round = $ENV{FLEET_FUZZ_ROUND};
my $verbose = $ENV{FLEET_FUZZ_VERBOSE} ? 1 : 0;

my $replay_knobs = ($per_round != 40 ? " FLEET_FUZZ_ROUND_CALLS=$per_round" : '')
    . ($rack_share != 0.4 ? " FLEET_FUZZ_RACK_SHARE=$rack_share" : '');
diag("seed=$seed (replay: FLEET_FUZZ_SEED=$seed$replay_knobs)");

my %attr = (AutoCommit => 1, RaiseError => 1, PrintError => 0, PrintWarn => 0,
            pg_enable_utf8 => 1);
my $admin_db = $ENV{PGDATABASE} // 'postgres';
my $admin = DBI->connect("dbi:Pg:dbname=$admin_db", undef, undef, \%attr);
my $db = "fleet_fuzz_$$";
my @roles = map { "fleet_fuzz_${$}_$_" } qw(none site rack both);

sub cleanup {
    return unless $admin;
    eval { $admin->do(qq{DROP DATABASE IF EXISTS "$db" WITH (FORCE)}) };
    eval { $admin->do(qq{DROP ROLE IF EXISTS "$_"}) } for @roles;
}
END { cleanup() }

$admin->do(qq{CREATE DATABASE "$db" TEMPLATE template0 ENCODING 'UTF8'});
$admin->do(qq{CREATE ROLE "$_" NOLOGIN}) for @roles;

my $dbh = DBI->connect("dbi:Pg:dbname=$db", undef, undef, \%attr);
$dbh->do('SET client_min_messages = warning');
$dbh->do('CREATE EXTENSION fleet_sites');
{
    local $ENV{PGDATABASE} = $db;
    my $out = qx{psql -X -q -v ON_ERROR_STOP=1 -f "$fuzz_sql" 2>&1};
    BAIL_OUT("loading $fuzz_sql failed:\n$out") if $?;
}
$dbh->do('SELECT fleet_fuzz.grant_roles(?::name[])', undef, \@roles);
$dbh->do('LISTEN fleet_activity');
my $backend_pid = $dbh->{pg_pid};
pass('scratch database with fleet_sites and the fuzz model');

my $round_sth = $dbh->prepare(
    'SELECT calls, applied, conflicted, errored, cleared, sampled, states, activity_ids, failures, trace,'
    . ' rack_calls, reached'
    . ' FROM fleet_fuzz.round(?::bigint, ?::int, ?::int, ?::name[], ?::boolean, ?::float8)');

my ($calls, $applied, $conflicted, $errored, $cleared, $sampled, $rounds, $rack_calls) = (0) x 8;
my (%states, %reached, @failures, @notify_problems);
my $started = time();
my $timed_out = 0;
my $round = defined $only_round && $only_round ne '' ? $only_round : 0;

while (1) {
    my $rollback = $round % 7 == 6;
    $dbh->begin_work if $rollback;
    $round_sth->execute($seed, $round, $per_round, \@roles, $verbose, $rack_share);
    my $r = $round_sth->fetchrow_hashref;
    $round_sth->finish;
    $dbh->rollback if $rollback;

    # Notifications of this round: on commit, one per activity row, with its
    # id as payload, from this backend; on rollback, none.
    my @got;
    while (my $n = $dbh->pg_notifies) {
        my ($channel, $pid, $payload) = @$n;
        push @got, $payload;
        push @notify_problems, "round $round: notification on $channel from pid $pid"
            if $channel ne 'fleet_activity' || $pid != $backend_pid;
    }
    my @want = $rollback ? () : @{ $r->{activity_ids} };
    my $got = join(',', sort { $a <=> $b } @got);
    my $want = join(',', sort { $a <=> $b } @want);
    push @notify_problems, ($rollback ? 'rolled-back' : 'committed')
        . " round $round: notified [$got], expected [$want]"
        if $got ne $want && !@{ $r->{failures} };

    $calls += $r->{calls};
    $applied += $r->{applied};
    $conflicted += $r->{conflicted};
    $errored += $r->{errored};
    $cleared += $r->{cleared};
    $sampled += $r->{sampled};
    $states{$_}++ for @{ $r->{states} };
    $rack_calls += $r->{rack_calls};
    $reached{$_}++ for @{ $r->{reached} };
    push @failures, @{ $r->{failures} };
    note($_) for @{ $r->{trace} };
    $rounds++;

    last if defined $only_round && $only_round ne '';
    last if @failures;
    last if $calls >= $target_calls;
    if (time() - $started > $max_seconds) {
        $timed_out = 1;
        last;
    }
    $round++;
}
my $seconds = time() - $started;

my $state_list = join(' ', map { "$_:$states{$_}" } sort keys %states);
diag(sprintf('seed=%s calls=%d rounds=%d seconds=%.1f rate=%.0f/s applied=%d conflicts=%d'
        . ' errors=%d force_cleared=%d over_50=%d sqlstates=[%s]%s',
    $seed, $calls, $rounds, $seconds, $calls / ($seconds || 1), $applied, $conflicted,
    $errored, $cleared, $sampled, $state_list,
    $timed_out ? " (stopped by FLEET_FUZZ_SECONDS=$max_seconds before $target_calls calls)" : ''));
diag(sprintf('rack calls=%d (%.0f%%): %s', $rack_calls, 100 * $rack_calls / ($calls || 1),
    join(', ', map { "$_:$reached{$_}" } sort keys %reached)));

ok(!@failures, "$calls random calls agree with the model")
    or diag(join("\n", @failures[0 .. ($#failures < 4 ? $#failures : 4)])
        . "\nreplay: FLEET_FUZZ_SEED=$seed$replay_knobs FLEET_FUZZ_ROUND=" . ($round)
        . " FLEET_FUZZ_VERBOSE=1 prove -v test/tap/fuzz.t");

ok(!@notify_problems, 'committed rounds notify every activity id, rolled-back rounds nothing')
    or diag(join("\n", @notify_problems[0 .. ($#notify_problems < 4 ? $#notify_problems : 4)]));

SKIP: {
    skip 'coverage is judged on runs of 2000 calls or more', 1
        if $calls < 2000 || @failures;
    my @missing = grep { !$states{$_} } qw(22004 22023 2202E 54000 42501 23503);
    push @missing, 'applied' unless $applied;
    push @missing, 'conflicts' unless $conflicted;
    push @missing, 'force clears' unless $cleared || $rack_share >= 1;
    push @missing, 'applies of more than 50 devices' unless $sampled;
    # The rack move's rules, as the model tags them (see expect_rack).
    if ($rack_share > 0) {
        push @missing, map { "rack move: $_" } grep { !$reached{$_} } (
            'rack join applied', 'rack join changed sites', 'rack join naming members again',
            'rack filled exactly', 'rack removal applied', 'rack removal of a racked device',
            'DEVICE_LOSES_SITE returned', 'forced DEVICE_LOSES_SITE applied',
            'residual under force, DEVICE_LOSES_SITE left out', 'rack 23514', 'rack 42501',
            'rack 23503', 'rack-only caller applied');
    }
    ok(!@missing, 'the run reached applies, conflicts, force clears, every SQLSTATE and every rack rule')
        or diag('never reached: ' . join(', ', @missing));
}

$dbh->disconnect;
done_testing();
