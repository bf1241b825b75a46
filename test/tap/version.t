#!/usr/bin/env bash
# The version lives in fleet_sites.control; META.json, the README, the
# install script and the Debian package (debian/changelog) must say the
# same. Prints TAP.
cd "$(dirname "$0")/../.."
version=$(sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" fleet_sites.control)
n=0; failed=0
check() {  # check "description" command...
    n=$((n + 1))
    local what=$1; shift
    if "$@" >/dev/null 2>&1; then echo "ok $n - $what"; else echo "not ok $n - $what"; failed=1; fi
}
echo "1..8"
check "control file has a default_version ($version)" test -n "$version"
check "install script sql/fleet_sites--$version.sql exists" test -f "sql/fleet_sites--$version.sql"
check "META.json version is $version.0" grep -q "\"version\": \"$version.0\"" META.json
check "META.json provides fleet_sites $version.0" \
    perl -MJSON::PP -e 'my $m = decode_json(do { local $/; <STDIN> });
        exit($m->{provides}{fleet_sites}{version} eq $ARGV[0] ? 0 : 1)' "$version.0" < META.json
check "README names version $version" grep -q "version $version" README.md
check "make print-version agrees" test "$(make -s print-version)" = "$version"
# psql -f on a script must stop at its guard, which names the command that runs it.
check "every extension script has the psql guard naming CREATE EXTENSION or UPDATE TO its version" \
    perl -e 'my $bad = 0;
        for my $f (glob "sql/fleet_sites--*.sql") {
            my ($to) = $f =~ /--[^-]+--([^-]+)\.sql$/;
            my $want = defined $to ? "\"ALTER EXTENSION fleet_sites UPDATE TO \x27$to\x27\"" : "\"CREATE EXTENSION fleet_sites\"";
            open my $fh, "<", $f or exit 1;
            my ($guard) = grep { /^\\echo / } <$fh>;
            $bad++ unless defined $guard && index($guard, $want) >= 0 && $guard =~ /\\quit\s*$/;
        }
        exit($bad ? 1 : 0)'
# "fleet-sites (1.1-1) bookworm; ...": the newest entry, less the Debian revision.
deb_upstream=$(sed -n '1s/^fleet-sites (\(.*\)-[^-]*).*/\1/p' debian/changelog)
check "debian/changelog's newest entry is $version-<revision> (it says ${deb_upstream:-nothing})" \
    test "$deb_upstream" = "$version"
exit $failed
