#!/usr/bin/env perl
# test/tap/rack_gate_no_wait.t: a rack-move caller without UPDATE on
# fleet_device ("site manage") whose move would change a device's site is
# told 42501 without first waiting for row locks held by others.
#
# spec/api.md: the privilege gate is "checked for the calling role before
# any lock is taken"; the rack move needs UPDATE on fleet_device "when the
# move changes any device's site or building (42501 otherwise, nothing
# written)". Whether a site changes is known before locking whenever the
# devices and the target rack are as they were read: here nobody is
# changing them, another session merely holds a device row lock. 1.0 checks
# the right only after locking every device, so the caller queues behind the
# holder and, with a lock_timeout, fails with 55P03 instead.
#
# The other side, so that a fix does not refuse every rack-only caller: a
# move that changes no site needs no UPDATE right, does wait for the device
# lock (the device row lock is the membership mutex), and then applies.
#
# Runs inside pg_virtualenv (a superuser in PGUSER). Creates the database
# fleet_gate_<pid> and the role fleet_gate_racker_<pid>; drops them on exit.
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
my $db = "fleet_gate_$$";
my $racker = "fleet_gate_racker_$$";
my $r = quote_ident($racker);

END {
    if ($$ == $parent && $admin) {
        eval { $admin->do('DROP DATABASE IF EXISTS ' . quote_ident($db) . ' WITH (FORCE)') };
        eval { $admin->do("DROP ROLE IF EXISTS $r") };
    }
}

$admin->do('DROP DATABASE IF EXISTS ' . quote_ident($db) . ' WITH (FORCE)');
$admin->do("DROP ROLE IF EXISTS $r");
$admin->do('CREATE DATABASE ' . quote_ident($db));
$admin->do("CREATE ROLE $r NOLOGIN");

# e1 at site 1 (joining rack 20 at site 2 changes its site); e2 and e3 at
# site 2 (joining rack 20 changes nothing but the membership).
my $check = connect_as($db);
$check->do(qq{
CREATE EXTENSION fleet_sites;
GRANT SELECT ON fleet_site, fleet_rack, fleet_device, fleet_rack_membership, fleet_rack_slot TO $r;
GRANT INSERT, DELETE ON fleet_rack_membership TO $r;
INSERT INTO fleet_site (id, name) VALUES (1, 's1'), (2, 's2');
INSERT INTO fleet_rack (id, label, site_id) VALUES (20, 'r20', 2);
INSERT INTO fleet_device (id, identifier, site_id) VALUES (1, 'e1', 1), (2, 'e2', 2), (3, 'e3', 2);
});
my $digest_sql = q{
SELECT concat_ws(' | ',
    (SELECT string_agg(t::text, ' ' ORDER BY t.id) FROM fleet_device t),
    (SELECT string_agg(t::text, ' ' ORDER BY t.device_id) FROM fleet_rack_membership t),
    (SELECT count(*)::text FROM fleet_activity))
};

my $holder = connect_as($db);
my $caller = connect_as($db);
$caller->do("SET ROLE $r");
$caller->do("SET lock_timeout = '1500ms'");

# [what, the device the holder locks, the batch]
for my $case (['e1 held by another session; the move would change its site', 1, q{ARRAY['e1']}],
              ['e2 held by another session; the batch also holds e1, whose site would change', 2, q{ARRAY['e2', 'e1']}],
              ['e1 held by another session (FOR KEY SHARE only); e1 would change site (a control: no wait either way)', 1, q{ARRAY['e1']}, 'FOR KEY SHARE']) {
    my ($what, $held, $batch, $strength) = @$case;
    $strength //= 'FOR UPDATE';
    my ($before) = $check->selectrow_array($digest_sql);
    $holder->begin_work;
    $holder->do("SELECT 1 FROM fleet_device WHERE id = $held $strength");
    my $started = time();
    my $result = try_sql($caller, "SELECT * FROM fleet_assign_devices_to_rack($batch, 20)");
    my $elapsed = time() - $started;
    $holder->rollback;
    my $got = $result->{ok} ? 'no error' : $result->{state};
    ok($got eq '42501' && $elapsed < 1.0, "$what: 42501 without waiting for the lock")
        or diag(sprintf('  %s after %.2f s: %s', $got, $elapsed, $result->{message} // ''));
    like($result->{message} // '', qr/UPDATE.*fleet_device/s, '... naming the missing privilege (UPDATE on fleet_device)');
    my ($after) = $check->selectrow_array($digest_sql);
    is($after, $before, '... and nothing is written');
}

# No site changes: no UPDATE right needed; the call waits for the device
# lock, then applies.
$holder->begin_work;
$holder->do('SELECT 1 FROM fleet_device WHERE id = 3 FOR UPDATE');
$caller->do(q{SELECT * FROM fleet_assign_devices_to_rack(ARRAY['e3', 'e2'], 20)}, { pg_async => PG_ASYNC });
ok(wait_for_lock_wait($admin, $caller->{pg_pid}, 5),
    'a rack-only move that changes no site waits for the device row lock (it needs it)');
$holder->commit;
my $applied = eval { $caller->pg_result; 1 };
ok($applied, '... and applies once the lock is released') or diag('  ' . ($caller->errstr // ''));
my ($members) = $check->selectrow_array(
    'SELECT string_agg(device_id::text, \',\' ORDER BY device_id) FROM fleet_rack_membership WHERE rack_id = 20');
is($members, '2,3', '... e2 and e3 are in rack 20');
my ($violations) = $check->selectrow_array('SELECT count(*) FROM fleet_placement_violation');
is($violations, 0, 'the placement invariant holds');

done_testing();
