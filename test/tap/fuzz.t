#!/usr/bin/perl
# Property-based fuzz of fleet_sites: random fleets (sites, buildings, racks,
# devices), random calls of the six move functions interleaved with plain
# INSERT/UPDATE/DELETE statements on the placement tables (op "direct": the
# guards), each checked against a model of the contract (test/fuzz/fuzz.sql
# holds the generator, the model and the checks, in PL/pgSQL).
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
# FLEET_FUZZ_SECONDS (hard stop, default 90), FLEET_FUZZ_ROUND_CALLS (calls per
# round, default 40; a replay needs the same value), FLEET_FUZZ_OPS (the
# weight of each kind of call, e.g. 'site=1,rack=2,building=1,racks_site=1,
# racks_building=2,buildings_site=1,direct=1'; a kind left out keeps its
# default weight, 0 leaves it out; a replay needs the same value).
#
# At the end the run prints, per function, how many calls applied, returned
# conflicts, and raised each SQLSTATE, and it fails when a run of 8000 calls
# or more missed one of the outcomes or rules listed in %need below
# (FLEET_FUZZ_RULES=1 also prints how often each rule was reached).
#
# Besides the model, the run checks the NOTIFY of the contract: every round
# but every seventh commits, and must be notified of exactly the activity ids
# it wrote; every seventh round is rolled back and must be notified of
# nothing; and one round in seven runs with fleet_sites.notify off, commits,
# and must be notified of nothing either.
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
my $max_seconds = $ENV{FLEET_FUZZ_SECONDS} // 90;
my $per_round = $ENV{FLEET_FUZZ_ROUND_CALLS} // 40;
my @ops = qw(site rack building racks_site racks_building buildings_site direct);
my %weight = (site => 1.5, rack => 2.2, building => 1.3, racks_site => 1.0,
              racks_building => 2.0, buildings_site => 1.0, direct => 1.5);
my $ops_knob = $ENV{FLEET_FUZZ_OPS} // '';
for my $pair (grep { $_ ne '' } split /\s*,\s*/, $ops_knob) {
    my ($op, $w) = $pair =~ /^(\w+)\s*=\s*(\d+(?:\.\d*)?|\.\d+)$/
        or die "FLEET_FUZZ_OPS: '$pair' is not op=weight\n";
    die "FLEET_FUZZ_OPS: unknown function '$op' (one of @ops)\n" unless exists $weight{$op};
    $weight{$op} = $w;
}
my @weights = map { $weight{$_} } @ops;
die "FLEET_FUZZ_OPS: every weight is 0\n" unless grep { $_ > 0 } @weights;
my $only_round = $ENV{FLEET_FUZZ_ROUND};
my $verbose = $ENV{FLEET_FUZZ_VERBOSE} ? 1 : 0;

my $replay_knobs = ($per_round != 40 ? " FLEET_FUZZ_ROUND_CALLS=$per_round" : '')
    . ($ops_knob ne '' ? " FLEET_FUZZ_OPS='$ops_knob'" : '');
diag("seed=$seed (replay: FLEET_FUZZ_SEED=$seed$replay_knobs)");

my %attr = (AutoCommit => 1, RaiseError => 1, PrintError => 0, PrintWarn => 0,
            pg_enable_utf8 => 1);
my $admin_db = $ENV{PGDATABASE} // 'postgres';
my $admin = DBI->connect("dbi:Pg:dbname=$admin_db", undef, undef, \%attr);
my $db = "fleet_fuzz_$$";
my @roles;

sub cleanup {
    return unless $admin;
    eval { $admin->do(qq{DROP DATABASE IF EXISTS "$db" WITH (FORCE)}) };
    eval { $admin->do(qq{DROP ROLE IF EXISTS "$_"}) } for @roles;
}
END { cleanup() }

$admin->do(qq{CREATE DATABASE "$db" TEMPLATE template0 ENCODING 'UTF8'});

my $dbh = DBI->connect("dbi:Pg:dbname=$db", undef, undef, \%attr);
$dbh->do('SET client_min_messages = warning');
$dbh->do('CREATE EXTENSION fleet_sites');
{
    local $ENV{PGDATABASE} = $db;
    my $out = qx{psql -X -q -v ON_ERROR_STOP=1 -f "$fuzz_sql" 2>&1};
    BAIL_OUT("loading $fuzz_sql failed:\n$out") if $?;
}
# The test roles, one per set of rights (fleet_fuzz.role_rights).
my ($labels) = $dbh->selectrow_array('SELECT fleet_fuzz.role_labels()');
@roles = map { "fleet_fuzz_${$}_$_" } @$labels;
$admin->do(qq{CREATE ROLE "$_" NOLOGIN}) for @roles;
$dbh->do('SELECT fleet_fuzz.grant_roles(?::name[])', undef, \@roles);
$dbh->do('LISTEN fleet_activity');
my $backend_pid = $dbh->{pg_pid};
pass('scratch database with fleet_sites and the fuzz model');

my $round_sth = $dbh->prepare(
    'SELECT calls, applied, conflicted, errored, cleared, sampled, states, activity_ids, failures, trace,'
    . ' outcomes, reached'
    . ' FROM fleet_fuzz.round(?::bigint, ?::int, ?::int, ?::name[], ?::boolean, ?::float8[])');

my ($calls, $applied, $conflicted, $errored, $cleared, $sampled, $rounds) = (0) x 7;
my (%states, %reached, %outcomes, @failures, @notify_problems);
my $started = time();
my $timed_out = 0;
my $round = defined $only_round && $only_round ne '' ? $only_round : 0;

while (1) {
    my $rollback = $round % 7 == 6;
    my $quiet = $round % 7 == 3;
    $dbh->begin_work if $rollback;
    $dbh->do('SET fleet_sites.notify = off') if $quiet;
    $round_sth->execute($seed, $round, $per_round, \@roles, $verbose, \@weights);
    my $r = $round_sth->fetchrow_hashref;
    $round_sth->finish;
    $dbh->do('RESET fleet_sites.notify') if $quiet;
    $dbh->rollback if $rollback;

    # Notifications of this round: on commit, one per activity row, with its
    # id as payload, from this backend; on rollback, or with
    # fleet_sites.notify off, none.
    my @got;
    while (my $n = $dbh->pg_notifies) {
        my ($channel, $pid, $payload) = @$n;
        push @got, $payload;
        push @notify_problems, "round $round: notification on $channel from pid $pid"
            if $channel ne 'fleet_activity' || $pid != $backend_pid;
    }
    my @want = $rollback || $quiet ? () : @{ $r->{activity_ids} };
    my $got = join(',', sort { $a <=> $b } @got);
    my $want = join(',', sort { $a <=> $b } @want);
    push @notify_problems, ($rollback ? 'rolled-back' : $quiet ? 'committed (notify off)' : 'committed')
        . " round $round: notified [$got], expected [$want]"
        if $got ne $want && !@{ $r->{failures} };

    $calls += $r->{calls};
    $applied += $r->{applied};
    $conflicted += $r->{conflicted};
    $errored += $r->{errored};
    $cleared += $r->{cleared};
    $sampled += $r->{sampled};
    $states{$_}++ for @{ $r->{states} };
    $outcomes{$_}++ for @{ $r->{outcomes} };
    $reached{$_}++ for @{ $r->{reached} };
    push @failures, @{ $r->{failures} };
    note($_) for @{ $r->{trace} };
    $rounds++;
    # The rounds delete and insert every row: keep the tables small.
    $dbh->do('VACUUM public.fleet_rack_slot, public.fleet_rack_membership, public.fleet_device,'
             . ' public.fleet_rack, public.fleet_building, public.fleet_site, public.fleet_activity')
        if $rounds % 5 == 0;

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

# Per function: calls, and how many applied, returned conflicts, raised each SQLSTATE.
for my $op (@ops) {
    my %of = map { /^\Q$op\E (.*)$/ ? ($1 => $outcomes{$_}) : () } keys %outcomes;
    my $n = 0;
    $n += $_ for values %of;
    next unless $n;
    diag(sprintf('%-15s calls=%-5d %s', $op, $n,
        join(' ', map { "$_:$of{$_}" } (grep { exists $of{$_} } qw(applied conflicts)),
                                        sort grep { !/^(?:applied|conflicts)$/ } keys %of)));
}
diag('rules reached: ' . join(', ', map { "$_:$reached{$_}" } sort keys %reached)) if $verbose || $ENV{FLEET_FUZZ_RULES};

ok(!@failures, "$calls random calls agree with the model")
    or diag(join("\n", @failures[0 .. ($#failures < 4 ? $#failures : 4)])
        . "\nreplay: FLEET_FUZZ_SEED=$seed$replay_knobs FLEET_FUZZ_ROUND=" . ($round)
        . " FLEET_FUZZ_VERBOSE=1 prove -v test/tap/fuzz.t");

ok(!@notify_problems, 'committed rounds notify every activity id; rolled-back rounds, and rounds with fleet_sites.notify off, nothing')
    or diag(join("\n", @notify_problems[0 .. ($#notify_problems < 4 ? $#notify_problems : 4)]));

# What a run of 8000 calls or more must reach, per function it makes: the
# outcomes (applied, conflicts, each SQLSTATE the function can raise) and the
# rules, as the model tags them (the e.tags of test/fuzz/fuzz.sql).
my %need = (
    site => [qw(applied conflicts 22004 22023 2202E 42501 23503),
        'site applied with force clear', 'site cleared buildings', 'site kept a building at the target',
        'site device stayed in its rack', 'site residual under force', 'site conflict names the rack\'s building',
        'site applied by a role'],
    rack => [qw(applied conflicts 22004 22023 2202E 42501 23503 23514 23505),
        'rack join applied', 'rack join changed sites', 'rack join changed only buildings',
        'rack join into a building', 'rack join naming members again', 'rack filled exactly',
        'rack removal applied', 'rack removal of a racked device', 'rack removal with slot arrays',
        'DEVICE_LOSES_SITE returned', 'DEVICE_LOSES_SITE names the rack\'s building',
        'forced DEVICE_LOSES_SITE applied', 'residual under force (DEVICE_LOSES_SITE left out)',
        'rack 23514', 'rack 23503', 'rack-only caller applied', 'rack slot arrays 22023',
        'rack slots applied', 'rack slots swapped or shifted', 'rack member given a new slot',
        'rack member kept its slot (NULL pair)', 'rack slot outside the rack', 'rack slot taken',
        'rack-only caller placed slots', 'rack 42501 slot_i+slot_d',
        map({ "rack slots: $_" } 'only one array', 'two dimensions', 'a length that differs', 'half a pair',
            'a pair with a NULL target', 'a negative index', 'a repeated key given a pair',
            'two keys given one pair')],
    building => [qw(applied conflicts 22004 22023 2202E 42501 23503),
        'building applied', 'building removal applied', 'building applied with force clear',
        'building conflicts returned', 'building residual under force', 'building device stayed in its rack',
        'building move changed sites', 'building applied by a role', 'building 42501 bld_s'],
    racks_site => [qw(applied 22004 22023 2202E 42501 23503),
        'racks_site applied', 'racks_site cascaded devices', 'racks_site took a rack out of its building',
        'racks_site rack already at the target', 'racks_site rack at the target kept its building',
        'racks_site 23503 (named id)', 'racks_site applied by a role', 'racks_site 42501 rack_u'],
    racks_building => [qw(applied 22004 22023 2202E 42501 23503 23514 23505),
        'racks_building applied', 'racks_building removal applied', 'racks_building positions applied',
        'racks_building positions swapped or shifted', 'racks_building rack kept its position',
        'racks_building cascaded devices', 'racks_building moved a rack to another site',
        'racks_building into a building without layout', 'racks_building filled exactly',
        'racks_building building full', 'racks_building position without a layout',
        'racks_building position outside the layout', 'racks_building position taken',
        'racks_building position arrays 22023', 'racks_building changed nothing',
        'racks_building 23503 (named id)', 'racks_building applied by a role',
        'racks_building 42501 bld_s',
        map({ "racks_building positions: $_" } 'only one array', 'two dimensions', 'a length that differs',
            'half a pair', 'a pair with a NULL target', 'a negative index', 'a repeated key',
            'two keys given one pair')],
    buildings_site => [qw(applied 22004 22023 2202E 42501 23503 23505),
        'buildings_site applied', 'buildings_site cascaded racks', 'buildings_site cascaded devices',
        'buildings_site cascaded racked devices', 'buildings_site building already at the target',
        'buildings_site two moving buildings of one name', 'buildings_site name taken at the target',
        'buildings_site shared name at Unassigned', 'buildings_site 23503 (named id)',
        'buildings_site applied by a role', 'buildings_site 42501 bld_u'],
    direct => [qw(applied 23514 23505 23503),
        map({ "direct write breaks rule $_" } 1 .. 5),
        map({ "direct $_ applied" } qw(dev_site dev_bldg dev_both dev_ident dev_insert rack_site rack_place
                                       rack_size rack_insert bldg_site bldg_layout bldg_insert mem_insert
                                       mem_delete mem_move slot_insert slot_update slot_delete dev_delete
                                       rack_delete bldg_delete site_delete))],
);

SKIP: {
    skip 'coverage is judged on runs of 8000 calls or more', 1
        if $calls < 8000 || @failures;
    my @missing;
    push @missing, 'force clears' unless $cleared;
    push @missing, 'applies of more than 50 devices or ids' unless $sampled;
    # 54000 costs a 10,001-element array per call: judged per kind of array.
    my %kind = (identifiers => [qw(site rack building)],
                'rack or building ids' => [qw(racks_site racks_building buildings_site)]);
    for my $k (sort keys %kind) {
        my @called = grep { $weight{$_} > 0 } @{ $kind{$k} };
        push @missing, "54000 for $k" if @called && !grep { $outcomes{"$_ 54000"} } @called;
    }
    for my $op (grep { $weight{$_} > 0 } @ops) {
        push @missing, map { "$op: $_" }
            grep { !$outcomes{"$op $_"} && !$reached{$_} } @{ $need{$op} };
    }
    ok(!@missing, 'the run reached every outcome and every rule of each function it called')
        or diag('never reached: ' . join(', ', @missing));
}

$dbh->disconnect;
done_testing();
