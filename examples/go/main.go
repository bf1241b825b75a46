// Command fleet_move plays the fleet_sites operator flow with pgx v4: a site
// move that returns conflicts, the operator's confirmation, the same move with
// force_clear, each transaction retried whole on 40001/40P01, the actor set
// per transaction, and LISTEN fleet_activity matched to
// fleet_last_activity_id().
//
// Connects with libpq's environment (PGHOST, PGPORT, PGDATABASE, PGUSER,
// PGPASSWORD) or the connection string in DATABASE_URL; expects
// examples/seed.sql loaded.
//
// Built offline from Debian's packages (golang-go,
// golang-github-jackc-pgx-v4-dev), in GOPATH mode over /usr/share/gocode:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o fleet_move ./examples/go
//	PGDATABASE=fleet_demo ./fleet_move
package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgconn"
	"github.com/jackc/pgx/v4"
	"github.com/jackc/pgx/v4/pgxpool"
)

// Schema-qualified, and the target cast to bigint: a function of the same
// name elsewhere on the search_path would otherwise win, and with a
// look-alike (text[], integer, boolean) beside it the parameter's type is
// ambiguous (42725) or, for an integer, the look-alike's.
const moveToSite = `
	SELECT device_identifier, reason, conflicting_site_id, rack_id
	  FROM fleet.fleet_assign_devices_to_site($1, $2::bigint, force_clear => $3)`

const maxAttempts = 5

type conflict struct {
	Identifier string
	Reason     string
	SiteID     *int64 // NULL for a rack with no site
	RackID     *int64 // NULL for DEVICE_NOT_FOUND
}

func orNone(v *int64) string {
	if v == nil {
		return "none"
	}
	return strconv.FormatInt(*v, 10)
}

// inTransaction runs fn in one transaction, as actor, and retries the whole
// transaction on 40001/40P01. The functions never retry by themselves: they
// run in our transaction, so only we can start it again.
func inTransaction(ctx context.Context, pool *pgxpool.Pool, actor string, fn func(pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := pool.BeginFunc(ctx, func(tx pgx.Tx) error {
			// Transaction-local (is_local = true): the actor goes with the
			// transaction and never leaks to the next user of this pooled
			// connection. SET LOCAL cannot take a bind parameter.
			if _, err := tx.Exec(ctx, "SELECT set_config('fleet_sites.actor', $1, true)", actor); err != nil {
				return err
			}
			return fn(tx)
		})
		var pgErr *pgconn.PgError
		if err != nil && errors.As(err, &pgErr) &&
			(pgErr.Code == "40001" || pgErr.Code == "40P01") && attempt < maxAttempts {
			fmt.Printf("  attempt %d failed with %s, retrying\n", attempt, pgErr.Code)
			time.Sleep(time.Duration(rand.Intn(20*attempt)) * time.Millisecond)
			continue
		}
		return err
	}
}

// moveToSiteTx returns the conflicts; none means the move was applied.
//
// Conflicts are rows and success is no rows, so read them with Query:
// tx.Exec would discard them and report a rejected move as done, and
// QueryRow gets it backwards (a success is pgx.ErrNoRows). ids must not be a
// nil slice: pgx sends nil as NULL (22004), not as an empty array (22023).
func moveToSiteTx(ctx context.Context, tx pgx.Tx, ids []string, site int64, force bool) ([]conflict, error) {
	rows, err := tx.Query(ctx, moveToSite, ids, site, force)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []conflict
	for rows.Next() {
		var c conflict
		if err := rows.Scan(&c.Identifier, &c.Reason, &c.SiteID, &c.RackID); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	// An error the function raises (23503, 40001, ...) usually arrives here,
	// not from Query: always check rows.Err().
	return out, rows.Err()
}

func run(ctx context.Context) error {
	connString := os.Getenv("DATABASE_URL")
	actor := "alice@ops" // the signed-in operator of this request
	ids := []string{"miner-17", "miner-18", "miner-19"}
	var target int64 = 2

	config, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return err
	}
	// One connection, so every transaction below reuses it, as a busy pool
	// would: the last line shows the actor did not stay on it.
	config.MaxConns = 1
	pool, err := pgxpool.ConnectConfig(ctx, config)
	if err != nil {
		return err
	}
	defer pool.Close()

	// A listener needs its own connection: a pooled one goes back to the
	// pool and takes the LISTEN with it.
	listener, err := pgx.Connect(ctx, connString)
	if err != nil {
		return err
	}
	defer listener.Close(ctx)
	if _, err := listener.Exec(ctx, "LISTEN fleet_activity"); err != nil {
		return err
	}

	fmt.Printf("move %s to site %d\n", strings.Join(ids, ", "), target)
	var conflicts []conflict
	err = inTransaction(ctx, pool, actor, func(tx pgx.Tx) error {
		var err error
		conflicts, err = moveToSiteTx(ctx, tx, ids, target, false)
		return err
	})
	if err != nil {
		return err
	}
	for _, c := range conflicts {
		fmt.Printf("  conflict: %s %s, rack %s at site %s\n", c.Identifier, c.Reason, orNone(c.RackID), orNone(c.SiteID))
	}
	if len(conflicts) == 0 {
		fmt.Println("  applied")
		return nil
	}
	fmt.Println("  nothing written")

	// The operator is asked between the two transactions: no lock is held
	// while a person thinks.
	var cleared []string
	for _, c := range conflicts {
		if c.Reason == "DEVICE_IN_RACK_AT_OTHER_SITE" {
			cleared = append(cleared, c.Identifier)
		}
	}
	fmt.Printf("operator confirms: clear the rack membership of %s and move\n", strings.Join(cleared, ", "))

	fmt.Printf("move %s to site %d with force_clear\n", strings.Join(ids, ", "), target)
	var residual []conflict
	var activityID *int64
	err = inTransaction(ctx, pool, actor, func(tx pgx.Tx) error {
		var err error
		if residual, err = moveToSiteTx(ctx, tx, ids, target, true); err != nil {
			return err
		}
		// Same transaction, so the same session as the move.
		return tx.QueryRow(ctx, "SELECT fleet.fleet_last_activity_id()").Scan(&activityID)
	})
	if err != nil {
		return err
	}
	if len(residual) > 0 {
		for _, c := range residual {
			fmt.Printf("  conflict: %s %s\n", c.Identifier, c.Reason)
		}
		fmt.Println("  nothing written")
		return errors.New("the forced move was refused")
	}
	fmt.Printf("  applied: activity %s\n", orNone(activityID))

	waitCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	n, err := listener.WaitForNotification(waitCtx)
	cancel()
	switch {
	case err != nil:
		fmt.Println("LISTEN fleet_activity: no notification within 5 s")
	case n.Payload == orNone(activityID):
		fmt.Printf("LISTEN fleet_activity: notified of activity %s, the id fleet_last_activity_id() returned\n", n.Payload)
	default:
		fmt.Printf("LISTEN fleet_activity: notified of activity %s, but fleet_last_activity_id() returned %s\n",
			n.Payload, orNone(activityID))
	}

	var who, description string
	err = pool.QueryRow(ctx, "SELECT actor, description FROM fleet.fleet_activity WHERE id = $1", activityID).
		Scan(&who, &description)
	if err != nil {
		return err
	}
	fmt.Printf("audit %s by %s: %s\n", orNone(activityID), who, description)

	// An error is not a conflict: only 40001/40P01 are retried, and the
	// SQLSTATE is on *pgconn.PgError.
	fmt.Println("move miner-15 to site 99")
	err = inTransaction(ctx, pool, actor, func(tx pgx.Tx) error {
		_, err := moveToSiteTx(ctx, tx, []string{"miner-15"}, 99, false)
		return err
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		fmt.Printf("  error %s, not retried\n", pgErr.Code)
	} else {
		return fmt.Errorf("a move to a missing site: want a PostgreSQL error, got %v", err)
	}

	var left *string
	if err := pool.QueryRow(ctx, "SELECT current_setting('fleet_sites.actor', true)").Scan(&left); err != nil {
		return err
	}
	if left == nil || *left == "" {
		fmt.Println("fleet_sites.actor after commit: (empty)")
	} else {
		fmt.Printf("fleet_sites.actor after commit: %s\n", *left)
	}
	return nil
}

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "fleet_move:", err)
		os.Exit(1)
	}
}
