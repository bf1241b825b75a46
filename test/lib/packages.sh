# Sourced by test/run, demo/run and bench/run: make sure the Debian packages
# fleet_sites needs are installed. As root it installs what is missing; as
# anybody else it prints the exact apt-get line and fails.

fleet_required_packages="make gcc postgresql-15 postgresql-server-dev-15 postgresql-common \
postgresql-contrib postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl libdbd-pg-perl \
python3-psycopg golang-go golang-github-jackc-pgx-v4-dev nodejs unzip"

fleet_ensure_packages() {
    local missing="" pkg
    for pkg in $fleet_required_packages; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
            || missing="$missing $pkg"
    done
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "fleet_sites needs these Debian packages:$missing" >&2
        echo "Install them with:" >&2
        echo "  sudo apt-get update && sudo apt-get install -y$missing" >&2
        return 1
    fi
    echo "Installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# Build and install the extension into the server's directories (root, or sudo).
fleet_build_and_install() {
    make -s || return 1
    if [ "$(id -u)" -eq 0 ]; then
        make -s install >/dev/null
    else
        sudo make -s install >/dev/null
    fi
}
