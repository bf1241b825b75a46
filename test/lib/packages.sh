# Sourced by test/lib/setup.sh (so by test/run and demo/run): the Debian
# packages fleet_sites needs, and their installation. As root the missing
# ones are installed (saying so first, and which); as anybody else the exact
# apt-get line is printed and the command stops.

# Every package test/run and demo/run need, in one list: add new ones here
# (and to the README's "Two commands" section; .ci/run checks that it names
# every one of them).
fleet_required_packages="make gcc postgresql-15 postgresql-server-dev-15 postgresql-common \
postgresql-contrib postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl libdbd-pg-perl \
python3-psycopg golang-go golang-github-jackc-pgx-v4-dev nodejs unzip"

# The required packages that are not installed, space-separated. Debian's
# nodejs comes without npm (its own package, npm); a Node.js from elsewhere
# may bundle it, and then conflicts with Debian's npm: so npm is wanted only
# when no npm command is there.
fleet_missing_packages() {
    local pkg missing=""
    for pkg in $fleet_required_packages; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
            || missing="$missing $pkg"
    done
    command -v npm >/dev/null 2>&1 || missing="$missing npm"
    echo "${missing# }"
}

# Print the words of $1 wrapped to 80 columns, indented by four spaces.
fleet_print_wrapped() {
    echo $1 | fmt -w 76 | sed 's/^/    /'
}

fleet_ensure_packages() {
    local missing log all count had_main=false
    missing=$(fleet_missing_packages)
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "fleet_sites needs Debian packages that are not installed. Install them with" >&2
        echo "    sudo apt-get update && sudo apt-get install -y --no-install-recommends \\" >&2
        echo $missing | fmt -w 70 | sed 's/^/        /; $!s/$/ \\/' >&2
        echo "or run this command as root (sudo $0), which installs them itself." >&2
        return 1
    fi

    pg_lsclusters -h 2>/dev/null | grep -q '^15 *main ' && had_main=true
    log=$(mktemp -t fleet_sites-apt.XXXXXX)
    export DEBIAN_FRONTEND=noninteractive
    echo "==> fleet_sites needs these Debian packages, which are not installed:"
    fleet_print_wrapped "$missing"
    echo "==> apt-get update"
    if ! apt-get update -q >"$log" 2>&1; then
        cat "$log" >&2; rm -f "$log"
        echo "apt-get update failed (no network, or no Debian mirror in /etc/apt/sources.list?)" >&2
        return 1
    fi
    # What apt will really install: the packages above and their dependencies.
    all=$(apt-get install -s --no-install-recommends $missing 2>/dev/null \
          | sed -n 's/^Inst \([^ ]*\) .*/\1/p' | tr '\n' ' ')
    count=$(echo "$all" | wc -w)
    echo "==> apt-get install --no-install-recommends: $count packages in all"
    echo "    (a minute or so; its output goes to $log):"
    fleet_print_wrapped "$all"
    if ! apt-get install -y -q --no-install-recommends $missing >>"$log" 2>&1; then
        tail -n 40 "$log" >&2
        echo "apt-get install failed; the whole log is $log" >&2
        return 1
    fi
    rm -f "$log"
    missing=$(fleet_missing_packages)
    if [ -n "$missing" ]; then
        echo "apt-get succeeded, but these are still not installed: $missing" >&2
        return 1
    fi
    echo "==> Installed."
    if ! $had_main && pg_lsclusters -h 2>/dev/null | grep -q '^15 *main '; then
        echo "    Note: postgresql-15 also created Debian's default cluster, which stays"
        echo "    ($(pg_lsclusters -h | awk '$1 == 15 && $2 == "main" {
            print $1 "/" $2 ", port " $3 ", " $4 }')). fleet_sites does not use it;"
        echo "    'sudo pg_dropcluster --stop 15 main' removes it."
    fi
}
