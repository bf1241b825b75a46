#!/usr/bin/env perl
# test/tap/rls_locks.t: a target the caller cannot see is never locked
# (spec/api.md, "Privilege gate", 1.1: "a target site, building or rack the
# caller cannot see is 23503, exactly as if it did not exist, and is never
# locked"). The single-session half of that promise is test/pgtap/rls_leaks.sql.
#
# Two ways to see a lock from outside:
#   - another session holds the hidden row FOR UPDATE first: a call that
#     never locks it answers 23503 at once; one that does waits, and with
#     lock_timeout fails 55P03 instead;
#   - the caller keeps its transaction open after the call: another session
#     then locks the hidden row FOR UPDATE NOWAIT, which fails (55P03) if the
#     call left a lock on it.
# The batch includes an unknown identifier, so that a call that wrongly goes
# ahead returns DEVICE_NOT_FOUND rows (no error, transaction still open,
# locks still held) rather than failing for some other reason.
#
# Runs inside pg_virtualenv (a superuser in PGUSER). Creates the database
# fleet_rls_locks_<pid> and the role fleet_rls_locks_tenant_<pid>; drops them on exit.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use FleetTap qw(connect_as admin_handle try_sql quote_ident);
use Test::More;
use Time::HiRes qw(time);

my $admin = admin_handle();
my $parent = $$;
my $db = "fleet_rls_locks_$$";
my $tenant = "fleet_rls_locks_tenant_$$";
my $t = quote_ident($tenant);

END {
    if ($$ == $parent && $admin) {
        eval { $admin->do('DROP DATABASE IF EXISTS ' . quote_ident($db) . ' WITH (FORCE)') };
        eval { $admin->do("DROP ROLE IF EXISTS $t") };
    }
}

$admin->do('DROP DATABASE IF EXISTS ' . quote_ident($db) . ' WITH (FORCE)');
$admin->do("DROP ROLE IF EXISTS $t");
$admin->do('CREATE DATABASE ' . quote_ident($db));
$admin->do("CREATE ROLE $t NOLOGIN");

my $setup = connect_as($db);
$setup->do(qq{
CREATE EXTENSION fleet_sites;
GRANT SELECT ON fleet_site, fleet_rack, fleet_device, fleet_rack_membership, fleet_rack_slot TO $t;
GRANT UPDATE ON fleet_device, fleet_rack TO $t;
GRANT INSERT, DELETE ON fleet_rack_membership TO $t;
ALTER TABLE fleet_site ENABLE ROW LEVEL SECURITY;
ALTER TABLE fleet_rack ENABLE ROW LEVEL SECURITY;
ALTER TABLE fleet_device ENABLE ROW LEVEL SECURITY;
ALTER TABLE fleet_rack_membership ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_a ON fleet_site TO $t USING (name LIKE 'a-%');
CREATE POLICY tenant_a ON fleet_rack TO $t USING (label LIKE 'a-%');
CREATE POLICY tenant_a ON fleet_device TO $t USING (identifier LIKE 'a-%');
CREATE POLICY tenant_a ON fleet_rack_membership TO $t
    USING (EXISTS (SELECT 1 FROM fleet_device d WHERE d.id = device_id)
           AND EXISTS (SELECT 1 FROM fleet_rack r WHERE r.id = rack_id));
INSERT INTO fleet_site (id, name) VALUES (1, 'a-site-1'), (8001, 'b-site-8001');
INSERT INTO fleet_rack (id, label, site_id) VALUES (10, 'a-rack-10', 1), (7003, 'b-rack-7003', 1);
INSERT INTO fleet_device (id, identifier, site_id) VALUES (4, 'a-4', 1), (101, 'b-101', 1);
DO \$\$
BEGIN
    IF to_regclass('fleet_building') IS NOT NULL THEN
        EXECUTE 'GRANT SELECT, UPDATE ON fleet_building TO $t';
        ALTER TABLE fleet_building ENABLE ROW LEVEL SECURITY;
        EXECUTE 'CREATE POLICY tenant_a ON fleet_building TO $t USING (name LIKE ''a-%'')';
        INSERT INTO fleet_building (id, name, site_id) VALUES (100, 'a-bld-100', 1), (9001, 'b-bld-9001', 1);
    END IF;
END \$\$;
});

my $digest_sql = q{
SELECT concat_ws(' | ',
    (SELECT string_agg(t::text, ' ' ORDER BY t.id) FROM fleet_device t),
    (SELECT string_agg(t::text, ' ' ORDER BY t.device_id) FROM fleet_rack_membership t),
    (SELECT count(*)::text FROM fleet_activity))
};
my ($start_digest) = $setup->selectrow_array($digest_sql);

my $holder = connect_as($db);    # the superuser, who sees every row
my $caller = connect_as($db);    # the tenant
$caller->do("SET ROLE $t");

# [what, the hidden row's table and id, the call]
my @targets = (
    ['site move into the hidden site 8001', 'fleet_site', 8001,
        q{SELECT * FROM fleet_assign_devices_to_site(ARRAY['a-4', 'a-unknown'], 8001)}],
    ['site move with force into the hidden site 8001', 'fleet_site', 8001,
        q{SELECT * FROM fleet_assign_devices_to_site(ARRAY['a-4', 'a-unknown'], 8001, true)}],
    ['rack move into the hidden rack 7003', 'fleet_rack', 7003,
        q{SELECT * FROM fleet_assign_devices_to_rack(ARRAY['a-4', 'a-unknown'], 7003)}],
    ['(1.1) device move into the hidden building 9001', 'fleet_building', 9001,
        q{SELECT * FROM fleet_assign_devices_to_building(ARRAY['a-4', 'a-unknown'], 9001)}],
    ['(1.1) rack move of rack 10 into the hidden building 9001', 'fleet_building', 9001,
        q{SELECT * FROM fleet_assign_racks_to_building(ARRAY[10]::bigint[], 9001)}],
    ['(1.1) racks_to_site naming the hidden rack 7003', 'fleet_rack', 7003,
        q{SELECT * FROM fleet_assign_racks_to_site(ARRAY[10, 7003]::bigint[], 1)}],
);

for my $target (@targets) {
    my ($what, $table, $id, $call) = @$target;
    my ($exists) = $holder->selectrow_array('SELECT to_regclass(?) IS NOT NULL', undef, $table);

    # 1. Held by another session first: the call must not wait for it.
    $holder->begin_work;
    my $held = $exists && eval { $holder->do("SELECT 1 FROM $table WHERE id = $id FOR UPDATE"); 1 };
    $caller->do("SET lock_timeout = '2s'");
    my $started = time();
    my $r = try_sql($caller, $call);
    my $elapsed = time() - $started;
    $holder->rollback;
    my $got = $r->{ok} ? 'no error' : $r->{state};
    ok($held && $got eq '23503' && $elapsed < 1.5,
        "$what, the row held FOR UPDATE by another session: 23503 without waiting")
        or diag(sprintf("  %s after %.2f s%s", $got, $elapsed,
                        $held ? '' : " ($table does not exist)"), $r->{ok} ? () : "  $r->{message}");

    # 2. In the caller's open transaction, after the call: not locked.
    $caller->begin_work;
    try_sql($caller, $call);
    my $nowait = $exists ? try_sql($holder, "SELECT 1 FROM $table WHERE id = $id FOR UPDATE NOWAIT")
                         : { ok => 0, state => '42P01', message => "$table does not exist" };
    $caller->rollback;
    ok($nowait->{ok}, "$what: afterwards, with the caller's transaction open, another session locks the row NOWAIT")
        or diag("  $nowait->{state}: $nowait->{message}");
}

my ($end_digest) = $setup->selectrow_array($digest_sql);
is($end_digest, $start_digest, 'nothing was written by any of these calls');
my ($violations) = $setup->selectrow_array('SELECT count(*) FROM fleet_placement_violation');
is($violations, 0, 'the placement invariant holds');

done_testing();
