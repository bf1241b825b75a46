# test/tap/lib/FleetTap.pm: small helpers shared by the adversarial TAP
# scripts (schema_hijack.t, no_internal_errors.t, rls_two_sessions.t,
# rack_gate_no_wait.t). Not a test itself: prove runs only test/tap/*.t.
#
# The scripts run inside pg_virtualenv (PGHOST, PGPORT, PGUSER, PGPASSWORD
# name a superuser). Each makes its own databases and roles, named with the
# process id, and removes them on exit.
package FleetTap;

use strict;
use warnings;

use DBI;
use DBD::Pg qw(:async);
use Exporter 'import';
use Time::HiRes qw(sleep time);

our @EXPORT_OK = qw(connect_as admin_handle try_sql wait_for_lock_wait random_password
    quote_ident sqlstate_of);

# A connection to database $db, as $user with $password (both optional:
# the harness's superuser from the environment). Errors raise; warnings and
# notices go through Perl's warn (collect them with $SIG{__WARN__}).
sub connect_as {
    my ($db, $user, $password) = @_;
    my $dbh = DBI->connect("dbi:Pg:dbname=$db", $user // '', $password // $ENV{PGPASSWORD} // '',
        { RaiseError => 1, PrintError => 0, PrintWarn => 1, AutoCommit => 1 });
    $dbh->do('SET client_min_messages = warning');
    return $dbh;
}

# The harness's superuser connection to the maintenance database.
sub admin_handle {
    my $dbh = eval { connect_as('postgres') };
    return $dbh if $dbh;
    die "cannot connect to database postgres (run inside pg_virtualenv): $@";
}

# Run one statement; returns a hash: ok (1/0), state (SQLSTATE, '' when it
# succeeded), message, rows (array of arrays, for a statement with a result).
sub try_sql {
    my ($dbh, $sql, @bind) = @_;
    my $rows;
    my $ok = eval {
        # Client-side interpolation: the text may hold several statements.
        my $sth = $dbh->prepare($sql, { pg_server_prepare => 0 });
        $sth->execute(@bind);
        $rows = $sth->{NUM_OF_FIELDS} ? $sth->fetchall_arrayref : [];
        1;
    };
    return { ok => 1, state => '', message => '', rows => $rows } if $ok;
    my $message = $dbh->errstr // "$@";
    $message =~ s/\s+$//;
    return { ok => 0, state => $dbh->state // '', message => $message, rows => [] };
}

sub sqlstate_of {
    my ($result) = @_;
    return $result->{ok} ? 'success' : $result->{state};
}

# Wait (up to $seconds) until backend $pid waits on a heavyweight lock.
sub wait_for_lock_wait {
    my ($admin, $pid, $seconds) = @_;
    my $deadline = time() + ($seconds // 10);
    while (time() < $deadline) {
        my ($type) = $admin->selectrow_array(
            'SELECT wait_event_type FROM pg_catalog.pg_stat_activity WHERE pid = ?', undef, $pid);
        return 1 if defined $type && $type eq 'Lock';
        sleep 0.02;
    }
    return 0;
}

sub random_password {
    return join '', map { ('a' .. 'z', 0 .. 9)[int rand 36] } 1 .. 24;
}

sub quote_ident {
    my ($name) = @_;
    $name =~ s/"/""/g;
    return qq{"$name"};
}

1;
