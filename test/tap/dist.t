#!/usr/bin/env bash
#
# dist.t: `make dist` builds the PGXN archive META.json names, and a user can
# build the extension from it.
#   - META.json passes the spec check (make dist runs test/tap/meta.t) and
#     make dist succeeds;
#   - the archive is <name>-<version>.zip from META.json, fleet_sites-<the
#     control file's version>.0.zip;
#   - every entry lies under one top-level <name>-<version>/ directory;
#   - it holds exactly the files tracked at HEAD (git archive HEAD), so
#     nothing is left out and no build product or local file slips in;
#   - unpacked, `make` builds fleet_sites.so from it (PGXN installs with
#     make && make install), and `make -n install` finds every file to install.
# Runs without a database. Prints TAP; exits non-zero when any test fails.

set -u
cd "$(dirname "$0")/../.."
scratch="$(mktemp -d "${TMPDIR:-/tmp}/fleet_dist.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT

echo "1..6"
n=0; failures=0
ok()  { n=$((n + 1)); echo "ok $n - $1"; }
nok() {
    n=$((n + 1)); failures=$((failures + 1)); echo "not ok $n - $1"; shift
    local line; for line in "$@"; do printf '%s\n' "$line" | sed 's/^/#   /'; done
}

meta() { perl -MJSON::PP -e 'print decode_json(do { local $/; <STDIN> })->{$ARGV[0]}' "$1" < META.json; }
dist="$(meta name)-$(meta version)"
# What PGXN expects: the extension's name and the control file's version as SemVer.
want="fleet_sites-$(sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" fleet_sites.control).0"

if ! git rev-parse --verify -q HEAD >/dev/null; then
    nok "make dist needs a git checkout (it archives HEAD)" "$(pwd) is not one"
    for i in 2 3 4 5 6; do nok "not run: no git checkout"; done
    exit 1
fi

if make -s dist DIST_DIR="$scratch/out" >"$scratch/log" 2>&1; then
    ok "make dist succeeds (META.json passes test/tap/meta.t)"
else
    nok "make dist succeeds (META.json passes test/tap/meta.t)" "$(cat "$scratch/log")"
fi

zip="$scratch/out/$dist.zip"
made=$(cd "$scratch/out" 2>/dev/null && ls)
if [ "$dist" = "$want" ] && [ "$made" = "$dist.zip" ]; then
    ok "the archive is $dist.zip, as META.json names it"
else
    nok "the archive is $want.zip, as META.json names it" "META.json names: $dist" "made: $made"
fi

# The entries, without the directory entries zip adds for each directory.
unzip -Z1 "$zip" 2>/dev/null | grep -v '/$' | sort >"$scratch/entries"
outside=$(grep -v "^$dist/" "$scratch/entries")
if [ -s "$scratch/entries" ] && [ -z "$outside" ]; then
    ok "every entry lies under $dist/"
else
    nok "every entry lies under $dist/" "outside: $outside"
fi

git ls-tree -r --name-only HEAD | sed "s|^|$dist/|" | sort >"$scratch/tracked"
if diff -u "$scratch/tracked" "$scratch/entries" >"$scratch/diff"; then
    ok "it holds exactly the files tracked at HEAD ($(wc -l <"$scratch/entries") files)"
else
    nok "it holds exactly the files tracked at HEAD" "diff (tracked, archived):" "$(cat "$scratch/diff")"
fi

mkdir -p "$scratch/unpacked"
if (cd "$scratch/unpacked" && unzip -q "$zip" && cd "$dist" && make -s >"$scratch/build.log" 2>&1) &&
   [ -f "$scratch/unpacked/$dist/fleet_sites.so" ]; then
    ok "unpacked, make builds fleet_sites.so"
else
    nok "unpacked, make builds fleet_sites.so" "$(tail -20 "$scratch/build.log" 2>/dev/null)"
fi

if (cd "$scratch/unpacked/$dist" && make -s -n install >"$scratch/install.log" 2>&1) &&
   grep -q 'fleet_sites.control' "$scratch/install.log"; then
    ok "make -n install there finds every file to install"
else
    nok "make -n install there finds every file to install" "$(tail -20 "$scratch/install.log" 2>/dev/null)"
fi

exit $((failures > 0))
