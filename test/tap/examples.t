#!/usr/bin/env bash
#
# examples.t: the three application examples (examples/python, examples/go,
# examples/node) run against a real server and do what they say.
#
# Each example gets a database of its own, loaded with examples/seed.sql, and
# runs as an ordinary role that has only the grants an application needs.
# Before it runs, this script arms the database against the mistakes the
# examples warn about:
#   - a look-alike public.fleet_assign_devices_to_site(text[], bigint,
#     boolean) early on the role's search_path, which an unqualified call
#     would reach;
#   - a look-alike fleet.fleet_assign_devices_to_site(text[], integer,
#     boolean), which a call whose target is not cast to bigint would reach
#     (or find ambiguous);
#   - a statement trigger on fleet_device that fails the first UPDATE with
#     40001 and the second with 40P01 (counted by a sequence, which a
#     rollback does not rewind), so the forced move succeeds only if the
#     example retries its whole transaction twice.
# Then, for each example:
#   - its toolchain is there (a missing one fails, it is never skipped) and
#     it builds (Go offline from Debian's packages; Node with npm ci from the
#     committed package-lock.json, in a scratch copy);
#   - it exits 0 and prints exactly examples/expected-output.txt, with the
#     forced move's activity id filled in;
#   - the database holds what the transcript claims: the devices moved, the
#     two conflicting memberships cleared and the others kept, one audit row
#     for the site move with the operator as actor and the force-clear
#     metadata, the injected faults drawn, no placement violation, and
#     nothing written by the refused moves.
#
# Run by prove inside pg_virtualenv (PGHOST, PGPORT, PGUSER, PGPASSWORD set).
# Prints TAP; exits non-zero when any test fails. The databases, the role and
# the scratch directory are removed on exit, pass or fail.

set -u
cd "$(dirname "$0")/../.."
repo=$(pwd)

tag="$$"
role="fleet_examples_$tag"
role_password="examples-$tag-$RANDOM"
scratch="$(mktemp -d "${TMPDIR:-/tmp}/fleet_examples.XXXXXX")"
errlog="$scratch/err"
: >"$errlog"
languages="python go node"

cleanup() {
    local lang
    for lang in $languages; do
        dropdb --if-exists "fleet_ex_${lang}_$tag" >/dev/null 2>&1
    done
    psql -X -q -c "DROP ROLE IF EXISTS \"$role\"" >/dev/null 2>&1
    rm -rf "$scratch"
}
trap cleanup EXIT

# 2 setup tests, then 8 per example.
echo "1..26"

n=0
failures=0
pass() { n=$((n + 1)); echo "ok $n - $1"; : >"$errlog"; }
fail() {
    n=$((n + 1)); failures=$((failures + 1))
    echo "not ok $n - $1"
    shift
    local line
    for line in "$@"; do printf '%s\n' "$line" | sed 's/^/#   /'; done
    if [ -s "$errlog" ]; then sed 's/^/#   stderr: /' "$errlog" | head -40; fi
    : >"$errlog"
}
is() {  # is got expected description
    if [ "$1" = "$2" ]; then pass "$3"; else fail "$3" "got:      '$1'" "expected: '$2'"; fi
}
# One value from one query, as the superuser, in database $1.
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$1" -c "$2" 2>>"$errlog"; }

# --- setup -------------------------------------------------------------------

if psql -X -q -v ON_ERROR_STOP=1 -d postgres \
        -c "CREATE ROLE \"$role\" LOGIN PASSWORD '$role_password'" >/dev/null 2>>"$errlog"; then
    pass "an application role without superuser rights"
else
    fail "an application role without superuser rights"
fi

# The arming described above; :db and :app are the database and the role.
fixtures() {
    cat <<'SQL'
CREATE SEQUENCE public.example_fault_seq;
CREATE FUNCTION public.example_inject_fault() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
    CASE nextval('public.example_fault_seq')
        WHEN 1 THEN RAISE EXCEPTION 'injected by examples.t' USING ERRCODE = 'serialization_failure';
        WHEN 2 THEN RAISE EXCEPTION 'injected by examples.t' USING ERRCODE = 'deadlock_detected';
        ELSE NULL;
    END CASE;
    RETURN NULL;
END $$;
CREATE TRIGGER example_fault BEFORE UPDATE ON fleet.fleet_device
    FOR EACH STATEMENT EXECUTE FUNCTION public.example_inject_fault();

CREATE FUNCTION public.fleet_assign_devices_to_site(ids text[], target bigint, force_clear boolean DEFAULT false)
    RETURNS SETOF fleet.fleet_conflict LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'look-alike public.fleet_assign_devices_to_site(text[], bigint, boolean) called';
END $$;
CREATE FUNCTION fleet.fleet_assign_devices_to_site(ids text[], target integer, force_clear boolean DEFAULT false)
    RETURNS SETOF fleet.fleet_conflict LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'look-alike fleet.fleet_assign_devices_to_site(text[], integer, boolean) called';
END $$;

GRANT USAGE ON SCHEMA fleet TO :"app";
GRANT SELECT ON fleet.fleet_site, fleet.fleet_rack, fleet.fleet_device, fleet.fleet_rack_membership,
                fleet.fleet_rack_slot, fleet.fleet_activity TO :"app";
GRANT UPDATE ON fleet.fleet_device TO :"app";
GRANT DELETE ON fleet.fleet_rack_membership TO :"app";
ALTER ROLE :"app" IN DATABASE :"db" SET search_path = public, fleet;
SQL
}

prepare_db() {  # prepare_db dbname
    createdb "$1" 2>>"$errlog" &&
    psql -X -q -v ON_ERROR_STOP=1 -d "$1" -f examples/seed.sql >/dev/null 2>>"$errlog" &&
    fixtures | psql -X -q -v ON_ERROR_STOP=1 -d "$1" -v app="$role" -v db="$1" -f - >/dev/null 2>>"$errlog"
}

# The arming must bite, or the examples passing proves nothing: as the
# application role, an unqualified call reaches the public look-alike and an
# integer target reaches the integer one.
probe="fleet_ex_probe_$tag"
languages="$languages probe"
if prepare_db "fleet_ex_probe_$tag"; then
    bites=$(PGUSER="$role" PGPASSWORD="$role_password" psql -X -q -A -t -d "$probe" 2>&1 <<'SQL'
SELECT * FROM fleet_assign_devices_to_site(ARRAY['miner-19'], 2::bigint);
SELECT * FROM fleet.fleet_assign_devices_to_site(ARRAY['miner-19'], 2);
SQL
)
    case "$bites" in
        *"look-alike public."*"look-alike fleet."*)
            pass "the look-alikes catch an unqualified call and an integer target" ;;
        *) fail "the look-alikes catch an unqualified call and an integer target" "psql said: $bites" ;;
    esac
else
    fail "the look-alikes catch an unqualified call and an integer target" "could not prepare $probe"
fi
dropdb --if-exists "$probe" >/dev/null 2>&1

expected="$scratch/expected"
grep -v '^#' examples/expected-output.txt >"$expected"

# --- each example ------------------------------------------------------------

# The tests for one example whose command is "$@" (run from the repository),
# after its build step said $build_ok (0 = built) with $build_what.
check_example() {
    local lang=$1; shift
    local db="fleet_ex_${lang}_$tag"
    local out="$scratch/$lang.out"
    local what="$lang example" i

    if [ "$build_ok" -ne 0 ]; then
        fail "$what: $build_what"

        for i in 2 3 4 5 6 7 8; do
            fail "$what: not run, its toolchain or build failed (see above)"
        done
        return
    fi
    pass "$what: $build_what"

    if ! prepare_db "$db"; then
        fail "$what: a seeded, armed database"
        for i in 3 4 5 6 7 8; do fail "$what: not run, no database"; done
        return
    fi
    pass "$what: a seeded, armed database"

    if PGDATABASE="$db" PGUSER="$role" PGPASSWORD="$role_password" \
            timeout 120 "$@" >"$out" 2>>"$errlog"; then
        pass "$what: exits 0"
    else
        fail "$what: exits 0" "command: $*" "stdout:" "$(sed 's/^/  /' "$out")"
    fi

    local activity
    activity=$(q "$db" "SELECT max(id) FROM fleet.fleet_activity WHERE event_type = 'devices.reassigned_to_site'")
    if diff -u <(sed "s/@ACTIVITY_ID@/$activity/g" "$expected") "$out" >"$scratch/diff"; then
        pass "$what: prints the expected transcript"
    else
        fail "$what: prints the expected transcript" "diff (expected, got):" "$(cat "$scratch/diff")"
    fi

    is "$(q "$db" "SELECT string_agg(d.identifier || ':' || coalesce(d.site_id::text, '-') || ':'
                                     || coalesce(m.rack_id::text, '-'), ' ' ORDER BY d.identifier)
                     FROM fleet.fleet_device d
                     LEFT JOIN fleet.fleet_rack_membership m ON m.device_id = d.id")" \
       "miner-15:1:1 miner-16:1:1 miner-17:2:- miner-18:2:- miner-19:2:-" \
       "$what: devices moved, only the two conflicting memberships cleared"

    # One applied site move: the conflicts run, the two failed attempts and
    # the move to a missing site wrote nothing.
    is "$(q "$db" "SELECT count(*) || '|' || string_agg(actor || '|' || coalesce(site_id::text, '-') || '|' ||
                          (metadata->>'device_count') || '|' ||
                          (metadata->>'force_cleared_rack_membership_count') || '|' ||
                          (metadata->'force_cleared_device_identifiers')::text || '|' ||
                          (metadata->'device_identifiers')::text, ',')
                     FROM fleet.fleet_activity WHERE event_type = 'devices.reassigned_to_site'")" \
       '1|alice@ops|2|3|2|["miner-17", "miner-18"]|["miner-17", "miner-18", "miner-19"]' \
       "$what: one site-move audit row, by the operator, with the force-clear metadata"

    # Drawn at least three times: two injected failures, then the attempt
    # that went through (which may update fleet_device more than once).
    local drawn
    drawn=$(q "$db" "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM public.example_fault_seq")
    if [ -n "$drawn" ] && [ "$drawn" -ge 3 ]; then
        pass "$what: the injected 40001 and 40P01 fired, and the retry went through ($drawn draws)"
    else
        fail "$what: the injected 40001 and 40P01 fired, and the retry went through" "draws: '$drawn'"
    fi

    is "$(q "$db" "SELECT count(*) FROM fleet.fleet_placement_violation")" "0" \
       "$what: no placement violation afterwards"
}

# Python: Debian's interpreter, which python3-psycopg installs into (a
# python3 earlier on PATH, a pyenv one for example, may not have it).
py=/usr/bin/python3
if [ ! -x "$py" ]; then
    build_ok=1; build_what="toolchain: $py is missing (apt-get install python3 python3-psycopg)"
elif ! "$py" -c 'import psycopg' 2>>"$errlog"; then
    build_ok=1; build_what="toolchain: psycopg 3 is missing for $py (apt-get install python3-psycopg)"
else
    build_ok=0; build_what="toolchain: psycopg $("$py" -c 'import psycopg; print(psycopg.__version__)')"
fi
check_example python "$py" examples/python/fleet_move.py

# Go: GOPATH mode over Debian's /usr/share/gocode, so nothing is downloaded.
gobin="$scratch/fleet_move_go"
if ! command -v go >/dev/null 2>&1; then
    build_ok=1; build_what="toolchain: go is missing (apt-get install golang-go golang-github-jackc-pgx-v4-dev)"
elif [ ! -d /usr/share/gocode/src/github.com/jackc/pgx/v4 ]; then
    build_ok=1; build_what="toolchain: pgx v4 is missing (apt-get install golang-github-jackc-pgx-v4-dev)"
else
    # go needs a build cache; with no HOME to put it in (go env then says
    # "off"), use the scratch dir.
    case $(go env GOCACHE 2>/dev/null) in
        ""|off) export GOCACHE="$scratch/gocache" ;;
    esac
    if GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= go build -o "$gobin" ./examples/go 2>>"$errlog"; then
        build_ok=0; build_what="builds offline with $(go version | cut -d' ' -f3) and Debian's pgx"
    else
        build_ok=1; build_what="builds offline with Debian's pgx (GO111MODULE=off GOPATH=/usr/share/gocode)"
    fi
fi
check_example go "$gobin"

# Node: npm ci from the committed lock file, in a scratch copy, so the
# repository gets no node_modules.
nodedir="$scratch/node"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    build_ok=1; build_what="toolchain: node and npm are missing (apt-get install nodejs npm)"
else
    mkdir -p "$nodedir" &&
    cp examples/node/package.json examples/node/package-lock.json examples/node/fleet_move.js "$nodedir"/
    if (cd "$nodedir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>>"$errlog"); then
        build_ok=0; build_what="npm ci installs pg $(cd "$nodedir" && node -p 'require("pg/package.json").version') with node $(node --version)"
    else
        build_ok=1; build_what="npm ci installs the locked dependencies"
    fi
fi
check_example node node "$nodedir/fleet_move.js"

exit $((failures > 0))
