# fleet_sites: PGXS build. The version lives only in fleet_sites.control.

PG_CONFIG  ?= pg_config

EXTENSION   = fleet_sites
EXTVERSION  = $(shell sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" $(EXTENSION).control)

MODULE_big  = $(EXTENSION)
OBJS        = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

# Extension scripts are sql/fleet_sites--*.sql; every other sql/*.sql is a
# pg_regress test, discovered rather than listed.
DATA        = $(sort $(wildcard sql/$(EXTENSION)--*.sql))
# The restore helper for parallel restores (bin/fleet_sites_restore), next to
# the pg_restore it drives, in PostgreSQL's bindir.
SCRIPTS     = bin/fleet_sites_restore
REGRESS     = $(sort $(filter-out $(EXTENSION)--%,$(basename $(notdir $(wildcard sql/*.sql)))))
REGRESS_OPTS = --inputdir=. --load-extension=$(EXTENSION)

# Isolation specs live in test/specs with expected output in test/expected.
# ISOLATION_OPTS does not inherit REGRESS_OPTS: it repeats what it needs.
ISOLATION   = $(sort $(basename $(notdir $(wildcard test/specs/*.spec))))
ISOLATION_OPTS = --inputdir=test --load-extension=$(EXTENSION)

# Our code builds clean under -Wall -Wextra; the server headers are included as
# system headers so their own unused parameters do not drown ours.
PG_CPPFLAGS = -Wall -Wextra -isystem $(shell $(PG_CONFIG) --includedir-server)
EXTRA_CLEAN = results output_iso regression.diffs regression.out

PGXS       := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS does not track headers: every object depends on the one shared header.
$(OBJS): src/fleet_sites.h

print-version:
	@echo $(EXTVERSION)
.PHONY: print-version

# The benchmark and the valgrind run each set up their own throwaway cluster.
# The benchmark measures the installed build, so it installs this one first.
bench: install
	bench/run
memcheck:
	test/memcheck/run
.PHONY: bench memcheck

# ---------------------------------------------------------------------------
# Packages.
#
#   make deb         the Debian package postgresql-15-fleet-sites (debian/,
#                    pg_buildext), built from the tracked files of this
#                    checkout, uncommitted edits included, in build/deb/; the
#                    .deb lands there. It runs make installcheck at build time
#                    against the files it is about to package, unless
#                    DEB_BUILD_OPTIONS=nocheck. Build dependencies:
#                    sudo apt-get build-dep ./  (debhelper,
#                    postgresql-server-dev-all, postgresql-15).
#   make deb-check   test/deb/run, as root: build the package, dpkg -i it
#                    and run make installcheck against the installed package
#                    on a throwaway cluster, all in a private mount namespace
#                    over copy-on-write /usr and /var, so the machine's dpkg
#                    state and extension files do not change.
#   make dist        the PGXN archive named by META.json,
#                    build/<name>-<version>.zip (DIST_DIR=build) with one top-level
#                    <name>-<version>/ directory, from git archive HEAD, after
#                    checking META.json against the PGXN meta spec
#                    (test/tap/meta.t).
DEB_DIR      = build/deb
DEB_SRCDIR   = $(DEB_DIR)/fleet-sites-$(EXTVERSION)
DEB_UPSTREAM = $(shell dpkg-parsechangelog -l debian/changelog -S Version 2>/dev/null | sed 's/-[^-]*$$//')
META_NAME    = $(shell perl -MJSON::PP -e 'print decode_json(do { local $$/; <STDIN> })->{name}' < META.json)
META_VERSION = $(shell perl -MJSON::PP -e 'print decode_json(do { local $$/; <STDIN> })->{version}' < META.json)
DIST_NAME    = $(META_NAME)-$(META_VERSION)
DIST_DIR     = build

deb:
	@test "$(DEB_UPSTREAM)" = "$(EXTVERSION)" || \
	  { echo "debian/changelog says $(DEB_UPSTREAM), $(EXTENSION).control says $(EXTVERSION)" >&2; exit 1; }
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_SRCDIR)
	tree=$$(git stash create) && git archive "$${tree:-HEAD}" | tar -x -C $(DEB_SRCDIR)
	cd $(DEB_SRCDIR) && dpkg-checkbuilddeps || \
	  { echo "missing build dependencies: sudo apt-get build-dep ./" >&2; exit 1; }
	cd $(DEB_SRCDIR) && dpkg-buildpackage -b -us -uc
	@ls -1 $(DEB_DIR)/*.deb

deb-check:
	test/deb/run

dist:
	perl test/tap/meta.t
	mkdir -p $(DIST_DIR)
	git archive --format=zip --prefix=$(DIST_NAME)/ -o $(DIST_DIR)/$(DIST_NAME).zip HEAD
	@git diff --quiet HEAD -- || echo "note: uncommitted changes are not in the archive (git archive HEAD)"
	@echo $(DIST_DIR)/$(DIST_NAME).zip
.PHONY: deb deb-check dist
