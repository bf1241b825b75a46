#!/usr/bin/perl
# bench/memory.pl: how much memory one backend needs for a 10,000-device move.
#
# Run by bench/run inside its throwaway cluster (libpq environment set). For
# each case it opens a fresh connection, warms it up with a 1-device move
# (catalog caches, prepared plans), then runs the 10,000-device statement
# once while a forked sampler reads /proc/<backend pid>/status every 0.2 ms.
# Printed per case, tab-separated, in kB:
#   case, RssAnon before, RssAnon peak (sampled), VmHWM before, VmHWM after,
#   memory contexts before, memory contexts after (pg_backend_memory_contexts,
#   i.e. what the backend still holds once the call is over), samples taken.
# RssAnon is the backend's private memory (palloc'd memory, sort space, SPI
# result sets); VmHWM is the peak resident set including the shared buffer
# pages the backend touched, so it overstates what the call itself needs.
use strict;
use warnings;
use DBI;
use POSIX ();
use Time::HiRes qw(usleep);

sub status_of {
    my ($pid) = @_;
    my %s;
    open(my $fh, '<', "/proc/$pid/status") or return undef;
    while (my $line = <$fh>) {
        $s{$1} = $2 if $line =~ /^(VmHWM|VmRSS|RssAnon):\s+(\d+) kB/;
    }
    close $fh;
    return \%s;
}

sub contexts_kb {
    my ($dbh) = @_;
    my ($bytes) = $dbh->selectrow_array(
        'SELECT sum(total_bytes) FROM pg_backend_memory_contexts');
    return int($bytes / 1024);
}

# Sample the backend's RssAnon until told to stop; report the peak.
sub start_sampler {
    my ($pid) = @_;
    pipe(my $reader, my $writer) or die "pipe: $!";
    my $child = fork();
    die "fork: $!" unless defined $child;
    if ($child == 0) {
        close $reader;
        my $stop = 0;
        local $SIG{TERM} = sub { $stop = 1 };
        my ($peak, $samples) = (0, 0);
        while (!$stop) {
            my $s = status_of($pid) or last;
            $peak = $s->{RssAnon} if defined $s->{RssAnon} && $s->{RssAnon} > $peak;
            $samples++;
            usleep(200);
        }
        print {$writer} "$peak $samples\n";
        close $writer;
        POSIX::_exit(0);            # not exit: that would close the parent's connection
    }
    close $writer;
    return ($child, $reader);
}

sub stop_sampler {
    my ($child, $reader) = @_;
    kill 'TERM', $child;
    my $line = <$reader>;
    waitpid($child, 0);
    close $reader;
    return split ' ', ($line // '0 0');
}

# name, batch, the move there (measured), the move back, set-up after each
# direction (unmeasured). Both moves take the id list as $1.
my $rerack = 'WITH m AS (INSERT INTO fleet_rack_membership (rack_id, device_id)'
    . ' SELECT rack_id, device_id FROM bench_rerack WHERE side = %d RETURNING 1)'
    . ' INSERT INTO fleet_rack_slot SELECT rack_id, device_id, row_index, column_index'
    . ' FROM bench_rerack WHERE side = %d';
my @cases = (
    ['floor: bare UPDATE', 'plain_10000',
     'UPDATE fleet_device SET site_id = 2 WHERE identifier = ANY ($1)',
     'UPDATE fleet_device SET site_id = 1 WHERE identifier = ANY ($1)', undef, undef],
    ['fleet_assign_devices_to_site', 'plain_10000',
     'SELECT count(*) FROM fleet_assign_devices_to_site($1, 2)',
     'SELECT count(*) FROM fleet_assign_devices_to_site($1, 1)', undef, undef],
    ['fleet_assign_devices_to_site, force (5,000 cleared)', 'force_10000',
     'SELECT count(*) FROM fleet_assign_devices_to_site($1, 2, true)',
     'SELECT count(*) FROM fleet_assign_devices_to_site($1, 1, true)',
     sprintf($rerack, 2, 2), sprintf($rerack, 1, 1)],
);

for my $case (@cases) {
    my ($name, $batch, $there, $back, $rerack_there, $rerack_back) = @$case;
    my $dbh = DBI->connect('dbi:Pg:', undef, undef,
                           { AutoCommit => 1, RaiseError => 1, PrintError => 0,
                             AutoInactiveDestroy => 1 });
    my ($pid) = $dbh->selectrow_array('SELECT pg_backend_pid()');
    my ($ids) = $dbh->selectrow_array('SELECT ids FROM bench_batch WHERE name = ? AND block = 0',
                                      undef, $batch);

    # Warm-up on the one device no run uses (dev-warm), there and back.
    $dbh->do($there, undef, '{dev-warm}');
    $dbh->do($back, undef, '{dev-warm}');

    my $before = status_of($pid);
    unless ($before) {
        print join("\t", $name, ('n/a') x 7), "\n";
        $dbh->disconnect;
        next;
    }
    my $ctx_before = contexts_kb($dbh);
    my ($child, $reader) = start_sampler($pid);
    usleep(20_000);                 # let the sampler see the baseline
    my $sth = $dbh->prepare($there);
    $sth->execute($ids);
    my ($conflicts) = $sth->{NUM_OF_FIELDS} ? $sth->fetchrow_array : (0);
    $sth->finish;
    usleep(20_000);
    my ($peak, $samples) = stop_sampler($child, $reader);
    my $after = status_of($pid);
    my $ctx_after = contexts_kb($dbh);

    die "$name: the measured call returned conflicts\n"
        if $there =~ /fleet_assign/ && $conflicts != 0;
    my ($moved) = $dbh->selectrow_array(
        'SELECT count(*) FROM fleet_device WHERE identifier = ANY ($1) AND site_id = 2',
        undef, $ids);
    die "$name: $moved of 10000 devices moved\n" unless $moved == 10000;

    $dbh->do($rerack_there) if $rerack_there;
    $dbh->do($back, undef, $ids);
    $dbh->do($rerack_back) if $rerack_back;
    $dbh->disconnect;

    print join("\t", $name, $before->{RssAnon}, $peak, $before->{VmHWM}, $after->{VmHWM},
               $ctx_before, $ctx_after, $samples), "\n";
}
