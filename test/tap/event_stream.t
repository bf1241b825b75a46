#!/usr/bin/env perl
# test/tap/event_stream.t: every committed move reaches a logical-replication
# subscriber of fleet_activity, once, in commit order; nothing else does.
#
# This is the example of docs/event-stream.md run end to end: a publication
# on fleet_activity (WITH publish = 'insert'), a replication role that has
# only LOGIN REPLICATION and SELECT on the table, and a subscriber whose
# fleet_activity is a plain table with the same columns.
#
# What it proves:
#   - the initial copy brings the history committed before the subscription;
#   - after that, the subscriber's rows in arrival order are exactly the
#     publisher's activity ids in commit order. Movers run concurrently: ids
#     are handed out when a move runs, so the test builds transactions whose
#     ids are assigned in one order and committed in another (two calls in one
#     transaction, a mover that waits on another's device lock, a prepared
#     transaction committed late), checks that commit order really differs
#     from id order, and that the stream follows commit order;
#   - no row for a rolled-back move (plain or ROLLBACK PREPARED), none for
#     calls that returned conflicts (the transaction commits, nothing is
#     written), with fleet_sites.notify on, off for a transaction (SET LOCAL)
#     and off for a session; LISTEN fleet_activity sees only the notify-on
#     moves (also in commit order) while the stream has them all;
#   - the stream is durable: moves committed while the subscriber is down
#     arrive after it comes back, in order (made by a mover role whose
#     fleet_sites.notify is off by ALTER ROLE ... SET: LISTEN hears none);
#   - fleet_activity is append-only for an ordinary role (42501 on INSERT,
#     UPDATE, DELETE), and with publish = 'insert' a purge on the publisher
#     does not erase the subscriber's copy;
#   - the caveats of publishing an extension member table in PostgreSQL 15:
#     pg_dump/pg_restore brings the publication back WITHOUT fleet_activity in
#     it (pg_dump skips the membership of a table it leaves to CREATE
#     EXTENSION), and the documented ALTER PUBLICATION ... ADD TABLE repairs
#     it; ALTER EXTENSION fleet_sites UPDATE from 1.0 keeps the table (same
#     oid, same columns) in the publication.
#
# What order the stream guarantees (PostgreSQL 15, pgoutput, the default
# streaming = off and two_phase = false): a transaction is decoded when its
# commit record is read from the WAL and sent whole; transactions go out in
# the order of their commit records, and the one apply worker applies them one
# at a time in that order. So the subscriber sees transactions in the
# publisher's commit order, the rows of one transaction together and in the
# order they were written. Ids come from a sequence when the move runs, not
# when it commits, so id order is NOT commit order, and a consumer that polls
# "id > last id seen" on the publisher can miss a row that commits late.
# (streaming = on spools a large transaction and still applies it at commit;
# a prepared transaction is sent at COMMIT PREPARED.) Here every COMMIT is
# issued from this one process and returns before the next is sent, so the
# publisher's commit order is known exactly.
#
# Two clusters of its own, not the suite's: the publisher needs
# wal_level = logical and max_prepared_transactions > 0, both settings that
# only a server start changes, and the suite's cluster (test/run) has neither;
# a private publisher keeps the test self-contained (plain `prove` under any
# pg_virtualenv runs it) and leaves the cluster every other suite uses as it
# is. It does copy the suite cluster's extension_destdir and
# dynamic_library_path, so it loads the same build of fleet_sites as the
# suite. Cost: one initdb; the second cluster is a copy of the first data
# directory (logical replication does not care that both have one system
# identifier).
#
# The clusters run as the user the suite's server runs as: as root (under
# pg_virtualenv, which runs the command as root and the server as postgres)
# initdb and postgres run under the uid and gid of the owner of the suite
# cluster's data directory (postgres when that cannot be read); as anyone
# else, as that user. Both listen only on a Unix socket in a private (0700)
# temporary directory, with no TCP port at all: the port number only names the
# socket file, so it cannot collide with another cluster on the machine, and
# trust authentication reaches nobody but this user and root.
#
# Both clusters and the directory are removed on exit, pass or fail (also on
# INT, TERM, HUP). Every wait is a bounded poll (FLEET_STREAM_TIMEOUT seconds,
# default 30). Runs in about 10-15 s.
use strict;
use warnings;

use DBI;
use DBD::Pg qw(:async);
use File::Temp qw(tempdir);
use POSIX ();
use Time::HiRes qw(time sleep);
use Test::More;

my $started = time;
my $timeout = $ENV{FLEET_STREAM_TIMEOUT} // 30;
my $bindir  = '/usr/lib/postgresql/15/bin';
-x "$bindir/initdb" or BAIL_OUT("no PostgreSQL 15 server binaries in $bindir");

# --- where the extension lives, and who runs the servers ---------------------

# The suite's cluster (PGHOST etc. from pg_virtualenv) tells where this build
# of the extension is installed and which user runs PostgreSQL here.
my %suite = (extension_destdir => '', dynamic_library_path => '$libdir', owner => undef);
{
    my $dbh = DBI->connect('dbi:Pg:dbname=postgres', undef, undef,
        { RaiseError => 0, PrintError => 0, AutoCommit => 1 });
    if ($dbh) {
        for my $guc (qw(extension_destdir dynamic_library_path)) {
            my ($v) = $dbh->selectrow_array("SELECT current_setting('$guc', true)");
            $suite{$guc} = $v if defined $v;
        }
        my ($dir) = $dbh->selectrow_array("SELECT current_setting('data_directory')");
        $suite{owner} = getpwuid((stat $dir)[4]) if defined $dir && -e $dir;
        $dbh->disconnect;
    } else {
        diag("the suite's cluster is not reachable ($DBI::errstr); using the default extension paths");
    }
}
# From here on nothing may silently reach the suite's cluster: every
# connection names its socket directory, port, database and user.
delete @ENV{grep { /^PG/ } keys %ENV};

my $owner = $> == 0 ? ($suite{owner} // 'postgres') : scalar getpwuid($>);
$owner = 'postgres' if $> == 0 && $owner eq 'root';
my (undef, undef, $owner_uid, $owner_gid) = getpwnam($owner) or BAIL_OUT("no user $owner");

my $tmp = tempdir('fleet_stream.XXXXXX', TMPDIR => 1, CLEANUP => 0);
chmod 0700, $tmp;
chown $owner_uid, $owner_gid, $tmp or BAIL_OUT("chown $tmp: $!") if $> == 0;
# Any port will do (see above); two distinct ones for the two socket files.
my %cluster = (
    pub => { dir => "$tmp/pub", port => 50000 + $$ % 10000, log => "$tmp/pub.log" },
    sub => { dir => "$tmp/sub", port => 50001 + $$ % 10000, log => "$tmp/sub.log" },
);
my @handles;    # every DBI handle, disconnected before the clusters stop

# Start a command with its output appended to $out, as the cluster owner when
# $as_owner (as root that means dropping to the owner's uid and gid in the
# child, so the pid we hold is the command itself, not a runuser wrapper).
sub spawn {
    my ($out, $as_owner, @cmd) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $out or POSIX::_exit(127);
        open STDERR, '>&', \*STDOUT;
        if ($as_owner && $> == 0) {
            $) = "$owner_gid $owner_gid";
            POSIX::setgid($owner_gid) && POSIX::setuid($owner_uid) && $> == $owner_uid
                or POSIX::_exit(126);
        }
        exec @cmd or POSIX::_exit(127);
    }
    return $pid;
}

# Run a command to its end; true when it exits 0. The running child is
# remembered so that a signal can end it before cleanup.
my $child;
sub run_quiet {
    my ($out, $as_owner, @cmd) = @_;
    $child = spawn($out, $as_owner, @cmd);
    waitpid $child, 0;
    undef $child;
    return $? == 0;
}

# Each server is a child of this script (postgres -D, not pg_ctl, which
# detaches it): its pid is known from the start, so cleanup can always stop it,
# even one that is still starting up.
sub start_server {
    my ($name) = @_;
    my $c = $cluster{$name};
    $c->{pid} = spawn($c->{log}, 1, "$bindir/postgres", '-D', $c->{dir});
    my $ready = wait_until(sub {
        if (waitpid($c->{pid}, POSIX::WNOHANG()) != 0) { delete $c->{pid}; return 1 }    # it died
        open my $fh, '<', "$c->{dir}/postmaster.pid" or return 0;
        my @pidfile = <$fh>;
        return defined $pidfile[7] && $pidfile[7] =~ /^ready/;    # accepting connections
    });
    return $ready && defined $c->{pid};
}

# SIGINT is a fast shutdown, SIGQUIT an immediate one; a server that outlives
# the timeout is killed. True when it stopped by the signal given.
sub stop_server {
    my ($name, $signal) = @_;
    my $pid = delete $cluster{$name}{pid} or return 1;
    kill $signal, $pid;
    return 1 if wait_until(sub { waitpid($pid, POSIX::WNOHANG()) != 0 }, 20);
    kill 'KILL', $pid;
    waitpid $pid, 0;
    return 0;
}

my $cleaned = 0;
sub cleanup {
    return if $cleaned++;
    for my $h (@handles) { eval { $h->disconnect if $h->{Active} } }
    stop_server($_, 'QUIT') for qw(sub pub);
    system('rm', '-rf', $tmp) if -d $tmp;
}
END {
    my $status = $?;
    # The server logs help with a failure; nothing here may keep cleanup from running.
    eval {
        return if Test::More->builder->is_passing;
        for my $name (qw(pub sub)) {
            open my $fh, '<', $cluster{$name}{log} or next;
            my @lines = <$fh>;
            splice @lines, 0, -30 if @lines > 30;
            diag("$name server log (last lines):");
            diag("  $_") for @lines;
        }
    };
    cleanup();
    $? = $status;
}
$SIG{$_} = sub {
    # End the command under way (initdb, cp, pg_dump) first, so that nothing
    # writes into the directory while it is removed.
    if (my $pid = $child) { kill 'TERM', $pid; waitpid $pid, 0; undef $child }
    cleanup();
    POSIX::_exit(1);
} for qw(INT TERM HUP);

# --- the two clusters ---------------------------------------------------------

run_quiet("$tmp/initdb.out", 1, "$bindir/initdb", '-D', $cluster{pub}{dir},
    '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync')
    or BAIL_OUT('initdb failed: ' . `cat $tmp/initdb.out`);
run_quiet("$tmp/initdb.out", 1, 'cp', '-a', $cluster{pub}{dir}, $cluster{sub}{dir})
    or BAIL_OUT('copying the data directory failed');

sub append_conf {
    my ($name, %set) = @_;
    open my $fh, '>>', "$cluster{$name}{dir}/postgresql.conf" or die "postgresql.conf: $!";
    for my $k (sort keys %set) {
        (my $v = $set{$k}) =~ s/'/''/g;
        print $fh "$k = '$v'\n";
    }
    close $fh;
}
my %common = (listen_addresses => '', unix_socket_directories => $tmp, fsync => 'off',
    shared_buffers => '16MB', max_connections => 20, TimeZone => 'UTC');
append_conf('pub', %common, port => $cluster{pub}{port}, wal_level => 'logical',
    max_wal_senders => 4, max_replication_slots => 4, max_prepared_transactions => 4,
    extension_destdir => $suite{extension_destdir},
    dynamic_library_path => $suite{dynamic_library_path});
append_conf('sub', %common, port => $cluster{sub}{port}, max_logical_replication_workers => 2,
    max_replication_slots => 2, wal_retrieve_retry_interval => '200ms');
for my $name (qw(pub sub)) {
    start_server($name) or BAIL_OUT("the $name cluster did not start: " . `cat $cluster{$name}{log}`);
}

sub connect_to {
    my ($name, $db, $user) = @_;
    my $dbh = DBI->connect("dbi:Pg:host=$tmp;port=$cluster{$name}{port};dbname=$db",
        $user // 'postgres', '', { RaiseError => 1, PrintError => 0, AutoCommit => 1, pg_server_prepare => 0 })
        or BAIL_OUT("connect to $name/$db: $DBI::errstr");
    $dbh->do("SET client_min_messages = warning");
    push @handles, $dbh;
    return $dbh;
}

# Poll $check (a sub returning true when done) every 50 ms, for at most
# $limit seconds (default: the timeout).
sub wait_until {
    my ($check, $limit) = @_;
    my $deadline = time + ($limit // $timeout);
    while (time < $deadline) {
        return 1 if $check->();
        sleep 0.05;
    }
    return $check->();
}

# --- the publisher: a database of its own, the extension, a small fleet ------

my $pubdb = 'fleet_stream';
my $admin = connect_to('pub', 'postgres');
$admin->do("CREATE DATABASE $pubdb");
my $pub = connect_to('pub', $pubdb);
$pub->do(q{
    CREATE EXTENSION fleet_sites;
    INSERT INTO fleet_site (name) VALUES ('north'), ('south'), ('east');
    INSERT INTO fleet_rack (label, site_id) SELECT 'north-r1', id FROM fleet_site WHERE name = 'north';
    INSERT INTO fleet_device (identifier, site_id)
        SELECT 'dev-' || lpad(i::text, 2, '0'), (SELECT id FROM fleet_site WHERE name = 'north')
          FROM generate_series(1, 12) AS i;
    INSERT INTO fleet_rack_membership (rack_id, device_id)
        SELECT r.id, d.id FROM fleet_rack r, fleet_device d WHERE d.identifier = 'dev-10';
});
my %site = map { @$_ } @{ $pub->selectall_arrayref('SELECT name, id FROM fleet_site') };

# One site move in session $dbh. Returns (conflicts, last activity id).
sub site_move {
    my ($dbh, $site_name, $force, @ids) = @_;
    my ($n) = $dbh->selectrow_array(
        'SELECT count(*) FROM fleet_assign_devices_to_site($1::text[], $2::bigint, $3::boolean)',
        undef, [@ids], $site{$site_name}, $force ? 'true' : 'false');
    my ($last) = $dbh->selectrow_array('SELECT fleet_last_activity_id()');
    return ($n, $last);
}

# A move that must apply: no conflicts and a new activity id. Returns the id.
my %seen_id;
sub applied {
    my ($desc, $dbh, $site_name, @ids) = @_;
    my ($n, $id) = site_move($dbh, $site_name, 0, @ids);
    my $fresh = defined $id && !$seen_id{$id}++;
    ok($n == 0 && $fresh, "$desc: applied, activity id " . ($id // 'none'))
        or diag("conflicts: $n");
    return $id;
}

# History before the subscription: the initial copy must bring it.
my @history = (applied('history move 1', $pub, 'south', 'dev-11'),
               applied('history move 2', $pub, 'north', 'dev-11'));

# The publication and the role the subscriber connects as, as in the README.
$pub->do(q{
    CREATE PUBLICATION fleet_activity_stream FOR TABLE fleet_activity WITH (publish = 'insert');
    CREATE ROLE fleet_replicator LOGIN REPLICATION;
    GRANT SELECT ON fleet_activity TO fleet_replicator;
});

# --- the subscriber -------------------------------------------------------------

# The subscriber needs no fleet_sites: the apply worker writes plain column
# values (bigint, timestamptz, text, jsonb: all built-in types) into whatever
# table has the same schema-qualified name and column names; no function,
# type or trigger of the extension is involved. Installing the extension there
# would only add an empty fleet, and make the archive an extension member
# table. The subscriber may add columns of its own: "arrival" numbers rows in
# the order the apply worker inserted them.
my $subdb = 'fleet_archive';
my $sub_admin = connect_to('sub', 'postgres');
$sub_admin->do("CREATE DATABASE $subdb");
my $sub = connect_to('sub', $subdb);
$sub->do(q{
    CREATE TABLE fleet_activity (
        id          bigint PRIMARY KEY,
        occurred_at timestamptz NOT NULL,
        actor       text NOT NULL,
        event_type  text NOT NULL,
        site_id     bigint,
        description text NOT NULL,
        metadata    jsonb NOT NULL,
        arrival     bigint GENERATED ALWAYS AS IDENTITY UNIQUE
    )
});
$sub->do("CREATE SUBSCRIPTION fleet_activity_archive
          CONNECTION 'host=$tmp port=$cluster{pub}{port} dbname=$pubdb user=fleet_replicator'
          PUBLICATION fleet_activity_stream");

ok(wait_until(sub {
        my ($ready) = $sub->selectrow_array(
            "SELECT count(*) = 1 AND bool_and(srsubstate = 'r') FROM pg_subscription_rel");
        $ready }),
    'the subscription finished its initial copy of fleet_activity (state ready)');
is_deeply($sub->selectcol_arrayref('SELECT id FROM fleet_activity ORDER BY id'), [sort { $a <=> $b } @history],
    'the initial copy brought the history committed before the subscription');
my ($copied_upto) = $sub->selectrow_array('SELECT coalesce(max(arrival), 0) FROM fleet_activity');

sub subscriber_has {
    my ($id) = @_;
    my ($found) = $sub->selectrow_array('SELECT count(*) FROM fleet_activity WHERE id = $1', undef, $id);
    return $found;
}

# --- concurrent movers: ids in one order, commits in another -------------------

my $listener = connect_to('pub', $pubdb);
$listener->do('LISTEN fleet_activity');
my $monitor = connect_to('pub', $pubdb);
my %s = map { $_ => connect_to('pub', $pubdb) } qw(A B C D E F G H I);
$s{F}->do('SET fleet_sites.notify = off');    # session-wide, for the prepared one
$s{G}->do('SET fleet_sites.notify = off');

my @commit_order;    # activity ids, in the order their transactions committed
my @notify_on;       # the ids that were written with fleet_sites.notify on
my @never;           # ids written by transactions that rolled back
my %notify;          # id => whether its call ran with notify on

sub commit_tx { my ($name, @ids) = @_; $s{$name}->do('COMMIT'); push @commit_order, @ids }

$s{$_}->do('BEGIN') for qw(A B C D E H I);
my $a1 = applied('A: first move', $s{A}, 'south', 'dev-01');
my $b1 = applied('B: move', $s{B}, 'south', 'dev-02');
$s{C}->do('SET LOCAL fleet_sites.notify = off');
my $c1 = applied('C (notify off for the transaction): first move', $s{C}, 'south', 'dev-03');
my $c2 = applied('C: second move in the same transaction', $s{C}, 'east', 'dev-04');
my $d1 = applied('D: move, to be rolled back', $s{D}, 'south', 'dev-05');

# Conflicts write nothing, and E commits.
{
    my ($n1, $l1) = site_move($s{E}, 'south', 0, 'dev-10');          # in a rack at north
    my ($n2, $l2) = site_move($s{E}, 'south', 1, 'dev-06', 'no-such'); # residual: not found
    ok($n1 == 1 && $n2 == 1 && !defined $l1 && !defined $l2,
        'E: a rack conflict and a DEVICE_NOT_FOUND (with force) return conflicts and write no activity row');
}
commit_tx('E');
commit_tx('B', $b1);
$s{D}->do('ROLLBACK');
push @never, $d1;

$s{F}->do('BEGIN');
my $f1 = applied('F (notify off for the session): move, then PREPARE TRANSACTION', $s{F}, 'south', 'dev-06');
$s{F}->do("PREPARE TRANSACTION 'fleet_stream_f'");
commit_tx('C', $c1, $c2);
my $a2 = applied('A: second move, after C committed', $s{A}, 'east', 'dev-07');
commit_tx('A', $a1, $a2);

$s{G}->do('BEGIN');
my $g1 = applied('G: move, PREPARE TRANSACTION, then ROLLBACK PREPARED', $s{G}, 'south', 'dev-08');
$s{G}->do("PREPARE TRANSACTION 'fleet_stream_g'");
$monitor->do("ROLLBACK PREPARED 'fleet_stream_g'");
push @never, $g1;

# I takes an id, then waits on H's device lock; H commits first.
my $h1 = applied('H: move of dev-09 (holds its lock)', $s{H}, 'south', 'dev-09');
my $i1 = applied('I: first move', $s{I}, 'east', 'dev-12');
my $waiting = $s{I}->prepare(
    "SELECT count(*) FROM fleet_assign_devices_to_site(ARRAY['dev-09'], $site{east})",
    { pg_async => PG_ASYNC });
$waiting->execute;
my $ipid = $s{I}->{pg_pid};
ok(wait_until(sub {
        my ($w) = $monitor->selectrow_array(
            'SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1', undef, $ipid);
        defined $w && $w eq 'Lock' }),
    "I: its move of dev-09 waits for H's device lock");
commit_tx('H', $h1);
$s{I}->pg_result;
my ($i2_conflicts) = $waiting->fetchrow_array;
my ($i2) = $s{I}->selectrow_array('SELECT fleet_last_activity_id()');
ok($i2_conflicts == 0 && defined $i2 && $i2 > $i1 && !$seen_id{$i2}++,
    "I: its second move ran once H committed, activity id " . ($i2 // 'none'));
commit_tx('I', $i1, $i2);

$monitor->do("COMMIT PREPARED 'fleet_stream_f'");
push @commit_order, $f1;

# Autocommit: a force move that clears dev-10 from its rack, then the marker.
my ($k_conflicts, $k1) = site_move($pub, 'south', 1, 'dev-10');
ok($k_conflicts == 0 && defined $k1 && !$seen_id{$k1}++,
    'a force move in autocommit: applied, activity id ' . ($k1 // 'none'));
push @commit_order, $k1;
my $marker = applied('the marker move, committed last', $pub, 'north', 'dev-01');
push @commit_order, $marker;

%notify = map { $_ => 1 } ($a1, $a2, $b1, $h1, $i1, $i2, $k1, $marker);
my @by_id = sort { $a <=> $b } @commit_order;
ok("@by_id" ne "@commit_order",
    "the scenario commits out of id order (ids by commit: @commit_order)");

ok(wait_until(sub { subscriber_has($marker) }), 'the marker reached the subscriber');
my $stream = $sub->selectcol_arrayref(
    'SELECT id FROM fleet_activity WHERE arrival > $1 ORDER BY arrival', undef, $copied_upto);
is("@$stream", "@commit_order", 'the subscriber received every committed move, once, in commit order');
my $leaked = $sub->selectcol_arrayref('SELECT id FROM fleet_activity WHERE id = ANY($1::bigint[])',
    undef, [@never]);
is(scalar @$leaked, 0, "no row for the rolled-back moves (ids @never)");

# The publisher agrees: its table holds exactly history + commit order.
is_deeply($pub->selectcol_arrayref('SELECT id FROM fleet_activity ORDER BY id'),
    [sort { $a <=> $b } @history, @commit_order],
    'the publisher holds exactly the committed moves: none for conflicts or rollbacks');

# LISTEN saw only the moves made with notify on, in the same commit order.
my @heard;
ok(wait_until(sub {
        while (my $n = $listener->pg_notifies) { push @heard, $n->[2] if $n->[0] eq 'fleet_activity' }
        @heard && $heard[-1] eq $marker }),
    'LISTEN fleet_activity heard the marker');
my @expected_heard = grep { $notify{$_} } @commit_order;
is("@heard", "@expected_heard",
    'LISTEN heard only the notify-on moves, in commit order; the stream also has the notify-off ones');

# --- durable: moves made while the subscriber is down arrive later -------------

$_->disconnect for $sub, $sub_admin;
ok(stop_server('sub', 'INT'), 'the subscriber cluster stopped (fast shutdown)');
# The movers' role has notify off by default (ALTER ROLE ... SET, as the
# README suggests for movers when the stream is the consumer).
$pub->do(q{
    CREATE ROLE fleet_mover LOGIN;
    GRANT SELECT, UPDATE ON fleet_device TO fleet_mover;
    GRANT SELECT ON fleet_site, fleet_rack, fleet_rack_membership TO fleet_mover;
    ALTER ROLE fleet_mover SET fleet_sites.notify = off;
});
my $quiet = connect_to('pub', $pubdb, 'fleet_mover');
is($quiet->selectrow_array('SHOW fleet_sites.notify'), 'off',
    'a session of fleet_mover starts with fleet_sites.notify off (ALTER ROLE ... SET)');
my @while_down = map { applied("fleet_mover: move $_ while the subscriber is down", $quiet,
                               $_ % 2 ? 'east' : 'south', sprintf('dev-%02d', $_)) } 1 .. 3;
my ($slot_kept) = $pub->selectrow_array(
    "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'fleet_activity_archive' AND NOT active");
is($slot_kept, 1, "the subscription's slot stays on the publisher (inactive), holding the WAL");
ok(start_server('sub'), 'the subscriber cluster started again');
$sub = connect_to('sub', $subdb);
ok(wait_until(sub { subscriber_has($while_down[-1]) }), 'the moves made while it was down arrived');
$stream = $sub->selectcol_arrayref(
    'SELECT id FROM fleet_activity WHERE arrival > $1 ORDER BY arrival', undef, $copied_upto);
is("@$stream", "@commit_order @while_down", 'after the restart the stream went on, in commit order');

# --- append-only for ordinary roles; publish = 'insert' keeps the archive -----

$pub->do('SET ROLE fleet_mover');    # it moves devices, yet cannot touch the log
for my $write ("INSERT INTO fleet_activity (actor, event_type, description) VALUES ('x', 'x', 'x')",
               'UPDATE fleet_activity SET actor = actor',
               'DELETE FROM fleet_activity') {
    my $ok = eval { $pub->do($write); 1 };
    is($ok ? 'succeeded' : $pub->state, '42501', "an ordinary role cannot write: " . (split ' ', $write)[0]);
}
$pub->do('RESET ROLE');

# The owner purges the oldest row; with publish = 'insert' the delete is not
# sent, so the subscriber keeps it (checked once a later commit has arrived).
$pub->do('DELETE FROM fleet_activity WHERE id = $1', undef, $history[0]);
my $after_purge = applied('a move after the purge', $pub, 'south', 'dev-02');
ok(wait_until(sub { subscriber_has($after_purge) }) && subscriber_has($history[0]),
    "a purge on the publisher does not reach the subscriber (publish = 'insert')");
my @heard_later;
wait_until(sub {
    while (my $n = $listener->pg_notifies) { push @heard_later, $n->[2] if $n->[0] eq 'fleet_activity' }
    @heard_later && $heard_later[-1] eq $after_purge });
is("@heard_later", $after_purge,
    "LISTEN heard nothing of fleet_mover's moves (notify off), then the next notify-on move");

# Every row the publisher still has arrived unchanged.
my $rows = "SELECT id, occurred_at, actor, event_type, site_id, description, metadata::text
              FROM fleet_activity WHERE id <> $history[0] ORDER BY id";
is_deeply($sub->selectall_arrayref($rows), $pub->selectall_arrayref($rows),
    'every column of every published row arrived unchanged');

# --- caveats of a publication on an extension member table ---------------------

# pg_dump leaves the extension's tables to CREATE EXTENSION, and with them
# their publication membership: the restored publication is empty.
my $dump = "$tmp/fleet_stream.dump";
my @conn = ('-h', $tmp, '-p', $cluster{pub}{port}, '-U', 'postgres');
ok(run_quiet("$tmp/dump.out", 0, 'pg_dump', @conn, '-Fc', '-f', $dump, $pubdb)
   && run_quiet("$tmp/dump.out", 0, 'createdb', @conn, 'fleet_stream_restored')
   && run_quiet("$tmp/dump.out", 0, 'pg_restore', @conn, '--exit-on-error', '-d', 'fleet_stream_restored', $dump),
   'pg_dump -Fc and pg_restore of the publisher database')
    or diag(`cat $tmp/dump.out`);
my $restored = connect_to('pub', 'fleet_stream_restored');
my $pub_tables = q{SELECT (SELECT count(*) FROM pg_publication WHERE pubname = 'fleet_activity_stream'
                              AND pubinsert AND NOT pubupdate AND NOT pubdelete AND NOT pubtruncate)
                          || ' publication, '
                          || (SELECT count(*) FROM pg_publication_tables
                               WHERE pubname = 'fleet_activity_stream' AND tablename = 'fleet_activity')
                          || ' table'};
is($restored->selectrow_array($pub_tables), '1 publication, 0 table',
    'restored: the publication is back, WITHOUT fleet_activity (the caveat docs/event-stream.md names)');
my ($restored_rows) = $restored->selectrow_array('SELECT count(*) FROM fleet_activity');
my ($source_rows) = $pub->selectrow_array('SELECT count(*) FROM fleet_activity');
$restored->do('ALTER PUBLICATION fleet_activity_stream ADD TABLE fleet_activity');
is($restored->selectrow_array($pub_tables) . ", $restored_rows rows", "1 publication, 1 table, $source_rows rows",
    'restored: ALTER PUBLICATION ... ADD TABLE fleet_activity puts it back (and the rows were restored)');

# ALTER EXTENSION UPDATE keeps the table, so the publication keeps it.
$admin->do('CREATE DATABASE fleet_stream_update');
my $upd = connect_to('pub', 'fleet_stream_update');
$upd->do(q{CREATE EXTENSION fleet_sites VERSION '1.0';
           CREATE PUBLICATION fleet_activity_stream FOR TABLE fleet_activity WITH (publish = 'insert')});
my $shape = q{SELECT 'fleet_activity'::regclass::oid || ' ' || attnames::text
                FROM pg_publication_tables WHERE pubname = 'fleet_activity_stream'};
my ($before) = $upd->selectrow_array($shape);
$upd->do(q{ALTER EXTENSION fleet_sites UPDATE TO '1.1'});
my ($after) = $upd->selectrow_array($shape);
ok(defined $before && defined $after && $before eq $after,
    "ALTER EXTENSION fleet_sites UPDATE 1.0 -> 1.1 keeps fleet_activity in the publication, same oid and columns")
    or diag("before: " . ($before // 'none') . "; after: " . ($after // 'none'));

# DROP EXTENSION takes the table out of the publication without a word.
$upd->do('DROP EXTENSION fleet_sites');
is($upd->selectrow_array($pub_tables), '1 publication, 0 table',
    'DROP EXTENSION fleet_sites leaves the publication in place, empty');

# A future version that adds a column to fleet_activity (simulated here by
# the superuser's ALTER TABLE, after the dump above): the column is published
# at once, the subscriber stops applying until its table has it too, then
# catches up with nothing lost.
$pub->do(q{ALTER TABLE fleet_activity ADD COLUMN note text DEFAULT 'from v-next'});
my $with_note = applied('a move after the publisher gained a column', $pub, 'east', 'dev-03');
my $errors = q{SELECT apply_error_count FROM pg_stat_subscription_stats
                WHERE subname = 'fleet_activity_archive'};
ok(wait_until(sub { ($sub->selectrow_array($errors))[0] > 0 }) && !subscriber_has($with_note),
    'a column the subscriber lacks stops the apply (apply_error_count > 0), the row is held back');
$sub->do('ALTER TABLE fleet_activity ADD COLUMN note text');
ok(wait_until(sub { subscriber_has($with_note) }), 'once the subscriber has the column, the row arrives');
is($sub->selectrow_array('SELECT note FROM fleet_activity WHERE id = $1', undef, $with_note),
    'from v-next', 'with the new column filled');

diag(sprintf('event_stream.t took %.1f s', time - $started));
done_testing();
