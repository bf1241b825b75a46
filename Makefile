# fleet_sites: PGXS build. The version lives only in fleet_sites.control.

PG_CONFIG  ?= pg_config

EXTENSION   = fleet_sites
EXTVERSION  = $(shell sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" $(EXTENSION).control)

MODULE_big  = $(EXTENSION)
OBJS        = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

# Extension scripts are sql/fleet_sites--*.sql; every other sql/*.sql is a
# pg_regress test, discovered rather than listed.
DATA        = $(sort $(wildcard sql/$(EXTENSION)--*.sql))
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
