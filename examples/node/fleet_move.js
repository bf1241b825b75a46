#!/usr/bin/env node
// The fleet_sites operator flow with node-postgres (pg): a site move that
// returns conflicts, the operator's confirmation, the same move with
// force_clear, each transaction retried whole on 40001/40P01, the actor set
// per transaction, and LISTEN fleet_activity matched to
// fleet_last_activity_id().
//
// Connects with libpq's environment (PGHOST, PGPORT, PGDATABASE, PGUSER,
// PGPASSWORD) or the connection string in DATABASE_URL; expects
// examples/seed.sql loaded.
//
//     cd examples/node && npm ci && PGDATABASE=fleet_demo node fleet_move.js
'use strict';

const { Pool, Client } = require('pg');

// Schema-qualified, and the target cast to bigint: a function of the same
// name elsewhere on the search_path would otherwise win, and node-postgres
// sends parameters untyped, so beside a look-alike (text[], integer, boolean)
// the call would be ambiguous (42725).
const MOVE_TO_SITE = `
  SELECT device_identifier, reason, conflicting_site_id, rack_id
    FROM fleet.fleet_assign_devices_to_site($1, $2::bigint, force_clear => $3)`;

const RETRYABLE = new Set(['40001', '40P01']);
const MAX_ATTEMPTS = 5;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const orNone = (v) => (v === null || v === undefined ? 'none' : String(v));

// Runs work(client) in one transaction, as actor, and retries the whole
// transaction on 40001/40P01 (the COMMIT included). The functions never retry
// by themselves: they run in our transaction, so only we can start it again.
async function inTransaction(pool, actor, work) {
  for (let attempt = 1; ; attempt++) {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      // Transaction-local (is_local = true): the actor goes with the
      // transaction and never leaks to the next user of this pooled
      // connection. SET LOCAL cannot take a bind parameter.
      await client.query("SELECT set_config('fleet_sites.actor', $1, true)", [actor]);
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      if (RETRYABLE.has(err.code) && attempt < MAX_ATTEMPTS) {
        console.log(`  attempt ${attempt} failed with ${err.code}, retrying`);
        await sleep(Math.random() * 20 * attempt);
        continue;
      }
      throw err;
    } finally {
      client.release();
    }
  }
}

// The conflicts; an empty array means the move was applied. Conflicts are
// rows and success is no rows: always look at result.rows.
//
// bigint columns (rack_id, conflicting_site_id, and every id) come back as
// strings: a JavaScript number cannot hold every int64. Compare ids as
// strings, or convert with BigInt().
async function moveToSite(client, ids, site, forceClear = false) {
  const result = await client.query(MOVE_TO_SITE, [ids, site, forceClear]);
  return result.rows;
}

// A listener that keeps every payload it is sent: a notification can arrive
// before anybody waits for it (while the COMMIT's reply is being handled).
function activityListener(client) {
  const queued = [];
  const waiting = [];
  client.on('notification', (msg) => {
    if (msg.channel !== 'fleet_activity') return;
    const next = waiting.shift();
    if (next) next(msg.payload);
    else queued.push(msg.payload);
  });
  return (timeoutMs) => {
    if (queued.length > 0) return Promise.resolve(queued.shift());
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        waiting.splice(waiting.indexOf(done), 1);
        resolve(null);
      }, timeoutMs);
      const done = (payload) => {
        clearTimeout(timer);
        resolve(payload);
      };
      waiting.push(done);
    });
  };
}

async function main() {
  const config = process.env.DATABASE_URL ? { connectionString: process.env.DATABASE_URL } : {};
  const actor = 'alice@ops'; // the signed-in operator of this request
  const ids = ['miner-17', 'miner-18', 'miner-19'];
  const target = 2;

  // One connection, so every transaction below reuses it, as a busy pool
  // would: the last line shows the actor did not stay on it.
  const pool = new Pool({ ...config, max: 1 });
  // A listener needs its own connection: a pooled one goes back to the pool
  // and takes the LISTEN with it.
  const listener = new Client(config);
  await listener.connect();
  try {
    const nextActivity = activityListener(listener);
    await listener.query('LISTEN fleet_activity');

    console.log(`move ${ids.join(', ')} to site ${target}`);
    const conflicts = await inTransaction(pool, actor, (c) => moveToSite(c, ids, target));
    for (const row of conflicts) {
      console.log(`  conflict: ${row.device_identifier} ${row.reason}, ` +
                  `rack ${orNone(row.rack_id)} at site ${orNone(row.conflicting_site_id)}`);
    }
    if (conflicts.length === 0) {
      console.log('  applied');
      return 0;
    }
    console.log('  nothing written');

    // The operator is asked between the two transactions: no lock is held
    // while a person thinks.
    const cleared = conflicts.filter((r) => r.reason === 'DEVICE_IN_RACK_AT_OTHER_SITE')
                             .map((r) => r.device_identifier);
    console.log(`operator confirms: clear the rack membership of ${cleared.join(', ')} and move`);

    console.log(`move ${ids.join(', ')} to site ${target} with force_clear`);
    const [residual, activityId] = await inTransaction(pool, actor, async (c) => {
      const rows = await moveToSite(c, ids, target, true);
      // Same transaction, so the same session as the move.
      const last = await c.query('SELECT fleet.fleet_last_activity_id() AS id');
      return [rows, last.rows[0].id]; // a string, like every bigint
    });
    if (residual.length > 0) {
      for (const row of residual) console.log(`  conflict: ${row.device_identifier} ${row.reason}`);
      console.log('  nothing written');
      return 1;
    }
    console.log(`  applied: activity ${orNone(activityId)}`);

    // The payload is text, and so is the bigint: compare them as strings.
    const payload = await nextActivity(5000);
    if (payload === null) {
      console.log('LISTEN fleet_activity: no notification within 5 s');
    } else if (payload === activityId) {
      console.log(`LISTEN fleet_activity: notified of activity ${payload}, ` +
                  'the id fleet_last_activity_id() returned');
    } else {
      console.log(`LISTEN fleet_activity: notified of activity ${payload}, ` +
                  `but fleet_last_activity_id() returned ${orNone(activityId)}`);
    }

    const audit = await pool.query(
      'SELECT actor, description FROM fleet.fleet_activity WHERE id = $1', [activityId]);
    console.log(`audit ${activityId} by ${audit.rows[0].actor}: ${audit.rows[0].description}`);

    // An error is not a conflict: the query rejects, only 40001/40P01 are
    // retried, and the SQLSTATE is err.code.
    console.log('move miner-15 to site 99');
    try {
      await inTransaction(pool, actor, (c) => moveToSite(c, ['miner-15'], 99));
      throw new Error('a move to a missing site was not refused');
    } catch (err) {
      if (!err.code) throw err;
      console.log(`  error ${err.code}, not retried`);
    }

    const left = await pool.query("SELECT current_setting('fleet_sites.actor', true) AS v");
    console.log(`fleet_sites.actor after commit: ${left.rows[0].v || '(empty)'}`);
    return 0;
  } finally {
    await listener.end();
    await pool.end();
  }
}

main().then(
  (code) => { process.exitCode = code; },
  (err) => { console.error('fleet_move:', err.message); process.exitCode = 1; },
);
