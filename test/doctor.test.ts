import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { createClient } from 'redis';
import { type DevIdp, startDevIdp } from '../server/dev/dev-idp.ts';
import type { CheckResult, DoctorReport } from '../server/doctor/check-result.ts';
import { checkIdpFeatures } from '../server/doctor/check-idp-features.ts';
import { renderChecklist } from '../server/doctor/render-checklist.ts';
import { runDoctor } from '../server/doctor/run-doctor.ts';
import { loadConfig } from '../server/config.ts';
import { createLogger } from '../server/log.ts';
import { writeApisFile } from './helpers/apis-file.ts';
import { EchoUpstream } from './helpers/echo-upstream.ts';
import { eventually } from './helpers/eventually.ts';
import { closedPort } from './helpers/ports.ts';
import { redisSkipReason, startTestRedis, type TestRedis } from './helpers/redis-server.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const sessionSecret = 'doctor-test-session-secret-long-enough-0123';
const clientSecret = 'doctor-test-client-secret';
// Registered at the IdP below; nothing needs to listen there, doctor never calls Gatehouse itself.
const publicUrl = 'http://localhost:3977';
const silent = createLogger('silent');

/** The check with `id`; fails the test when doctor did not report it. */
function check(report: DoctorReport, id: string): CheckResult {
  const found = report.checks.find((c) => c.id === id);
  assert.ok(found, `no "${id}" line in:\n${renderChecklist(report)}`);
  return found;
}

/** The ids of the lines that are not ✓. */
function notOk(report: DoctorReport): string[] {
  return report.checks.filter((c) => c.status !== 'ok').map((c) => `${c.status} ${c.id}`);
}

/** Runs `npm run doctor`'s entry as a child process with only `env` (no `.env`: cwd is the repository, which has none). */
function runCli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      import.meta.resolve('tsx'),
      '--import',
      './test/setup/loopback-only.ts',
      'server/doctor/main.ts',
      ...args,
    ],
    { cwd: root, env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

describe('npm run doctor against the embedded IdP', () => {
  const env = {
    NODE_ENV: 'test',
    GATEHOUSE_SESSION_SECRET: sessionSecret,
    GATEHOUSE_LOG_LEVEL: 'silent',
    // Where no Gatehouse runs: not 3000, where a developer's npm start may answer.
    GATEHOUSE_PORT: String(closedPort),
  };

  test('with no issuer configured it starts the embedded IdP and demo APIs, and every line is ✓', async () => {
    const report = await runDoctor({ env, logger: silent });
    assert.deepEqual(notOk(report), [], renderChecklist(report));
    assert.equal(report.status, 'ok');
    for (const id of [
      'configuration',
      'embedded_idp',
      'discovery',
      'issuer',
      'jwks',
      'clock',
      'client_credentials',
      'redirect_uri:/auth/callback',
      'redirect_uri:/external/callback',
      'offline_access',
      'end_session',
      'backchannel_logout',
      'revocation',
      'pkce',
      'store',
      'upstream:renku',
      'upstream:dataverse',
    ])
      check(report, id);
    assert.match(check(report, 'store').detail, /one Gatehouse instance only/);
  });

  test('it says it checks the embedded IdP npm start runs, and names no port of the copy it starts to do so', async () => {
    const report = await runDoctor({ env: { ...env, GATEHOUSE_DEV_IDP_PORT: '3001' }, logger: silent });
    assert.match(
      check(report, 'embedded_idp').detail,
      /checking the embedded development IdP that npm start runs at http:\/\/127\.0\.0\.1:3001, and the demo APIs/,
    );
    assert.equal(
      check(report, 'redirect_uri:/auth/callback').title,
      `redirect URI http://localhost:${closedPort}/auth/callback`,
    );
    assert.match(check(report, 'discovery').detail, /^\[embedded IdP\]\/\.well-known\/openid-configuration answered/);
    // Every port a line names is one the configuration names.
    const ports = new Set(renderChecklist(report).match(/:\d+\b/g));
    assert.deepEqual([...ports].sort(), [':3001', `:${closedPort}`].sort(), renderChecklist(report));
    assert.equal(check(report, 'idp_https').title, 'IdP endpoints over http', 'not "over https" for http endpoints');
  });

  test('the CLI exits 0 and --json prints the same checklist as a JSON object', async () => {
    const { code, stdout, stderr } = await runCli(['--json'], env);
    assert.equal(code, 0, stderr);
    const report = JSON.parse(stdout) as DoctorReport;
    assert.equal(report.status, 'ok');
    assert.ok(
      report.checks.every((c) => c.status === 'ok' && typeof c.title === 'string' && typeof c.detail === 'string'),
    );
    assert.ok(report.checks.some((c) => c.id === 'client_credentials'));
  });

  test('every configuration problem is a ✗ line naming the variable, and nothing else is checked', async () => {
    const report = await runDoctor({
      env: { GATEHOUSE_SESSION_SECRET: 'tiny', GATEHOUSE_STORE: 'redis' },
      logger: silent,
    });
    assert.equal(report.status, 'fail');
    assert.ok(report.checks.every((c) => c.id === 'configuration' && c.status === 'fail'));
    const text = renderChecklist(report);
    assert.match(text, /✗ configuration +GATEHOUSE_SESSION_SECRET must be at least 32 characters/);
    assert.match(text, /✗ configuration +GATEHOUSE_REDIS_URL is required when GATEHOUSE_STORE=redis/);
    assert.match(text, /fix: set GATEHOUSE_REDIS_URL/);
  });
});

describe('npm run doctor against a configured IdP, broken one way at a time', () => {
  let idp: DevIdp;
  let upstream: EchoUpstream;
  let apis: string;
  before(async () => {
    upstream = await new EchoUpstream('renku').start();
    apis = writeApisFile([{ name: 'echo', url: `${upstream.url}/base`, token: 'user', audience: 'renku' }]);
    idp = await startDevIdp({
      port: 0,
      client: {
        clientId: 'gatehouse',
        clientSecret,
        redirectUris: [`${publicUrl}/auth/callback`, `${publicUrl}/external/callback`],
        postLogoutRedirectUris: [`${publicUrl}/`],
        backchannelLogoutUri: `${publicUrl}/auth/backchannel-logout`,
      },
    });
  });
  after(async () => {
    await idp.close();
    await upstream.stop();
  });
  const env = (overrides: Record<string, string> = {}): Record<string, string> => ({
    NODE_ENV: 'test',
    GATEHOUSE_PUBLIC_URL: publicUrl,
    GATEHOUSE_OIDC_ISSUER: idp.issuer,
    GATEHOUSE_OIDC_CLIENT_ID: 'gatehouse',
    GATEHOUSE_OIDC_CLIENT_SECRET: clientSecret,
    GATEHOUSE_SESSION_SECRET: sessionSecret,
    GATEHOUSE_APIS: apis,
    ...overrides,
  });

  test('correctly configured, every line is ✓', async () => {
    const report = await runDoctor({ env: env(), logger: silent });
    assert.deepEqual(notOk(report), [], renderChecklist(report));
    assert.match(check(report, 'upstream:echo').detail, /answered HTTP \d+ in \d+ ms/);
    assert.equal(typeof check(report, 'discovery').ms, 'number');
  });

  test('a wrong client secret is ✗ on the client credentials line, naming GATEHOUSE_OIDC_CLIENT_SECRET', async () => {
    const report = await runDoctor({ env: env({ GATEHOUSE_OIDC_CLIENT_SECRET: 'not-the-secret' }), logger: silent });
    const line = check(report, 'client_credentials');
    assert.equal(line.status, 'fail');
    assert.match(line.detail, /invalid_client/);
    assert.match(line.fix ?? '', /GATEHOUSE_OIDC_CLIENT_SECRET/);
    assert.match(line.fix ?? '', /Client authentication: On/);
    assert.deepEqual(notOk(report), ['fail client_credentials']);
    assert.equal(report.status, 'fail');
    assert.doesNotMatch(JSON.stringify(report), /not-the-secret/, 'the secret is never printed');
  });

  test('an unknown client id is ✗ on the client credentials line, naming GATEHOUSE_OIDC_CLIENT_ID', async () => {
    const report = await runDoctor({ env: env({ GATEHOUSE_OIDC_CLIENT_ID: 'no-such-client' }), logger: silent });
    const line = check(report, 'client_credentials');
    assert.equal(line.status, 'fail');
    assert.match(line.fix ?? '', /GATEHOUSE_OIDC_CLIENT_ID/);
  });

  test('a client the IdP treats as public (any secret accepted) is ✗, asking for "Client authentication: On"', async () => {
    // Keycloak with "Client authentication: Off" ignores the secret and only judges the code.
    idp.tokenEndpointStandIn = () => ({
      status: 400,
      contentType: 'application/json',
      body: JSON.stringify({ error: 'invalid_grant', error_description: 'Code not valid' }),
    });
    try {
      const report = await runDoctor({ env: env(), logger: silent });
      const line = check(report, 'client_credentials');
      assert.equal(line.status, 'fail');
      assert.match(line.detail, /public client/);
      assert.match(line.fix ?? '', /Client authentication: On/);
    } finally {
      idp.tokenEndpointStandIn = undefined;
    }
  });

  test('an unregistered redirect URI is ✗ on its line, naming the URI to register', async () => {
    const elsewhere = 'http://localhost:3978';
    const report = await runDoctor({ env: env({ GATEHOUSE_PUBLIC_URL: elsewhere }), logger: silent });
    const line = check(report, 'redirect_uri:/auth/callback');
    assert.equal(line.status, 'fail');
    assert.match(line.detail, /the IdP refuses this redirect URI \(HTTP 400\)/);
    assert.match(line.fix ?? '', new RegExp(`register ${elsewhere}/auth/callback`));
    assert.match(line.fix ?? '', /Valid redirect URIs/);
    // The external login is on by default: its callback is checked too.
    assert.equal(check(report, 'redirect_uri:/external/callback').status, 'fail');
    assert.equal(report.status, 'fail');
  });

  test('with the external login off, /external/callback is not checked', async () => {
    const report = await runDoctor({ env: env({ GATEHOUSE_EXTERNAL_AUTH: 'disabled' }), logger: silent });
    assert.equal(
      report.checks.find((c) => c.id === 'redirect_uri:/external/callback'),
      undefined,
    );
    assert.equal(report.status, 'ok', renderChecklist(report));
  });

  test('an issuer that differs by a trailing slash is ✗ on the issuer line, naming both values', async () => {
    const report = await runDoctor({ env: env({ GATEHOUSE_OIDC_ISSUER: `${idp.issuer}/` }), logger: silent });
    const line = check(report, 'issuer');
    assert.equal(line.status, 'fail');
    assert.ok(line.detail.includes(`"${idp.issuer}"`) && line.detail.includes(`"${idp.issuer}/"`), line.detail);
    assert.match(line.detail, /trailing slash/);
    assert.equal(line.fix, `set GATEHOUSE_OIDC_ISSUER=${idp.issuer}`);
    assert.equal(check(report, 'discovery').status, 'ok', 'the document itself is found');
    assert.equal(report.status, 'fail');
  });

  test('an unreachable issuer is ✗ on the discovery line', async () => {
    const report = await runDoctor({
      env: env({ GATEHOUSE_OIDC_ISSUER: `http://127.0.0.1:${closedPort}` }),
      logger: silent,
    });
    const line = check(report, 'discovery');
    assert.equal(line.status, 'fail');
    assert.match(line.detail, /could not be fetched: ECONNREFUSED/);
    assert.match(line.fix ?? '', /GATEHOUSE_OIDC_ISSUER/);
  });

  test('an id_token algorithm the JWKS does not offer is ✗ on the signing keys line', async () => {
    const report = await runDoctor({ env: env({ GATEHOUSE_OIDC_ID_TOKEN_ALG: 'ES256' }), logger: silent });
    const line = check(report, 'jwks');
    assert.equal(line.status, 'fail');
    assert.match(line.detail, /none for ES256/);
    assert.match(line.fix ?? '', /GATEHOUSE_OIDC_ID_TOKEN_ALG/);
  });

  test('an upstream that is down is ✗ on its line, and one without audience or resource is ⚠', async () => {
    const file = writeApisFile([
      { name: 'echo', url: `${upstream.url}/base`, token: 'user', audience: 'renku' },
      { name: 'down', url: `http://127.0.0.1:${closedPort}/api`, token: 'user', audience: 'renku' },
      { name: 'loose', url: `${upstream.url}/loose`, token: 'user' },
    ]);
    const report = await runDoctor({ env: env({ GATEHOUSE_APIS: file }), logger: silent });
    const down = check(report, 'upstream:down');
    assert.equal(down.status, 'fail');
    assert.match(down.detail, /did not answer: ECONNREFUSED/);
    assert.match(down.fix ?? '', /GATEHOUSE_APIS/);
    const loose = check(report, 'upstream:loose');
    assert.equal(loose.status, 'warn');
    assert.match(loose.fix ?? '', /"audience"/);
    assert.equal(check(report, 'upstream:echo').status, 'ok');
    assert.equal(report.status, 'fail');
  });

  test('in production, the memory store and an http upstream are ⚠, and an unreachable https issuer is ✗', async () => {
    const report = await runDoctor({
      env: env({
        NODE_ENV: 'production',
        GATEHOUSE_PUBLIC_URL: 'https://gatehouse.example.org',
        GATEHOUSE_OIDC_ISSUER: `https://127.0.0.1:${closedPort}`,
      }),
      logger: silent,
    });
    assert.equal(check(report, 'discovery').status, 'fail');
    const store = check(report, 'store');
    assert.equal(store.status, 'warn');
    assert.match(store.fix ?? '', /GATEHOUSE_STORE=redis/);
    const echo = check(report, 'upstream:echo');
    assert.equal(echo.status, 'warn');
    assert.match(echo.detail, /http in production/);
  });

  test('an https upstream whose certificate this host does not trust is ✗, naming the TLS problem', {
    skip: spawnSync('openssl', ['version']).status === 0 ? false : 'needs openssl to make a certificate',
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-doctor-tls-'));
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    const made = spawnSync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ]);
    assert.equal(made.status, 0, String(made.stderr));
    const server = createHttpsServer({ key: readFileSync(key), cert: readFileSync(cert) }, (_req, res) =>
      res.end('ok'),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    try {
      const { port } = server.address() as AddressInfo;
      const file = writeApisFile([
        { name: 'selfsigned', url: `https://127.0.0.1:${port}/api`, token: 'user', audience: 'renku' },
      ]);
      const report = await runDoctor({ env: env({ GATEHOUSE_APIS: file }), logger: silent });
      const line = check(report, 'upstream:selfsigned');
      assert.equal(line.status, 'fail');
      assert.match(line.detail, /TLS certificate not accepted \(DEPTH_ZERO_SELF_SIGNED_CERT\)/);
      assert.match(line.fix ?? '', /NODE_EXTRA_CA_CERTS/);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a clock 10 s off is ⚠ and one beyond GATEHOUSE_CLOCK_TOLERANCE is ✗ on the clock line', async () => {
    const tenSecondsAhead = await runDoctor({ env: env(), logger: silent, clock: () => Date.now() + 10_000 });
    assert.equal(check(tenSecondsAhead, 'clock').status, 'warn');
    assert.match(check(tenSecondsAhead, 'clock').detail, /IdP's clock is \d+\.\d s behind this host's/);
    const twoMinutesBehind = await runDoctor({ env: env(), logger: silent, clock: () => Date.now() - 120_000 });
    const line = check(twoMinutesBehind, 'clock');
    assert.equal(line.status, 'fail');
    assert.match(line.detail, /ahead of this host's \(GATEHOUSE_CLOCK_TOLERANCE is 60 s\)/);
    assert.match(line.fix ?? '', /NTP/);
  });

  test('the CLI exits 1 when a line is ✗, and prints the fix under it', async () => {
    const { code, stdout } = await runCli(
      [],
      env({ GATEHOUSE_OIDC_CLIENT_SECRET: 'not-the-secret', GATEHOUSE_LOG_LEVEL: 'silent' }),
    );
    assert.equal(code, 1);
    assert.match(stdout, /✗ client credentials +the IdP refused Gatehouse's client/);
    assert.match(stdout, /\n +fix: check GATEHOUSE_OIDC_CLIENT_ID and GATEHOUSE_OIDC_CLIENT_SECRET/);
    assert.match(stdout, /✓ discovery/);
  });

  describe('with a real redis-server', { skip: redisSkipReason() }, () => {
    let redis: TestRedis;
    let policyBefore: string | undefined;
    const config = async (...args: string[]): Promise<unknown> => {
      const client = createClient({ url: redis.url });
      await client.connect();
      try {
        return await client.sendCommand(['CONFIG', ...args]);
      } finally {
        client.destroy();
      }
    };
    before(async () => {
      redis = await startTestRedis();
      policyBefore = ((await config('GET', 'maxmemory-policy')) as string[])[1];
    });
    after(async () => {
      if (policyBefore) await config('SET', 'maxmemory-policy', policyBefore);
      await redis.close();
    });

    test('maxmemory-policy noeviction is ✓, with the version and latency; no persistence is ⚠', async () => {
      await config('SET', 'maxmemory-policy', 'noeviction');
      const report = await runDoctor({
        env: env({ GATEHOUSE_STORE: 'redis', GATEHOUSE_REDIS_URL: redis.url }),
        logger: silent,
      });
      assert.match(check(report, 'store').detail, /^Redis \d+\.\d+\.\d+ at .* answers PING in \d+\.\d ms$/);
      assert.equal(check(report, 'store_eviction').status, 'ok');
      // The test server runs with --save "" and --appendonly no.
      assert.equal(check(report, 'store_persistence').status, 'warn');
      assert.deepEqual(notOk(report), ['warn store_persistence']);
    });

    test('maxmemory-policy allkeys-lru is ✗ on the eviction line, and doctor exits 1', async () => {
      await config('SET', 'maxmemory-policy', 'allkeys-lru');
      const report = await runDoctor({
        env: env({ GATEHOUSE_STORE: 'redis', GATEHOUSE_REDIS_URL: redis.url }),
        logger: silent,
      });
      const line = check(report, 'store_eviction');
      assert.equal(line.status, 'fail');
      assert.match(line.detail, /allkeys-lru evicts keys/);
      assert.match(line.fix ?? '', /maxmemory-policy noeviction/);
      assert.equal(report.status, 'fail');
    });

    test('with appendonly on, persistence is ✓', async () => {
      await config('SET', 'maxmemory-policy', 'noeviction');
      await config('SET', 'appendonly', 'yes');
      try {
        const report = await runDoctor({
          env: env({ GATEHOUSE_STORE: 'redis', GATEHOUSE_REDIS_URL: redis.url }),
          logger: silent,
        });
        assert.equal(check(report, 'store_persistence').status, 'ok');
      } finally {
        await config('SET', 'appendonly', 'no');
      }
    });

    test('a Redis that does not answer is ✗ on the store line', async () => {
      const report = await runDoctor({
        env: env({ GATEHOUSE_STORE: 'redis', GATEHOUSE_REDIS_URL: `redis://127.0.0.1:${closedPort}` }),
        logger: silent,
      });
      const line = check(report, 'store');
      assert.equal(line.status, 'fail');
      assert.match(line.fix ?? '', /GATEHOUSE_REDIS_URL/);
    });
  });
});

describe('what the IdP offers, read from its discovery document', () => {
  const config = loadConfig({
    NODE_ENV: 'test',
    GATEHOUSE_PUBLIC_URL: publicUrl,
    GATEHOUSE_SESSION_SECRET: sessionSecret,
  });
  const upstreams = [
    {
      name: 'renku',
      url: 'https://renku.example/api',
      token: 'user' as const,
      audience: 'renku',
      timeoutMs: 1000,
      headers: {},
    },
  ];

  test('an IdP without refresh tokens, sign-out, back-channel logout, revocation, PKCE S256 or introspection gets ⚠ for each, with its fix', () => {
    const checks = checkIdpFeatures(config, { issuer: 'https://idp.example', scopes_supported: ['openid'] }, upstreams);
    assert.deepEqual(
      checks.map((c) => `${c.status} ${c.id}`),
      [
        'warn offline_access',
        'warn end_session',
        'warn backchannel_logout',
        'warn revocation',
        'warn pkce',
        'warn introspection',
      ],
    );
    assert.match(
      checks.find((c) => c.id === 'backchannel_logout')!.fix ?? '',
      new RegExp(`${publicUrl}/auth/backchannel-logout`),
    );
    assert.ok(checks.every((c) => c.fix));
  });

  test('back-channel logout without sid support is ⚠, and introspection is not asked for when no upstream declares an audience', () => {
    const checks = checkIdpFeatures(
      config,
      { backchannel_logout_supported: true, backchannel_logout_session_supported: false },
      [{ name: 'open', url: 'https://open.example/api', token: 'none', timeoutMs: 1000, headers: {} }],
    );
    assert.match(
      checks.find((c) => c.id === 'backchannel_logout')!.detail,
      /backchannel_logout_session_supported is not true/,
    );
    assert.equal(
      checks.find((c) => c.id === 'introspection'),
      undefined,
    );
  });
});

describe('the start banner', () => {
  test("npm start prints a one-line summary of doctor's fast checks after the banner", {
    timeout: 90_000,
  }, async () => {
    const child = spawn(
      process.execPath,
      ['--import', import.meta.resolve('tsx'), '--import', './test/setup/loopback-only.ts', 'server/main.ts'],
      {
        cwd: root,
        env: { PATH: process.env.PATH, GATEHOUSE_PORT: '0', GATEHOUSE_DEV_IDP_PORT: '0', GATEHOUSE_LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    const exited = new Promise((resolve) => child.on('exit', resolve));
    try {
      const line = await eventually(() => /^ {2}doctor: .*$/m.exec(output)?.[0] ?? false, 'the doctor line', {
        timeoutMs: 60_000,
        intervalMs: 50,
      });
      assert.match(
        line,
        /doctor: ✓ discovery \d+ ms, ✓ issuer, ✓ IdP endpoints over http, ✓ signing keys \(JWKS\), ✓ clock skew, ✓ client credentials$/,
      );
      assert.ok(output.indexOf('demo users') < output.indexOf('doctor:'), 'after the banner');
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });
});
