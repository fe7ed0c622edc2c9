import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { loadConfig, variables, withEmbeddedIdp } from '../server/config.ts';
import { renderEnvExample } from '../scripts/generate-env-example.ts';
import { problemsOf } from './helpers/config-problems.ts';
import { CookieBrowser, signIn, startGatehouse } from './helpers/harness.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('configuration', () => {
  test('the defaults make a development configuration with the embedded IdP', () => {
    const config = loadConfig({});
    assert.equal(config.port, 3000);
    assert.equal(config.publicUrl, 'http://localhost:3000');
    assert.equal(config.oidc.issuer, undefined);
    assert.equal(config.oidc.clientAuth, 'client_secret_basic');
    assert.equal(config.oidc.scopes, 'openid profile email offline_access');
    assert.equal(config.store, 'memory');
    assert.equal(config.session.secretGenerated, true);
    assert.ok(config.session.secret.length >= 32);
    assert.equal(config.secureCookies, false);
  });

  test('without GATEHOUSE_PUBLIC_URL the public URL follows GATEHOUSE_PORT, and so do the redirect URIs', () => {
    const config = loadConfig({ GATEHOUSE_PORT: '8080' });
    assert.equal(config.publicUrl, 'http://localhost:8080');
    assert.deepEqual(config.soap.redirectUris, ['http://localhost:8080/external/callback']);
    assert.equal(config.soap.url, 'http://localhost:8080/Session');
    assert.equal(
      loadConfig({ GATEHOUSE_PORT: '8080', GATEHOUSE_PUBLIC_URL: 'http://gatehouse.test:9000' }).publicUrl,
      'http://gatehouse.test:9000',
    );
  });

  test('with only GATEHOUSE_PORT set, the embedded IdP accepts the redirect URI on that port and alice signs in', async () => {
    // An empty value counts as unset: the harness's own public URL is taken away.
    const gatehouse = await startGatehouse({ GATEHOUSE_PUBLIC_URL: '' });
    try {
      const port = gatehouse.gh.config.port;
      assert.equal(gatehouse.gh.config.publicUrl, `http://localhost:${port}`);
      const login = await fetch(`http://localhost:${port}/auth/login`, { redirect: 'manual' });
      assert.equal(
        new URL(login.headers.get('location')!).searchParams.get('redirect_uri'),
        `http://localhost:${port}/auth/callback`,
      );
      const home = await signIn(gatehouse, new CookieBrowser());
      assert.equal(home.url, `http://localhost:${port}/`);
      assert.match(home.body, /Alice Liddell/);
    } finally {
      await gatehouse.stop();
    }
  });

  test('production needs GATEHOUSE_PUBLIC_URL set: the localhost default is for development', () => {
    const problems = problemsOf({
      NODE_ENV: 'production',
      GATEHOUSE_OIDC_ISSUER: 'https://idp.example',
      GATEHOUSE_OIDC_CLIENT_SECRET: 'secret',
      GATEHOUSE_SESSION_SECRET: 'x'.repeat(32),
    });
    assert.deepEqual(problems, [
      'GATEHOUSE_PUBLIC_URL is required in production (the https URL browsers use, e.g. https://gatehouse.example.org)',
    ]);
  });

  test('every problem is reported at once, each naming its variable and the fix', () => {
    const problems = problemsOf({
      GATEHOUSE_PORT: 'eighty',
      GATEHOUSE_PUBLIC_URL: 'not a url',
      GATEHOUSE_SESSION_SECRET: 'short',
      GATEHOUSE_OIDC_CLIENT_AUTH: 'magic',
      GATEHOUSE_STORE: 'redis',
      GATEHOUSE_OIDC_SCOPES: 'profile email',
    });
    assert.equal(problems.length, 6, problems.join('\n'));
    assert.match(problems.join('\n'), /GATEHOUSE_PORT must be a whole number from 0 to 65535 \(got "eighty"\)/);
    assert.match(problems.join('\n'), /GATEHOUSE_PUBLIC_URL must be an absolute http\(s\) URL/);
    assert.match(problems.join('\n'), /GATEHOUSE_SESSION_SECRET must be at least 32 characters \(got 5\)/);
    assert.match(
      problems.join('\n'),
      /GATEHOUSE_OIDC_CLIENT_AUTH must be one of client_secret_basic, client_secret_post, private_key_jwt/,
    );
    assert.match(problems.join('\n'), /GATEHOUSE_REDIS_URL is required when GATEHOUSE_STORE=redis/);
    assert.match(problems.join('\n'), /GATEHOUSE_OIDC_SCOPES must include "openid"/);
  });

  test('GATEHOUSE_SESSION_SECRET takes a comma-separated list, newest first, each at least 32 characters', () => {
    const newest = 'n'.repeat(40);
    const older = 'o'.repeat(32);
    const config = loadConfig({ NODE_ENV: 'test', GATEHOUSE_SESSION_SECRET: `${newest}, ${older}` });
    assert.deepEqual(config.session.secrets, [newest, older]);
    assert.equal(config.session.secret, newest, 'the newest signs and seals');

    const problems = problemsOf({ GATEHOUSE_SESSION_SECRET: `${newest},short,${newest}` }).join('\n');
    assert.match(problems, /GATEHOUSE_SESSION_SECRET: secret 2 of 3 must be at least 32 characters \(got 5\)/);
    assert.match(problems, /GATEHOUSE_SESSION_SECRET lists the same secret twice/);
    assert.ok(!problems.includes(newest), 'no secret is echoed');
  });

  test('GATEHOUSE_REDIS_SENTINELS or GATEHOUSE_REDIS_CLUSTER take the place of GATEHOUSE_REDIS_URL, one at a time', () => {
    const sentinel = loadConfig({
      NODE_ENV: 'test',
      GATEHOUSE_STORE: 'redis',
      GATEHOUSE_REDIS_SENTINELS: 'sentinel-0:26379, sentinel-1:26379,[::1]:26380',
      GATEHOUSE_REDIS_SENTINEL_MASTER: 'mymaster',
      GATEHOUSE_REDIS_PASSWORD: 'pw',
      GATEHOUSE_REDIS_TLS: 'true',
    }).redis;
    assert.deepEqual(sentinel, {
      kind: 'sentinel',
      sentinels: [
        { host: 'sentinel-0', port: 26379 },
        { host: 'sentinel-1', port: 26379 },
        { host: '::1', port: 26380 },
      ],
      masterName: 'mymaster',
      tls: true,
      password: 'pw',
    });
    const cluster = loadConfig({ NODE_ENV: 'test', GATEHOUSE_STORE: 'redis', GATEHOUSE_REDIS_CLUSTER: 'redis-0:6379' });
    assert.deepEqual(cluster.redis, { kind: 'cluster', nodes: [{ host: 'redis-0', port: 6379 }], tls: false });

    const problems = (env: Record<string, string>) => problemsOf({ GATEHOUSE_STORE: 'redis', ...env }).join('\n');
    assert.match(
      problems({ GATEHOUSE_REDIS_URL: 'redis://r:6379', GATEHOUSE_REDIS_CLUSTER: 'redis-0:6379' }),
      /GATEHOUSE_REDIS_URL and GATEHOUSE_REDIS_CLUSTER are both set/,
    );
    assert.match(problems({ GATEHOUSE_REDIS_SENTINELS: 's:26379' }), /GATEHOUSE_REDIS_SENTINEL_MASTER is required/);
    const bad = problems({ GATEHOUSE_REDIS_CLUSTER: 'redis-0:6379,redis-1', GATEHOUSE_REDIS_TLS: 'yes' });
    assert.match(bad, /GATEHOUSE_REDIS_CLUSTER: "redis-1" is not host:port/);
    assert.match(bad, /GATEHOUSE_REDIS_TLS must be one of false, true/);
  });

  test('production refuses http URLs, a missing issuer and a missing session secret', () => {
    const problems = problemsOf({ NODE_ENV: 'production', GATEHOUSE_PUBLIC_URL: 'http://gatehouse.example' }).join(
      '\n',
    );
    assert.match(problems, /GATEHOUSE_PUBLIC_URL must use https in production/);
    assert.match(problems, /GATEHOUSE_OIDC_ISSUER is required in production/);
    assert.match(problems, /GATEHOUSE_SESSION_SECRET is required in production/);
    const httpIssuer = problemsOf({
      NODE_ENV: 'production',
      GATEHOUSE_PUBLIC_URL: 'https://gatehouse.example',
      GATEHOUSE_OIDC_ISSUER: 'http://idp.example/realms/x',
      GATEHOUSE_OIDC_CLIENT_SECRET: 'secret',
      GATEHOUSE_SESSION_SECRET: 'x'.repeat(32),
    });
    assert.deepEqual(httpIssuer, [
      'GATEHOUSE_OIDC_ISSUER must use https in production (got "http://idp.example/realms/x")',
    ]);
  });

  test('a configured issuer needs the client credentials for its auth method', () => {
    const secret = problemsOf({ GATEHOUSE_OIDC_ISSUER: 'https://idp.example' });
    assert.match(
      secret.join('\n'),
      /GATEHOUSE_OIDC_CLIENT_SECRET is required when GATEHOUSE_OIDC_CLIENT_AUTH=client_secret_basic/,
    );
    const key = problemsOf({
      GATEHOUSE_OIDC_ISSUER: 'https://idp.example',
      GATEHOUSE_OIDC_CLIENT_AUTH: 'private_key_jwt',
    });
    assert.match(
      key.join('\n'),
      /GATEHOUSE_OIDC_PRIVATE_KEY is required when GATEHOUSE_OIDC_CLIENT_AUTH=private_key_jwt/,
    );
  });

  for (const mistake of [
    'http://default:hunter2-secret@redis.example:6379',
    'default:hunter2-secret@redis.example:6379',
    'redis.example:6379?password=hunter2-secret',
    'http://u:hunter2/secret@redis.example',
  ]) {
    test(`a malformed GATEHOUSE_REDIS_URL (${mistake.replace('hunter2-secret', '…')}) is named in the error without its password`, () => {
      const problems = problemsOf({ GATEHOUSE_STORE: 'redis', GATEHOUSE_REDIS_URL: mistake }).join('\n');
      assert.match(problems, /GATEHOUSE_REDIS_URL must start with redis:\/\/ or rediss:\/\//);
      assert.doesNotMatch(problems, /hunter2/);
    });
  }

  test('a public URL written with an upper-case HTTPS scheme still turns on secure cookies', () => {
    assert.equal(loadConfig({ GATEHOUSE_PUBLIC_URL: 'HTTPS://gatehouse.example' }).secureCookies, true);
  });

  test('an https public URL turns on secure cookies', () => {
    assert.equal(loadConfig({ GATEHOUSE_PUBLIC_URL: 'https://gatehouse.example/' }).secureCookies, true);
    assert.equal(
      loadConfig({ GATEHOUSE_PUBLIC_URL: 'https://gatehouse.example/' }).publicUrl,
      'https://gatehouse.example',
    );
  });

  test('.env.example documents every variable of the schema', () => {
    const example = readFileSync(join(root, '.env.example'), 'utf8');
    for (const variable of variables) assert.match(example, new RegExp(`^#? ?${variable.name}=`, 'm'), variable.name);
  });

  test('the committed .env.example is what `npm run env:example` writes from the schema', () => {
    const committed = readFileSync(join(root, '.env.example'), 'utf8');
    assert.equal(committed, renderEnvExample(), '.env.example is out of date: run `npm run env:example`');
  });

  test('the loaded configuration is frozen all the way down', () => {
    const config = loadConfig({ GATEHOUSE_SOAP_REDIRECT_URIS: 'https://app.example/cb' });
    assert.throws(() => {
      config.port = 1;
    }, TypeError);
    assert.throws(() => {
      config.oidc.issuer = 'https://attacker.example';
    }, TypeError);
    assert.throws(() => {
      config.soap.redirectUris.push('https://attacker.example/cb');
    }, TypeError);
    assert.throws(() => {
      config.rateLimits.login!.points = 1_000_000;
    }, TypeError);
    assert.equal(config.oidc.issuer, undefined);
  });

  test('durations are read in seconds and held in milliseconds', () => {
    const config = loadConfig({
      GATEHOUSE_OIDC_TIMEOUT: '7',
      GATEHOUSE_CLOCK_TOLERANCE: '30',
      GATEHOUSE_OIDC_USERINFO_REFRESH: '600',
      GATEHOUSE_SESSION_IDLE: '120',
      GATEHOUSE_SESSION_MAX: '3600',
      GATEHOUSE_TOKEN_REFRESH_SKEW: '45',
    });
    assert.equal(config.oidc.timeoutMs, 7_000);
    assert.equal(config.oidc.clockToleranceMs, 30_000);
    assert.equal(config.oidc.userInfoRefreshMs, 600_000);
    assert.equal(config.session.idleMs, 120_000);
    assert.equal(config.session.maxMs, 3_600_000);
    assert.equal(config.proxy.refreshSkewMs, 45_000);
  });

  test('with the embedded IdP, a frozen copy names its issuer and secret and the loaded configuration stays as it was', () => {
    const loaded = loadConfig({ GATEHOUSE_OIDC_CLIENT_AUTH: 'private_key_jwt' });
    const running = withEmbeddedIdp(loaded, { issuer: 'http://localhost:3001', clientSecret: 'embedded-secret' });
    assert.equal(running.oidc.issuer, 'http://localhost:3001');
    assert.equal(running.oidc.clientSecret, 'embedded-secret');
    // The embedded IdP registers a client secret, so private_key_jwt falls back to it.
    assert.equal(running.oidc.clientAuth, 'client_secret_basic');
    assert.equal(running.session.secret, loaded.session.secret);
    assert.ok(Object.isFrozen(running) && Object.isFrozen(running.oidc));
    assert.equal(loaded.oidc.issuer, undefined);
    assert.equal(loaded.oidc.clientSecret, undefined);
    assert.equal(loaded.oidc.clientAuth, 'private_key_jwt');
  });

  test('npm start with a bad .env exits non-zero and lists every problem', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-config-'));
    writeFileSync(join(dir, '.env'), 'GATEHOUSE_PORT=nope\nGATEHOUSE_SESSION_SECRET=tiny\n');
    const result = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), join(root, 'server/main.ts')], {
      cwd: dir,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, GATEHOUSE_STORE: 'memory' },
      encoding: 'utf8',
      // A bound on a hang, not on speed: tsx compiling main.ts on a busy 2-core machine took over 30 s.
      timeout: 120_000,
    });
    assert.equal(result.status, 1, result.stderr);
    assert.match(result.stderr, /invalid configuration:/);
    assert.match(result.stderr, /GATEHOUSE_PORT must be a whole number/);
    assert.match(result.stderr, /GATEHOUSE_SESSION_SECRET must be at least 32 characters/);
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
  });
});
