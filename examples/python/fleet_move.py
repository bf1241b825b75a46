#!/usr/bin/python3
"""The fleet_sites operator flow with psycopg 3 (Debian: python3-psycopg).

A site move that returns conflicts, the operator's confirmation, the same move
with force_clear, each transaction retried whole on 40001/40P01, the actor set
per transaction, and LISTEN fleet_activity matched to fleet_last_activity_id().

Connects with libpq's environment (PGHOST, PGPORT, PGDATABASE, PGUSER,
PGPASSWORD) or the conninfo in DATABASE_URL; expects examples/seed.sql loaded.

    PGDATABASE=fleet_demo /usr/bin/python3 examples/python/fleet_move.py
"""

import os
import random
import select
import sys
import time

import psycopg
from psycopg import errors
from psycopg.rows import namedtuple_row

# Schema-qualified, and the target cast to bigint: a function of the same name
# elsewhere on the search_path would otherwise win, and psycopg sends a small
# Python int as smallint, which a look-alike (text[], integer, boolean) would
# take (with both present the call fails as ambiguous, 42725).
MOVE_TO_SITE = """
    SELECT device_identifier, reason, conflicting_site_id, rack_id
      FROM fleet.fleet_assign_devices_to_site(%s, %s::bigint, force_clear => %s)
"""

RETRYABLE = (errors.SerializationFailure, errors.DeadlockDetected)  # 40001, 40P01
MAX_ATTEMPTS = 5


def in_transaction(conn, actor, work):
    """Run work(conn) in one transaction, as actor; retry the whole
    transaction on 40001/40P01. The functions never retry by themselves: they
    run in our transaction, so only we can start it again."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            with conn.transaction():
                # Transaction-local (is_local = true): the actor goes with the
                # transaction and never leaks to the next user of a pooled
                # connection. SET LOCAL cannot take a bind parameter.
                conn.execute("SELECT set_config('fleet_sites.actor', %s, true)", [actor])
                return work(conn)
        except RETRYABLE as e:
            if attempt == MAX_ATTEMPTS:
                raise
            print(f"  attempt {attempt} failed with {e.sqlstate}, retrying")
            time.sleep(random.uniform(0, 0.02 * attempt))


def move_to_site(conn, ids, site, force_clear=False):
    """The conflicts, as a list; an empty list means the move was applied.

    Conflicts are rows and success is no rows: always read the rows. A call
    that ignores them would report a rejected move as done."""
    # A list, not a tuple: psycopg sends a tuple as a record, which fails as
    # "malformed array literal" (22P02).
    cur = conn.execute(MOVE_TO_SITE, [list(ids), site, force_clear])
    return cur.fetchall()


def wait_for_activity(listener, timeout=5.0):
    """The payload of the next fleet_activity notification, or None."""
    # psycopg 3.1 (Debian 12) has no timeout on notifies(): wait for the
    # socket first, then take the one notification that arrived.
    ready, _, _ = select.select([listener.fileno()], [], [], timeout)
    if not ready:
        return None
    gen = listener.notifies()
    try:
        return next(gen).payload
    finally:
        gen.close()


def main():
    conninfo = os.environ.get("DATABASE_URL", "")
    actor = "alice@ops"  # the signed-in operator of this request
    ids = ["miner-17", "miner-18", "miner-19"]
    target = 2

    # A listener needs its own connection, outside any transaction: a pooled
    # connection goes back to the pool and would take the LISTEN with it.
    with psycopg.connect(conninfo, autocommit=True) as listener, \
         psycopg.connect(conninfo, autocommit=True, row_factory=namedtuple_row) as conn:
        listener.execute("LISTEN fleet_activity")

        print(f"move {', '.join(ids)} to site {target}")
        conflicts = in_transaction(conn, actor, lambda c: move_to_site(c, ids, target))
        for row in conflicts:
            print(f"  conflict: {row.device_identifier} {row.reason}, "
                  f"rack {row.rack_id} at site {row.conflicting_site_id}")
        if not conflicts:
            print("  applied")
            return 0
        print("  nothing written")

        # The operator is asked between the two transactions: no lock is held
        # while a person thinks.
        cleared = [row.device_identifier for row in conflicts
                   if row.reason == "DEVICE_IN_RACK_AT_OTHER_SITE"]
        print(f"operator confirms: clear the rack membership of {', '.join(cleared)} and move")

        def forced_move(c):
            rows = move_to_site(c, ids, target, force_clear=True)
            # Same transaction, so the same session as the move, also when
            # the connection comes from a pool.
            last = c.execute("SELECT fleet.fleet_last_activity_id() AS id").fetchone().id
            return rows, last

        print(f"move {', '.join(ids)} to site {target} with force_clear")
        residual, activity_id = in_transaction(conn, actor, forced_move)
        if residual:
            for row in residual:
                print(f"  conflict: {row.device_identifier} {row.reason}")
            print("  nothing written")
            return 1
        print(f"  applied: activity {activity_id}")

        payload = wait_for_activity(listener)
        if payload is None:
            print("LISTEN fleet_activity: no notification within 5 s")
        elif int(payload) == activity_id:
            print(f"LISTEN fleet_activity: notified of activity {payload}, "
                  "the id fleet_last_activity_id() returned")
        else:
            print(f"LISTEN fleet_activity: notified of activity {payload}, "
                  f"but fleet_last_activity_id() returned {activity_id}")

        audit = conn.execute("SELECT actor, description FROM fleet.fleet_activity WHERE id = %s",
                             [activity_id]).fetchone()
        print(f"audit {activity_id} by {audit.actor}: {audit.description}")

        # An error is not a conflict: it raises, and only 40001/40P01 are
        # retried. The SQLSTATE is on the exception.
        print("move miner-15 to site 99")
        try:
            in_transaction(conn, actor, lambda c: move_to_site(c, ["miner-15"], 99))
        except psycopg.Error as e:
            print(f"  error {e.sqlstate}, not retried")

        left = conn.execute("SELECT current_setting('fleet_sites.actor', true) AS v").fetchone().v
        print(f"fleet_sites.actor after commit: {left or '(empty)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
