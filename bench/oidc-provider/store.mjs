// Persistent storage for the reference oidc-provider (server.mjs --store sqlite:PATH|postgres:URL): one table of
// oidc-provider models shared by every node:cluster worker, and an accounts table findAccount reads, as zauthy
// reads its users from its database.
//
// - oidc_payload: (id, model) primary key, the model's payload as JSON, the grant_id / user_code / uid that
//   oidc-provider looks rows up by (indexed), expires_at (ms since the epoch; an expired row counts as absent)
//   and consumed_at (s since the epoch, oidc-provider's `consumed`). Each adapter call is one autocommitted
//   statement: oidc-provider has no transactions.
// - SQLite (better-sqlite3): zauthy's settings, WAL, synchronous=NORMAL, busy_timeout 10 s; one connection per
//   worker (better-sqlite3 is synchronous, so a worker runs one statement at a time).
// - PostgreSQL (pg): a pool per worker, ceil(16 / workers) connections, so all workers together have zauthy's 16;
//   named (prepared) statements, as zauthy's driver caches its statements.

import Database from 'better-sqlite3';
import pg from 'pg';

// zauthy's database_max_connections.
const TOTAL_CONNECTIONS = 16;

const epochTime = () => Math.floor(Date.now() / 1000);

const SQLITE_SCHEMA = `
create table if not exists oidc_payload (
  id text not null,
  model text not null,
  payload text not null,
  grant_id text,
  user_code text,
  uid text,
  expires_at integer,
  consumed_at integer,
  primary key (id, model)
);
create index if not exists oidc_payload_grant_id on oidc_payload (grant_id);
create index if not exists oidc_payload_user_code on oidc_payload (user_code);
create index if not exists oidc_payload_uid on oidc_payload (uid);
create table if not exists accounts (
  id text primary key,
  email text not null,
  email_verified integer not null,
  name text not null,
  updated_at integer not null
);
`;

const PG_SCHEMA = `
create table if not exists oidc_payload (
  id text not null,
  model text not null,
  payload json not null,
  grant_id text,
  user_code text,
  uid text,
  expires_at bigint,
  consumed_at bigint,
  primary key (id, model)
);
create index if not exists oidc_payload_grant_id on oidc_payload (grant_id);
create index if not exists oidc_payload_user_code on oidc_payload (user_code);
create index if not exists oidc_payload_uid on oidc_payload (uid);
create table if not exists accounts (
  id text primary key,
  email text not null,
  email_verified boolean not null,
  name text not null,
  updated_at bigint not null
);
`;

const UPSERT_SET = `set payload = excluded.payload, grant_id = excluded.grant_id, user_code = excluded.user_code,
  uid = excluded.uid, expires_at = excluded.expires_at`;

/** `memory`, `sqlite:PATH` or `postgres:URL` → { kind, target }. */
export function parseStore(spec) {
  if (spec === 'memory') return { kind: 'memory' };
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const target = colon < 0 ? '' : spec.slice(colon + 1);
  if ((kind === 'sqlite' || kind === 'postgres') && target) return { kind, target };
  throw new Error(`--store must be memory, sqlite:PATH or postgres:URL (got ${JSON.stringify(spec)})`);
}

function openSqlite(path) {
  const db = new Database(path, { timeout: 10_000 });
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 10000');
  return db;
}

/** Creates the tables, once, in the primary before it forks its workers. */
export async function createSchema({ kind, target }) {
  if (kind === 'sqlite') {
    const db = openSqlite(target);
    db.exec(SQLITE_SCHEMA);
    db.close();
  } else if (kind === 'postgres') {
    const client = new pg.Client({ connectionString: target });
    await client.connect();
    try {
      await client.query(PG_SCHEMA);
    } finally {
      await client.end();
    }
  }
}

function accountRow(id) {
  const n = id.replace(/^bench-user-/, '');
  return { id, email: `user${n}@bench.example.com`, name: `Bench User ${n}` };
}

function expiresAt(expiresIn) {
  return expiresIn ? Date.now() + expiresIn * 1000 : null;
}

function payloadOf(json, consumedAt) {
  const payload = typeof json === 'string' ? JSON.parse(json) : json;
  if (consumedAt !== null && consumedAt !== undefined) payload.consumed = Number(consumedAt);
  return payload;
}

function sqliteStore(target) {
  const db = openSqlite(target);
  // One lookup, by the column oidc-provider asks for; expired rows count as absent.
  const findBy = (column) => db.prepare(`select payload, consumed_at from oidc_payload
      where ${column} = ? and model = ? and (expires_at is null or expires_at > ?)`);
  const q = {
    upsert: db.prepare(`insert into oidc_payload (id, model, payload, grant_id, user_code, uid, expires_at)
      values (?, ?, ?, ?, ?, ?, ?) on conflict (id, model) do update ${UPSERT_SET}`),
    find: findBy('id'),
    findByUserCode: findBy('user_code'),
    findByUid: findBy('uid'),
    consume: db.prepare('update oidc_payload set consumed_at = ? where id = ? and model = ?'),
    destroy: db.prepare('delete from oidc_payload where id = ? and model = ?'),
    revokeByGrantId: db.prepare('delete from oidc_payload where grant_id = ?'),
    account: db.prepare('select id, email, email_verified, name, updated_at from accounts where id = ?'),
    upsertAccount: db.prepare(`insert into accounts (id, email, email_verified, name, updated_at)
      values (?, ?, 1, ?, ?) on conflict (id) do update set email = excluded.email,
      email_verified = excluded.email_verified, name = excluded.name, updated_at = excluded.updated_at`),
  };
  const row = (r) => (r ? payloadOf(r.payload, r.consumed_at) : undefined);
  const upsertAccounts = db.transaction((ids, now) => {
    for (const id of ids) {
      const a = accountRow(id);
      q.upsertAccount.run(a.id, a.email, a.name, now);
    }
  });

  class SqliteAdapter {
    constructor(model) {
      this.model = model;
    }

    async upsert(id, payload, expiresIn) {
      const { grantId = null, userCode = null, uid = null } = payload;
      q.upsert.run(id, this.model, JSON.stringify(payload), grantId, userCode, uid, expiresAt(expiresIn));
    }

    async find(id) {
      return row(q.find.get(id, this.model, Date.now()));
    }

    async findByUserCode(userCode) {
      return row(q.findByUserCode.get(userCode, this.model, Date.now()));
    }

    async findByUid(uid) {
      return row(q.findByUid.get(uid, this.model, Date.now()));
    }

    async consume(id) {
      q.consume.run(epochTime(), id, this.model);
    }

    async destroy(id) {
      q.destroy.run(id, this.model);
    }

    // eslint-disable-next-line class-methods-use-this
    async revokeByGrantId(grantId) {
      q.revokeByGrantId.run(grantId);
    }
  }

  return {
    Adapter: SqliteAdapter,
    async account(id) {
      return q.account.get(id);
    },
    async upsertAccounts(ids) {
      upsertAccounts(ids, epochTime());
    },
  };
}

function postgresStore(target, workers) {
  const pool = new pg.Pool({ connectionString: target, max: Math.ceil(TOTAL_CONNECTIONS / workers) });
  pool.on('error', (err) => console.error(`oidc-provider postgres pool: ${err.message}`));
  const query = (name, text, values) => pool.query({ name, text, values });
  const first = (result) => {
    const r = result.rows[0];
    return r ? payloadOf(r.payload, r.consumed_at) : undefined;
  };

  class PostgresAdapter {
    constructor(model) {
      this.model = model;
    }

    async upsert(id, payload, expiresIn) {
      const { grantId = null, userCode = null, uid = null } = payload;
      await query(
        'upsert',
        `insert into oidc_payload (id, model, payload, grant_id, user_code, uid, expires_at)
          values ($1, $2, $3, $4, $5, $6, $7) on conflict (id, model) do update ${UPSERT_SET}`,
        [id, this.model, JSON.stringify(payload), grantId, userCode, uid, expiresAt(expiresIn)],
      );
    }

    // One lookup, by the column oidc-provider asks for; expired rows count as absent.
    async findBy(column, value) {
      return first(await query(
        `find_by_${column}`,
        `select payload, consumed_at from oidc_payload
          where ${column} = $1 and model = $2 and (expires_at is null or expires_at > $3)`,
        [value, this.model, Date.now()],
      ));
    }

    async find(id) {
      return this.findBy('id', id);
    }

    async findByUserCode(userCode) {
      return this.findBy('user_code', userCode);
    }

    async findByUid(uid) {
      return this.findBy('uid', uid);
    }

    async consume(id) {
      await query(
        'consume',
        'update oidc_payload set consumed_at = $1 where id = $2 and model = $3',
        [epochTime(), id, this.model],
      );
    }

    async destroy(id) {
      await query('destroy', 'delete from oidc_payload where id = $1 and model = $2', [id, this.model]);
    }

    // eslint-disable-next-line class-methods-use-this
    async revokeByGrantId(grantId) {
      await query('revoke_by_grant_id', 'delete from oidc_payload where grant_id = $1', [grantId]);
    }
  }

  return {
    Adapter: PostgresAdapter,
    async account(id) {
      const result = await query(
        'account',
        'select id, email, email_verified, name, updated_at from accounts where id = $1',
        [id],
      );
      return result.rows[0];
    },
    async upsertAccounts(ids) {
      const rows = ids.map(accountRow);
      await query(
        'upsert_accounts',
        `insert into accounts (id, email, email_verified, name, updated_at)
          select id, email, true, name, $4 from unnest($1::text[], $2::text[], $3::text[]) as a(id, email, name)
          on conflict (id) do update set email = excluded.email, email_verified = excluded.email_verified,
          name = excluded.name, updated_at = excluded.updated_at`,
        [rows.map((r) => r.id), rows.map((r) => r.email), rows.map((r) => r.name), epochTime()],
      );
    },
  };
}

/**
 * A worker's view of the store: the oidc-provider Adapter class, the account lookup findAccount uses and the
 * account upsert of POST /bench/codes.
 */
export function openStore({ kind, target }, workers) {
  if (kind === 'sqlite') return sqliteStore(target);
  if (kind === 'postgres') return postgresStore(target, workers);
  throw new Error(`no persistent store for ${kind}`);
}
