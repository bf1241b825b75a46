# Sourced by test/run and demo/run, from the top of the checkout: what both
# do before they start a throwaway cluster.
#
#   fleet_setup   a known locale and libpq environment, the Debian packages,
#                 who builds and runs (see below), the build, make install.
#   fleet_as_user CMD...   runs CMD as that user.
#
# Who runs what. Run as root (sudo ./test/run, or a root shell), only apt-get
# and `make install` run as root; the build and the suites run as the owner
# of the checkout, so every file they write in it stays the owner's (a later
# run without sudo, or `make clean`, can remove it). A checkout owned by root
# is built and run as root. Run as a normal user, everything runs as that
# user, and `make install` goes through sudo unless the installed extension
# already is this build.

. test/lib/packages.sh

# The server whose extension directory we build for and install into, and
# whose cluster pg_virtualenv -v 15 starts; the unversioned pg_config picks
# the newest server-dev package installed, which need not be 15.
export PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config

# One locale for the cluster and every client, whatever the caller's
# environment: with none set (a fresh Debian), initdb makes an SQL_ASCII
# cluster the suites cannot run on; an invalid one (an ssh client's
# LC_CTYPE=UTF-8) makes initdb and perl fail. C.UTF-8 ships with every
# Debian's libc. libpq's variables other than the ones pg_virtualenv sets
# (PGOPTIONS, PGTZ, PGCLIENTENCODING, ...) are dropped too: the suites'
# expected output assumes the server's defaults.
fleet_known_environment() {
    local v
    # LC_ALL first: unsetting an invalid LC_CTYPE while nothing overrides it
    # makes bash warn "setlocale: LC_CTYPE: cannot change locale".
    export LC_ALL=C.UTF-8 LANG=C.UTF-8
    for v in $(compgen -e); do
        case $v in
            LC_ALL|PG_CONFIG) ;;
            LC_*|LANGUAGE|PG*) unset "$v" ;;
        esac
    done
    if ! locale -a 2>/dev/null | grep -qix 'c\.utf-\{0,1\}8'; then
        echo "The C.UTF-8 locale is missing (every Debian 12 has it, in libc-bin)." >&2
        return 1
    fi
}

# fleet_user: empty to run as ourselves, else the user to run as (root only).
fleet_choose_user() {
    local owner uid strays
    fleet_user=""
    uid=$(stat -c %u .)
    owner=$(stat -c %U .)
    if [ "$(id -u)" -eq 0 ] && [ "$uid" -ne 0 ]; then
        if [ "$owner" = UNKNOWN ]; then
            echo "==> This checkout belongs to uid $uid, which has no account here: building" \
                 "and running as root (the files written here will be root's)."
            return 0
        fi
        fleet_user=$owner
        echo "==> Building and running as $owner, who owns this checkout; root only runs"
        echo "    apt-get and make install."
        # An earlier version of these commands built as root: give its files back.
        strays=$(find . -path ./.git -prune -o -uid 0 -print | head -n 1)
        if [ -n "$strays" ]; then
            echo "==> Giving root-owned files (from an earlier run as root) back to $owner."
            find . -path ./.git -prune -o -uid 0 -exec chown -h "$uid:$(stat -c %g .)" {} +
        fi
    elif [ "$(id -u)" -ne 0 ]; then
        strays=$(find . -path ./.git -prune -o -uid 0 -print | head -n 5)
        if [ -n "$strays" ]; then
            echo "Files in this checkout belong to root (left by an earlier run as root?):" >&2
            echo "$strays" | sed 's/^/    /' >&2
            echo "Give them back with:  sudo chown -R $(id -un): $(pwd)" >&2
            echo "(or run sudo $0 once: it gives them back itself)." >&2
            return 1
        fi
    fi
}

fleet_as_user() {
    if [ -n "${fleet_user:-}" ]; then
        runuser -u "$fleet_user" -- "$@"
    else
        "$@"
    fi
}

# True when every file `make install` would install is already installed,
# byte for byte: a normal user then needs no sudo.
fleet_install_is_current() {
    local pkglibdir sharedir f
    pkglibdir=$("$PG_CONFIG" --pkglibdir) || return 1
    sharedir=$("$PG_CONFIG" --sharedir) || return 1
    cmp -s fleet_sites.so "$pkglibdir/fleet_sites.so" || return 1
    cmp -s fleet_sites.control "$sharedir/extension/fleet_sites.control" || return 1
    for f in sql/fleet_sites--*.sql; do
        cmp -s "$f" "$sharedir/extension/${f#sql/}" || return 1
    done
    for f in src/*.bc; do
        [ -e "$f" ] || continue
        cmp -s "$f" "$pkglibdir/bitcode/fleet_sites/$f" || return 1
    done
}

# Scripts of fleet_sites that this checkout does not have (left by a build of
# another branch) could offer CREATE EXTENSION another install or update path.
fleet_stale_scripts() {
    local f dir
    dir=$("$PG_CONFIG" --sharedir)/extension
    for f in "$dir"/fleet_sites--*.sql; do
        [ -e "$f" ] && [ ! -e "sql/${f##*/}" ] && echo "$f"
    done
}

fleet_install() {
    local stale
    stale=$(fleet_stale_scripts)
    if [ -n "$stale" ]; then
        echo "==> Removing fleet_sites scripts this checkout does not have:"
        echo "$stale" | sed 's/^/    /'
        if [ "$(id -u)" -eq 0 ]; then
            rm -f $stale
        elif command -v sudo >/dev/null; then
            sudo rm -f $stale
        fi
    fi
    if [ "$(id -u)" -eq 0 ]; then
        make -s install >/dev/null
    elif fleet_install_is_current; then
        echo "==> The installed fleet_sites is this build already: no make install."
    elif command -v sudo >/dev/null; then
        echo "==> sudo make install (the server's directories belong to root)"
        sudo make -s install PG_CONFIG="$PG_CONFIG" >/dev/null
    else
        echo "make install needs root, and there is no sudo here: run this command as root," >&2
        echo "or install sudo (as root: apt-get install sudo)." >&2
        return 1
    fi
}

fleet_setup() {
    fleet_known_environment || return 1
    fleet_ensure_packages || return 1
    fleet_choose_user || return 1
    echo "==> Building fleet_sites"
    fleet_as_user make -s || { echo "The build failed." >&2; return 1; }
    fleet_install || { echo "make install failed." >&2; return 1; }
}
