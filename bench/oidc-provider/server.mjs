// The reference OpenID provider for zauthy-bench: `oidc-provider` (the certified Node implementation) configured
// like zauthy's organization issuer, on a loopback port, so that bench/src/oidc/ can measure both in one run.
//
// Usage: NODE_ENV=production BENCH_OIDC_PROVIDER_SECRET=… node server.mjs --port PORT [--workers N]
//          [--store memory|sqlite:PATH|postgres:URL] [--id-token-alg RS256|ES256]
//
// - One confidential client (`bench-client`, client_secret_basic) with client_credentials, authorization_code and
//   refresh_token, like a zauthy client registered with those grants.
// - client_credentials with `resource=urn:zauthy-bench:api` answers a JWT access token signed with EdDSA
//   (Ed25519), as zauthy's do. Without `resource` the token is opaque: oidc-provider refuses to introspect JWTs
//   ("Structured JWT Tokens cannot be introspected"), so introspection can only be measured on opaque tokens.
// - The code grant issues an RS256 ID token (zauthy's default ID-token algorithm), an opaque access token
//   (oidc-provider's userinfo endpoint only accepts opaque tokens without audience) and a refresh token.
// - `--store memory` (the default): oidc-provider's own in-memory adapter, given an LRU large enough that nothing
//   is evicted during a run (the default keeps 1000 entries), and accounts made up from their id. Each worker
//   has its own memory: a token minted on one worker is unknown to the others.
// - `--store sqlite:PATH` / `--store postgres:URL`: an Adapter over one table in that database, shared by every
//   worker (store.mjs; the primary creates the schema before it forks), and findAccount reads the accounts table
//   there, as zauthy persists its grants, codes and tokens and reads its users from its database.
// - `--workers N` (default: the number of cores) runs N processes under node:cluster, so it uses as many cores as
//   zauthy's multi-threaded runtime. The primary hands each connection to one worker for its life, so the bench
//   mints every token or code on the connection that later uses it (which the in-memory store needs).
// - POST /bench/codes (Bearer = the client secret) mints authorization codes the way the authorization endpoint
//   does after login and consent: a Grant with the scopes and an AuthorizationCode (S256 PKCE) bound to it, for
//   accounts bench-user-<i> (with a persistent store, upserted into the accounts table first). Driving the hosted
//   interactions for every code would measure the login pages, not the code exchange.

import cluster from 'node:cluster';
import * as crypto from 'node:crypto';
import * as os from 'node:os';
import * as http from 'node:http';

import Provider from 'oidc-provider';
import { setStorage } from 'oidc-provider/lib/adapters/memory_adapter.js';
import QuickLRU from 'quick-lru';

import { createSchema, openStore, parseStore } from './store.mjs';

const CLIENT_ID = 'bench-client';
const REDIRECT_URI = 'https://rp.bench.example/callback';
const API_RESOURCE = 'urn:zauthy-bench:api';
const CODE_SCOPE = 'openid email profile offline_access';

function parseArgs(argv) {
  const args = { port: undefined, workers: os.availableParallelism(), store: 'memory', idTokenAlg: 'RS256' };
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === '--port') {
      args.port = Number(value);
      i += 1;
    } else if (flag === '--workers') {
      args.workers = Number(value);
      i += 1;
    } else if (flag === '--store') {
      args.store = String(value);
      i += 1;
    } else if (flag === '--id-token-alg') {
      args.idTokenAlg = String(value);
      i += 1;
    } else {
      throw new Error(`unknown argument ${flag}`);
    }
  }
  if (!Number.isInteger(args.port) || args.port <= 0 || args.port > 65535) {
    throw new Error('--port PORT is required');
  }
  if (!Number.isInteger(args.workers) || args.workers < 1) {
    throw new Error('--workers must be a positive integer');
  }
  if (!['RS256', 'ES256'].includes(args.idTokenAlg)) {
    throw new Error('--id-token-alg must be RS256 or ES256');
  }
  args.store = parseStore(args.store);
  return args;
}

// The same keys in every worker: the primary makes them and hands them down in the environment.
function makeJwks() {
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const ed = crypto.generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  return {
    keys: [
      { ...rsa, kid: 'rs256-1', alg: 'RS256', use: 'sig' },
      { ...ed, kid: 'eddsa-1', alg: 'EdDSA', use: 'sig' },
      { ...ec, kid: 'es256-1', alg: 'ES256', use: 'sig' },
    ],
  };
}

function sha256Base64url(value) {
  return crypto.createHash('sha256').update(value).digest('base64url');
}

function constantTimeEqual(a, b) {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

// In memory: any bench-user-<i> exists, made up from its id.
function account(sub) {
  const n = sub.replace(/^bench-user-/, '');
  return {
    accountId: sub,
    async claims() {
      return {
        sub,
        email: `user${n}@bench.example.com`,
        email_verified: true,
        name: `Bench User ${n}`,
      };
    },
  };
}

// From the accounts table: the account, or undefined when there is none.
async function storedAccount(store, sub) {
  const row = await store.account(sub);
  if (!row) return undefined;
  return {
    accountId: row.id,
    async claims() {
      return {
        sub: row.id,
        email: row.email,
        email_verified: Boolean(row.email_verified),
        name: row.name,
        updated_at: Number(row.updated_at),
      };
    },
  };
}

// `store`: null for the in-memory adapter, else what openStore made.
function buildProvider(port, secret, jwks, cookieKey, store, idTokenAlg) {
  if (!store) {
    // The default adapter's store is a QuickLRU of 1000 entries; a larger one, so nothing is evicted mid-run.
    setStorage(new QuickLRU({ maxSize: 10_000_000 }));
  }
  const provider = new Provider(`http://localhost:${port}`, {
    ...(store ? { adapter: store.Adapter } : {}),
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: secret,
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['client_credentials', 'authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: [REDIRECT_URI],
        id_token_signed_response_alg: idTokenAlg,
        scope: `${CODE_SCOPE} api`,
      },
    ],
    jwks,
    cookies: { keys: [cookieKey] },
    scopes: ['openid', 'email', 'profile', 'offline_access', 'api'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
    },
    findAccount: store ? (_ctx, sub) => storedAccount(store, sub) : (_ctx, sub) => account(sub),
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true, allowedPolicy: async () => true },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx, _client, oneOf) => oneOf,
        useGrantedResource: async () => false,
        getResourceServerInfo: async (_ctx, indicator) => {
          if (indicator !== API_RESOURCE) throw new Provider.errors.InvalidTarget();
          return {
            scope: 'api',
            audience: API_RESOURCE,
            accessTokenFormat: 'jwt',
            accessTokenTTL: 900,
            jwt: { sign: { alg: 'EdDSA' } },
          };
        },
      },
    },
    pkce: { required: () => false },
    // zauthy's defaults: 15 min access tokens; codes and ID tokens as oidc-provider's defaults.
    ttl: {
      AccessToken: 900,
      ClientCredentials: 900,
      AuthorizationCode: 60,
      IdToken: 3600,
      RefreshToken: 30 * 24 * 3600,
      Grant: 30 * 24 * 3600,
      Interaction: 3600,
      Session: 14 * 24 * 3600,
    },
  });

  // The bench's minting endpoint, ahead of the provider's own routes.
  provider.use(async (ctx, next) => {
    if (ctx.path !== '/bench/codes') return next();
    const auth = ctx.get('authorization');
    if (ctx.method !== 'POST' || !constantTimeEqual(auth, `Bearer ${secret}`)) {
      ctx.status = 404;
      return undefined;
    }
    const n = Math.min(Number(ctx.query.n) || 1, 10_000);
    const verifier = String(ctx.query.verifier || '');
    if (verifier.length < 43) {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: 'verifier (≥ 43 chars) is required' };
      return undefined;
    }
    const challenge = sha256Base64url(verifier);
    const client = await provider.Client.find(CLIENT_ID);
    const codes = [];
    const first = Number(ctx.query.first) || 0;
    const accountIds = Array.from({ length: n }, (_, i) => `bench-user-${first + i}`);
    if (store) await store.upsertAccounts(accountIds);
    for (const accountId of accountIds) {
      const grant = new provider.Grant({ accountId, clientId: CLIENT_ID });
      grant.addOIDCScope(CODE_SCOPE);
      const grantId = await grant.save();
      const code = new provider.AuthorizationCode({
        accountId,
        acr: 'urn:bench:pwd',
        amr: ['pwd'],
        authTime: Math.floor(Date.now() / 1000),
        client,
        codeChallenge: challenge,
        codeChallengeMethod: 'S256',
        grantId,
        redirectUri: REDIRECT_URI,
        scope: CODE_SCOPE,
        // offline_access: the code outlives any browser session, as the authorization endpoint would decide.
        expiresWithSession: false,
      });
      codes.push(await code.save());
    }
    ctx.type = 'json';
    ctx.body = { codes };
    return undefined;
  });
  return provider;
}

function serveWorker() {
  const port = Number(process.env.BENCH_PORT);
  const secret = process.env.BENCH_OIDC_PROVIDER_SECRET;
  const jwks = JSON.parse(process.env.BENCH_JWKS);
  const storeSpec = JSON.parse(process.env.BENCH_STORE);
  const store = storeSpec.kind === 'memory' ? null : openStore(storeSpec, Number(process.env.BENCH_WORKERS));
  const provider = buildProvider(port, secret, jwks, process.env.BENCH_COOKIE_KEY, store, process.env.BENCH_ID_TOKEN_ALG);
  // Koa's own server, as `provider.listen` would make, with Node's default keep-alive.
  const server = http.createServer(provider.callback());
  server.keepAliveTimeout = 60_000;
  server.listen(port, '127.0.0.1', () => {
    if (process.send) process.send('listening');
    else console.error(`oidc-provider ready on 127.0.0.1:${port} (1 process, store ${storeSpec.kind})`);
  });
}

async function main() {
  const { port, workers, store, idTokenAlg } = parseArgs(process.argv.slice(2));
  const secret = process.env.BENCH_OIDC_PROVIDER_SECRET;
  if (!secret || secret.length < 32) {
    throw new Error('BENCH_OIDC_PROVIDER_SECRET (≥ 32 chars) is required');
  }
  if (process.env.NODE_ENV !== 'production') {
    console.error('warning: NODE_ENV is not production');
  }
  const env = {
    BENCH_PORT: String(port),
    BENCH_JWKS: JSON.stringify(makeJwks()),
    BENCH_COOKIE_KEY: crypto.randomBytes(32).toString('base64url'),
    BENCH_STORE: JSON.stringify(store),
    BENCH_WORKERS: String(workers),
    BENCH_ID_TOKEN_ALG: idTokenAlg,
  };
  // One schema for all workers, made before any of them opens the database.
  await createSchema(store);
  if (workers === 1) {
    Object.assign(process.env, env);
    serveWorker();
    return;
  }
  // Round-robin: the primary accepts each connection and hands it to the next worker.
  cluster.schedulingPolicy = cluster.SCHED_RR;
  let ready = 0;
  for (let i = 0; i < workers; i += 1) {
    const worker = cluster.fork(env);
    worker.on('message', (message) => {
      if (message === 'listening') {
        ready += 1;
        if (ready === workers) {
          console.error(`oidc-provider ready on 127.0.0.1:${port} (${workers} workers, store ${store.kind})`);
        }
      }
    });
  }
  cluster.on('exit', (worker, code, signal) => {
    console.error(`oidc-provider worker ${worker.process.pid} exited (${signal || code})`);
    process.exit(1);
  });
  for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => {
      for (const worker of Object.values(cluster.workers)) worker.process.kill('SIGTERM');
      process.exit(0);
    });
  }
}

if (cluster.isPrimary) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  serveWorker();
}
