#!/usr/bin/perl
# upgrade.t: fleet_sites 1.0 -> 1.1 (api.md, "Install and upgrade").
#
# CREATE EXTENSION fleet_sites runs fleet_sites--1.1.sql; CREATE EXTENSION
# ... VERSION '1.0' runs fleet_sites--1.0.sql, and ALTER EXTENSION ... UPDATE
# then runs fleet_sites--1.0--1.1.sql. The two paths must end in the same
# database. The 1.1 library also serves a database still at 1.0, with the 1.0
# contract, until it is updated. This script proves, against the installed
# build:
#
#   1. same database: a catalog fingerprint (test/upgrade/fingerprint.sql) of
#      everything the extension owns is the same after a fresh 1.1 install
#      and after 1.0 + UPDATE (in public and in another schema; also for the
#      filled database of 2, and for its dump restored); a deliberate
#      difference of each kind the fingerprint covers (a comment, an ACL, a
#      default, a constraint, ...) is detected;
#   2. data survives: a 1.0 database filled by real 1.0 function calls keeps
#      every row and every next identity value through the update (compared
#      with a copy of it that stays at 1.0), and the same moves give the same
#      results in both afterwards, from sessions opened before the update;
#      the new functions work after it (in a later transaction: a new enum
#      value cannot be used in the one that added it);
#   3. 1.0 rows that break the invariant: the update keeps them, says how
#      many break which rule in one WARNING pointing to
#      fleet_placement_violation; later calls that fix them are allowed, and
#      a rename of such a row stays plain SQL;
#   4. a role with only its 1.0 grants keeps using the site and rack moves;
#   5. pg_dump -Fc / pg_restore of the updated, used database restores it
#      whole into a fresh database;
#   6. on a database still at 1.0 the new library keeps the 1.0 contract
#      (four-column fleet_conflict, the three-argument rack move, 1.0 audit).
#
# Runs inside pg_virtualenv (PGHOST, PGPORT, PGUSER, PGPASSWORD set). Every
# database and the role it makes carry this process's id and are dropped on
# exit, pass or fail. Prints TAP.
use strict;
use warnings;
use DBI;
use File::Basename qw(dirname);
use File::Spec;
use File::Temp qw(tempfile);
use Test::More;

binmode(Test::More->builder->$_, ':encoding(UTF-8)') for qw(output failure_output todo_output);

my $here = dirname(File::Spec->rel2abs(__FILE__));
my $fingerprint_sql = do {
    my $path = File::Spec->catfile($here, '..', 'upgrade', 'fingerprint.sql');
    open my $fh, '<', $path or BAIL_OUT("cannot read $path: $!");
    local $/;
    <$fh>;
};

my %attr = (AutoCommit => 1, RaiseError => 1, PrintError => 0, PrintWarn => 1,
            pg_enable_utf8 => 1);
my $admin_db = $ENV{PGDATABASE} // 'postgres';
my $admin = DBI->connect("dbi:Pg:dbname=$admin_db", undef, undef, \%attr)
    or BAIL_OUT("cannot connect to $admin_db: $DBI::errstr");
$admin->do('SET client_min_messages = warning');

my %db = map { $_ => "fleet_up_${_}_$$" }
    qw(fresh updated fresh_schema updated_schema data before bad restored);
my $role = "fleet_up_role_$$";
my ($dump_fh, $dump_file) = tempfile('fleet_upgrade_XXXXXX', TMPDIR => 1, UNLINK => 1);
close $dump_fh;

my @handles;
sub cleanup {
    $_->disconnect for grep { $_->{Active} } @handles;
    return unless $admin && $admin->{Active};
    eval { $admin->do(qq{DROP DATABASE IF EXISTS "$_" WITH (FORCE)}) } for values %db;
    eval { $admin->do(qq{DROP ROLE IF EXISTS "$role"}) };
}
END { my $status = $?; cleanup(); unlink $dump_file; $? = $status; }

$admin->do(qq{CREATE ROLE "$role" NOLOGIN});

# --- helpers -----------------------------------------------------------------

sub connect_db {
    my ($name, $as_role) = @_;
    my $h = DBI->connect("dbi:Pg:dbname=$name", undef, undef, \%attr)
        or BAIL_OUT("cannot connect to $name: $DBI::errstr");
    $h->do('SET client_min_messages = warning');
    $h->do(qq{SET ROLE "$as_role"}) if $as_role;
    push @handles, $h;
    return $h;
}

sub create_db {
    my ($name) = @_;
    $admin->do(qq{CREATE DATABASE "$name" TEMPLATE template0});
    return connect_db($name);
}

sub q1 { my ($h, $sql, @bind) = @_; my @row = $h->selectrow_array($sql, undef, @bind); return $row[0]; }

# Run one statement; the outcome as text: its rows (columns joined by '|',
# NULL as '-'), or "ERROR <sqlstate>". Also returns the column names.
sub outcome {
    my ($h, $sql) = @_;
    my ($rows, $names);
    my $ok = eval {
        my $sth = $h->prepare($sql);
        $sth->execute;
        $names = $sth->{NAME};
        $rows = $sth->fetchall_arrayref;
        1;
    };
    return ('ERROR ' . ($h->state || '?'), []) unless $ok;
    return (join(' ; ', map { join '|', map { $_ // '-' } @$_ } @$rows), $names, $rows);
}

# Warnings (server WARNINGs reach Perl as warn()) raised while $code runs.
sub warnings_of {
    my ($code) = @_;
    my @seen;
    local $SIG{__WARN__} = sub { push @seen, $_[0] };
    $code->();
    return @seen;
}

# "<count> rows <md5>" of a table's rows restricted to the columns given.
sub table_digest {
    my ($h, $table, $columns) = @_;
    return q1($h, "SELECT count(*) || ' rows ' || md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), ''))
                     FROM (SELECT $columns FROM $table) AS t");
}

# The columns of a table in this database, in order, without @except.
sub columns_of {
    my ($h, $table, @except) = @_;
    my %skip = map { $_ => 1 } @except;
    my $cols = $h->selectcol_arrayref(
        q{SELECT attname FROM pg_attribute WHERE attrelid = ?::regclass AND attnum > 0
             AND NOT attisdropped ORDER BY attnum}, undef, $table);
    return join ', ', map { $h->quote_identifier($_) } grep { !$skip{$_} } @$cols;
}

sub sequence_state { my ($h, $seq) = @_; return q1($h, "SELECT last_value || ' called ' || is_called FROM $seq"); }

# The fingerprint: one "section \t object \t detail" line per catalog fact.
sub fingerprint {
    my ($h) = @_;
    my $rows = $h->selectall_arrayref($fingerprint_sql);
    return [ map { join "\t", map { my $v = $_ // ''; $v =~ s/\\/\\\\/g; $v =~ s/\n/\\n/g; $v } @$_ } @$rows ];
}

# Lines only in the left list ("- ") or only in the right one ("+ "), with multiplicity.
sub fingerprint_diff {
    my ($left, $right) = @_;
    my %count;
    $count{$_}++ for @$left;
    $count{$_}-- for @$right;
    return map { my $c = $count{$_}; ($c > 0 ? ("- $_") x $c : ("+ $_") x -$c) } grep { $count{$_} } sort keys %count;
}

# A differing line as a diagnostic: for an object whose line differs on both
# sides, the part around the first difference; else the start of the line.
sub explain_diff {
    my @diff = @_;
    my (%by_key, @keys);
    for (@diff) {
        my ($side, $section, $object, $detail) = /^([-+]) ([^\t]*)\t([^\t]*)\t(.*)$/s or next;
        my $key = "$section $object";
        push @keys, $key unless $by_key{$key};
        push @{ $by_key{$key}{$side} }, $detail;
    }
    my @out;
    for my $key (@keys) {
        my ($l, $r) = map { $by_key{$key}{$_} // [] } '-', '+';
        if (@$l == 1 && @$r == 1) {
            my ($x, $y) = ($l->[0], $r->[0]);
            my $at = 0;
            $at++ while $at < length($x) && $at < length($y) && substr($x, $at, 1) eq substr($y, $at, 1);
            my $from = $at > 60 ? $at - 60 : 0;
            push @out, "$key differs at character $at:",
                       '  left:  ...' . substr($x, $from, 200), '  right: ...' . substr($y, $from, 200);
        } else {
            push @out, map({ "$key only left:  " . substr($_, 0, 300) } @$l),
                       map({ "$key only right: " . substr($_, 0, 300) } @$r);
        }
    }
    return @out;
}

sub fingerprints_equal {
    my ($left, $right, $name) = @_;
    my @diff = fingerprint_diff($left, $right);
    ok(@$left > 0 && !@diff, $name) or do {
        diag(scalar(@diff) . ' differing line(s)' . (@$left ? '' : ' (empty fingerprint)'));
        my @explained = explain_diff(@diff);
        diag($_) for @explained[0 .. ($#explained < 40 ? $#explained : 39)];
    };
}

my %sections_of;    # section name => number of lines, for the sanity check

# --- 1. fresh 1.1 and 1.0 + UPDATE are the same database ------------------------

my $fresh = create_db($db{fresh});
$fresh->do('CREATE EXTENSION fleet_sites');
is(q1($fresh, q{SELECT extversion FROM pg_extension WHERE extname = 'fleet_sites'}), '1.1',
   'CREATE EXTENSION fleet_sites installs 1.1');

my $updated = create_db($db{updated});
$updated->do(q{CREATE EXTENSION fleet_sites VERSION '1.0'});
is(q1($updated, q{SELECT extversion FROM pg_extension WHERE extname = 'fleet_sites'}), '1.0',
   q{CREATE EXTENSION fleet_sites VERSION '1.0' installs 1.0});
my @update_warnings = warnings_of(sub { $updated->do('ALTER EXTENSION fleet_sites UPDATE') });
is(q1($updated, q{SELECT extversion FROM pg_extension WHERE extname = 'fleet_sites'}), '1.1',
   'ALTER EXTENSION fleet_sites UPDATE takes it to 1.1');
is(scalar(@update_warnings), 0, 'updating an empty 1.0 database raises no warning')
    or diag(@update_warnings);

my $fp_fresh = fingerprint($fresh);
my $fp_updated = fingerprint($updated);
$sections_of{(split /\t/)[0]}++ for @$fp_fresh;
my @expected_sections = ('extension', 'member', 'extconfig', 'relation', 'column', 'constraint',
                         'index', 'trigger', 'view', 'function', 'type', 'sequence', 'init privs');
is(join(', ', grep { !$sections_of{$_} } @expected_sections), '',
   'the fingerprint describes members, extconfig, relations, columns, constraints, indexes, '
   . 'triggers, views, functions, types, sequences and init privs');
cmp_ok(scalar(grep { /^member\t/ } @$fp_fresh), '>=', 25,
       'the fingerprint lists every member object (at least the 25 of 1.1)');
fingerprints_equal($fp_updated, $fp_fresh,
    'catalog fingerprint: 1.0 + UPDATE is the same database as a fresh 1.1 install');

# The comparison can fail: each change below (made in the updated database,
# in a transaction that is rolled back) must show up, in the section named.
my $view_def = q1($updated, q{SELECT pg_get_viewdef('fleet_placement_violation'::regclass)});
$view_def =~ s/;\s*\z//;
my @mutations = (
    ['a table comment',        'relation',   q{COMMENT ON TABLE fleet_building IS 'changed by upgrade.t'}],
    ['a column comment',       'column',     q{COMMENT ON COLUMN fleet_rack.aisle_index IS NULL}],
    ['a function comment',     'function',   q{COMMENT ON FUNCTION fleet_last_activity_id() IS 'changed'}],
    ['a type comment',         'type',       q{COMMENT ON TYPE fleet_cascade IS 'changed'}],
    ['a trigger comment',      'trigger',    q{COMMENT ON TRIGGER fleet_site_before_delete ON fleet_site IS 'changed'}],
    ['a table ACL',            'relation',   q{GRANT SELECT ON fleet_building TO PUBLIC}],
    ['a column ACL',           'column',     q{GRANT SELECT (name) ON fleet_site TO PUBLIC}],
    ['a function ACL',         'function',   q{REVOKE EXECUTE ON FUNCTION fleet_last_activity_id() FROM PUBLIC}],
    ['a type ACL',             'type',       q{REVOKE USAGE ON TYPE fleet_cascade FROM PUBLIC}],
    ['pg_init_privs',          'init privs', q{DELETE FROM pg_catalog.pg_init_privs
                                                WHERE classoid = 'pg_class'::regclass
                                                  AND objoid = 'fleet_building'::regclass}],
    ['a column default',       'column',     q{ALTER TABLE fleet_device ALTER COLUMN updated_at DROP DEFAULT}],
    ['a column identity',      'column',     q{ALTER TABLE fleet_activity ALTER COLUMN id SET GENERATED ALWAYS}],
    ['a column nullability',   'column',     q{ALTER TABLE fleet_building ALTER COLUMN site_id SET NOT NULL}],
    ['a constraint',           'constraint', q{ALTER TABLE fleet_rack DROP CONSTRAINT fleet_rack_position_nonnegative_check}],
    ['an index',               'index',      q{DROP INDEX fleet_device_building_id_idx}],
    ['a trigger',              'trigger',    q{ALTER TABLE fleet_building DISABLE TRIGGER fleet_building_before_delete}],
    ['a view definition',      'view',       qq{CREATE OR REPLACE VIEW fleet_placement_violation AS SELECT * FROM ($view_def) AS v WHERE v.rule > 0}],
    ['a view option',          'relation',   q{ALTER VIEW fleet_placement_violation SET (security_invoker = false)}],
    ['a function definition',  'function',   q{ALTER FUNCTION fleet_assign_racks_to_site(bigint[], bigint) STABLE}],
    ['an enum label',          'type',       q{ALTER TYPE fleet_conflict_reason ADD VALUE 'DEVICE_CHANGED_BY_TEST'}],
    ['a composite attribute',  'column',     q{ALTER TYPE fleet_cascade RENAME ATTRIBUTE device_count TO devices}],
    ['a sequence definition',  'sequence',   q{ALTER SEQUENCE fleet_building_id_seq CACHE 10}],
    ['an extcondition',        'extconfig',  q{UPDATE pg_catalog.pg_extension SET extcondition[1] = 'WHERE false'
                                                WHERE extname = 'fleet_sites'}],
    ['the member list',        'member',     q{ALTER EXTENSION fleet_sites DROP FUNCTION fleet_last_activity_id()}],
);
for my $m (@mutations) {
    my ($what, $section, $sql) = @$m;
    $updated->begin_work;
    my @diff;
    my $ok = eval { $updated->do($sql); @diff = fingerprint_diff(fingerprint($updated), $fp_updated); 1 };
    my $error = $@;
    $updated->rollback;
    ok($ok && grep({ /^[-+] \Q$section\E\t/ } @diff),
       "the fingerprint comparison detects $what (section '$section')")
        or diag($ok ? 'differing lines: ' . (join("\n", @diff) || 'none') : "could not apply: $error");
}
fingerprints_equal(fingerprint($updated), $fp_updated,
    'after the rolled-back changes the fingerprint is what it was');

# The same in a schema of the user's choice; the update runs in one
# transaction with a site move and a rack move, which already see 1.1 (they
# use no new enum value, so they may run in the transaction that added one).
my $fresh_schema = create_db($db{fresh_schema});
$fresh_schema->do('CREATE SCHEMA fleet_up; CREATE EXTENSION fleet_sites SCHEMA fleet_up');
my $updated_schema = create_db($db{updated_schema});
$updated_schema->do(q{CREATE SCHEMA fleet_up; CREATE EXTENSION fleet_sites SCHEMA fleet_up VERSION '1.0'});
$updated_schema->do(q{
    INSERT INTO fleet_up.fleet_site (name) VALUES ('s-one'), ('s-two');
    INSERT INTO fleet_up.fleet_rack (label, site_id) VALUES ('s-rack', 1);
    INSERT INTO fleet_up.fleet_device (identifier) VALUES ('s-dev-1'), ('s-dev-2')});
{
    $updated_schema->begin_work;
    $updated_schema->do(q{ALTER EXTENSION fleet_sites UPDATE TO '1.1'});
    my ($site, $site_names) = outcome($updated_schema,
        q{SELECT * FROM fleet_up.fleet_assign_devices_to_site(ARRAY['s-dev-1', 's-dev-2'], 2)});
    my ($rack) = outcome($updated_schema,
        q{SELECT * FROM fleet_up.fleet_assign_devices_to_rack(ARRAY['s-dev-1', 's-nope'], 1)});
    $updated_schema->commit;
    is(join(',', @$site_names) . " => $site / $rack",
       'device_identifier,reason,conflicting_site_id,rack_id,conflicting_building_id => '
       . ' / s-nope|DEVICE_NOT_FOUND|-|-|-',
       'in the transaction of the update the moves already return the five-column 1.1 fleet_conflict');
}
fingerprints_equal(fingerprint($updated_schema), fingerprint($fresh_schema),
    'catalog fingerprint in schema fleet_up: 1.0 + UPDATE TO 1.1 is the same database as a fresh install');

# --- 2, 4, 6. a 1.0 database filled by 1.0 calls, served by the 1.1 library ------

my $data = create_db($db{data});
$data->do(q{CREATE EXTENSION fleet_sites VERSION '1.0'});

# Identifiers are inserted in descending order, so device ids run against
# identifier order.
$data->do(q{
    INSERT INTO fleet_site (name) VALUES ('up-north'), ('up-south'), ('up-east'), ('up-west');
    INSERT INTO fleet_rack (label, site_id, row_count, column_count)
    SELECT label, (SELECT id FROM fleet_site WHERE name = site), rows, cols
      FROM (VALUES ('up-r1', 'up-north', 2, 3), ('up-r2', 'up-south', 12, 12), ('up-r3', NULL, 3, 3),
                   ('up-r4', 'up-east', 1, 2), ('up-r5', 'up-west', 4, 4)) AS v(label, site, rows, cols);
    INSERT INTO fleet_device (identifier)
    SELECT 'up-dev-' || lpad(i::text, 2, '0') FROM generate_series(40, 1, -1) AS i});
my %site = map { $_->[0] => $_->[1] } @{ $data->selectall_arrayref('SELECT name, id FROM fleet_site') };
my %rack = map { $_->[0] => $_->[1] } @{ $data->selectall_arrayref('SELECT label, id FROM fleet_rack') };

sub devs { my ($from, $to) = @_; return 'ARRAY[' . join(', ', map { sprintf q{'up-dev-%02d'}, $_ } $from .. $to) . ']'; }

# 6. What a database still at 1.0 looks like to the new library.
is(q1($data, q{SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute
                WHERE attrelid = 'fleet_conflict'::regclass AND attnum > 0}),
   'device_identifier,reason,conflicting_site_id,rack_id', '1.0: fleet_conflict has its four attributes');
is(q1($data, q{SELECT string_agg(p.oid::regprocedure::text, ' ' ORDER BY p.oid::regprocedure::text COLLATE "C") FROM pg_proc p
                JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
                JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'fleet_sites'}),
   'fleet_assign_devices_to_rack(text[],bigint,boolean) fleet_assign_devices_to_site(text[],bigint,boolean) '
   . 'fleet_site_lock_placements()',
   '1.0: the functions are the 1.0 ones (three-argument rack move, no building functions)');

my @seed_calls = (
    # [who, call]; each must apply (no conflict rows)
    [$data, 'fleet_assign_devices_to_site(' . devs(1, 10) . ", $site{'up-north'})"],
    [$data, 'fleet_assign_devices_to_rack(' . devs(1, 5) . ", $rack{'up-r1'})"],
    [$data, 'fleet_assign_devices_to_rack(' . devs(6, 10) . ", $rack{'up-r2'}, false)"],
    [$data, 'fleet_assign_devices_to_site(' . devs(16, 25) . ", $site{'up-south'})"],
    [$data, 'fleet_assign_devices_to_rack(' . devs(11, 12) . ", $rack{'up-r3'})"],
    [$data, 'fleet_assign_devices_to_rack(' . devs(13, 14) . ", $rack{'up-r4'})"],
    [$data, 'fleet_assign_devices_to_rack(' . devs(15, 15) . ", $rack{'up-r5'})"],
);
my $seed_conflicts = '';
for my $c (@seed_calls) {
    my ($out) = outcome($c->[0], "SELECT * FROM $c->[1]");
    $seed_conflicts .= "$c->[1] => $out\n" if $out ne '';
}
# Slots have no 1.0 function: the application writes them.
$data->do(q{
    INSERT INTO fleet_rack_slot (rack_id, device_id, row_index, column_index)
    SELECT m.rack_id, m.device_id, (n - 1) / 3, (n - 1) % 3
      FROM (SELECT rack_id, device_id, row_number() OVER (PARTITION BY rack_id ORDER BY device_id) AS n
              FROM fleet_rack_membership) AS m
     WHERE n <= 5});
my @more_calls = (
    'fleet_assign_devices_to_site(' . devs(5, 5) . ", $site{'up-south'}, true)",
    'fleet_assign_devices_to_site(' . devs(26, 26) . ", $site{'up-east'})",    # with an actor set
    'fleet_assign_devices_to_site(' . devs(16, 16) . ', NULL)',
    'fleet_assign_devices_to_rack(' . devs(17, 17) . ", $rack{'up-r3'}, true)",
    'fleet_assign_devices_to_rack(' . devs(12, 12) . ', NULL)',
);
for my $call (@more_calls) {
    $data->do(q{SET fleet_sites.actor = 'upgrade.t'}) if $call =~ /up-dev-26/;
    my ($out) = outcome($data, "SELECT * FROM $call");
    $data->do('RESET fleet_sites.actor');
    $seed_conflicts .= "$call => $out\n" if $out ne '';
}

# 4. The role with only 1.0 grants, working at 1.0.
$data->do(qq{GRANT SELECT ON fleet_site, fleet_rack, fleet_device, fleet_rack_membership, fleet_rack_slot,
                 fleet_activity TO "$role";
             GRANT UPDATE ON fleet_device TO "$role";
             GRANT INSERT, DELETE ON fleet_rack_membership TO "$role"});
my $as_role = connect_db($db{data}, $role);
for my $call ('fleet_assign_devices_to_site(' . devs(7, 7) . ", $site{'up-north'}, true)",
              'fleet_assign_devices_to_rack(' . devs(20, 20) . ", $rack{'up-r2'})",
              'fleet_assign_devices_to_rack(' . devs(21, 21) . ", $rack{'up-r1'}, false)") {
    my ($out) = outcome($as_role, "SELECT * FROM $call");
    $seed_conflicts .= "(as $role) $call => $out\n" if $out ne '';
}
is($seed_conflicts, '', '1.0: 15 site and rack moves (3 by the 1.0-grant role) applied with no conflicts');

# Rows of every kind the functions leave behind, and a deleted site and
# device: the device had the highest id, so the sequence is ahead of max(id).
$data->do(q{DELETE FROM fleet_site WHERE name = 'up-west'});
$data->do(q{DELETE FROM fleet_device WHERE identifier = 'up-dev-01'});
is(q1($data, q{SELECT (SELECT count(*) FROM fleet_site) || ' sites, ' || (SELECT count(*) FROM fleet_rack)
                 || ' racks, ' || (SELECT count(*) FROM fleet_device) || ' devices, '
                 || (SELECT count(*) FROM fleet_rack_membership) || ' memberships, '
                 || (SELECT count(*) FROM fleet_rack_slot) || ' slots, '
                 || (SELECT count(*) FROM fleet_activity) || ' activity rows, '
                 || (SELECT count(*) FROM fleet_placement_violation) || ' violations'}),
   '3 sites, 5 racks, 39 devices, 14 memberships, 11 slots, 15 activity rows, 0 violations',
   '1.0: the database holds every kind of row, consistently placed');

is(q1($data, q{SELECT string_agg(d.identifier || ' ' || coalesce(s.name, 'Unassigned') || ' '
                                  || coalesce(r.label, 'no rack') || ' '
                                  || coalesce(sl.row_index || ',' || sl.column_index, 'no slot'), '; '
                                  ORDER BY d.identifier COLLATE "C")
                 FROM fleet_device d
                 LEFT JOIN fleet_site s ON s.id = d.site_id
                 LEFT JOIN fleet_rack_membership m ON m.device_id = d.id
                 LEFT JOIN fleet_rack r ON r.id = m.rack_id
                 LEFT JOIN fleet_rack_slot sl ON sl.device_id = d.id
                WHERE d.identifier IN ('up-dev-05', 'up-dev-07', 'up-dev-15', 'up-dev-17', 'up-dev-21')}),
   'up-dev-05 up-south no rack no slot; up-dev-07 up-north no rack no slot; '
   . 'up-dev-15 Unassigned up-r5 0,0; up-dev-17 Unassigned up-r3 no slot; up-dev-21 up-north up-r1 no slot',
   '1.0: force clears took the membership and slot, a site-less rack made its member Unassigned');

# 6. The audit rows are the 1.0 ones: no 1.1 metadata key on a 1.0 schema.
is(q1($data, q{SELECT string_agg(event_type || ' ' || actor_kind || ' '
                                  || (SELECT string_agg(k, ',' ORDER BY k COLLATE "C") FROM jsonb_object_keys(metadata) AS k),
                                  E'\n' ORDER BY id)
                 FROM (SELECT *, CASE actor WHEN current_user THEN 'owner' WHEN 'upgrade.t' THEN 'set'
                                            ELSE 'other:' || actor END AS actor_kind FROM fleet_activity) AS a}),
   join("\n",
        'devices.reassigned_to_site owner device_count,device_identifiers,target_site_id',
        'devices.assigned_to_rack owner device_count,device_identifiers,rack_id',
        'devices.assigned_to_rack owner device_count,device_identifiers,rack_id,site_changed_device_count',
        'devices.reassigned_to_site owner device_count,device_identifiers,target_site_id',
        'devices.assigned_to_rack owner device_count,device_identifiers,rack_id',
        'devices.assigned_to_rack owner device_count,device_identifiers,rack_id,site_changed_device_count',
        'devices.assigned_to_rack owner device_count,device_identifiers,rack_id,site_changed_device_count',
        'devices.reassigned_to_site owner device_count,device_identifiers,force_cleared_device_identifiers,'
            . 'force_cleared_rack_membership_count,target_site_id',
        'devices.reassigned_to_site set device_count,device_identifiers,target_site_id',
        'devices.reassigned_to_site owner device_count,device_identifiers,target_site_id',
        'devices.assigned_to_rack owner device_count,device_identifiers,rack_id,site_changed_device_count',
        'devices.removed_from_rack owner device_count,device_identifiers,rack_id',
        "devices.reassigned_to_site other:$role device_count,device_identifiers,force_cleared_device_identifiers,"
            . 'force_cleared_rack_membership_count,target_site_id',
        "devices.assigned_to_rack other:$role device_count,device_identifiers,rack_id",
        "devices.assigned_to_rack other:$role device_count,device_identifiers,rack_id,site_changed_device_count"),
   '1.0: one audit row per applied call, with the 1.0 metadata keys and actors');

# 6. Conflicts, errors and the absent slot arguments on the 1.0 schema.
{
    my ($out, $names) = outcome($data, q{SELECT * FROM fleet_assign_devices_to_site(
        ARRAY['up-dev-06', 'up-nope', 'up-dev-02'], } . $site{'up-east'} . ')');
    is(join(',', @$names) . " => $out",
       "device_identifier,reason,conflicting_site_id,rack_id => "
       . "up-dev-02|DEVICE_IN_RACK_AT_OTHER_SITE|$site{'up-north'}|$rack{'up-r1'} ; "
       . "up-dev-06|DEVICE_IN_RACK_AT_OTHER_SITE|$site{'up-south'}|$rack{'up-r2'} ; up-nope|DEVICE_NOT_FOUND|-|-",
       '1.0: the site move returns four-column conflicts, sorted by identifier');
    ($out, $names) = outcome($data, 'SELECT * FROM fleet_assign_devices_to_rack(' . devs(18, 18) . ", $rack{'up-r3'})");
    is(join(',', @$names) . " => $out",
       "device_identifier,reason,conflicting_site_id,rack_id => up-dev-18|DEVICE_LOSES_SITE|-|$rack{'up-r3'}",
       '1.0: the three-argument rack move (called with two) returns DEVICE_LOSES_SITE in four columns');
    is(join(' / ', map { (outcome($data, $_))[0] }
                'SELECT * FROM fleet_assign_devices_to_rack(' . devs(18, 19) . ", $rack{'up-r4'})",
                "SELECT * FROM fleet_assign_devices_to_site(NULL, $site{'up-east'})",
                "SELECT * FROM fleet_assign_devices_to_site('{}', $site{'up-east'})",
                'SELECT * FROM fleet_assign_devices_to_rack(' . devs(18, 18) . ", $rack{'up-r2'}, false, ARRAY[0], ARRAY[0])"),
       'ERROR 23514 / ERROR 22004 / ERROR 22023 / ERROR 42883',
       '1.0: rack full 23514, NULL ids 22004, empty ids 22023; slot arguments do not exist yet (42883)');
    is(q1($data, 'SELECT count(*) FROM fleet_activity'), 15, '1.0: the calls that did not apply wrote nothing');
}

# A copy that stays at 1.0: what the same statements give without the update.
$_->disconnect for $data, $as_role;
$admin->do(qq{CREATE DATABASE "$db{before}" TEMPLATE "$db{data}"});

# Sessions opened before the update, which have already used the functions on
# the 1.0 schema (calls that return conflicts write nothing, so the copy stays
# the same), are used again after it.
my %s = (data => { admin => connect_db($db{data}), role => connect_db($db{data}, $role) },
         before => { admin => connect_db($db{before}), role => connect_db($db{before}, $role) });
is(join(' / ', (outcome($s{data}{admin}, q{SELECT * FROM fleet_assign_devices_to_site(ARRAY['up-nope'], NULL)}))[0],
               (outcome($s{data}{role}, 'SELECT * FROM fleet_assign_devices_to_rack(' . devs(22, 22)
                                           . ", $rack{'up-r3'})"))[0]),
   "up-nope|DEVICE_NOT_FOUND|-|- / up-dev-22|DEVICE_LOSES_SITE|-|$rack{'up-r3'}",
   'sessions of the owner and of the role use the functions before the update');

my @tables = qw(fleet_site fleet_rack fleet_device fleet_rack_membership fleet_rack_slot fleet_activity);
my @sequences = qw(fleet_site_id_seq fleet_rack_id_seq fleet_device_id_seq fleet_activity_id_seq);
my $bd = $s{before}{admin};
my %columns_10 = map { $_ => columns_of($bd, $_) } @tables;
my %columns_10_stable = map { $_ => columns_of($bd, $_, 'updated_at', 'occurred_at') } @tables;
my %digest_before_update = map { $_ => table_digest($s{data}{admin}, $_, $columns_10{$_}) } @tables;
my %sequence_before_update = map { $_ => sequence_state($s{data}{admin}, $_) } @sequences;

# The update, from a third session.
my $updater = connect_db($db{data});
@update_warnings = warnings_of(sub { $updater->do('ALTER EXTENSION fleet_sites UPDATE') });
is(q1($updater, q{SELECT extversion FROM pg_extension WHERE extname = 'fleet_sites'}) . ', '
   . scalar(@update_warnings) . ' warning(s)', '1.1, 0 warning(s)',
   'the filled 1.0 database updates to 1.1 without a warning (its rows keep the invariant)')
    or diag(@update_warnings);
my $d = $s{data}{admin};

# 2. Every row, as it was, and in the copy that stayed at 1.0.
for my $t (@tables) {
    my $after = table_digest($d, $t, $columns_10{$t});
    ok($after eq $digest_before_update{$t} && $after eq table_digest($bd, $t, $columns_10{$t})
       && $after !~ /^0 rows/,
       "$t: every row kept through the update ($after)")
        or diag("before the update: $digest_before_update{$t}; the 1.0 copy: " . table_digest($bd, $t, $columns_10{$t}));
}
is(q1($d, q{SELECT (SELECT count(*) FROM fleet_rack WHERE building_id IS NOT NULL OR aisle_index IS NOT NULL
                                                   OR position_in_aisle IS NOT NULL)
               + (SELECT count(*) FROM fleet_device WHERE building_id IS NOT NULL)
               + (SELECT count(*) FROM fleet_building)
               + (SELECT count(*) FROM fleet_placement_violation)}), 0,
   'the new columns are NULL, fleet_building is empty, fleet_placement_violation is empty');

# 2. Every next identity value: the same INSERT without id gets the same id
# as in the 1.0 copy, above every existing id. Rolled back, in both.
my %probe = (
    fleet_site_id_seq     => q{INSERT INTO fleet_site (name) VALUES ('up-probe') RETURNING id},
    fleet_rack_id_seq     => q{INSERT INTO fleet_rack (label) VALUES ('up-probe') RETURNING id},
    fleet_device_id_seq   => q{INSERT INTO fleet_device (identifier) VALUES ('up-probe') RETURNING id},
    fleet_activity_id_seq => q{INSERT INTO fleet_activity (actor, event_type, description, metadata)
                                VALUES ('upgrade.t', 'test.probe', 'probe', '{}') RETURNING id},
);
for my $seq (@sequences) {
    (my $table = $seq) =~ s/_id_seq$//;
    my $max = q1($d, "SELECT coalesce(max(id), 0) FROM $table");
    my $state = sequence_state($d, $seq);
    my %new;
    for my $side (['data', $d], ['before', $bd]) {
        $side->[1]->begin_work;
        $new{$side->[0]} = q1($side->[1], $probe{$seq});
        $side->[1]->rollback;
    }
    ok($state eq $sequence_before_update{$seq} && defined $new{data} && $new{data} > $max
       && $new{data} eq ($new{before} // ''),
       "$seq: position kept ($state); an INSERT without id gets $new{data}, above max(id) $max, as at 1.0")
        or diag("before the update: $sequence_before_update{$seq}; new id after: " . ($new{data} // 'none')
                . '; in the 1.0 copy: ' . ($new{before} // 'none'));
}
is(q1($d, 'SELECT max(id) FROM fleet_device'), 39, 'the deleted device had the highest id: the sequence was ahead of max(id)');

# 1. The filled, updated database is the same database as a fresh install,
# once the role's grants (made by the test, at 1.0) are set aside.
$d->begin_work;
$d->do(qq{REVOKE ALL ON fleet_site, fleet_rack, fleet_device, fleet_rack_membership, fleet_rack_slot,
              fleet_activity FROM "$role"});
my $fp_data_without_role = fingerprint($d);
$d->rollback;
fingerprints_equal($fp_data_without_role, $fp_fresh,
    'catalog fingerprint: the filled database after the update is the same as a fresh install (without the test role\'s grants)');

# 4. The role kept its 1.0 grants and nothing more.
is(q1($d, qq{SELECT string_agg(t || ':' || p, ' ' ORDER BY t COLLATE "C", p COLLATE "C")
               FROM unnest(ARRAY['fleet_site', 'fleet_rack', 'fleet_device', 'fleet_rack_membership',
                                 'fleet_rack_slot', 'fleet_activity', 'fleet_building']) AS t,
                    unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) AS p
              WHERE has_table_privilege('$role', t, p)}),
   'fleet_activity:SELECT fleet_device:SELECT fleet_device:UPDATE fleet_rack:SELECT '
   . 'fleet_rack_membership:DELETE fleet_rack_membership:INSERT fleet_rack_membership:SELECT '
   . 'fleet_rack_slot:SELECT fleet_site:SELECT',
   'the role has exactly its 1.0 grants after the update: no privilege on fleet_building');
is(q1($s{data}{role}, 'SELECT current_user') . ' ' . (outcome($s{data}{role}, 'SELECT count(*) FROM fleet_building'))[0],
   "$role ERROR 42501", 'the role\'s session runs as the role: fleet_building is denied to it');

# 2 and 4. The same moves in both databases: the 1.0 copy (1.0 schema) and
# the updated one (1.1 schema), from the sessions opened before the update.
# Outcomes must match: the same conflicts (the updated one has the fifth
# column, NULL here), the same errors, the same applied writes.
my @steps = (
    [admin => 'SELECT * FROM fleet_assign_devices_to_site(' . devs(22, 23) . ", $site{'up-east'})"],
    [admin => 'SELECT * FROM fleet_assign_devices_to_site(' . q{ARRAY['up-dev-02', 'up-dev-06', 'up-nope']} . ", $site{'up-east'})"],
    [role  => 'SELECT * FROM fleet_assign_devices_to_site(' . q{ARRAY['up-dev-02', 'up-dev-06']} . ", $site{'up-east'}, true)"],
    [admin => 'SELECT * FROM fleet_assign_devices_to_rack(' . devs(24, 25) . ", $rack{'up-r3'})"],
    [role  => 'SELECT * FROM fleet_assign_devices_to_rack(' . devs(24, 24) . ", $rack{'up-r3'}, true)"],
    [role  => 'SELECT * FROM fleet_assign_devices_to_rack(' . q{ARRAY['up-dev-25', 'up-dev-27']} . ", $rack{'up-r1'})"],
    [admin => 'SELECT * FROM fleet_assign_devices_to_rack(' . devs(25, 25) . ', NULL)'],
    [admin => 'SELECT * FROM fleet_assign_devices_to_rack(' . devs(28, 30) . ", $rack{'up-r4'})"],
    [role  => "SELECT * FROM fleet_assign_devices_to_site(NULL, $site{'up-east'})"],
    [role  => 'SELECT * FROM fleet_assign_devices_to_site(' . devs(28, 28) . ', 999999)'],
    [role  => 'SELECT * FROM fleet_assign_devices_to_rack(' . devs(28, 28) . ', 999999)'],
    [admin => 'SELECT * FROM fleet_assign_devices_to_site(' . devs(3, 3) . ', NULL)'],
    [role  => 'SELECT * FROM fleet_assign_devices_to_site(' . devs(3, 3) . ', NULL, true)'],
    [role  => 'SELECT * FROM fleet_assign_devices_to_rack(' . devs(4, 4) . ', NULL, false)'],
    [admin => q{DELETE FROM fleet_site WHERE name = 'up-south' RETURNING id}],
    [role  => 'SELECT * FROM fleet_assign_devices_to_site(' . devs(8, 8) . ", $site{'up-north'})"],
    [role  => 'SELECT * FROM fleet_assign_devices_to_site(' . devs(9, 9) . ', NULL)'],
    [role  => 'SELECT * FROM fleet_assign_devices_to_rack(' . devs(10, 10) . ", $rack{'up-r3'}, true)"],
);
my $step_number = 0;
for my $step (@steps) {
    my ($who, $sql) = @$step;
    $step_number++;
    my ($out_before, $names_before) = outcome($s{before}{$who}, $sql);
    my ($out_after, $names_after, $rows_after) = outcome($s{data}{$who}, $sql);
    my $shape_ok = 1;
    if ($sql =~ /fleet_assign_devices/ && $out_after !~ /^ERROR/) {
        # 1.1 rows: the 1.0 columns, then conflicting_building_id (NULL: no buildings)
        $shape_ok = join(',', @$names_after) eq join(',', @$names_before, 'conflicting_building_id')
                    && !grep { defined $_->[4] } @$rows_after;
        $out_after = join ' ; ', map { join '|', map { $_ // '-' } @$_[0 .. 3] } @$rows_after;
    }
    my $activity = join ' ', map { q1($_, 'SELECT count(*) FROM fleet_activity') } $bd, $d;
    ok($shape_ok && $out_after eq $out_before && $activity =~ /^(\d+) \1$/,
       sprintf('step %d (%s): the same outcome at 1.0 and after the update: %s', $step_number, $who,
               $out_after eq '' ? 'applied' : $out_after))
        or diag("$sql\n  at 1.0: $out_before\n  after:  $out_after (" . join(',', @{ $names_after // [] })
                . ")\n  activity rows (1.0, after): $activity");
}
for my $t (@tables) {
    my $digest = table_digest($d, $t, $columns_10_stable{$t});
    is($digest, table_digest($bd, $t, $columns_10_stable{$t}),
       "$t: the same rows after the same moves at 1.0 and after the update (timestamps aside)");
}
is(q1($d, 'SELECT count(*) FROM fleet_device WHERE building_id IS NOT NULL')
   . ' ' . q1($d, 'SELECT count(*) FROM fleet_placement_violation'), '0 0',
   'after the moves: no building set, no violation');

# 2. The new functions work once the update is committed. The building
# sequence starts where a fresh install's does.
my ($hall, $annex) = map { q1($d, "INSERT INTO fleet_building (name, site_id, aisle_count, racks_per_aisle)
                                   VALUES ('$_->[0]', $site{'up-north'}, $_->[1], $_->[1]) RETURNING id") }
                     ['up-hall', 2], ['up-annex', 'NULL'];
is("$hall $annex", '1 2', 'fleet_building: the first buildings get ids 1 and 2');
my $r1_members = q1($d, "SELECT count(*) FROM fleet_rack_membership WHERE rack_id = $rack{'up-r1'}");
is((outcome($d, "SELECT * FROM fleet_assign_racks_to_building(ARRAY[$rack{'up-r1'}]::bigint[], $hall, ARRAY[0], ARRAY[1])"))[0],
   "0|1|$r1_members", "fleet_assign_racks_to_building: up-r1 and its $r1_members members into a building, at a position");
is((outcome($d, "SELECT * FROM fleet_assign_devices_to_building(ARRAY['up-dev-31'], $annex)"))[0] . ' '
   . q1($d, q{SELECT site_id || '/' || building_id FROM fleet_device WHERE identifier = 'up-dev-31'}),
   " $site{'up-north'}/$annex", 'fleet_assign_devices_to_building: an unracked device takes the building and its site');
is((outcome($d, "SELECT * FROM fleet_assign_devices_to_building(ARRAY['up-dev-21'], $annex)"))[0],
   "up-dev-21|DEVICE_IN_RACK_AT_OTHER_BUILDING|$site{'up-north'}|$rack{'up-r1'}|$hall",
   'the new conflict reason DEVICE_IN_RACK_AT_OTHER_BUILDING, with conflicting_building_id');
is((outcome($d, "SELECT * FROM fleet_assign_devices_to_rack(ARRAY['up-dev-32'], $rack{'up-r1'}, false, ARRAY[1], ARRAY[2])"))[0]
   . ' ' . q1($d, q{SELECT d.site_id || '/' || d.building_id || ' slot ' || s.row_index || ',' || s.column_index
                      || ' ' || (SELECT metadata->>'slotted_device_count' FROM fleet_activity ORDER BY id DESC LIMIT 1)
                      FROM fleet_device d JOIN fleet_rack_slot s ON s.device_id = d.id
                     WHERE d.identifier = 'up-dev-32'}),
   " $site{'up-north'}/$hall slot 1,2 1", 'the five-argument rack move places a device in a slot (slotted_device_count 1)');
is(q1($d, 'SELECT fleet_last_activity_id() = max(id) FROM fleet_activity'), 1,
   'fleet_last_activity_id() names the last audit row of the session');
my $hall_devices = q1($d, "SELECT count(*) FROM fleet_device WHERE building_id = $hall");
is((outcome($d, "SELECT * FROM fleet_assign_buildings_to_site(ARRAY[$hall]::bigint[], $site{'up-east'})"))[0],
   "1|1|$hall_devices", 'fleet_assign_buildings_to_site moves a building with its rack and devices');
my $r2_members = q1($d, "SELECT count(*) FROM fleet_rack_membership WHERE rack_id = $rack{'up-r2'}");
is((outcome($d, "SELECT * FROM fleet_assign_racks_to_site(ARRAY[$rack{'up-r2'}]::bigint[], $site{'up-east'})"))[0],
   "0|1|$r2_members", 'fleet_assign_racks_to_site moves a rack with its members');

# 4. The role, still with only its 1.0 grants, moves devices that stand in
# buildings: out of one by a site move, into one by a rack move.
is(join(' ', (outcome($s{data}{role}, "SELECT * FROM fleet_assign_devices_to_site(ARRAY['up-dev-31'], $site{'up-east'})"))[0],
             (outcome($s{data}{role}, "SELECT * FROM fleet_assign_devices_to_rack(ARRAY['up-dev-33'], $rack{'up-r1'})"))[0],
             q1($d, q{SELECT string_agg(identifier || '=' || site_id || '/' || coalesce(building_id::text, 'none'), ' '
                                         ORDER BY identifier COLLATE "C")
                        FROM fleet_device WHERE identifier IN ('up-dev-31', 'up-dev-33')})),
   "  up-dev-31=$site{'up-east'}/none up-dev-33=$site{'up-east'}/$hall",
   'the 1.0-grant role moves devices out of and into buildings with the site and rack moves');
is(q1($d, 'SELECT count(*) FROM fleet_placement_violation'), 0, 'after the new functions: no violation');

# --- 5. pg_dump -Fc / pg_restore of the updated, used database ----------------------

$_->disconnect for grep { $_->{Active} } map { values %$_ } values %s;
$updater->disconnect;
my $dump_log = '';
{
    my $out = qx{pg_dump -Fc -f "$dump_file" "$db{data}" 2>&1};
    $dump_log .= $out if $? != 0;
    $admin->do(qq{CREATE DATABASE "$db{restored}" TEMPLATE template0});
    $out = qx{pg_restore --exit-on-error -d "$db{restored}" "$dump_file" 2>&1} unless $dump_log;
    $dump_log .= $out if $? != 0;
}
is($dump_log, '', 'pg_dump -Fc of the updated database and pg_restore into a fresh database succeed');
$d = connect_db($db{data});
my $r = connect_db($db{restored});
is(q1($r, q{SELECT extversion FROM pg_extension WHERE extname = 'fleet_sites'}), '1.1', 'the restored extension is 1.1');
fingerprints_equal(fingerprint($r), fingerprint($d),
    'catalog fingerprint: the restored database is the same as the dumped one (grants included)');
for my $t (@tables, 'fleet_building') {
    my $cols = columns_of($d, $t);
    my $digest = table_digest($d, $t, $cols);
    ok($digest !~ /^0 rows/ && $digest eq table_digest($r, $t, $cols), "$t: restored whole ($digest)")
        or diag('restored: ' . table_digest($r, $t, $cols));
}
$probe{fleet_building_id_seq} = q{INSERT INTO fleet_building (name) VALUES ('up-probe') RETURNING id};
for my $seq (@sequences, 'fleet_building_id_seq') {
    (my $table = $seq) =~ s/_id_seq$//;
    my $max = q1($r, "SELECT coalesce(max(id), 0) FROM $table");
    my $state = sequence_state($r, $seq);
    my $dumped_state = sequence_state($d, $seq);
    my %new;
    for my $side (['dumped', $d], ['restored', $r]) {
        $side->[1]->begin_work;
        $new{$side->[0]} = q1($side->[1], $probe{$seq});
        $side->[1]->rollback;
    }
    ok($state eq $dumped_state && defined $new{restored} && $new{restored} > $max
       && $new{restored} eq ($new{dumped} // ''),
       "$seq: restored at $state; an INSERT without id gets $new{restored}, above max(id) $max, as in the dumped database")
        or diag("dumped: $dumped_state; new id there: " . ($new{dumped} // 'none')
                . '; restored new id: ' . ($new{restored} // 'none'));
}
# The functions work in the restored database and do the same as in the
# dumped one (the role's grants came back too).
my $r_role = connect_db($db{restored}, $role);
my $d_role = connect_db($db{data}, $role);
my @restored_steps = (
    [0, "SELECT * FROM fleet_assign_buildings_to_site(ARRAY[$hall]::bigint[], $site{'up-north'})"],
    [0, "SELECT * FROM fleet_assign_devices_to_building(ARRAY['up-dev-34', 'up-dev-21'], $annex, true)"],
    [0, "SELECT * FROM fleet_assign_racks_to_building(ARRAY[$rack{'up-r2'}]::bigint[], $annex)"],
    [1, "SELECT * FROM fleet_assign_devices_to_site(ARRAY['up-dev-35', 'up-dev-33'], $site{'up-east'}, true)"],
    [1, "SELECT * FROM fleet_assign_devices_to_rack(ARRAY['up-dev-36'], $rack{'up-r1'})"],
);
for my $step (@restored_steps) {
    my ($by_role, $sql) = @$step;
    my ($in_restored) = outcome($by_role ? $r_role : $r, $sql);
    my ($in_dumped) = outcome($by_role ? $d_role : $d, $sql);
    ok($in_restored !~ /^ERROR/ && $in_restored eq $in_dumped,
       'restored database, ' . ($by_role ? 'as the role: ' : '') . "the same outcome as in the dumped one: $sql")
        or diag("restored: $in_restored\ndumped:   $in_dumped");
}
for my $t (@tables, 'fleet_building') {
    my $cols = columns_of($d, $t, 'updated_at', 'occurred_at');
    is(table_digest($r, $t, $cols), table_digest($d, $t, $cols),
       "$t: the same rows after the same calls in the restored and the dumped database (timestamps aside)");
}
is(q1($r, 'SELECT count(*) FROM fleet_placement_violation'), 0, 'restored database: no violation');

# --- 3. 1.0 rows that break the invariant ----------------------------------------

my $bad = create_db($db{bad});
$bad->do(q{CREATE EXTENSION fleet_sites VERSION '1.0'});
# Written directly (1.0 did not guard direct writes):
#   rule 1: three members of bad-c (at bad-b) have site bad-a;
#   over capacity: bad-a1 (1x1) holds 2, bad-a2 (1x2) holds 3;
#   slots outside: four of the five members of bad-d (2x3).
$bad->do(q{
    INSERT INTO fleet_site (name) VALUES ('bad-a'), ('bad-b');
    INSERT INTO fleet_rack (label, site_id, row_count, column_count)
    VALUES ('bad-a1', 1, 1, 1), ('bad-a2', 1, 1, 2), ('bad-c', 2, 12, 12), ('bad-d', 1, 2, 3);
    INSERT INTO fleet_device (identifier, site_id)
    SELECT 'bad-' || lpad(i::text, 2, '0'), 1 FROM generate_series(1, 13) AS i;
    INSERT INTO fleet_rack_membership (rack_id, device_id)
    VALUES (1, 1), (1, 2), (2, 3), (2, 4), (2, 5), (3, 6), (3, 7), (3, 8),
           (4, 9), (4, 10), (4, 11), (4, 12), (4, 13);
    INSERT INTO fleet_rack_slot (rack_id, device_id, row_index, column_index)
    VALUES (4, 9, 0, 0), (4, 10, 2, 0), (4, 11, 0, 3), (4, 12, 5, 1), (4, 13, 2, 2)});
my %bad_digest = map { $_ => table_digest($bad, $_, columns_of($bad, $_)) } @tables;
my $bad_violations = q1($bad, q{SELECT string_agg(device_identifier, ',' ORDER BY device_identifier COLLATE "C") FROM fleet_placement_violation});
is($bad_violations, 'bad-06,bad-07,bad-08', '1.0: fleet_placement_violation lists the three rule-1 rows');

my $bad_updater = connect_db($db{bad});
my $update_error = '';
@update_warnings = warnings_of(sub {
    eval { $bad_updater->do(q{ALTER EXTENSION fleet_sites UPDATE TO '1.1'}); 1 }
        or $update_error = $bad_updater->state . ' ' . $bad_updater->errstr;
});
is($update_error . q1($bad, q{SELECT extversion FROM pg_extension WHERE extname = 'fleet_sites'}), '1.1',
   'the update of a 1.0 database with invariant-breaking rows succeeds');
my $warning = join '', @update_warnings;
ok(@update_warnings == 1 && $warning =~ /^WARNING:/ && $warning =~ /fleet_placement_violation/,
   'the update raises one WARNING, pointing to fleet_placement_violation')
    or diag('warnings: ' . (join('', @update_warnings) || 'none'));
ok($warning =~ /\b3\b[^,;]*rule 1/ && $warning =~ /\b2\b[^,;]*capacity/ && $warning =~ /\b4\b[^,;]*slot/,
   'the warning says how many rows break which rule: 3 (rule 1), 2 racks over capacity, 4 slots outside')
    or diag("warning: $warning");
my @kept = grep { table_digest($bad, $_, $columns_10{$_}) ne $bad_digest{$_} } @tables;
is("@kept", '', 'the update neither refuses nor repairs: every row is still there, unchanged');
is(q1($bad, q{SELECT string_agg(device_identifier || ':' || rule, ',' ORDER BY device_identifier COLLATE "C") FROM fleet_placement_violation}),
   'bad-06:1,bad-07:1,bad-08:1', 'fleet_placement_violation still lists the three rows, as rule 1');

# The guards of 1.1 do not refuse a write that cannot break the invariant
# on a row that already breaks it.
is((outcome($bad, q{UPDATE fleet_device SET identifier = 'bad-08-renamed' WHERE identifier = 'bad-08' RETURNING id}))[0],
   8, 'after the update a rule-1 device can still be renamed with plain SQL');

# Later calls that fix such rows are allowed.
my $over_capacity = q{SELECT count(*) FROM (SELECT r.id FROM fleet_rack r JOIN fleet_rack_membership m ON m.rack_id = r.id
                                             GROUP BY r.id HAVING count(*) > max(r.row_count * r.column_count)) AS o};
my $outside = q{SELECT count(*) FROM fleet_rack_slot s JOIN fleet_rack r ON r.id = s.rack_id
                 WHERE s.row_index >= r.row_count OR s.column_index >= r.column_count};
my @fixes = (
    ['a site move of a rule-1 device to its rack\'s site', q{SELECT * FROM fleet_assign_devices_to_site(ARRAY['bad-06'], 2)},
     'SELECT count(*) FROM fleet_placement_violation', 2],
    ['a rack move of a rule-1 device into its own rack', q{SELECT * FROM fleet_assign_devices_to_rack(ARRAY['bad-07'], 3)},
     'SELECT count(*) FROM fleet_placement_violation', 1],
    ['a rack move out of a rack over capacity', q{SELECT * FROM fleet_assign_devices_to_rack(ARRAY['bad-05'], NULL)},
     $over_capacity, 1],
    ['a rack move that gives a slot outside the rack one inside',
     q{SELECT * FROM fleet_assign_devices_to_rack(ARRAY['bad-10'], 4, false, ARRAY[1], ARRAY[1])}, $outside, 3],
);
for my $fix (@fixes) {
    my ($what, $sql, $count_sql, $expected) = @$fix;
    my ($out) = outcome($bad, $sql);
    is("$out left " . q1($bad, $count_sql), " left $expected", "allowed after the update: $what");
}

done_testing();
